"""The test VTN on aiohttp: programs, events, reports, subscriptions with webhook push, VENs and
their resources, and an OAuth2 client-credentials token endpoint.

Every request is validated against the vendored OpenADR 3.0.1 document (400 with a problem body
when it violates it); ``strict`` also checks every answer the VTN gives (tests run with it).
Clients have a role: ``ven`` (reads, writes reports, subscriptions, VENs and resources) or ``bl``
(business logic: also writes programs and events).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from phoenyra_ems.vpp.openapi import SpecViolation, validate_request, validate_response, validate_schema

log = logging.getLogger(__name__)
BASE = "/openadr3/3.0.1"
Json = Any
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KINDS = {
    "programs": "PROGRAM",
    "events": "EVENT",
    "reports": "REPORT",
    "subscriptions": "SUBSCRIPTION",
    "vens": "VEN",
    "resources": "RESOURCE",
}
_BL_WRITES = {"programs", "events"}


@dataclass(frozen=True)
class VtnClient:
    client_id: str
    secret: str = field(repr=False)
    role: str = "ven"  # ven | bl


CLIENT = web.RequestKey("vtn_client", VtnClient)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def problem(status: int, title: str, detail: str = "") -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, **({"detail": detail} if detail else {})}
    return web.json_response(body, status=status)


class TestVtn:
    """The VTN's state and its aiohttp application (``start``/``stop`` on loopback)."""

    __test__ = False  # not a pytest class

    def __init__(
        self, clients: list[VtnClient], *, strict: bool = False, token_lifetime_s: int = 3600
    ) -> None:
        self.clients = {c.client_id: c for c in clients}
        self.strict = strict
        self.token_lifetime_s = token_lifetime_s
        self.objects: dict[str, dict[str, Json]] = {k: {} for k in _KINDS}
        self.tokens: dict[str, tuple[VtnClient, float]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) in order, for tests
        self.pushes: list[tuple[str, Json]] = []  # (callback URL, notification) delivered
        self.push_failures = 0
        self.refused = 0  # requests refused for a missing, unknown or expired token
        self.violations: list[str] = []  # requests (and, strict, answers/pushes) violating the document
        self._counter = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._push_tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        r = app.router
        r.add_post(f"{BASE}/auth/token", self._token)
        for kind in ("programs", "events", "reports", "subscriptions", "vens"):
            r.add_get(f"{BASE}/{kind}", self._list(kind))
            r.add_post(f"{BASE}/{kind}", self._create(kind))
            r.add_get(f"{BASE}/{kind}/{{id}}", self._get(kind))
            r.add_put(f"{BASE}/{kind}/{{id}}", self._update(kind))
            r.add_delete(f"{BASE}/{kind}/{{id}}", self._delete(kind))
        r.add_get(f"{BASE}/vens/{{ven}}/resources", self._list("resources"))
        r.add_post(f"{BASE}/vens/{{ven}}/resources", self._create("resources"))
        r.add_get(f"{BASE}/vens/{{ven}}/resources/{{id}}", self._get("resources"))
        r.add_put(f"{BASE}/vens/{{ven}}/resources/{{id}}", self._update("resources"))
        r.add_delete(f"{BASE}/vens/{{ven}}/resources/{{id}}", self._delete("resources"))
        return app

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        addresses = self._runner.addresses
        bound = int(addresses[0][1]) if addresses else port
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{bound}{BASE}"
        return self.url

    async def stop(self) -> None:
        for task in list(self._push_tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- direct use (tests, demo) ----------------------------------------------------------------

    def add(self, kind: str, obj: Json, *, notify: bool = True) -> Json:
        """Store ``obj`` as the business logic would create it (no validation: tests may store
        invalid objects on purpose) and push it to subscribers."""
        self._counter += 1
        stamp = _now()
        stored = {
            "id": f"{kind[:-1]}-{self._counter}",
            "createdDateTime": stamp,
            "modificationDateTime": stamp,
            "objectType": _KINDS[kind],
            **obj,
        }
        self.objects[kind][str(stored["id"])] = stored
        if notify:
            self._notify(kind, "POST", stored)
        return stored

    def replace(self, kind: str, oid: str, obj: Json) -> Json:
        old = self.objects[kind][oid]
        stored = {
            **obj,
            "id": oid,
            "createdDateTime": old.get("createdDateTime", _now()),
            "modificationDateTime": _now(),
            "objectType": _KINDS[kind],
        }
        self.objects[kind][oid] = stored
        self._notify(kind, "PUT", stored)
        return stored

    def remove(self, kind: str, oid: str) -> Json:
        stored = self.objects[kind].pop(oid)
        self._notify(kind, "DELETE", stored)
        return stored

    # --- HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path[len(BASE) :] if request.path.startswith(BASE) else request.path
        self.requests.append((request.method, path))
        body = await request.read()
        try:
            validate_request(
                request.method,
                path,
                body or None,
                query=request.query_string,
                content_type=request.content_type if body else None,
                headers=dict(request.headers),
            )
        except SpecViolation as exc:
            log.warning("test VTN: request rejected: %s", exc)
            self.violations.append(f"request {exc}")
            return problem(400, "Bad Request", str(exc))
        if path != "/auth/token":
            client = self._authenticate(request)
            if client is None:
                self.refused += 1
                return problem(403, "Forbidden", "missing, unknown or expired bearer token")
            request[CLIENT] = client
        response = await handler(request)
        if self.strict and isinstance(response, web.Response):
            try:
                validate_response(
                    request.method,
                    path,
                    response.status,
                    response.body,  # type: ignore[arg-type]
                    content_type=response.content_type,
                    query=request.query_string,
                )
            except SpecViolation as exc:
                self.violations.append(f"answer {exc}")
        return response

    def _authenticate(self, request: web.Request) -> VtnClient | None:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        found = self.tokens.get(header[7:].strip())
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = self.clients.get(str(form.get("client_id", "")))
        given = str(form.get("client_secret", ""))
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if client is None or not secrets.compare_digest(client.secret.encode(), given.encode()):
            return web.json_response({"error": "invalid_client"}, status=400)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (client, time.monotonic() + self.token_lifetime_s)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime_s}
        )

    def _may_write(self, request: web.Request, kind: str) -> bool:
        return kind not in _BL_WRITES or request[CLIENT].role == "bl"

    def _list(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            q = request.query
            found = [o for o in self.objects[kind].values() if _matches(o, q, request.match_info.get("ven"))]
            skip, limit = int(q.get("skip", 0)), int(q.get("limit", 50))
            return web.json_response(found[skip : skip + limit])

        return handler

    def _get(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            obj = self.objects[kind].get(request.match_info["id"])
            return web.json_response(obj) if obj is not None else problem(404, "Not Found")

        return handler

    async def _body(self, request: web.Request) -> Json:
        try:
            return json.loads(await request.read())
        except ValueError:
            return None

    def _create(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if not self._may_write(request, kind):
                return problem(403, "Forbidden", f"a VEN may not write {kind}")
            obj = await self._body(request)
            if not isinstance(obj, dict):
                return problem(400, "Bad Request", "a JSON object is required")
            obj = {k: v for k, v in obj.items() if k not in ("id", "createdDateTime", "modificationDateTime")}
            if "ven" in request.match_info:
                obj["venID"] = request.match_info["ven"]
            return web.json_response(self.add(kind, obj), status=201)

        return handler

    def _update(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if not self._may_write(request, kind):
                return problem(403, "Forbidden", f"a VEN may not write {kind}")
            oid = request.match_info["id"]
            obj = await self._body(request)
            if oid not in self.objects[kind]:
                return problem(404, "Not Found")
            if not isinstance(obj, dict):
                return problem(400, "Bad Request", "a JSON object is required")
            if "ven" in request.match_info:
                obj["venID"] = request.match_info["ven"]
            return web.json_response(self.replace(kind, oid, obj))

        return handler

    def _delete(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if not self._may_write(request, kind):
                return problem(403, "Forbidden", f"a VEN may not write {kind}")
            oid = request.match_info["id"]
            if oid not in self.objects[kind]:
                return problem(404, "Not Found")
            return web.json_response(self.remove(kind, oid))

        return handler

    # --- push ------------------------------------------------------------------------------------

    def _notify(self, kind: str, operation: str, obj: Json) -> None:
        object_type = _KINDS[kind]
        op_name = {"POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}[operation]
        program_id = obj.get("programID") if kind != "programs" else obj.get("id")
        for sub in list(self.objects["subscriptions"].values()):
            if sub.get("programID") != program_id:
                continue
            for op in sub.get("objectOperations") or ():
                if object_type in (op.get("objects") or ()) and op_name in (op.get("operations") or ()):
                    note = {"objectType": object_type, "operation": operation, "object": obj}
                    if self.strict:
                        try:
                            validate_schema("notification", note)
                        except SpecViolation as exc:
                            self.violations.append(f"push {exc}")
                    self._spawn(self._push(op["callbackUrl"], op.get("bearerToken"), note))

    def _spawn(self, coro: Awaitable[None]) -> None:
        try:
            task = asyncio.ensure_future(coro)
        except RuntimeError:  # no running loop (objects added before start)
            return
        self._push_tasks.add(task)
        task.add_done_callback(self._push_tasks.discard)

    async def _push(self, url: str, bearer: str | None, note: Json) -> None:
        if self._session is None:
            return
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        try:
            async with asyncio.timeout(5):
                async with self._session.post(url, json=note, headers=headers) as resp:
                    if resp.status >= 300:
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
            self.pushes.append((url, note))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.push_failures += 1
            log.warning("test VTN: push to %s failed: %s", url, exc)


def _matches(obj: Json, query: Any, ven: str | None) -> bool:
    if ven is not None and obj.get("venID") != ven:
        return False
    for key, field_name in (
        ("programID", "programID"),
        ("clientName", "clientName"),
        ("venName", "venName"),
        ("resourceName", "resourceName"),
    ):
        if key in query and str(obj.get(field_name)) != query[key]:
            return False
    return True
