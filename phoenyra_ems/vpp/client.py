"""OpenADR 3.0.1 VEN client on aiohttp (the subset the VEN uses; docs/vpp.md).

Every answer is validated against the vendored OpenAPI document before it is returned: an answer
that violates it raises ``VtnInvalidAnswer`` (logged once, clearly) and is never applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from phoenyra_ems.vpp.auth import TokenSource
from phoenyra_ems.vpp.errors import (
    VtnAuthError,
    VtnConnectionError,
    VtnError,
    VtnHttpError,
    VtnInvalidAnswer,
)
from phoenyra_ems.vpp.openapi import SpecViolation, validate_response

log = logging.getLogger(__name__)
Json = Any


@dataclass(slots=True)
class VenClient:
    """Requests to one VTN. ``base_url`` ends before the API paths (``…/openadr3/3.0.1``)."""

    session: aiohttp.ClientSession
    base_url: str
    tokens: TokenSource
    timeout_s: float = 10.0
    ssl: object = True  # True: verify TLS with the system CAs; an ``ssl.SSLContext``; False: off
    validate: bool = True
    _base_path: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path

    async def request(
        self, method: str, path: str, *, body: Json = None, query: dict[str, Any] | None = None
    ) -> Json:
        """``method path`` with a bearer token; the validated JSON answer (VtnError otherwise)."""
        qs = urlencode({k: v for k, v in (query or {}).items() if v is not None}, doseq=True)
        for attempt in (1, 2):
            token = await self.tokens.token()
            status, ctype, data = await self._send(method, path, qs, body, token)
            if status in (401, 403) and attempt == 1:
                self.tokens.invalidate()  # expired or revoked: one fresh token, then give up
                continue
            break
        if self.validate:
            try:  # a worker thread: validation costs milliseconds the control loop keeps
                await asyncio.to_thread(
                    validate_response, method, path, status, data or None, content_type=ctype, query=qs
                )
            except SpecViolation as exc:
                log.error("VTN answer rejected (violates OpenADR 3.0.1), not applied: %s", exc)
                raise VtnInvalidAnswer(str(exc)) from None
        if status in (401, 403):
            self.tokens.invalidate()
            raise VtnAuthError(f"{method} {path}: HTTP {status}")
        if status >= 400:
            raise VtnHttpError(f"{method} {path}: HTTP {status} {_title(data)}", status)
        try:
            return json.loads(data) if data else None
        except ValueError:
            raise VtnInvalidAnswer(f"{method} {path}: answer is not JSON") from None

    async def _send(
        self, method: str, path: str, qs: str, body: Json, token: str
    ) -> tuple[int, str | None, bytes]:
        url = f"{self.base_url}{path}" + (f"?{qs}" if qs else "")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.session.request(
                    method,
                    url,
                    json=body,
                    headers=headers,
                    ssl=self.ssl,  # type: ignore[arg-type]
                ) as resp:
                    return resp.status, resp.headers.get("Content-Type"), await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VtnConnectionError(f"{method} {url}: {type(exc).__name__}: {exc}") from None

    # --- the operations the VEN uses -------------------------------------------------------------

    async def programs(self) -> list[Json]:
        return list(await self.request("GET", "/programs") or [])

    async def events(self, program_id: str | None = None) -> list[Json]:
        return list(await self.request("GET", "/events", query={"programID": program_id}) or [])

    async def subscriptions(self, client_name: str, program_id: str | None = None) -> list[Json]:
        query = {"clientName": client_name, "programID": program_id}
        return list(await self.request("GET", "/subscriptions", query=query) or [])

    async def subscribe(self, client_name: str, program_id: str, callback_url: str, bearer: str) -> Json:
        body = {
            "clientName": client_name,
            "programID": program_id,
            "objectOperations": [
                {
                    "objects": ["EVENT", "PROGRAM"],
                    "operations": ["CREATE", "UPDATE", "DELETE"],
                    "callbackUrl": callback_url,
                    "bearerToken": bearer,
                }
            ],
        }
        return await self.request("POST", "/subscriptions", body=body)

    async def unsubscribe(self, subscription_id: str) -> None:
        await self.request("DELETE", f"/subscriptions/{subscription_id}")

    async def vens(self, ven_name: str) -> list[Json]:
        return list(await self.request("GET", "/vens", query={"venName": ven_name}) or [])

    async def create_ven(self, ven_name: str) -> Json:
        return await self.request("POST", "/vens", body={"venName": ven_name})

    async def resources(self, ven_id: str, resource_name: str | None = None) -> list[Json]:
        query = {"resourceName": resource_name}
        return list(await self.request("GET", f"/vens/{ven_id}/resources", query=query) or [])

    async def put_resource(self, ven_id: str, resource: Json) -> Json:
        """Create the resource (no ``id``) or replace it."""
        if resource.get("id"):
            return await self.request("PUT", f"/vens/{ven_id}/resources/{resource['id']}", body=resource)
        return await self.request("POST", f"/vens/{ven_id}/resources", body=resource)

    async def send_report(self, report: Json) -> Json:
        if report.get("id"):
            return await self.request("PUT", f"/reports/{report['id']}", body=report)
        return await self.request("POST", "/reports", body=report)


def _title(data: bytes) -> str:
    try:
        problem = json.loads(data)
    except ValueError:
        return ""
    return str(problem.get("title") or problem.get("detail") or "") if isinstance(problem, dict) else ""


__all__ = ["VenClient", "VtnAuthError", "VtnConnectionError", "VtnError", "VtnHttpError", "VtnInvalidAnswer"]
