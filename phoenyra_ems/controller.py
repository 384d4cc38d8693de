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
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from phoenyra_ems.clock import Clock, SystemClock
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.cycle import PRICE_HORIZON_H, CycleStep, build_step, decide_step, step_context
from phoenyra_ems.core.decision import ControlIntent, Decision
from phoenyra_ems.core.energy import EnergyMeter
from phoenyra_ems.core.overrides import LimitOverrides, apply_overrides, override_errors
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import PriceSlot, build_strategies
from phoenyra_ems.devices.errors import DeviceError
from phoenyra_ems.history.store import HistoryStore
from phoenyra_ems.models import Measurements, PlantState, SensorInputs, SiteMode, SiteStatus
from phoenyra_ems.prices import NoPrices, PriceProvider
from phoenyra_ems.site_faults import DeviceFaults, SiteAlarms
from phoenyra_ems.site_plan import plan_alarms, service_forecast
from phoenyra_ems.site_ports import Attachment, CycleStats, SiteDevice
from phoenyra_ems.site_record import SiteRecorder
from phoenyra_ems.site_vpp import SiteVpp

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.live import PlanHistory
    from phoenyra_ems.core.optimiser.plan import Plan
    from phoenyra_ems.core.strategies.optimiser import Optimiser
    from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus

LOG = logging.getLogger(__name__)

PLAN_WAIT_SHARE = 0.5  # a cycle waits for a solve at most this share of ems.cycle_s
# (state, now, known prices, previous decision) -> strategy to pin or None (the score-based selection)
StrategyChooser = Callable[[PlantState, datetime, "tuple[PriceSlot, ...]", "Decision | None"], "str | None"]
STOP_STEP_S = 2.0  # each step of a stop (loop, safe write, device, attachment) gets at most this


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
        self.optimiser: Optimiser | None = (
            next((s for s in self.strategies if isinstance(s, _optimiser_class())), None)
            if self.plan_history is not None
            else None
        )
        if self.optimiser is not None:
            self.optimiser.solve_inline = False  # solved off the loop (_plan), within plan_wait_s
        # real seconds: an accelerated clock's cycle is shorter than ems.cycle_s
        self.plan_wait_s = PLAN_WAIT_SHARE * site.ems.cycle_s / max(getattr(self.clock, "speed", 1.0), 1e-9)
        self._solving: asyncio.Future[Plan | None] | None = None
        self.intent = ControlIntent()
        self.overrides = LimitOverrides()
        self.effective_site = site
        self.selection = SelectionState()
        self.stats = CycleStats()
        self.listeners: list[Callable[[PlantState], None]] = []
        self.sensor_inputs: Callable[[], SensorInputs] | None = None  # edge sensors (MQTT), if any
        self.attachments: list[Attachment] = []  # started and stopped with the site (MQTT link)
        self.last_decision: Decision | None = None
        self.energy = EnergyMeter()  # kWh counters, persisted with the history (site_record.py)
        # AI strategy selection (phoenyra_ems.selector): the strategy to pin now, or None for scores
        self.strategy_chooser: StrategyChooser | None = None
        self.alarms = SiteAlarms(self.clock)  # the alarms in force, published with every state
        self.faults = DeviceFaults(site, self.alarms, self.stats)  # failed reads, missing SoC
        self.recorder = SiteRecorder(history, self.energy, self.alarms)
        self._net_load: tuple[float, ...] = ()  # the last step's net-load window (core/cycle.py)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.phase_s = 0.0  # delay of the first cycle (the fleet staggers its sites)
        self.state = PlantState(site_id=site.site_id, timestamp=self.clock.now(), soc=0.0)
        self.vpp = SiteVpp(site.site_id)  # committed VPP schedule, deviation, offer (docs/vpp.md)
        self._derate = 1.0  # the last cycle's extra derate (offered flexibility)

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

    # --- VPP (docs/vpp.md "Control") -----------------------------------------------------------
    def apply_vpp(self, schedule: VppSchedule | None) -> None:
        """Follow ``schedule`` from the next cycle on (None: back to the site's own optimisation)."""
        self.vpp.apply(schedule)

    def vpp_flexibility(self, duration_s: float) -> Flexibility:
        """What the site can deliver for ``duration_s`` from now (SoC, limits, grid, planned net load)."""
        from phoenyra_ems.core.decision import decision_context

        state, now = self.state, self.clock.now()
        ctx = decision_context(
            self.effective_site, state, now, self.site.ems.cycle_s, extra_derate=self._derate
        )
        net = [state.p_net_load]
        inputs = getattr(self.optimiser, "plan", None)
        if inputs is not None and inputs.ok:  # the plan's own net load over the duration
            k = inputs.index_at(now)
            if k is not None:
                steps = max(1, int(duration_s // inputs.step_s) + 1)
                net += [float(v) for v in (inputs.load_kw - inputs.pv_kw)[k : k + steps]]
        return self.vpp.flexibility(
            ctx.limits, state.soc, duration_s, soh_pct=state.soh, derate=ctx.derate, net_load_kw=tuple(net)
        )

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the loop. A history file that cannot be opened is retried later, never fatal."""
        if self.history is not None and not await self.history.start():
            self.alarms.raise_("history_unavailable", self.history.error or "history unavailable")
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
            if self._solving is not None:  # the worker thread finishes by itself; nobody waits
                self._solving.cancel()
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
            measured = self.faults.checked(await self.device.read())
        except DeviceError as err:
            state, safe_write = self.faults.on_error(self.state, now, err)
        else:
            self.faults.reading_ok()
            try:
                state = await self._control(now, measured)
            except DeviceError as err:  # the setpoint write failed
                state, safe_write = self.faults.on_error(self.state, now, err)
        if state.vpp is self.state.vpp:  # no decision this cycle (device trouble): report it anyway
            self.vpp.schedule_at(now)
            state = state.with_(vpp=self._vpp_observe(now, state.setpoint, state.mode, ("device",)))
        self.stats.cycles += 1
        self.stats.latencies_s.append(time.perf_counter() - started)
        await self.recorder.record(state)
        self._publish(state.with_(alarms=self.alarms.active(), energy=self.energy.totals))
        if safe_write:  # after publishing: a device that hangs cannot delay the safe state's news
            await self._write_safe()
        return self.state

    def _inputs(self) -> SensorInputs:
        if self.sensor_inputs is None:
            return SensorInputs()
        try:
            inputs = self.sensor_inputs()
        except Exception:  # a sensor problem never stops control
            LOG.exception("site %s: sensor inputs failed", self.site.site_id)
            return SensorInputs()
        if inputs.dropped:
            self.alarms.raise_("sensor_dropped", f"sensors left out: {', '.join(inputs.dropped)}")
        else:
            self.alarms.clear("sensor_dropped")
        return inputs

    async def _control(self, now: datetime, measured: Measurements) -> PlantState:
        inputs = self._inputs()
        if inputs.grid_power_kw is not None:  # the external grid meter is the truth at the connection
            measured = replace(measured, p_grid_kw=inputs.grid_power_kw, p_load_kw=None)
        in_force = self.intent.at(now)
        if in_force is not self.intent:
            LOG.info("site %s: manual setpoint expired, back to auto", self.site.site_id)
            self.set_intent(in_force)
        step = build_step(
            self.effective_site,
            self.state,
            measured,
            self.intent,
            now,
            dt_s=self.site.ems.cycle_s,
            hold_s=self.device.hold_s,
            prices=self.prices.slots(now, PRICE_HORIZON_H),
            slot_hours=self.prices.slot_hours,
            past_net_load_kw=self._net_load,
            extra_derate=inputs.derate,
            extras={"room_temp_c": inputs.room_temp_c} if inputs.room_temp_c is not None else None,
        )
        self._net_load = step.recent_net_load_kw
        self._derate = inputs.derate
        state = step.state
        schedule = self.vpp.schedule_at(now)
        step = replace(step, vpp=schedule)
        if self.plan_history is not None:
            self.plan_history.add(now, state.p_load, state.p_pv, state.p_grid, state.price)
            horizon_h = self.site.ems.planning_horizon_h
            forecast, no_forecast = service_forecast(self.site, self.attachments, now)
            plan_inputs = self.plan_history.inputs(
                now, self.prices.slots(now, horizon_h), self.prices.slot_hours, forecast, no_forecast
            )
            if schedule is not None:
                from phoenyra_ems.core.optimiser.vpp import constrain

                plan_inputs = constrain(plan_inputs, schedule)
            step = replace(step, plan_inputs=plan_inputs)
            await self._plan(step)
        intent = step.intent
        if self.strategy_chooser is not None and intent.mode is SiteMode.AUTO and intent.strategy is None:
            pinned = self.strategy_chooser(state, now, step.prices, self.last_decision)
            step = replace(step, intent=replace(intent, strategy=pinned))
        decision = decide_step(step, self.strategies, self.selection)
        self.selection, self.last_decision = decision.selection, decision
        if self.plan_history is not None:
            plan_alarms(self.strategies, self.alarms)
        if decision.safety.grid_limit_unreachable:
            self.alarms.raise_("grid_limit_unreachable", "PV or load alone exceeds a grid limit")
        else:
            self.alarms.clear("grid_limit_unreachable")
        wrote = await self.device.write_setpoint(decision.setpoint_kw)
        self.alarms.clear("write_failed")
        return state.with_(
            setpoint=decision.setpoint_kw,
            strategy=decision.strategy,
            strategy_reason=decision.reason,
            status=SiteStatus.RUNNING,
            last_write=now if wrote else self.state.last_write,
            vpp=self._vpp_observe(now, decision.setpoint_kw, intent.mode, decision.safety.clamped_by),
        )

    def _vpp_observe(
        self, now: datetime, setpoint: float, mode: SiteMode, clamped: tuple[str, ...]
    ) -> VppSiteStatus:
        """The VPP status after this cycle (offer for ``vpp.offer_duration_s``, deviation)."""
        try:
            offered = self.vpp_flexibility(self.vpp.offer_duration_s)
        except Exception:  # an offer problem never stops control
            LOG.exception("site %s: offered flexibility failed", self.site.site_id)
            offered = None
        return self.vpp.observe(now, setpoint, mode, clamped, offered)

    def set_replan_phase(self, phase_s: float) -> None:
        """Replan at each planning-step boundary ``phase_s`` late (the fleet staggers its sites:
        ``fleet.replan_phase``); the previous plan is followed until then."""
        if self.plan_history is not None and self.optimiser is not None:
            self.plan_history.phase_s = self.optimiser.replan_phase_s = max(0.0, phase_s)

    async def _plan(self, step: CycleStep) -> None:
        """Solve off the event loop; wait at most ``plan_wait_s``, else follow the last plan.

        A solve still running when the cycle's budget is spent is adopted by the first cycle after
        it lands; no second solve starts meanwhile.
        """
        optimiser = self.optimiser
        if optimiser is None:
            return
        if self._solving is None:
            ctx = step_context(step)
            wanted = step.intent.mode is SiteMode.AUTO and step.intent.strategy in (None, optimiser.name)
            if not wanted or not optimiser.needs_plan(ctx):
                return
            self._solving = asyncio.ensure_future(asyncio.to_thread(optimiser.plan_for, ctx))
        if not self._solving.done():
            await asyncio.wait({self._solving}, timeout=self.plan_wait_s)
            if not self._solving.done():
                return
        solving, self._solving = self._solving, None
        try:
            optimiser.adopt(solving.result())
        except Exception:  # make_plan never raises: a bug here must not stop the site
            LOG.exception("site %s: planning failed", self.site.site_id)

    async def _write_safe(self) -> None:
        """Best effort: a device that cannot be reached falls back by its own revert timer."""
        try:
            await self.device.write_safe()
        except DeviceError as err:
            LOG.debug("site %s: safe write failed: %s", self.site.site_id, err)

    # --- helpers -----------------------------------------------------------------------------
    def _publish(self, state: PlantState) -> None:
        self.state = state
        for listener in self.listeners:
            try:
                listener(state)
            except Exception:  # a broken viewer never stops control
                LOG.exception("site %s: state listener failed", self.site.site_id)


def _optimiser_class() -> type[Optimiser]:
    from phoenyra_ems.core.strategies.optimiser import Optimiser

    return Optimiser


async def _bounded(step: Awaitable[None], what: str, timeout: float = STOP_STEP_S) -> None:
    """Run one step of a shutdown: errors and overruns are logged, never raised."""
    try:
        await asyncio.wait_for(step, timeout)
    except TimeoutError:
        LOG.error("%s: gave up after %.0f s", what, timeout)
    except Exception as err:
        LOG.error("%s failed: %s: %s", what, type(err).__name__, err)
