"""The vendored OpenADR 3.0.1 OpenAPI document and validation of messages against it (openapi-core).

Paths are validated as if they were sent to the document's own server
(``/openadr3/3.0.1`` + the path relative to the VTN's base URL), so any VTN base URL works.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

SPEC_PATH = Path(__file__).with_name("spec") / "3.0.1_openadr3.yaml"
_HOST = "http://localhost:8081"
_BASE = "/openadr3/3.0.1"


class SpecViolation(ValueError):
    """A message that violates the OpenADR 3 OpenAPI document."""


def _strip_discriminators(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_discriminators(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_strip_discriminators(v) for v in node]
    return node


@lru_cache(maxsize=1)
def spec_dict() -> dict[str, Any]:
    """The document as data, without its ``discriminator`` keys: they carry no mapping, so the
    implicit one names schemas that do not exist (``EVENT`` for ``event``); the ``oneOf``/``anyOf``
    they sit on still decide validity."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=loader)
    data: dict[str, Any] = _strip_discriminators(raw)
    return data


@lru_cache(maxsize=1)
def _openapi() -> Any:
    from openapi_core import Config, OpenAPI  # heavy: loaded on first use only

    # the vendored document is checked once by the tests (openapi-spec-validator), not at every start
    with warnings.catch_warnings():  # "Unsupported scheme type" for the oauth2 scheme
        warnings.simplefilter("ignore")
        return OpenAPI.from_dict(spec_dict(), config=Config(spec_validator_cls=None))


@lru_cache(maxsize=8)
def _schema_validator(name: str) -> Any:
    from openapi_schema_validator import OAS30Validator

    components = spec_dict()["components"]
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": components})


@dataclass
class _Request:
    method: str
    path: str
    body: bytes | None
    content_type: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    host_url: str = _HOST

    def __post_init__(self) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.method = self.method.lower()
        self.path = _BASE + self.path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(self.query)),
            header=Headers(self.headers),
            cookie=ImmutableMultiDict(),
        )


@dataclass
class _Response:
    status_code: int
    data: bytes | None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _describe(exc: Exception) -> str:
    parts = [str(exc)]
    cause = exc.__cause__
    for err in getattr(cause, "schema_errors", ()) or ():
        where = "/".join(str(p) for p in getattr(err, "absolute_path", ()))
        parts = [f"{getattr(err, 'message', err)} at {where or '(root)'}"]
        break
    return parts[0].splitlines()[0][:300]


def _content_type(value: str | None) -> str:
    return (value or "application/json").split(";")[0].strip().lower()


def validate_request(
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    query: str = "",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    """Raise ``SpecViolation`` if the request (path relative to the VTN base) violates the document."""
    request = _Request(method, path, body, _content_type(content_type), query, dict(headers or {}))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _openapi().validate_request(request)
    except Exception as exc:  # openapi-core raises a tree of its own exceptions
        raise SpecViolation(f"{method.upper()} {path}: {_describe(exc)}") from exc


def validate_response(
    method: str,
    path: str,
    status: int,
    body: bytes | None,
    *,
    content_type: str | None = "application/json",
    query: str = "",
) -> None:
    """Raise ``SpecViolation`` if the answer to ``method path`` violates the document."""
    request = _Request(method, path, None, "application/json", query, {"Authorization": "Bearer x"})
    response = _Response(status, body, _content_type(content_type))
    try:
        _openapi().validate_response(request, response)
    except Exception as exc:
        raise SpecViolation(f"answer {status} to {method.upper()} {path}: {_describe(exc)}") from exc


def validate_schema(name: str, value: Any) -> None:
    """Raise ``SpecViolation`` if ``value`` is not a valid ``components/schemas/<name>`` (e.g. a
    notification pushed to the webhook)."""
    try:
        _schema_validator(name).validate(value)
    except Exception as exc:
        raise SpecViolation(f"{name}: {_describe(exc)}") from exc


def warm_up() -> None:
    """Load the document and its validators (seconds: openapi-core import and parse); call it in a
    worker thread before the first message so no request waits for it on the event loop."""
    _openapi()
    _schema_validator("notification")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
