"""Load the OpenADR 3 document once per test process (openapi-core import + parse: a few seconds)."""

from __future__ import annotations

import pytest

from phoenyra_ems.vpp.openapi import warm_up


@pytest.fixture(autouse=True, scope="session")
def _openadr_document() -> None:
    warm_up()
