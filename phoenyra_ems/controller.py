"""The control loop of one site: read → check → state → strategy → safety → write → record.

I/O lives here; every decision is made by ``core.decision.decide``. What puts the site in its safe
state (setpoint 0 kW, status ``safe``, published in the cycle that finds the fault, then a
best-effort 0 kW write):

* the device does not answer for ``ems.comm_timeout_cycles`` cycles (alarm ``comm_lost``);
* a reading no healthy site can produce, for as many cycles (``implausible_reading``);
* no state of charge for ``ems.soc_missing_cycles`` cycles, or none ever (``soc_unavailable``);
* the device refuses a setpoint write (``write_failed``).

The device adapter reconnects by itself and the next good cycle resumes control. History trouble
never stops control (alarm ``history_unavailable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from phoenyra_ems.clock import Clock, SystemClock
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.decision import ControlIntent, Decision, decide
from phoenyra_ems.core.overrides import LimitOverrides, apply_overrides, override_errors
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import PriceSlot, build_strategies
from phoenyra_ems.devices.errors import (
    DeviceError,
    ImplausibleReading,
    SocUnavailable,
    WriteRefused,
)
from phoenyra_ems.devices.plausibility import check_site_plausible
from phoenyra_ems.history.store import HistoryRecord, HistoryStore
from phoenyra_ems.models import (
    Alarm,
    AlarmSeverity,
    Measurements,
    PlantState,
    SensorInputs,
    SiteMode,
    SiteStatus,
)
from phoenyra_ems.prices import NoPrices, PriceProvider

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.live import PlanHistory

LOG = logging.getLogger(__name__)

PRICE_HORIZON_H = 24.0
LOAD_BALANCING_WINDOW_S = 900.0
MAX_NET_LOAD_SAMPLES = 3600
RETENTION_EVERY_S = 3600.0
# (state, now, known prices, previous decision) -> strategy to pin or None (the score-based selection)
StrategyChooser = Callable[[PlantState, datetime, "tuple[PriceSlot, ...]", "Decision | None"], "str | None"]
STOP_STEP_S = 2.0  # each step of a stop (loop, safe write, device, attachment) gets at most this


class Attachment(Protocol):
    """Something that lives as long as a site's controller (e.g. its MQTT telemetry link)."""

    async def start(self, controller: SiteController) -> None: ...

    async def stop(self) -> None: ...


class SiteDevice(Protocol):
    """What the controller needs from a device adapter (Modbus today)."""

    @property
    def connected(self) -> bool: ...

    @property
    def hold_s(self) -> float: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def read(self) -> Measurements: ...

    async def write_setpoint(self, kw: float) -> bool: ...

    async def write_safe(self) -> None: ...


@dataclass
class CycleStats:
    cycles: int = 0
    missed: int = 0
    failed_reads: int = 0
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


def complete(m: Measurements, previous: PlantState) -> Measurements:
    """Fill a missing power from the balance p_grid + p_pv + p_bess = p_load."""
    p_bess = m.p_bess_kw if m.p_bess_kw is not None else previous.setpoint
    p_pv = m.p_pv_kw if m.p_pv_kw is not None else 0.0
    p_load, p_grid = m.p_load_kw, m.p_grid_kw
    if p_load is None and p_grid is not None:
        p_load = max(0.0, p_grid + p_pv + p_bess)
    if p_load is None:
        p_load = 0.0
    if p_grid is None:
        p_grid = p_load - p_pv - p_bess
    return Measurements(m.soc_pct, m.soh_pct, m.temp_c, p_bess, p_pv, p_load, p_grid)


class SiteController:
    """Runs one site. ``listeners`` are called with every new PlantState."""

    def __init__(
        self,
        site: SiteConfig,
        device: SiteDevice,
        clock: Clock | None = None,
        prices: PriceProvider | None = None,
        history: HistoryStore | None = None,
    ) -> None:
        self.site = site
        self.device = device
        self.clock = clock or SystemClock()
        self.prices = prices or NoPrices()
        self.history = history
        self.strategies = build_strategies(site.ems.strategies, site.ems)
        # The optimiser's forecasts: step means of what the site measured (docs/optimiser.md).
        self.plan_history: PlanHistory | None = None
        if "optimiser" in site.ems.strategies:  # numpy and scipy only for sites that plan
            from phoenyra_ems.core.optimiser.live import PlanHistory

            self.plan_history = PlanHistory(site)
        self.intent = ControlIntent()
        self.overrides = LimitOverrides()
        self.effective_site = site
        self.selection = SelectionState()
        self.stats = CycleStats()
        self.listeners: list[Callable[[PlantState], None]] = []
        self.sensor_inputs: Callable[[], SensorInputs] | None = None  # edge sensors (MQTT), if any
        self.attachments: list[Attachment] = []  # started and stopped with the site (MQTT link)
        self.last_decision: Decision | None = None
        # AI strategy selection (phoenyra_ems.selector): the strategy to pin now, or None for scores
        self.strategy_chooser: StrategyChooser | None = None
        self._zone = ZoneInfo(site.location.timezone)
        self._alarms: dict[str, Alarm] = {}
        self._failed_reads = 0
        self._soc_missing = 0
        self._soc_seen = False
        self._net_load: deque[float] = deque(
            maxlen=max(2, min(MAX_NET_LOAD_SAMPLES, int(LOAD_BALANCING_WINDOW_S / site.ems.cycle_s)))
        )
        self._last_retention: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.phase_s = 0.0  # delay of the first cycle (the fleet staggers its sites)
        self.state = PlantState(site_id=site.site_id, timestamp=self.clock.now(), soc=0.0)

    # --- operator commands -------------------------------------------------------------------
    def set_intent(self, intent: ControlIntent) -> None:
        """Change mode / strategy / manual setpoint; takes effect in the next cycle."""
        self.intent = intent
        if intent.strategy is not None or intent.mode is not SiteMode.AUTO:
            self.selection = SelectionState()

    def set_limits(self, overrides: LimitOverrides) -> None:
        """Operator limits; ValueError if any would leave the configured hardware limits."""
        errors = override_errors(self.site, overrides)
        if errors:
            raise ValueError(errors)
        self.overrides = overrides
        self.effective_site = apply_overrides(self.site, overrides)

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the loop. A history file that cannot be opened is retried later, never fatal."""
        if self.history is not None and not await self.history.start():
            self._raise_alarm("history_unavailable", self.history.error or "history unavailable")
        await self.device.start()
        self._task = asyncio.create_task(self._run(), name=f"site {self.site.site_id}")
        for attachment in self.attachments:
            await attachment.start(self)

    async def wait(self) -> None:
        """Until the control loop ends (it only ends by itself on a bug: the fleet restarts it)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop the loop and leave the battery in its safe state (0 kW); bounded whatever the device does.

        Each step gets at most ``STOP_STEP_S``; history is flushed and closed in any case.
        """
        site_id = self.site.site_id
        try:
            if self._task is not None:
                self._stopping.set()  # ends the loop between cycles: a request is never cut in half
                try:
                    await asyncio.wait_for(asyncio.shield(self._task), timeout=STOP_STEP_S)
                except TimeoutError:
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
                self._task = None
            await _bounded(self.device.write_safe(), f"site {site_id}: safe write on stop")
            await _bounded(self.device.stop(), f"site {site_id}: device stop")
            for attachment in self.attachments:
                await _bounded(attachment.stop(), f"site {site_id}: attachment stop")
            self._publish(self.state.with_(status=SiteStatus.STOPPED, setpoint=0.0))
        finally:
            if self.history is not None:
                await _bounded(self.history.close(), f"site {site_id}: history close", 3 * STOP_STEP_S)

    async def _run(self) -> None:
        cycle = self.site.ems.cycle_s
        await self._sleep(self.phase_s)  # spread the sites of a fleet over the cycle
        next_at = self.clock.now()
        while not self._stopping.is_set():
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one cycle must not end the site
                LOG.exception("site %s: cycle failed", self.site.site_id)
            next_at += timedelta(seconds=cycle)
            now = self.clock.now()
            if now > next_at:  # overran: skip the cycles we missed instead of bunching them
                missed = int((now - next_at).total_seconds() // cycle) + 1
                self.stats.missed += missed
                next_at += timedelta(seconds=missed * cycle)
            await self._sleep((next_at - now).total_seconds())

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the site's clock, waking early when a stop is requested."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    # --- one cycle ---------------------------------------------------------------------------
    async def cycle(self) -> PlantState:
        started = time.perf_counter()
        now = self.clock.now()
        safe_write = False
        try:
            measured = self._checked(await self.device.read())
        except DeviceError as err:
            state, safe_write = self._on_device_error(now, err)
        else:
            self._failed_reads = 0
            for code in ("comm_lost", "implausible_reading", "soc_unavailable"):
                self._clear_alarm(code)
            try:
                state = await self._control(now, measured)
            except DeviceError as err:  # the setpoint write failed
                state, safe_write = self._on_device_error(now, err)
        self.stats.cycles += 1
        self.stats.latencies_s.append(time.perf_counter() - started)
        await self._record(state)
        self._publish(state.with_(alarms=tuple(self._alarms.values())))
        if safe_write:  # after publishing: a device that hangs cannot delay the safe state's news
            await self._write_safe()
        return self.state

    def _checked(self, measured: Measurements) -> Measurements:
        """The reading if the site can be controlled on it; raises ImplausibleReading otherwise."""
        measured = check_site_plausible(measured, self.site)
        if measured.soc_pct is not None:
            self._soc_missing, self._soc_seen = 0, True
            return measured
        self._soc_missing += 1
        if not self._soc_seen or self._soc_missing >= self.site.ems.soc_missing_cycles:
            raise SocUnavailable(self._soc_missing)
        return measured  # for a few cycles the last SoC stands in

    def _inputs(self) -> SensorInputs:
        if self.sensor_inputs is None:
            return SensorInputs()
        try:
            inputs = self.sensor_inputs()
        except Exception:  # a sensor problem never stops control
            LOG.exception("site %s: sensor inputs failed", self.site.site_id)
            return SensorInputs()
        if inputs.dropped:
            self._raise_alarm("sensor_dropped", f"sensors left out: {', '.join(inputs.dropped)}")
        else:
            self._clear_alarm("sensor_dropped")
        return inputs

    async def _control(self, now: datetime, measured: Measurements) -> PlantState:
        inputs = self._inputs()
        if inputs.grid_power_kw is not None:  # the external grid meter is the truth at the connection
            measured = replace(measured, p_grid_kw=inputs.grid_power_kw, p_load_kw=None)
        m = complete(measured, self.state)
        if self.intent.expired(now):
            LOG.info("site %s: manual setpoint expired, back to auto", self.site.site_id)
            self.set_intent(ControlIntent(strategy=self.intent.strategy))
        self._net_load.append(m.p_load_kw - m.p_pv_kw)  # type: ignore[operator]
        price_slots = self.prices.slots(now, PRICE_HORIZON_H)
        state = self.state.with_(
            timestamp=now,
            soc=m.soc_pct if m.soc_pct is not None else self.state.soc,
            soh=m.soh_pct if m.soh_pct is not None else self.state.soh,
            temp_c=m.temp_c,
            p_bess=m.p_bess_kw,
            p_pv=m.p_pv_kw,
            p_load=m.p_load_kw,
            p_grid=m.p_grid_kw,
            price=price_slots[0].eur_mwh if price_slots else None,
            mode=self.intent.mode,
            last_reading=now,
            extras={"room_temp_c": inputs.room_temp_c} if inputs.room_temp_c is not None else {},
        )
        plan_inputs, replan_due = None, False
        if self.plan_history is not None:
            self.plan_history.add(now, m.p_load_kw or 0.0, m.p_pv_kw or 0.0, m.p_grid_kw or 0.0, state.price)
            horizon_h = self.site.ems.planning_horizon_h
            before = self.plan_history.inputs_start
            plan_inputs = self.plan_history.inputs(
                now, self.prices.slots(now, horizon_h), self.prices.slot_hours
            )
            replan_due = before != plan_inputs.start
        intent = self.intent
        if self.strategy_chooser is not None and intent.mode is SiteMode.AUTO and intent.strategy is None:
            pinned = self.strategy_chooser(state, now, price_slots, self.last_decision)
            intent = replace(intent, strategy=pinned)
        step = partial(
            decide,
            self.effective_site,
            state,
            intent,
            self.strategies,
            self.selection,
            now,
            dt_s=self.site.ems.cycle_s,
            prices=price_slots,
            slot_hours=self.prices.slot_hours,
            recent_net_load_kw=tuple(self._net_load),
            hold_s=self.device.hold_s,
            local_now=now.astimezone(self._zone),
            extra_derate=inputs.derate,
            plan_inputs=plan_inputs,
        )
        # A replan (~10 ms for 48 h at 15 min) runs off the event loop; other cycles stay inline.
        decision = await asyncio.to_thread(step) if replan_due else step()
        self.selection, self.last_decision = decision.selection, decision
        if self.plan_history is not None:
            self._plan_alarms()
        if decision.safety.grid_limit_unreachable:
            self._raise_alarm("grid_limit_unreachable", "PV or load alone exceeds a grid limit")
        else:
            self._clear_alarm("grid_limit_unreachable")
        wrote = await self.device.write_setpoint(decision.setpoint_kw)
        self._clear_alarm("write_failed")
        return state.with_(
            setpoint=decision.setpoint_kw,
            strategy=decision.strategy,
            strategy_reason=decision.reason,
            status=SiteStatus.RUNNING,
            last_write=now if wrote else self.state.last_write,
        )

    def _plan_alarms(self) -> None:
        """``plan_failed`` (the optimiser fell back to self-consumption) and ``plan_slack``."""
        plan = next((getattr(s, "plan", None) for s in self.strategies if s.name == "optimiser"), None)
        if plan is not None and plan.status == "failed":
            self._raise_alarm("plan_failed", f"no plan, self-consumption instead: {plan.message}")
        else:
            self._clear_alarm("plan_failed")
        if plan is not None and plan.status == "slack":
            self._raise_alarm(
                "plan_slack",
                f"the plan cannot keep every limit (SoC {plan.slack_soc_kwh:.2f} kWh, export "
                f"{plan.slack_export_kw:.2f} kW, import {plan.slack_import_kw:.2f} kW outside)",
            )
        else:
            self._clear_alarm("plan_slack")

    def _on_device_error(self, now: datetime, err: DeviceError) -> tuple[PlantState, bool]:
        """The state after a failed read or write, and whether to write the safe state."""
        site_id = self.site.site_id
        if isinstance(err, WriteRefused):
            self._raise_alarm("write_failed", f"setpoint write refused: {err}", AlarmSeverity.CRITICAL)
            reason = "safe state: the device refused the setpoint"
        elif isinstance(err, SocUnavailable):
            self._raise_alarm("soc_unavailable", str(err), AlarmSeverity.CRITICAL)
            reason = "safe state: state of charge not available"
        else:
            self._failed_reads += 1
            self.stats.failed_reads += 1
            if isinstance(err, ImplausibleReading):
                self._raise_alarm("implausible_reading", str(err), AlarmSeverity.CRITICAL)
                reason = "safe state: implausible reading"
            else:
                self._raise_alarm("comm_lost", f"device not answering: {err}", AlarmSeverity.CRITICAL)
                reason = "safe state: device not answering"
            if self._failed_reads < self.site.ems.comm_timeout_cycles:
                return self.state.with_(timestamp=now), False
        if self.state.status is not SiteStatus.SAFE:
            LOG.warning("site %s: safe state (%s)", site_id, err)
        state = self.state.with_(timestamp=now, setpoint=0.0, status=SiteStatus.SAFE, strategy_reason=reason)
        return state, True

    async def _write_safe(self) -> None:
        """Best effort: a device that cannot be reached falls back by its own revert timer."""
        try:
            await self.device.write_safe()
        except DeviceError as err:
            LOG.debug("site %s: safe write failed: %s", self.site.site_id, err)

    # --- helpers -----------------------------------------------------------------------------
    def _raise_alarm(self, code: str, message: str, severity: AlarmSeverity = AlarmSeverity.WARNING) -> None:
        existing = self._alarms.get(code)
        since = existing.since if existing else self.clock.now()
        self._alarms[code] = Alarm(code, message, severity, since)

    def _clear_alarm(self, code: str) -> None:
        self._alarms.pop(code, None)

    async def _record(self, state: PlantState) -> None:
        if self.history is None:
            return
        if state.last_reading is not None:  # nothing measured yet: no sample worth keeping
            await self.history.append(HistoryRecord.from_state(state))
            now = state.timestamp
            since = None if self._last_retention is None else (now - self._last_retention).total_seconds()
            if since is None or since > RETENTION_EVERY_S:
                self._last_retention = now
                await self.history.apply_retention(now)
        if self.history.error is None:
            self._clear_alarm("history_unavailable")
        else:
            waiting = f"{self.history.backlog} rows wait in memory"
            dropped = f", {self.history.dropped} dropped" if self.history.dropped else ""
            self._raise_alarm("history_unavailable", f"{self.history.error} ({waiting}{dropped})")

    def _publish(self, state: PlantState) -> None:
        self.state = state
        for listener in self.listeners:
            try:
                listener(state)
            except Exception:  # a broken viewer never stops control
                LOG.exception("site %s: state listener failed", self.site.site_id)


async def _bounded(step: Awaitable[None], what: str, timeout: float = STOP_STEP_S) -> None:
    """Run one step of a shutdown: errors and overruns are logged, never raised."""
    try:
        await asyncio.wait_for(step, timeout)
    except TimeoutError:
        LOG.error("%s: gave up after %.0f s", what, timeout)
    except Exception as err:
        LOG.error("%s failed: %s: %s", what, type(err).__name__, err)
