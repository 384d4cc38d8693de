"""The optimiser: plans that respect every limit (or say where they cannot), never an exception;
replanning, determinism, execution and fallback of the strategy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.config.model import GridTariffConfig
from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.optimiser import plan as plan_module
from phoenyra_ems.core.optimiser.forecast import extend_prices, profile
from phoenyra_ems.core.optimiser.model import Problem, solve
from phoenyra_ems.core.optimiser.plan import OptimiserSettings, PlanInputs, make_plan
from phoenyra_ems.core.strategies.base import DecisionContext
from phoenyra_ems.core.strategies.optimiser import Optimiser
from phoenyra_ems.models import PlantState

TOL = 1e-5
START = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
LIMITS = SiteLimits(
    capacity_kwh=10.0,
    charge_max_kw=5.0,
    discharge_max_kw=5.0,
    efficiency_charge=0.95,
    efficiency_discharge=0.95,
    soc_min_pct=10.0,
    soc_max_pct=90.0,
)
SPOT = GridTariffConfig(energy_price_markup_eur_mwh=150.0, feedin_pricing="spot")


def inputs(n: int = 24, step_s: float = 3600.0, **kw: Any) -> PlanInputs:
    hours = np.arange(n) * step_s / 3600.0 % 24
    sun = np.clip(np.cos((hours - 13) / 6 * np.pi / 2), 0, None)
    args: dict[str, Any] = {
        "start": START,
        "step_s": step_s,
        "load_kw": 0.5 + 1.5 * (np.abs(hours - 19) < 3),
        "pv_kw": 6.0 * sun,
        "price_eur_mwh": 80 + 60 * np.cos((hours - 19) / 24 * 2 * np.pi) - 60 * sun,
        "published_steps": n,
    }
    args.update(kw)
    return PlanInputs(**args)


# --- every limit, or slack with a status; never an exception ---------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[PlanInputs, SiteLimits, GridTariffConfig, float, float]:
    n = draw(st.integers(1, 48))
    step_s = draw(st.sampled_from([900.0, 3600.0]))
    values = st.floats(0.0, 15.0, allow_nan=False)
    load = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    pv = np.array(draw(st.lists(values, min_size=n, max_size=n)))
    price = np.array(draw(st.lists(st.floats(-300.0, 800.0), min_size=n, max_size=n)))
    export = draw(st.one_of(st.none(), st.lists(st.floats(0.0, 10.0), min_size=n, max_size=n)))
    soc_min = draw(st.floats(0.0, 50.0))
    limits = SiteLimits(
        capacity_kwh=draw(st.floats(0.0, 50.0)),
        charge_max_kw=draw(st.floats(0.0, 10.0)),
        discharge_max_kw=draw(st.floats(0.0, 10.0)),
        efficiency_charge=draw(st.floats(0.5, 1.0)),
        efficiency_discharge=draw(st.floats(0.5, 1.0)),
        soc_min_pct=soc_min,
        soc_max_pct=draw(st.floats(soc_min, 100.0)),
        grid_import_max_kw=draw(st.one_of(st.none(), st.floats(0.0, 20.0))),
        grid_export_max_kw=draw(st.one_of(st.none(), st.floats(0.0, 20.0))),
        peak_import_cap_kw=draw(st.one_of(st.none(), st.floats(0.0, 20.0))),
    )
    tariffs = GridTariffConfig(
        energy_price_markup_eur_mwh=draw(st.floats(0.0, 300.0)),
        feedin_tariff_eur_mwh=draw(st.floats(-50.0, 200.0)),
        feedin_pricing=draw(st.sampled_from(["fixed", "spot"])),
        demand_charge_eur_kw_month=draw(st.sampled_from([0.0, 10.0])),
    )
    months = np.array(sorted(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))), dtype=np.intp)
    plan_inputs = inputs(
        n,
        step_s,
        load_kw=load,
        pv_kw=pv,
        price_eur_mwh=price,
        export_max_kw=None if export is None else np.array(export),
        month_index=months,
        peak_reached_kw=draw(st.floats(0.0, 10.0)),
    )
    return plan_inputs, limits, tariffs, draw(st.floats(0.0, 100.0)), draw(st.floats(0.0, 1.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_plans_respect_every_limit_or_report_slack(
    case: tuple[PlanInputs, SiteLimits, GridTariffConfig, float, float],
) -> None:
    plan_inputs, limits, tariffs, soc, derate = case
    plan = make_plan(plan_inputs, limits, tariffs, soc, OptimiserSettings(), derate=derate)
    assert plan.status in ("optimal", "slack", "failed")
    if not plan.ok:
        return
    n = len(plan.battery_kw)
    assert n == plan_inputs.steps
    battery, grid = plan.battery_kw, plan.grid_kw
    has_battery = limits.capacity_kwh > 1e-6
    assert (battery >= -(limits.charge_max_kw * derate if has_battery else 0.0) - TOL).all()
    assert (battery <= (limits.discharge_max_kw * derate if has_battery else 0.0) + TOL).all()
    # Balance: grid = load - pv + curtailed - battery (+ unserved load, slack).
    curtail_and_slack = grid - (plan.load_kw - plan.pv_kw - battery)
    assert (curtail_and_slack >= -TOL).all() or plan.status == "slack"
    cap = limits.import_cap_kw
    if cap is not None and plan.slack_import_kw <= TOL:
        assert (grid <= cap + TOL).all()
    # The inputs' per-step caps (feed-in rules in local time, built with the site's limits) hold
    # for the horizon; the limits in force now also hold for the present step.
    now_cap = np.inf if limits.grid_export_max_kw is None else limits.grid_export_max_kw
    exports = np.full(n, now_cap) if plan_inputs.export_max_kw is None else plan_inputs.export_max_kw.copy()
    exports[0] = min(exports[0], now_cap)
    assert (-grid <= exports + TOL).all()
    if has_battery:
        inside = limits.soc_min_pct - 1e-6 <= soc <= limits.soc_max_pct + 1e-6
        if inside:
            assert (plan.soc_pct >= limits.soc_min_pct - 1e-4).all()
            assert (plan.soc_pct <= limits.soc_max_pct + 1e-4).all()
        else:
            assert plan.status == "slack" or plan.slack_soc_kwh <= TOL
    assert np.isfinite(plan.value_eur_h).all()


def test_bad_input_is_a_failed_status_not_an_exception() -> None:
    bad = Problem(
        step_h=0.0,
        load_kw=np.array([1.0]),
        pv_kw=np.array([0.0]),
        buy_eur_mwh=np.array([np.nan]),
        sell_eur_mwh=np.array([0.0]),
        capacity_kwh=10,
        charge_max_kw=5,
        discharge_max_kw=5,
        efficiency_charge=0.95,
        efficiency_discharge=0.95,
        soc_min_pct=10,
        soc_max_pct=90,
        soc_start_pct=50,
    )
    solution = solve(bad)
    assert solution.status == "failed" and "invalid input" in solution.message


def test_start_below_the_window_charges_at_once_with_slack_reported() -> None:
    # 2 % with a floor of 10 %: 1 kW needs more than one 15-min step to get back into the window.
    slow = replace(LIMITS, charge_max_kw=1.0)
    plan = make_plan(inputs(96, 900.0, pv_kw=np.zeros(96)), slow, SPOT, 2.0, OptimiserSettings())
    assert plan.status == "slack" and plan.slack_soc_kwh > 0
    assert plan.battery_kw[:3] == pytest.approx([-1.0] * 3)
    assert (plan.soc_pct[5:] >= LIMITS.soc_min_pct - 1e-6).all()


def test_pv_above_the_export_cap_without_curtailment_is_slack_not_infeasible() -> None:
    problem = Problem(
        step_h=1.0,
        load_kw=np.zeros(3),
        pv_kw=np.full(3, 10.0),
        buy_eur_mwh=np.full(3, 200.0),
        sell_eur_mwh=np.full(3, 50.0),
        capacity_kwh=10,
        charge_max_kw=2,
        discharge_max_kw=2,
        efficiency_charge=0.95,
        efficiency_discharge=0.95,
        soc_min_pct=10,
        soc_max_pct=90,
        soc_start_pct=50,
        export_max_kw=3.0,
        curtailment=False,
    )
    solution = solve(problem)
    # 10 kW PV, 3 kW export, 2 kW into the battery until it is full: 5 kW, later more, curtailed.
    assert solution.status == "slack" and solution.slack_export_kw >= 5.0 - 1e-6
    assert solution.curtailed_kw[0] == pytest.approx(5.0, abs=1e-6)
    assert (solution.export_kw <= 3.0 + 1e-9).all()


def test_negative_purchase_prices_never_charge_and_discharge_at_once() -> None:
    plan = make_plan(
        inputs(price_eur_mwh=np.full(24, -400.0), pv_kw=np.zeros(24)), LIMITS, SPOT, 50.0, OptimiserSettings()
    )
    assert plan.ok and plan.simultaneous_found > 0  # the LP wanted to burn energy: fixed
    assert (plan.grid_kw >= -1e-9).all()


# --- the cheap forecasts -----------------------------------------------------------------------


def test_profile_is_the_mean_of_the_same_time_on_the_last_days() -> None:
    history = np.concatenate([np.arange(4.0), np.arange(4.0) + 10, np.arange(4.0) + 20])
    assert profile(history, 4, 6, days=2) == pytest.approx([15, 16, 17, 18, 15, 16])
    assert profile(history, 4, 2, days=1) == pytest.approx([20, 21])
    assert profile(np.zeros(0), 4, 3) == pytest.approx([0, 0, 0])
    assert profile(np.array([np.nan, 2.0]), 4, 2) == pytest.approx([2.0, 2.0])


def test_prices_beyond_publication_repeat_the_last_known_day() -> None:
    past = np.array([1.0, 2.0, 3.0, 4.0])
    out = extend_prices(past, np.array([5.0, 6.0]), 8, 4)
    assert out == pytest.approx([5, 6, 3, 4, 5, 6, 3, 4])


# --- the strategy ----------------------------------------------------------------------------


def context(
    plan_inputs: PlanInputs | None, soc: float = 50.0, now: datetime = START, **state: Any
) -> DecisionContext:
    plant = PlantState(
        site_id="s", timestamp=now, soc=soc, p_load=state.get("load", 0.5), p_pv=state.get("pv", 0.0)
    )
    return DecisionContext(
        state=plant, limits=LIMITS, tariffs=SPOT, now=now, dt_s=1.0, plan_inputs=plan_inputs
    )


def test_same_inputs_give_the_same_first_step_and_no_replan() -> None:
    a, b = Optimiser(), Optimiser()
    ctx = context(inputs())
    first = a.propose(ctx)
    assert b.propose(ctx) == first
    for _ in range(3):
        assert a.propose(ctx) == first
    assert a.replans == 1


def test_replans_when_the_soc_strays_or_the_planning_step_passes() -> None:
    optimiser = Optimiser(OptimiserSettings(replan_soc_deviation_pct=5.0))
    optimiser.propose(context(inputs()))
    optimiser.propose(context(inputs(), soc=50.5, now=START + timedelta(seconds=1)))
    assert optimiser.replans == 1
    optimiser.propose(context(inputs(), soc=70.0, now=START + timedelta(seconds=2)))
    assert optimiser.replans == 2
    later = START + timedelta(minutes=15)
    optimiser.propose(context(inputs(start=later), soc=optimiser.plan.soc_at(later) or 50.0, now=later))  # type: ignore[union-attr]
    assert optimiser.replans == 3


def test_grid_execution_absorbs_the_forecast_error_battery_execution_does_not() -> None:
    plan_inputs = inputs(pv_kw=np.zeros(24), load_kw=np.full(24, 1.0))
    # Plans from the forecast only (not the measured present), then 0.5 kW more load than forecast.
    grid = Optimiser(OptimiserSettings(measured_present=False))
    battery = Optimiser(OptimiserSettings(execution="battery", measured_present=False))
    ctx = context(plan_inputs, load=1.5)
    g, b = grid.propose(ctx), battery.propose(ctx)
    assert grid.plan is not None
    planned = float(grid.plan.battery_kw[0])
    assert b.setpoint_kw == pytest.approx(planned)
    assert g.setpoint_kw == pytest.approx(planned + 0.5)
    assert g.reason.startswith("plan: ")


def test_a_failed_plan_falls_back_to_self_consumption(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plan_module.solve

    def failing(problem: Problem) -> Any:
        return replace(real(replace(problem, step_h=-1.0)))

    monkeypatch.setattr(plan_module, "solve", failing)
    optimiser = Optimiser()
    proposal = optimiser.propose(context(inputs(), load=2.0))
    assert proposal.setpoint_kw == pytest.approx(2.0) and proposal.score == 0.0
    assert proposal.reason.startswith("no plan (invalid input")
    assert optimiser.plan is not None and optimiser.plan.status == "failed"


def test_without_inputs_the_optimiser_says_so_and_self_consumes() -> None:
    proposal = Optimiser().propose(context(None, load=1.0))
    assert proposal.setpoint_kw == pytest.approx(1.0)
    assert proposal.reason.startswith("no plan (no plan inputs)")


def test_a_plan_made_late_in_its_step_is_not_off_the_plan_at_once() -> None:
    # A first step that moves the SoC by far more than 5 % (here: discharging into dear prices).
    sunny = inputs(n=8, step_s=900.0, pv_kw=np.full(8, 8.0), load_kw=np.full(8, 0.5))
    optimiser = Optimiser(OptimiserSettings(replan_soc_deviation_pct=5.0))
    made = START + timedelta(minutes=13)  # a replan late in the step (live: any cycle)
    optimiser.propose(context(sunny, soc=50.0, now=made, pv=8.0))
    plan = optimiser.plan
    assert plan is not None and plan.made_at == made
    assert abs(plan.soc_pct[0] - 50.0) > 5.0 / (13 / 15)  # from the step's start: > 5 % off at once
    assert plan.soc_at(made) == 50.0
    rate = (plan.soc_pct[0] - 50.0) / 900.0
    assert plan.soc_at(made + timedelta(seconds=60)) == pytest.approx(50.0 + 60 * rate)
    assert plan.soc_at(START + timedelta(minutes=20)) == pytest.approx(
        50.0 + 120 * rate + 300 * (plan.soc_pct[1] - plan.soc_pct[0]) / 900.0
    )
    for seconds in (5, 10, 15):  # the next cycles, the SoC following the plan: no replan
        now = made + timedelta(seconds=seconds)
        optimiser.propose(context(sunny, soc=50.0 + seconds * rate, now=now, pv=8.0))
    assert optimiser.replans == 1
    strayed = 50.0 + 20 * rate + 6.0
    optimiser.propose(context(sunny, soc=strayed, now=made + timedelta(seconds=20), pv=8.0))
    assert optimiser.replans == 2  # really off the plan: replanned
