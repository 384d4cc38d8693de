"""Load the OpenADR 3 document once per test process (openapi-core import + parse: a few seconds)."""

from __future__ import annotations

import pytest

from phoenyra_ems.vpp.openapi import _openapi, _schema_validator


@pytest.fixture(autouse=True, scope="session")
def _openadr_document() -> None:
    _openapi()
    _schema_validator("notification")
