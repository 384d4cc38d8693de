"""WebSocket hub: subscriptions per site, coalesced state pushes at a bounded rate, alarms, acks.

Protocol (JSON text frames):

* client → ``{"type": "subscribe", "sites": ["wien", ...] | "*"}`` / ``{"type": "unsubscribe", ...}``
* server → ``{"type": "subscribed", "sites": [...]}``, then ``{"type": "state", "site_id", "data"}``
  at most ``max_rate_hz`` times a second per site (the latest state wins), ``{"type": "alarm",
  "site_id", "alarm", "active"}`` when an alarm is raised or cleared, ``{"type": "control_ack",
  "site_id", "control", "by"}`` when an operator's control request was accepted, ``{"type": "plan",
  "site_id", "data"}`` when the site's optimiser made a new plan (``data`` as ``GET /sites/{id}/plan``;
  a slow client gets the latest plan, never a stale one), and
  ``{"type": "error", "code", "message"}`` for a bad message (the connection stays open).

Access is re-checked while a socket is open: at once after a change made through the daemon's
:class:`AuthStore`, and every ``recheck_s`` for changes the ``phoenyra-ems user`` CLI committed to
the same database. A revoked token (or removed user) closes the socket with code 4001; a site no
longer readable (ungrant, role change) is dropped from the subscription with an ``unsubscribed``
message carrying ``"reason": "access_revoked"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from phoenyra_ems.api.json_limits import JsonTooDeep, loads_bounded
from phoenyra_ems.api.keys import PRINCIPAL, TOKEN
from phoenyra_ems.api.plans import current_plan, plan_body
from phoenyra_ems.api.serialize import alarm_json, state_json
from phoenyra_ems.auth.models import Principal
from phoenyra_ems.auth.store import AuthStore
from phoenyra_ems.fleet import Fleet
from phoenyra_ems.models import Alarm, PlantState

LOG = logging.getLogger(__name__)
OUTBOX_LIMIT = 1000  # a slow client loses the oldest events, never our memory
MAX_MESSAGE_BYTES = 16 * 1024
CLOSE_TOKEN_REVOKED = 4001  # private-use close code (RFC 6455 §7.4.2)


@dataclass(eq=False)
class Subscriber:
    ws: web.WebSocketResponse
    principal: Principal
    token: str
    sites: set[str] = field(default_factory=set)
    pending: dict[str, PlantState] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # site -> its latest plan event
    last_sent: dict[str, float] = field(default_factory=dict)
    outbox: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=OUTBOX_LIMIT))
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    revoked: bool = False  # the token no longer authenticates: the socket is being closed


class WebSocketHub:
    def __init__(
        self, fleet: Fleet, auth: AuthStore, max_rate_hz: float = 2.0, recheck_s: float = 0.5
    ) -> None:
        self.fleet = fleet
        self.auth = auth
        self.min_interval_s = 1.0 / max_rate_hz
        self.recheck_s = recheck_s
        self.subscribers: set[Subscriber] = set()
        self._alarms: dict[str, dict[str, Alarm]] = {}
        self._plans: dict[str, object] = {}  # site -> the plan last seen (identity: a replan is new)
        self._auth_changed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[bool]] = set()
        fleet.listeners.append(self._on_state)
        auth.listeners.append(self._auth_changed.set)

    # --- access re-checks --------------------------------------------------------------------
    async def _watch_access(self) -> None:
        """While sockets are open: re-check them after every change of users, tokens or grants."""
        seen = self.auth.generation
        while self.subscribers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._auth_changed.wait(), self.recheck_s)
            self._auth_changed.clear()
            try:
                await self.auth.check_for_changes()  # the CLI's commits: one cheap PRAGMA
                if self.auth.generation != seen:
                    seen = self.auth.generation
                    await self._recheck_all()
            except Exception:  # the store closed under us (shutdown) or the database failed
                LOG.warning("could not re-check WebSocket access", exc_info=True)

    async def _recheck_all(self) -> None:
        for sub in list(self.subscribers):
            principal = await self.auth.authenticate(sub.token)
            if sub not in self.subscribers:
                continue
            if principal is None:
                self._revoke(sub)
                continue
            sub.principal = principal
            dropped = sorted(s for s in sub.sites if not principal.can_read(s))
            if dropped:
                sub.sites.difference_update(dropped)
                for site_id in dropped:
                    sub.pending.pop(site_id, None)
                    sub.plans.pop(site_id, None)
                sub.outbox.append({"type": "unsubscribed", "sites": dropped, "reason": "access_revoked"})
                sub.wake.set()
                LOG.info("websocket of %s: access to %s withdrawn", principal.user, ", ".join(dropped))

    def _revoke(self, sub: Subscriber) -> None:
        """Stop every push to ``sub`` now and close its socket (4001) in the background."""
        self.subscribers.discard(sub)
        sub.revoked = True
        sub.sites.clear()
        sub.pending.clear()
        sub.plans.clear()
        sub.outbox.clear()
        LOG.info("websocket of %s closed: token revoked", sub.principal.user)
        task = asyncio.create_task(sub.ws.close(code=CLOSE_TOKEN_REVOKED, message=b"token revoked"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # --- fan-out -----------------------------------------------------------------------------
    def _on_state(self, state: PlantState) -> None:
        events = self._alarm_events(state)
        for sub in self.subscribers:
            if state.site_id in sub.sites:
                sub.pending[state.site_id] = state
                sub.outbox.extend(events)
                sub.wake.set()
        self._push_plan(state.site_id)

    def _push_plan(self, site_id: str) -> None:
        """A ``plan`` event to the site's subscribers when its optimiser replanned since the last cycle."""
        enabled, plan = current_plan(self.fleet.controller(site_id))
        if plan is None or plan is self._plans.get(site_id):
            return
        self._plans[site_id] = plan
        targets = [sub for sub in self.subscribers if site_id in sub.sites]
        if not targets:
            return
        message = {"type": "plan", "site_id": site_id, "data": plan_body(site_id, enabled, plan)}
        for sub in targets:
            sub.plans[site_id] = message  # the latest plan wins
            sub.wake.set()

    def _alarm_events(self, state: PlantState) -> list[dict[str, Any]]:
        now = {a.code: a for a in state.alarms}
        before = self._alarms.get(state.site_id, {})
        self._alarms[state.site_id] = now
        events = [
            {"type": "alarm", "site_id": state.site_id, "alarm": alarm_json(a), "active": True}
            for code, a in now.items()
            if code not in before
        ]
        events += [
            {"type": "alarm", "site_id": state.site_id, "alarm": alarm_json(a), "active": False}
            for code, a in before.items()
            if code not in now
        ]
        return events

    def broadcast_ack(self, site_id: str, ack: dict[str, Any], user: str) -> None:
        message = {"type": "control_ack", "site_id": site_id, "control": ack["control"], "by": user}
        for sub in self.subscribers:
            if site_id in sub.sites:
                sub.outbox.append(message)
                sub.wake.set()

    # --- one connection ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        sub = Subscriber(ws, request[PRINCIPAL], request[TOKEN])
        self.subscribers.add(sub)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_access())
        sender = asyncio.create_task(self._sender(sub))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_message(sub, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._send_error(sub, "invalid_message", "binary frames are not supported")
        finally:
            self.subscribers.discard(sub)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    def _on_message(self, sub: Subscriber, text: str) -> None:
        if sub.revoked:
            return None
        try:
            message = loads_bounded(text)
        except JsonTooDeep as err:
            return self._send_error(sub, "invalid_message", str(err))
        except ValueError:
            return self._send_error(sub, "invalid_message", "not JSON")
        if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
            return self._send_error(sub, "invalid_message", "type must be subscribe or unsubscribe")
        requested = message.get("sites", "*")
        readable = [i for i in self.fleet.site_ids() if sub.principal.can_read(i)]
        if requested == "*":
            sites = readable
        elif isinstance(requested, list) and all(isinstance(s, str) for s in requested):
            unknown = [s for s in requested if self.fleet.slot(s) is None]
            forbidden = [s for s in requested if s not in unknown and not sub.principal.can_read(s)]
            if unknown:
                return self._send_error(sub, "not_found", f"unknown sites: {', '.join(unknown)}")
            if forbidden:
                return self._send_error(sub, "forbidden", f"no access to: {', '.join(forbidden)}")
            sites = list(dict.fromkeys(requested))
        else:
            return self._send_error(sub, "invalid_message", "sites must be a list of site ids or '*'")
        if message["type"] == "subscribe":
            sub.sites.update(sites)
            sub.outbox.append({"type": "subscribed", "sites": sorted(sub.sites)})
            for site_id in sites:  # the present state at once, so a new view is never empty
                slot = self.fleet.slot(site_id)
                if slot is not None:
                    sub.pending[site_id] = slot.state
        else:
            sub.sites.difference_update(sites)
            for site_id in sites:
                sub.pending.pop(site_id, None)
                sub.plans.pop(site_id, None)
            sub.outbox.append({"type": "unsubscribed", "sites": sites})
        sub.wake.set()
        return None

    def _send_error(self, sub: Subscriber, code: str, message: str) -> None:
        sub.outbox.append({"type": "error", "code": code, "message": message})
        sub.wake.set()

    async def _sender(self, sub: Subscriber) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not sub.ws.closed:
                await sub.wake.wait()
                sub.wake.clear()
                while sub.outbox:
                    await sub.ws.send_json(sub.outbox.popleft())
                while sub.plans:
                    await sub.ws.send_json(sub.plans.pop(next(iter(sub.plans))))
                now, next_due = time.monotonic(), None
                for site_id, state in list(sub.pending.items()):
                    wait = sub.last_sent.get(site_id, 0.0) + self.min_interval_s - now
                    if wait <= 0:
                        del sub.pending[site_id]
                        sub.last_sent[site_id] = now
                        await sub.ws.send_json(
                            {"type": "state", "site_id": site_id, "data": state_json(state)}
                        )
                    else:
                        next_due = wait if next_due is None else min(next_due, wait)
                if next_due is not None:
                    loop.call_later(next_due, sub.wake.set)
        except (ConnectionResetError, RuntimeError):
            LOG.debug("websocket closed while sending")

    async def close_all(self, _app: web.Application | None = None) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for sub in list(self.subscribers):
            await sub.ws.close(code=1001, message=b"server shutdown")
