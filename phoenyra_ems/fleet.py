"""Every configured site in one process: start, supervise, reload, aggregate.

Each site runs under its own supervisor task. A site that fails to start or whose loop dies is
reported (state ``failed``, alarm ``site_failed``) and retried with backoff (reset once a site has
run for ``STABLE_AFTER_S``); it never stops another site. Sites can be added, removed or reloaded
at runtime without touching the others: a site whose stop fails (e.g. its device hangs) is still
replaced, and an operator's mode, setpoint and limits carry over to the reloaded site when the new
configuration still allows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from phoenyra_ems.clock import Clock
from phoenyra_ems.config.model import EmsConfig, SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.aggregation import AggregatedState, aggregate
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.core.overrides import LimitOverrides, override_errors
from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus
from phoenyra_ems.fleet_vpp import FleetVpp
from phoenyra_ems.models import Alarm, AlarmSeverity, PlantState, SiteStatus
from phoenyra_ems.runtime import build_controller

LOG = logging.getLogger(__name__)

RETRY_START_S = 1.0
RETRY_MAX_S = 60.0
STABLE_AFTER_S = 60.0  # a site that ran this long starts its next retry from RETRY_START_S

ControllerFactory = Callable[[SiteConfig], SiteController]
StateListener = Callable[[PlantState], None]


@dataclass
class SiteSlot:
    """One configured site and whatever currently runs it."""

    config: SiteConfig
    controller: SiteController | None = None
    task: asyncio.Task[None] | None = None
    failures: int = 0
    error: str | None = None
    failed_state: PlantState | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    carried: tuple[ControlIntent, LimitOverrides] | None = None  # operator's controls to restore

    @property
    def state(self) -> PlantState:
        if self.failed_state is not None:
            return self.failed_state
        if self.controller is not None:
            return self.controller.state
        return PlantState(self.config.site_id, _epoch(), soc=0.0, status=SiteStatus.STARTING)


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, UTC)


def cycle_phase(site_id: str, cycle_s: float) -> float:
    """A stable offset in [0, cycle) per site, so a fleet's cycles do not all fire at once."""
    return (zlib.crc32(site_id.encode()) % 1000) / 1000 * cycle_s


REPLAN_SPREAD_MAX_S = 300.0


def replan_phase(site_id: str, planning_step_s: float) -> float:
    """A stable offset per site for its step-boundary replan, in the first third of a planning step
    (at most ``REPLAN_SPREAD_MAX_S``), so a fleet's sites do not all solve at the same instant
    (docs/optimiser.md, "Fleet"). Independent of :func:`cycle_phase`: a different hash input.
    """
    return cycle_phase(f"{site_id}/replan", min(REPLAN_SPREAD_MAX_S, planning_step_s / 3))


@dataclass(frozen=True)
class FleetChange:
    """What :meth:`Fleet.apply_config` did, site by site (the daemon's ``POST /reload`` answer,
    the client's ``ReloadResult``, adds whether the file was taken at all)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reloaded_sites: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    kept_controls: tuple[str, ...] = ()  # reloaded sites that kept the operator's mode and limits
    reset_controls: dict[str, str] = field(default_factory=dict)  # reloaded site -> why they were reset


class Fleet:
    """The multi-site manager."""

    def __init__(self, config: EmsConfig, clock: Clock, factory: ControllerFactory | None = None) -> None:
        self.config = config
        self.clock = clock
        self.factory: ControllerFactory = factory or (lambda site: build_controller(site, clock))
        self.slots: dict[str, SiteSlot] = {}
        self.listeners: list[StateListener] = []
        self.vpp = FleetVpp(self)  # the VPP target (fleet_vpp.py): schedules, offers, fleet split
        self.listeners.append(self.vpp.on_state)

    # --- queries -----------------------------------------------------------------------------
    def site_ids(self) -> list[str]:
        return list(self.slots)

    def slot(self, site_id: str) -> SiteSlot | None:
        return self.slots.get(site_id)

    def controller(self, site_id: str) -> SiteController | None:
        slot = self.slots.get(site_id)
        return slot.controller if slot and slot.failed_state is None else None

    def aggregated(self, site_ids: list[str] | None = None) -> AggregatedState:
        ids = self.site_ids() if site_ids is None else [i for i in site_ids if i in self.slots]
        return aggregate((self.slots[i].state, self.slots[i].config.bess.energy_capacity_kwh) for i in ids)

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self, wait_s: float = 0.0) -> None:
        for site in self.config.sites.values():
            self._start_site(site)
        if wait_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(s.started.wait() for s in self.slots.values())), wait_s
                )

    async def stop(self) -> None:
        """Stop every site; each battery ends in its safe state."""
        await asyncio.gather(*(self._stop_site(i) for i in list(self.slots)), return_exceptions=True)

    async def apply_config(self, config: EmsConfig) -> FleetChange:
        """Bring the running sites in line with ``config``, touching only what changed."""
        old, new = self.config.sites, config.sites
        added = tuple(i for i in new if i not in old)
        removed = tuple(i for i in old if i not in new)
        reloaded = tuple(i for i in new if i in old and new[i] != old[i])
        unchanged = tuple(i for i in new if i in old and new[i] == old[i])
        self.config = config
        carried: dict[str, tuple[ControlIntent, LimitOverrides]] = {}
        kept: list[str] = []
        reset: dict[str, str] = {}
        for site_id in reloaded:
            controls, why = self._controls_for(site_id, new[site_id])
            if controls is not None:
                carried[site_id] = controls
                kept.append(site_id)
            elif why:
                reset[site_id] = why
        for site_id in removed:
            await self._stop_site(site_id)
        for site_id in reloaded:  # the old slot answers until its replacement is in place
            await self._halt(self.slots[site_id])  # never raises: a hung device does not cost the site
            self._start_site(new[site_id], carried.get(site_id))
        for site_id in added:
            self._start_site(new[site_id])
        LOG.info("config applied: added %s removed %s reloaded %s", added, removed, reloaded)
        return FleetChange(added, removed, reloaded, unchanged, tuple(kept), reset)

    def _controls_for(
        self, site_id: str, site: SiteConfig
    ) -> tuple[tuple[ControlIntent, LimitOverrides] | None, str]:
        """The running site's operator controls if ``site`` still allows them, else why not."""
        controller = self.controller(site_id)
        if controller is None:
            return None, ""
        intent, overrides = controller.intent, controller.overrides
        if intent == ControlIntent() and overrides == LimitOverrides():
            return None, ""  # nothing to keep
        errors = override_errors(site, overrides)
        if errors:
            return None, f"operator limits no longer fit the configuration: {errors}"
        if intent.strategy is not None and intent.strategy not in site.ems.strategies:
            return None, f"pinned strategy {intent.strategy!r} is no longer configured"
        return (intent, overrides), ""

    async def restart_site(self, site_id: str) -> None:
        if site_id in self.slots:
            await self._halt(self.slots[site_id])
        self._start_site(self.config.sites[site_id])

    def _start_site(
        self, site: SiteConfig, carried: tuple[ControlIntent, LimitOverrides] | None = None
    ) -> None:
        slot = SiteSlot(site, carried=carried)
        self.slots[site.site_id] = slot
        slot.task = asyncio.create_task(self._supervise(slot), name=f"supervise {site.site_id}")

    async def _stop_site(self, site_id: str) -> None:
        """Stop a site and forget it; failures are logged, never raised (the caller goes on)."""
        slot = self.slots.pop(site_id, None)
        if slot is not None:
            await self._halt(slot)

    async def _halt(self, slot: SiteSlot) -> None:
        """Stop what runs a slot (the battery ends at 0 kW); failures are logged, never raised."""
        site_id = slot.config.site_id
        if slot.task is None:
            return
        slot.task.cancel()
        try:
            await slot.task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # we are being cancelled ourselves
        except Exception:
            LOG.exception("site %s did not stop cleanly", site_id)

    async def _supervise(self, slot: SiteSlot) -> None:
        delay = RETRY_START_S
        site_id = slot.config.site_id
        while True:
            controller: SiteController | None = None
            started_at: float | None = None
            try:
                controller = self.factory(slot.config)
                controller.phase_s = cycle_phase(site_id, slot.config.ems.cycle_s)
                controller.set_replan_phase(replan_phase(site_id, slot.config.ems.planning_step_s))
                controller.listeners.append(self._notify)
                if slot.carried is not None:
                    intent, overrides = slot.carried
                    controller.set_intent(intent)
                    controller.set_limits(overrides)
                await controller.start()
                started_at = time.monotonic()
                slot.controller, slot.failed_state, slot.error = controller, None, None
                slot.started.set()
                await controller.wait()
                raise RuntimeError("control loop ended unexpectedly")
            except asyncio.CancelledError:
                if controller is not None:
                    await asyncio.shield(controller.stop())
                raise
            except Exception as err:  # a failing site is reported and retried, never fatal
                slot.failures += 1
                if started_at is not None and time.monotonic() - started_at >= STABLE_AFTER_S:
                    delay = RETRY_START_S  # it ran fine for a while: this is a new failure
                slot.error = f"{type(err).__name__}: {err}"
                LOG.error("site %s failed (%s); retry in %.0f s", site_id, slot.error, delay)
                if controller is not None:
                    with contextlib.suppress(Exception):
                        await controller.stop()
                slot.controller = None
                slot.failed_state = PlantState(
                    site_id,
                    self.clock.now(),
                    soc=0.0,
                    status=SiteStatus.FAILED,
                    strategy_reason=slot.error,
                    alarms=(Alarm("site_failed", slot.error, AlarmSeverity.CRITICAL, self.clock.now()),),
                )
                slot.started.set()
                self._notify(slot.failed_state)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _notify(self, state: PlantState) -> None:
        for listener in self.listeners:
            try:
                listener(state)
            except Exception:
                LOG.exception("fleet listener failed")

    # --- VPP target (phoenyra_ems.vpp.target; docs/vpp.md "Control") -------------------------
    def apply_schedule(self, resource: str, schedule: VppSchedule | None) -> None:
        """Commit ``resource`` (a site id or the aggregated resource) to ``schedule`` (None: withdraw)."""
        self.vpp.apply_schedule(resource, schedule)

    def flexibility(self, resource: str, duration_s: float) -> Flexibility:
        """What ``resource`` can deliver for ``duration_s`` from now."""
        return self.vpp.flexibility(resource, duration_s)

    def status(self) -> list[VppSiteStatus]:
        """Every VPP-enabled site's VPP state."""
        return self.vpp.status()
