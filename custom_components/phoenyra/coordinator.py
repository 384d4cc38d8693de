"""The coordinator: one per daemon (config entry), fed by WebSocket pushes with a polling fallback.

- ``_async_update_data`` polls everything (info, the site list, each site's detail). It runs at
  setup, every ``scan_interval`` while the WebSocket is down, every ``scan_interval`` as a
  resync while it is up (sites added or removed on the daemon are found this way), and on demand
  (resync button, reconnect).
- A background task keeps a WebSocket open (``subscribe("*")``) and pushes every ``state`` /
  ``control_ack`` event with ``async_set_updated_data``. When the connection is lost the entities
  become unavailable (logged once); the task reconnects with backoff and a full refresh brings
  them back.
- Sites with ``optimiser`` among their strategies: the plan is read with every poll
  (``client.plan``) and replaced by every ``plan`` push; kept in ``plans`` beside the data (the
  plan sensors read it).
- The energy community (``client.community``, when the daemon has one): read with every poll and
  kept in ``community`` (the community sensors of member sites read it).
- Energy counters come from the daemon (``state.energy``: it integrates every control cycle and
  keeps the totals in its history database), so nothing is counted or stored here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from phoenyra_client import (
    CommunityState,
    Control,
    ControlAck,
    ControlAckEvent,
    Event,
    Info,
    Limits,
    Mode,
    PhoenyraAuthError,
    PhoenyraClient,
    PhoenyraError,
    PhoenyraNotFoundError,
    PlanEvent,
    SelectorStatus,
    Sensor,
    Site,
    SitePlan,
    SiteState,
    StateEvent,
    SubscribedEvent,
)

from . import const
from .const import (
    CONF_SCAN_INTERVAL,
    CONF_TLS,
    CONF_VERIFY_SSL,
    DEFAULT_PORT,
    DEFAULT_SCAN_INTERVAL_S,
    DOMAIN,
    LOGGER,
    REQUEST_TIMEOUT_S,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry


@dataclass(frozen=True, slots=True)
class SiteData:
    """One site as Home Assistant sees it."""

    site: Site
    state: SiteState
    control: Control | None  # None while the site's controller is not running
    limits: Limits | None
    sensors: tuple[Sensor, ...] = ()  # the site's edge sensors (discovered or listed), polled


@dataclass(frozen=True, slots=True)
class PhoenyraData:
    """Everything the entities read (replaced, never mutated)."""

    info: Info
    sites: dict[str, SiteData] = field(default_factory=dict)


def client_from_entry(hass: HomeAssistant, data: dict[str, Any] | Any) -> PhoenyraClient:
    """A client for the daemon described by a config entry's data (HA's shared aiohttp session)."""
    verify_ssl = bool(data.get(CONF_VERIFY_SSL, True))
    return PhoenyraClient(
        data[CONF_HOST],
        int(data.get(CONF_PORT, DEFAULT_PORT)),
        token=data[CONF_TOKEN],
        tls=bool(data.get(CONF_TLS, False)),
        verify_ssl=verify_ssl,
        session=async_get_clientsession(hass, verify_ssl=verify_ssl),
        request_timeout=REQUEST_TIMEOUT_S,
        retries=1,
    )


_COORDINATOR_TAKES_ENTRY = "config_entry" in inspect.signature(DataUpdateCoordinator.__init__).parameters


class PhoenyraCoordinator(DataUpdateCoordinator[PhoenyraData]):
    """All sites of one daemon."""

    config_entry: ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        self.scan_interval = timedelta(seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL_S))
        kwargs: dict[str, Any] = {}
        if _COORDINATOR_TAKES_ENTRY:  # HA >= 2024.11 wants it explicitly; 2024.3 has no such keyword
            kwargs["config_entry"] = entry
        super().__init__(
            hass, LOGGER, name=f"{DOMAIN} {entry.title}", update_interval=self.scan_interval, **kwargs
        )
        self.config_entry = entry
        self.client = client_from_entry(hass, entry.data)
        self.plans: dict[str, SitePlan] = {}  # sites that plan: the latest plan (plan sensors)
        self.selectors: dict[str, SelectorStatus] = {}  # who chooses each site's strategy, the A/B test
        self.community: CommunityState | None = None  # the daemon's energy community, if it has one
        self.ws_connected = False
        self._ws_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unsub_resync: CALLBACK_TYPE | None = None

    @property
    def instance_id(self) -> str:
        return self.config_entry.unique_id or self.data.info.instance_id

    # --- polling ---------------------------------------------------------------------------------
    async def _async_update_data(self) -> PhoenyraData:
        try:
            info = await self.client.info()
            sites = await self.client.sites()
            details = []
            sensors: dict[str, tuple[Sensor, ...]] = {}
            for site in sites:
                try:
                    details.append(await self.client.site(site.id))
                    sensors[site.id] = tuple(await self.client.sensors(site.id))
                except PhoenyraNotFoundError:  # removed between the two calls
                    continue
        except PhoenyraAuthError as err:
            raise ConfigEntryAuthFailed(str(err)) from err
        except PhoenyraError as err:
            raise UpdateFailed(f"Phoenyra EMS daemon: {err}") from err

        data = PhoenyraData(
            info=info,
            sites={
                d.site.id: SiteData(d.site, d.state, d.control, d.limits, sensors.get(d.site.id, ()))
                for d in details
            },
        )
        await self._async_update_plans(data)
        await self._async_update_selectors(data)
        await self._async_update_community()
        old_ids = set(self.data.sites) if self.data is not None else None
        # the ids the entities were created with (the entry's unique id is the daemon's instance id)
        self._remove_stale_devices(self.config_entry.unique_id or info.instance_id, set(data.sites))
        if old_ids is not None and old_ids != set(data.sites) and self.ws_connected:
            # "*" means the sites this user sees now: subscribe again so new sites are pushed
            with contextlib.suppress(PhoenyraError):
                await self.client.subscribe("*")
        self._ensure_websocket()
        return data

    async def _async_update_plans(self, data: PhoenyraData) -> None:
        """The plan of every site that plans; a plan that cannot be read now is dropped (its
        sensors become unavailable) rather than failing the whole update."""
        plans: dict[str, SitePlan] = {}
        for site_id, site_data in data.sites.items():
            if "optimiser" not in site_data.site.strategies:
                continue
            try:
                plans[site_id] = await self.client.plan(site_id)
            except PhoenyraAuthError as err:
                raise ConfigEntryAuthFailed(str(err)) from err
            except PhoenyraError as err:
                LOGGER.debug("no plan for site %s: %s", site_id, err)
        self.plans = plans

    async def _async_update_selectors(self, data: PhoenyraData) -> None:
        """Who chooses each site's strategy and its A/B test (``GET /sites/{id}/selector``); a daemon
        without the route or a status that cannot be read now leaves that site without it."""
        selectors: dict[str, SelectorStatus] = {}
        for site_id in data.sites:
            try:
                selectors[site_id] = await self.client.selector(site_id)
            except PhoenyraAuthError as err:
                raise ConfigEntryAuthFailed(str(err)) from err
            except PhoenyraError as err:
                LOGGER.debug("no selector status for site %s: %s", site_id, err)
        self.selectors = selectors

    async def _async_update_community(self) -> None:
        """The energy community (``GET /community``): None when the daemon has none (404) or it
        cannot be read now (the community sensors become unavailable, the update goes on)."""
        try:
            self.community = await self.client.community()
        except PhoenyraAuthError as err:
            raise ConfigEntryAuthFailed(str(err)) from err
        except PhoenyraNotFoundError:
            self.community = None
        except PhoenyraError as err:
            LOGGER.debug("community state not readable: %s", err)
            self.community = None

    @callback
    def _remove_stale_devices(self, instance_id: str, site_ids: set[str]) -> None:
        """Sites removed on the daemon: remove their devices (and with them their entities)."""
        registry = dr.async_get(self.hass)
        wanted = {instance_id} | {f"{instance_id}_{site_id}" for site_id in site_ids}
        for device in dr.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            ids = {ident for domain, ident in device.identifiers if domain == DOMAIN}
            if ids and not ids & wanted:
                LOGGER.info("site %s is gone from the daemon: removing its device", device.name)
                # entities first: removing a device with entities races their registry updates
                entities = er.async_get(self.hass)
                for entity in er.async_entries_for_device(
                    entities, device.id, include_disabled_entities=True
                ):
                    entities.async_remove(entity.entity_id)
                registry.async_update_device(device.id, remove_config_entry_id=self.config_entry.entry_id)

    # --- WebSocket push --------------------------------------------------------------------------
    @callback
    def _ensure_websocket(self) -> None:
        if self._stopping or (self._ws_task is not None and not self._ws_task.done()):
            return
        self._ws_task = self.config_entry.async_create_background_task(
            self.hass, self._ws_loop(), f"{DOMAIN}-websocket-{self.config_entry.entry_id}"
        )
        if self._unsub_resync is None:
            self._unsub_resync = async_track_time_interval(
                self.hass, self._async_resync, self.scan_interval, name=f"{DOMAIN} resync"
            )

    async def _async_resync(self, _now: datetime) -> None:
        """Pushes postpone the coordinator's own poll; refresh the site list anyway."""
        if self.ws_connected:
            await self.async_request_refresh()

    async def _ws_loop(self) -> None:
        delay = const.RECONNECT_MIN_S
        reported_loss = False
        while not self._stopping:
            try:
                await self.client.connect()
                await self.client.subscribe("*")
                self.ws_connected = True
                delay = const.RECONNECT_MIN_S
                if reported_loss or not self.last_update_success:
                    LOGGER.info("connection to the Phoenyra EMS daemon is back")
                    reported_loss = False
                    await self.async_refresh()
                await self.client.listen(self._on_event)
                if self._stopping:
                    return
            except PhoenyraAuthError:
                LOGGER.warning("the Phoenyra EMS daemon refused the API token: reauthentication needed")
                self.ws_connected = False
                self.config_entry.async_start_reauth(self.hass)
                return
            except PhoenyraError as err:
                if self.ws_connected:  # lost (a WebSocket that never opens leaves polling in charge)
                    reported_loss = True
                    if self.last_update_success:  # not yet reported by a failed poll: log once
                        LOGGER.warning(
                            "lost the connection to the Phoenyra EMS daemon (%s): entities unavailable "
                            "until it is back",
                            err,
                        )
                        self.last_update_success = False
                        self.async_update_listeners()
                else:
                    LOGGER.debug("WebSocket to the Phoenyra EMS daemon: %s", err)
            finally:
                self.ws_connected = False
            if self._stopping:
                return
            await asyncio.sleep(delay)
            delay = min(const.RECONNECT_MAX_S, delay * 2)

    @callback
    def _on_event(self, event: Event) -> None:
        try:
            self._handle_event(event)
        except Exception:  # a bad event must not end the WebSocket
            LOGGER.exception("error handling %s from the Phoenyra EMS daemon", type(event).__name__)

    @callback
    def _handle_event(self, event: Event) -> None:
        if self.data is None:
            return
        if isinstance(event, StateEvent):
            current = self.data.sites.get(event.site_id)
            if current is None:
                self.hass.async_create_task(self.async_request_refresh())  # a new site
                return
            self._push_site(replace(current, state=event.state))
        elif isinstance(event, ControlAckEvent):
            current = self.data.sites.get(event.site_id)
            if current is not None:
                self._push_site(replace(current, control=event.control))
        elif isinstance(event, PlanEvent):
            if event.site_id in self.data.sites:
                self.plans[event.site_id] = event.plan
                self.async_update_listeners()
        elif isinstance(event, SubscribedEvent) and set(event.sites) != set(self.data.sites):
            self.hass.async_create_task(self.async_request_refresh())

    @callback
    def _push_site(self, site_data: SiteData) -> None:
        sites = dict(self.data.sites)
        sites[site_data.site.id] = site_data
        self.async_set_updated_data(replace(self.data, sites=sites))

    # --- commands (errors are translated by the callers, see helpers.py) --------------------------
    async def async_set_control(
        self,
        site_id: str,
        mode: Mode,
        *,
        strategy: str | None = None,
        keep_strategy: bool = True,
        setpoint_kw: float | None = None,
        duration_s: float | None = None,
    ) -> None:
        """Send a control request; with ``keep_strategy`` no strategy is sent and the daemon keeps its
        pin; else ``strategy`` is sent as given (``None`` unpins)."""
        if keep_strategy:
            ack = await self.client.set_control(site_id, mode, setpoint_kw=setpoint_kw, duration_s=duration_s)
        else:
            ack = await self.client.set_control(
                site_id, mode, strategy=strategy, setpoint_kw=setpoint_kw, duration_s=duration_s
            )
        self._acknowledged(site_id, ack)

    async def async_set_strategy(self, site_id: str, strategy: str | None) -> None:
        """Pin a strategy (``None``: automatic selection); the daemon keeps mode and manual setpoint."""
        self._acknowledged(site_id, await self.client.set_strategy(site_id, strategy))

    def _acknowledged(self, site_id: str, ack: ControlAck) -> None:
        current = self.data.sites.get(site_id)
        if current is not None:  # optimistic until the next state push confirms it
            state = replace(current.state, mode=ack.control.mode)
            self._push_site(replace(current, state=state, control=ack.control))

    async def async_set_limits(self, site_id: str, **limits: float | None) -> None:
        result = await self.client.set_limits(site_id, **limits)
        current = self.data.sites.get(site_id)
        if current is not None:
            self._push_site(replace(current, limits=result))

    async def async_shutdown(self) -> None:
        """Stop the WebSocket task and the timers (unload, HA stop)."""
        self._stopping = True
        if self._unsub_resync is not None:
            self._unsub_resync()
            self._unsub_resync = None
        await self.client.disconnect()
        if self._ws_task is not None:
            self._ws_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ws_task
            self._ws_task = None
        await super().async_shutdown()
