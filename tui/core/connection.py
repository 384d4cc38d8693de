"""The live backend: REST bootstrap, WebSocket push, polling of what is not pushed, and
reconnection with backoff — all through ``phoenyra_ems.client.PhoenyraClient``.

One loop: ``info`` → ``sites`` → every site's detail (the first data on screen) → WebSocket
``connect`` / ``subscribe("*")`` → ``listen`` (plus a poll of the aggregate and the current site's
detail every ``poll_s``). Any connection error — REST or WebSocket — marks the store ``LOST`` with
the reason and the next retry, waits (exponential backoff, or at once on :meth:`request_refresh`)
and starts over, so a restarted daemon is picked up and every view refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import date, timedelta
from typing import Any

from phoenyra_ems.client import (
    AlarmEvent,
    CommunityState,
    ControlAckEvent,
    ErrorEvent,
    Event,
    PhoenyraAuthError,
    PhoenyraClient,
    PhoenyraConnectionError,
    PhoenyraError,
    PlanEvent,
    Sensor,
    SiteDetail,
    StateEvent,
    SubscribedEvent,
)
from tui.core.backoff import Backoff
from tui.core.control import ControlRequest, describe_ack, describe_error
from tui.core.history import HISTORY_STEP_S, day_window, site_zone
from tui.core.selector import SELECTOR_POLL_S
from tui.core.store import ChartPoint, Connection, ConsoleStore, ControlOutcome, Phase

LOG = logging.getLogger(__name__)
PREFILL_STEP_S = 30


def make_client(url: str, token: str) -> PhoenyraClient:
    """A client tuned for an interactive viewer: short timeouts, our own reconnect loop."""
    return PhoenyraClient.from_url(
        url, token=token, request_timeout=5.0, retries=1, retry_backoff_s=0.1, ws_heartbeat_s=5.0
    )


class ConnectionManager:
    def __init__(
        self,
        store: ConsoleStore,
        client_factory: Callable[[], PhoenyraClient],
        *,
        backoff: Backoff | None = None,
        poll_s: float = 2.0,
    ) -> None:
        self.store = store
        self._factory = client_factory
        self._client: PhoenyraClient | None = None
        self.backoff = backoff or Backoff()
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._prefilled: set[str] = set()
        self._selector_at: dict[str, float] = {}  # site -> monotonic time of its last GET /selector
        self.connects = 0  # successful (re)connections

    @property
    def client(self) -> PhoenyraClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    # --- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        url = self.store.connection.url
        while not self._stopping:
            try:
                await self._bootstrap()
                await self.client.connect()
                await self.client.subscribe("*")
                self.store.set_connection(Connection(Phase.CONNECTED, url))
                if self.connects:
                    self.store.log("connection restored")
                self.connects += 1
                attempt = 0
                await self._live()
                continue
            except PhoenyraAuthError as err:
                phase, message = Phase.AUTH_FAILED, f"token refused: {err.message}"
            except PhoenyraError as err:
                phase, message = Phase.LOST, str(err)
            if self._stopping:
                break
            with contextlib.suppress(PhoenyraError):
                await self.client.disconnect()
            delay = self.backoff.delay(attempt)
            attempt += 1
            if self.store.connection.phase is Phase.CONNECTED:
                self.store.log(f"connection lost: {message}")
            self.store.set_connection(Connection(phase, url, message, attempt, delay))
            await self._sleep(delay)

    async def _bootstrap(self) -> None:
        client = self.client
        self.store.set_info(await client.info())
        sites = await client.sites()
        self.store.set_sites(sites)
        results = await asyncio.gather(*(client.site(site.id) for site in sites), return_exceptions=True)
        for site, result in zip(sites, results, strict=True):
            if isinstance(result, SiteDetail):
                self.store.set_detail(result)
            elif isinstance(result, PhoenyraConnectionError | PhoenyraAuthError):
                raise result
            elif isinstance(result, PhoenyraError):
                self.store.log(f"{site.name}: {result.message}")
            elif isinstance(result, BaseException):
                raise result
        await self._poll_aggregated()
        self._prefilled.clear()
        if self.store.current_site is not None:
            self._spawn(self._prefill(self.store.current_site))
            self._spawn(self._load_plan(self.store.current_site))
            self._spawn(self._load_selector(self.store.current_site))

    async def _live(self) -> None:
        poller = asyncio.create_task(self._poll())
        try:
            await self.client.listen(self._on_event)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if not self._stopping:
            raise PhoenyraConnectionError("WebSocket closed")

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            refresh_all = self._wake.is_set()
            self._wake.clear()
            try:
                await self._poll_aggregated()
                site_ids = self.store.site_ids if refresh_all else [self.store.current_site]
                if refresh_all:
                    self.store.set_sites(await self.client.sites())
                for site_id in site_ids:
                    if site_id is not None:
                        await self._refresh_detail(site_id)
                if self.store.current_site is not None:
                    await self._load_selector(self.store.current_site, SELECTOR_POLL_S)
            except PhoenyraConnectionError as err:
                LOG.debug("poll failed: %s", err)
                await self.client.disconnect()  # listen() returns: reconnect
                return
            except PhoenyraError as err:
                LOG.debug("poll failed: %s", err)

    async def _poll_aggregated(self) -> None:
        if self.store.is_admin:
            self.store.set_aggregated(await self.client.aggregated())

    async def _refresh_detail(self, site_id: str) -> None:
        try:
            self.store.set_detail(await self.client.site(site_id))
        except PhoenyraConnectionError:
            raise
        except PhoenyraError as err:
            LOG.debug("%s: %s", site_id, err)

    async def _prefill(self, site_id: str) -> None:
        """The current site's last hour from the history (live points follow via the WebSocket)."""
        state = self.store.states.get(site_id)
        if state is None or site_id in self._prefilled:
            return
        self._prefilled.add(site_id)
        try:
            history = await self.client.history(
                site_id,
                start=state.timestamp - timedelta(hours=1),
                end=state.timestamp + timedelta(minutes=1),
                step_s=PREFILL_STEP_S,
            )
        except PhoenyraError as err:
            self._prefilled.discard(site_id)
            LOG.debug("%s: no history: %s", site_id, err)
            return
        self.store.merge_history(site_id, history.samples)

    async def _load_plan(self, site_id: str) -> None:
        """A planning site's plan, read once when its dashboard is first shown (after a
        (re)connect or a site switch); every new plan then arrives as a ``plan`` event."""
        site = self.store.sites.get(site_id)
        if site is None or "optimiser" not in site.strategies:
            return
        try:
            self.store.set_plan(await self.client.plan(site_id))
        except PhoenyraError as err:
            LOG.debug("%s: no plan: %s", site_id, err)

    async def _load_selector(self, site_id: str, min_age_s: float = 0.0) -> None:
        """Who chooses the site's strategy (``GET /selector``), at most every ``min_age_s``; a daemon
        without the route (or an error) leaves the dashboard without the line."""
        now = self.store.monotonic()
        if now - self._selector_at.get(site_id, -1e9) < min_age_s:
            return
        self._selector_at[site_id] = now
        try:
            self.store.set_selector(await self.client.selector(site_id))
        except PhoenyraError as err:  # a lost connection is found by the detail poll
            LOG.debug("%s: no selector status: %s", site_id, err)

    def _on_event(self, event: Event) -> None:
        store = self.store
        if isinstance(event, StateEvent):
            store.set_state(event.state)
        elif isinstance(event, AlarmEvent):
            store.set_alarm(event.site_id, event.alarm, event.active)
        elif isinstance(event, ControlAckEvent):
            store.set_control(event.site_id, event.control, event.by)
        elif isinstance(event, PlanEvent):
            store.set_plan(event.plan)
        elif isinstance(event, SubscribedEvent):
            if set(event.sites) - set(store.sites):
                self._wake.set()  # a site was added (reload): fetch the list and details
        elif isinstance(event, ErrorEvent):
            store.log(f"daemon: {event.code}: {event.message}")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- asked by the views -------------------------------------------------------------------
    def request_refresh(self) -> None:
        self._wake.set()

    def select_site(self, site_id: str) -> None:
        if not self.store.select_site(site_id):
            return
        if self.store.connection.phase is Phase.CONNECTED:
            self._spawn(self._select(site_id))

    async def _select(self, site_id: str) -> None:
        with contextlib.suppress(PhoenyraError):
            await self._refresh_detail(site_id)
        await self._prefill(site_id)
        await self._load_plan(site_id)
        await self._load_selector(site_id)

    async def send_control(self, request: ControlRequest) -> ControlOutcome:
        try:
            ack = await self.client.set_control(
                request.site_id, request.mode, request.strategy, request.setpoint_kw, request.duration_s
            )
        except PhoenyraError as err:
            outcome = ControlOutcome(False, describe_error(err))
        else:
            self.store.set_control(request.site_id, ack.control)
            outcome = ControlOutcome(ack.accepted, describe_ack(ack, self.store.site_zone(request.site_id)))
        self.store.set_control_result(request.site_id, outcome)
        return outcome

    async def day_history(self, site_id: str, day: date) -> list[ChartPoint]:
        site = self.store.sites.get(site_id)
        zone = site_zone(site.location.timezone if site is not None else "UTC")
        start, end = day_window(day, zone)
        history = await self.client.history(site_id, start, end, step_s=HISTORY_STEP_S)
        return [ChartPoint(s.timestamp, s.p_bess, s.p_pv, s.p_load, s.p_grid, s.soc) for s in history.samples]

    async def sensors(self, site_id: str) -> list[Sensor]:
        return await self.client.sensors(site_id)

    async def community(self) -> CommunityState:
        return await self.client.community()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
