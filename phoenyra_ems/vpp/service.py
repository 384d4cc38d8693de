"""The VEN service: one asyncio task per VTN connection, talking to the site control only through
``VppTarget`` (docs/vpp.md).

Each cycle: register the VEN and its resources (once), read programs and events, hand each
resource the schedule it is to follow, announce offered flexibility when it changed materially,
report actuals as the events request. Notifications pushed to the webhook are applied at once.
On communication loss the schedules already handed over stay (the control side runs them to their
end); the service retries with exponential backoff. Nothing here blocks the control loop: the
target calls only hand values over, validation runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl as ssl_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from phoenyra_ems.core.vpp import Flexibility, VppSchedule
from phoenyra_ems.vpp import events as ev
from phoenyra_ems.vpp import flexibility as fx
from phoenyra_ems.vpp.auth import Credentials, TokenSource
from phoenyra_ems.vpp.client import VenClient
from phoenyra_ems.vpp.errors import VtnConnectionError, VtnError
from phoenyra_ems.vpp.event_reports import EventReports
from phoenyra_ems.vpp.openapi import warm_up
from phoenyra_ems.vpp.target import VppTarget
from phoenyra_ems.vpp.webhook import WebhookRegistry

log = logging.getLogger(__name__)
Json = Any


@dataclass(frozen=True)
class VenSettings:
    """One VEN connection (built from the sites' ``vpp:`` blocks that share a VTN and client id)."""

    vtn_url: str
    client_id: str
    client_secret: str = field(repr=False)
    resources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> site ids
    ven_name: str = "phoenyra-ems"
    token_url: str | None = None
    programs: tuple[str, ...] = ()
    poll_interval_s: float = 10.0
    webhook_url: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    request_timeout_s: float = 10.0
    response_time_s: float = 5.0
    offer_duration_s: float = 900.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0


def ssl_setting(verify: bool, ca_file: str | None) -> object:
    """What aiohttp's ``ssl=`` gets: True (system CAs), a context for ``ca_file``, or False."""
    if not verify:
        return False
    if ca_file:
        return ssl_module.create_default_context(cafile=ca_file)
    return True


class VenService:
    """The VEN for one VTN; ``run()`` is its task, ``on_notification`` the webhook's handler."""

    def __init__(
        self,
        settings: VenSettings,
        target: VppTarget,
        *,
        session: aiohttp.ClientSession | None = None,
        webhooks: WebhookRegistry | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.target = target
        self._own_session = session is None
        self._session = session
        self._webhooks = webhooks
        self._now = now
        self._client: VenClient | None = None
        self._hook_token = secrets.token_urlsafe(24)
        self._wake = asyncio.Event()
        self._ven_id: str | None = None
        self._resource_ids: dict[str, str] = {}
        self._programs: dict[str, Json] = {}
        self._events: dict[str, Json] = {}
        self._applied: dict[str, VppSchedule | None] = {}
        self._offered: dict[str, Flexibility] = {}
        self._reports = EventReports(settings, target, lambda: self._events)
        self._subscribed: set[str] = set()
        self._warned: set[str] = set()
        self.connected = False
        self.failures = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"VenService(vtn={self.settings.vtn_url!r}, client_id={self.settings.client_id!r})"

    # --- public state ------------------------------------------------------------------------------

    @property
    def schedules(self) -> dict[str, VppSchedule | None]:
        """What each resource was last handed (absent: never)."""
        return dict(self._applied)

    @property
    def programs(self) -> list[Json]:
        return list(self._programs.values())

    @property
    def events(self) -> list[Json]:
        return list(self._events.values())

    def diagnostics(self) -> dict[str, Any]:
        """State for logs and diagnostics: no secret in it."""
        return {
            "vtn_url": self.settings.vtn_url,
            "client_id": self.settings.client_id,
            "ven_name": self.settings.ven_name,
            "ven_id": self._ven_id,
            "connected": self.connected,
            "failures": self.failures,
            "last_error": self.last_error,
            "push": self.settings.webhook_url is not None,
            "subscribed_programs": sorted(self._subscribed),
            "events": sorted(self._events),
        }

    # --- the task ----------------------------------------------------------------------------------

    async def run(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            tls = ssl_setting(self.settings.verify_tls, self.settings.ca_file)
        except (OSError, ssl_module.SSLError) as exc:
            log.error(
                "VEN for %s not started: ca_file %s cannot be used: %s",
                self.settings.vtn_url,
                self.settings.ca_file,
                exc,
            )
            self.last_error = f"ca_file: {exc}"
            return
        token_url = self.settings.token_url or f"{self.settings.vtn_url.rstrip('/')}/auth/token"
        tokens = TokenSource(
            self._session,
            token_url,
            Credentials(self.settings.client_id, self.settings.client_secret),
            timeout_s=self.settings.request_timeout_s,
            ssl=tls,
            validate_path="/auth/token" if self.settings.token_url is None else None,
        )
        self._client = VenClient(
            self._session, self.settings.vtn_url, tokens, timeout_s=self.settings.request_timeout_s, ssl=tls
        )
        await asyncio.to_thread(warm_up)  # the OpenADR document, off the event loop
        if self._webhooks is not None and self.settings.webhook_url:
            self._webhooks.register(self._hook_token, self.on_notification)
        try:
            while True:
                delay = self.settings.poll_interval_s
                try:
                    await self.cycle()
                    if not self.connected or self.failures:
                        log.info("VTN %s: connected", self.settings.vtn_url)
                    self.connected, self.failures, self.last_error = True, 0, None
                except VtnError as exc:
                    self._lost(exc)
                    delay = self._backoff()
                except Exception:  # a bug here or in the target must not end the task
                    log.exception("VEN for %s: cycle failed", self.settings.vtn_url)
                    self.failures += 1
                    delay = self._backoff()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            if self._webhooks is not None:
                self._webhooks.unregister(self._hook_token)
            if self._own_session and self._session is not None:
                await self._session.close()

    def _backoff(self) -> float:
        return float(
            min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** (self.failures - 1))
        )

    def _lost(self, exc: VtnError) -> None:
        self.failures += 1
        self.last_error = str(exc)
        if isinstance(exc, VtnConnectionError):
            self.connected = False
            # the VTN may have restarted: register, announce and subscribe again when back
            self._subscribed.clear()
            self._ven_id = None
            self._resource_ids.clear()
            self._offered.clear()
        kept = [f"{r}: {s.event_id} until {s.end}" for r, s in self._applied.items() if s is not None]
        log.warning(
            "VTN %s: %s (attempt %d; retrying with backoff; schedules kept: %s)",
            self.settings.vtn_url,
            exc,
            self.failures,
            ", ".join(kept) or "none",
        )

    async def cycle(self) -> None:
        """One round trip with the VTN (raises VtnError on failure, changing nothing)."""
        client = self._client
        assert client is not None, "run() sets the client up"
        if self._ven_id is None:
            await self._register(client)
        programs = {str(p["id"]): p for p in await client.programs() if self._wanted(p)}
        if self.settings.webhook_url:
            for pid in sorted(set(programs) - self._subscribed):
                await self._subscribe(client, pid)
        found = [e for e in await client.events() if str(e.get("programID")) in programs and e.get("id")]
        self._programs = programs
        self._replace_events(found)
        await self._announce(client)
        await self._reports.send(client, self._now())

    def _wanted(self, program: Json) -> bool:
        return bool(program.get("id")) and (
            not self.settings.programs or program.get("programName") in self.settings.programs
        )

    async def _register(self, client: VenClient) -> None:
        name = self.settings.ven_name
        known = await client.vens(name)
        ven = next((v for v in known if v.get("venName") == name), None) or await client.create_ven(name)
        self._ven_id = str(ven["id"])
        for resource in await client.resources(self._ven_id):
            self._resource_ids[str(resource.get("resourceName"))] = str(resource.get("id"))
        log.info("VTN %s: VEN %r is %s", self.settings.vtn_url, name, self._ven_id)

    async def _subscribe(self, client: VenClient, program_id: str) -> None:
        assert self.settings.webhook_url is not None
        name = self.settings.ven_name
        for old in await client.subscriptions(name, program_id):
            urls = {op.get("callbackUrl") for op in old.get("objectOperations") or ()}
            if old.get("clientName") == name and self.settings.webhook_url in urls and old.get("id"):
                await client.unsubscribe(str(old["id"]))  # an earlier run's: its token is gone
        await client.subscribe(name, program_id, self.settings.webhook_url, self._hook_token)
        self._subscribed.add(program_id)
        log.info(
            "VTN %s: subscribed to program %s (push to %s)",
            self.settings.vtn_url,
            program_id,
            self.settings.webhook_url,
        )

    # --- events -> schedules -----------------------------------------------------------------------

    def on_notification(self, notification: Json) -> None:
        """A validated notification from the webhook: apply an event change at once."""
        obj = notification.get("object") or {}
        if notification.get("objectType") == "EVENT" and obj.get("id"):
            if str(obj.get("programID")) not in self._programs:
                self._wake.set()  # a program we have not read yet: poll now
                return
            events = dict(self._events)
            if notification.get("operation") == "DELETE":
                events.pop(str(obj["id"]), None)
            else:
                events[str(obj["id"])] = obj
            self._replace_events(list(events.values()))
        else:
            self._wake.set()

    def _replace_events(self, found: list[Json]) -> None:
        fresh: dict[str, Json] = {}
        for event in found:
            eid = str(event["id"])
            try:
                for resource in ev.addressed(event, self.settings.resources, self.settings.ven_name):
                    ev.to_schedule(event, resource)
            except ev.EventError as exc:
                if eid not in self._warned:
                    log.error("VTN %s: event not applied: %s", self.settings.vtn_url, exc)
                    self._warned.add(eid)
                if eid in self._events:
                    fresh[eid] = self._events[eid]  # keep the last valid version
                continue
            fresh[eid] = event
        self._events = fresh
        self.apply()

    def apply(self) -> None:
        """Hand each resource the schedule it is to follow now (only when it changed)."""
        now = self._now()
        for resource in self.settings.resources:
            schedules = [
                ev.to_schedule(e, resource)
                for e in ev.newest_last(self._events.values())
                if resource in ev.addressed(e, [resource], self.settings.ven_name)
            ]
            chosen = ev.merge(schedules, now)
            if resource in self._applied and self._applied[resource] == chosen:
                continue
            if resource not in self._applied and chosen is None:
                self._applied[resource] = None
                continue
            self._applied[resource] = chosen
            log.info(
                "VPP resource %s: %s",
                resource,
                f"event {chosen.event_id} ({len(chosen.intervals)} intervals, until {chosen.end})"
                if chosen is not None
                else "no committed schedule",
            )
            self.target.apply_schedule(resource, chosen)

    # --- flexibility and reports -------------------------------------------------------------------

    async def _announce(self, client: VenClient) -> None:
        assert self._ven_id is not None
        for resource in self.settings.resources:
            offer = self.target.flexibility(resource, self.settings.offer_duration_s)
            if not fx.material(self._offered.get(resource), offer):
                continue
            body: dict[str, Any] = {
                "resourceName": resource,
                "venID": self._ven_id,
                "attributes": fx.attributes(offer, self.settings.response_time_s),
            }
            if resource in self._resource_ids:
                body["id"] = self._resource_ids[resource]
            saved = await client.put_resource(self._ven_id, body)
            self._resource_ids[resource] = str(saved["id"])
            self._offered[resource] = offer
            log.info(
                "VPP resource %s: offers %.1f kW discharge / %.1f kW charge for %.0f s",
                resource,
                offer.max_discharge_kw,
                offer.max_charge_kw,
                offer.duration_s,
            )
