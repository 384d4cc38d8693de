"""API errors as JSON: ``{"error": {"status", "code", "message", "fields"?}}``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="phoenyra"'
    return web.Response(
        status=status, text=json.dumps({"error": body}), content_type="application/json", headers=headers
    )


class ApiError(Exception):
    """Raised by handlers; turned into a JSON error response by the middleware."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.headers = headers

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.fields, self.headers)


def invalid(fields: dict[str, str], message: str = "invalid request") -> ApiError:
    return ApiError(422, "invalid_request", message, fields)
