"""The VEN's webhook on the daemon's API: the VTN pushes notifications of its subscriptions here.

``POST /api/v1/vpp/openadr3/notify``. The API-key middleware lets it through (the VTN holds no
API key); it authenticates the VTN itself by the bearer token the VEN handed over in its
subscription (random per VEN service, compared in constant time). A notification that violates
the OpenADR 3.0.1 document is answered 400 and never applied.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from phoenyra_ems.vpp.openapi import SpecViolation, validate_schema

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/api/v1/vpp/openadr3/notify"
MAX_BODY = 256 * 1024
Handler = Callable[[dict[str, Any]], None]


class WebhookRegistry:
    """Bearer token -> the VEN service that handed it to a VTN."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, Handler]] = []

    def register(self, token: str, handler: Handler) -> None:
        self._handlers.append((token, handler))

    def unregister(self, token: str) -> None:
        self._handlers = [(t, h) for t, h in self._handlers if t != token]

    def find(self, token: str) -> Handler | None:
        found = None
        for known, handler in self._handlers:  # every entry compared: no timing hint
            if hmac.compare_digest(known.encode(), token.encode()):
                found = handler
        return found


WEBHOOKS = web.AppKey("vpp_webhooks", WebhookRegistry)


def _problem(status: int, title: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status}
    return web.json_response(body, status=status)


async def notify(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    handler = request.app[WEBHOOKS].find(token) if token else None
    if handler is None:
        log.warning("VPP webhook: notification with a missing or unknown bearer token refused")
        return _problem(401, "unknown subscription token")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _problem(413, "notification too large")
    try:
        data = json.loads(await request.read())
        await asyncio.to_thread(validate_schema, "notification", data)  # milliseconds off the loop
    except (ValueError, SpecViolation) as exc:
        log.error("VPP webhook: notification rejected (violates OpenADR 3.0.1), not applied: %s", exc)
        return _problem(400, "notification violates OpenADR 3.0.1")
    handler(data)
    return web.json_response({}, status=200)


def add_routes(app: web.Application) -> WebhookRegistry:
    """The webhook route and its token registry (``app[WEBHOOKS]``).

    The caller exempts ``WEBHOOK_PATH`` from the API-key check: it is authenticated here, by the
    subscription's token.
    """
    registry = WebhookRegistry()
    app[WEBHOOKS] = registry
    app.router.add_post(WEBHOOK_PATH, notify)
    return registry
