"""The live controller drives a site with the optimiser: plan inputs from its own measurements,
prices as published; the safety layer still clamps every command."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.strategies.base import PriceSlot
from phoenyra_ems.core.strategies.optimiser import Optimiser
from phoenyra_ems.models import Measurements
from tests.conftest import make_site
from tests.test_controller_faults import ScriptedDevice

START = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class Prices:
    """Cheap now, dear in the evening (hourly slots)."""

    slot_hours = 1.0

    def slots(self, now: datetime, horizon_h: float) -> tuple[PriceSlot, ...]:
        first = now.replace(minute=0, second=0, microsecond=0)
        return tuple(
            PriceSlot(first + timedelta(hours=k), 20.0 if k < 4 else 300.0) for k in range(int(horizon_h))
        )


async def test_a_site_with_forecasts_disabled_still_optimises_from_its_history() -> None:
    site = make_site(
        5020,
        ems=EmsSettings(
            cycle_s=60.0, price_source="none", strategies=("optimiser",), default_strategy="optimiser"
        ),
    )
    reading = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=0.0,
                           p_load_kw=30.0, p_grid_kw=30.0)  # fmt: skip
    device = ScriptedDevice(reading=reading)
    clock = ManualClock(START)
    controller = SiteController(site, device, clock, Prices())  # type: ignore[arg-type]
    assert controller.plan_history is not None
    for _ in range(20):
        state = await controller.cycle()
        await clock.sleep(60.0)
    optimiser = controller.strategies[0]
    assert isinstance(optimiser, Optimiser) and optimiser.plan is not None
    assert optimiser.plan.ok and optimiser.plan.source == "history baselines"
    assert state.strategy == "optimiser" and state.strategy_reason.startswith("plan: charging")
    # 20 cycles of one minute: a new planning step at 10:15 -> two plans.
    assert optimiser.replans == 2
    # It charges from the grid while it is cheap, never above the contractual peak cap (80 kW with
    # 30 kW of load: at most 50 kW of charge), which the safety layer enforces whatever the plan.
    assert all(kw >= -50.0 - 1e-6 for kw in device.writes) and device.writes[-1] < 0
    assert state.setpoint == device.writes[-1]
    assert not {a.code for a in state.alarms} & {"plan_failed", "plan_slack"}


async def test_a_failing_plan_raises_an_alarm_and_self_consumes(monkeypatch: pytest.MonkeyPatch) -> None:
    from phoenyra_ems.core.optimiser import plan as plan_module

    real = plan_module.solve
    monkeypatch.setattr(plan_module, "solve", lambda problem: real(replace(problem, step_h=-1.0)))
    site = make_site(
        5020,
        ems=EmsSettings(
            cycle_s=60.0, price_source="none", strategies=("optimiser",), default_strategy="optimiser"
        ),
    )
    reading = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=0.0,
                           p_load_kw=30.0, p_grid_kw=30.0)  # fmt: skip
    controller = SiteController(site, ScriptedDevice(reading=reading), ManualClock(START), Prices())  # type: ignore[arg-type]
    state = await controller.cycle()
    assert "plan_failed" in {a.code for a in state.alarms}
    assert state.strategy_reason.startswith("no plan (invalid input")
    assert state.setpoint == pytest.approx(30.0)  # self-consumption: cover the load


def test_the_plan_document_has_every_step() -> None:
    from phoenyra_ems.api.plans import plan_body
    from phoenyra_ems.core.optimiser.plan import OptimiserSettings, make_plan
    from tests.test_optimiser import LIMITS, SPOT, inputs

    plan = make_plan(inputs(), LIMITS, SPOT, 50.0, OptimiserSettings())
    document = plan_body("wien", True, plan)["plan"]
    assert document["status"] == "optimal" and len(document["steps"]) == 24  # type: ignore[arg-type]
    first = document["steps"][0]  # type: ignore[index]
    assert set(first) == {"start", "battery_kw", "grid_kw", "soc_pct", "price_eur_mwh", "pv_kw", "load_kw"}


async def test_a_slow_solve_never_holds_a_cycle_and_is_picked_up_when_it_lands() -> None:
    import asyncio
    import threading

    site = make_site(
        5020,
        ems=EmsSettings(
            cycle_s=60.0, price_source="none", strategies=("optimiser",), default_strategy="optimiser"
        ),
    )
    reading = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=0.0,
                           p_load_kw=30.0, p_grid_kw=30.0)  # fmt: skip
    device = ScriptedDevice(reading=reading)
    clock = ManualClock(START)
    controller = SiteController(site, device, clock, Prices())  # type: ignore[arg-type]
    optimiser = controller.optimiser
    assert optimiser is not None and not optimiser.solve_inline
    controller.plan_wait_s = 0.05  # the cycle's budget for a solve
    release, calls = threading.Event(), []
    real = optimiser.plan_for

    def slow(ctx):  # type: ignore[no-untyped-def]
        calls.append(ctx.now)
        release.wait(10.0)  # the seam: this solve takes as long as the test says
        return real(ctx)

    optimiser.plan_for = slow  # type: ignore[method-assign]
    for _ in range(2):  # the solve has not landed: the cycles go on with the fallback
        state = await controller.cycle()
        assert controller.stats.latencies_s[-1] < 2.0  # budget 0.05 s (generous for a loaded machine)
        assert state.strategy_reason.startswith("no plan (solving): ")
        assert state.setpoint == pytest.approx(30.0)  # self-consumption covers the load meanwhile
        await clock.sleep(60.0)
    assert len(calls) == 1 and optimiser.replans == 0  # one solve in flight, none started on top
    release.set()
    assert controller._solving is not None
    await asyncio.wait({controller._solving}, timeout=10.0)
    state = await controller.cycle()  # the plan landed: this cycle follows it
    assert optimiser.replans == 1 and state.strategy_reason.startswith("plan: ")
    assert optimiser.plan is not None and optimiser.plan.start == START
    assert device.writes[-1] == state.setpoint


async def test_sites_with_different_replan_phases_replan_at_different_times_within_the_step() -> None:
    """The fleet staggers the step-boundary replans (docs/optimiser.md "Fleet"): a site follows its
    previous plan until step start + its phase, and no plan is older than step + phase + one cycle."""
    cycle_s, step_s = 60.0, 900.0
    clock = ManualClock(START)
    sites = {}
    for phase in (0.0, 300.0):
        site = make_site(
            5020,
            ems=EmsSettings(
                cycle_s=cycle_s, price_source="none", strategies=("optimiser",), default_strategy="optimiser"
            ),
        )
        reading = Measurements(soc_pct=50.0, soh_pct=100.0, temp_c=25.0, p_bess_kw=0.0, p_pv_kw=0.0,
                               p_load_kw=30.0, p_grid_kw=30.0)  # fmt: skip
        controller = SiteController(site, ScriptedDevice(reading=reading), clock, Prices())  # type: ignore[arg-type]
        controller.set_replan_phase(phase)
        sites[phase] = controller
    new_step_at: dict[float, list[datetime]] = {0.0: [], 300.0: []}
    for _ in range(36):  # 10:00 .. 10:35
        for phase, controller in sites.items():
            optimiser = controller.optimiser
            assert optimiser is not None
            before = optimiser.plan.start if optimiser.plan is not None else None
            await controller.cycle()
            plan = optimiser.plan
            assert plan is not None
            if plan.start != before:
                new_step_at[phase].append(clock.now())
            assert (clock.now() - plan.start).total_seconds() <= step_s + phase + cycle_s
        await clock.sleep(cycle_s)
    quarter = timedelta(seconds=step_s)
    assert new_step_at[0.0] == [START, START + quarter, START + 2 * quarter]
    late = timedelta(seconds=300)
    assert new_step_at[300.0] == [START, START + quarter + late, START + 2 * quarter + late]
