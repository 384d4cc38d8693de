"""VPP control core: priority in the decision, plan constraints, offered flexibility, fleet split."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.core.decision import ControlIntent, decide
from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.optimiser.plan import OptimiserSettings, make_plan, site_plan_inputs
from phoenyra_ems.core.optimiser.vpp import constrain
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import build_strategies
from phoenyra_ems.core.vpp import Flexibility, VppInterval, VppSchedule
from phoenyra_ems.core.vpp_control import Deviation, feasible_setpoints, plan_bounds, site_status, vpp_limits
from phoenyra_ems.core.vpp_flex import materially_changed, offered_flexibility
from phoenyra_ems.core.vpp_split import split_setpoint
from phoenyra_ems.models import PlantState, SiteMode
from tests.conftest import make_site

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = SiteLimits(
    100.0, 50.0, 50.0, 0.95, 0.95, 10.0, 90.0, grid_import_max_kw=80.0, grid_export_max_kw=60.0
)


def schedule(*intervals: VppInterval, event: str = "ev1") -> VppSchedule:
    return VppSchedule(event, "prog", intervals)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- priority in one decision ------------------------------------------------------------------


def _decide(
    soc: float, sched: VppSchedule | None, mode: SiteMode = SiteMode.AUTO, load: float = 5.0
) -> object:
    site = make_site(5020, ems=EmsSettings(price_source="none", strategies=["self_consumption"]))
    state = PlantState(site.site_id, T0, soc=soc, p_load=load, p_pv=0.0)
    intent = ControlIntent(mode=mode, manual_setpoint_kw=-3.0)
    strategies = build_strategies(site.ems.strategies, site.ems)
    return decide(site, state, intent, strategies, SelectionState(), T0, dt_s=5.0, vpp=sched)


def test_dispatch_setpoint_overrides_the_strategy_and_safety_still_clamps() -> None:
    free = _decide(50.0, None)
    assert free.strategy == "self_consumption"  # type: ignore[attr-defined]
    sched = schedule(VppInterval(at(-1), at(10), setpoint_kw=-7.0))
    followed = _decide(50.0, sched)
    assert (followed.strategy, followed.setpoint_kw) == ("vpp", -7.0)  # type: ignore[attr-defined]
    assert "VPP event ev1" in followed.reason  # type: ignore[attr-defined]
    big = schedule(VppInterval(at(-1), at(10), setpoint_kw=10_000.0))
    clamped = _decide(50.0, big)
    site = make_site(5020)
    # 5 kW load + the feed-in limit (50 % of 120 kWp): the connection, not the battery, binds
    assert clamped.setpoint_kw == pytest.approx(65.0)  # type: ignore[attr-defined]
    assert "limited by grid_export_max" in clamped.reason  # type: ignore[attr-defined]
    empty = _decide(site.bess.soc_min_pct, big)  # at the SoC floor nothing can be discharged
    assert empty.setpoint_kw == pytest.approx(0.0, abs=1e-6)  # type: ignore[attr-defined]


def test_operator_manual_mode_ranks_above_the_schedule_and_ended_intervals_do_nothing() -> None:
    sched = schedule(VppInterval(at(-1), at(10), setpoint_kw=5.0))
    assert _decide(50.0, sched, SiteMode.MANUAL).setpoint_kw == -3.0  # type: ignore[attr-defined]
    past = schedule(VppInterval(at(-10), at(-1), setpoint_kw=5.0))
    assert _decide(50.0, past).strategy == "self_consumption"  # type: ignore[attr-defined]


def test_capacity_limits_are_enforced_by_the_safety_layer() -> None:
    site = make_site(5020)
    # load 20 kW, no PV; import cap 5 kW: the battery must cover at least 15 kW
    sched = schedule(VppInterval(at(-1), at(10), import_limit_kw=5.0))
    d = _decide(50.0, sched, load=20.0)
    assert 20.0 - d.setpoint_kw <= 5.0 + 1e-6  # type: ignore[attr-defined]
    assert d.limits.grid_import_max_kw == 5.0  # type: ignore[attr-defined]
    # an export limit of 0 with a dispatch above the load: the setpoint stops at the load
    sched = schedule(
        VppInterval(at(-1), at(10), setpoint_kw=site.bess.power_discharge_max_kw, export_limit_kw=0.0)
    )
    d = _decide(50.0, sched, load=2.0)
    assert d.setpoint_kw == pytest.approx(2.0)  # type: ignore[attr-defined]


def test_vpp_limits_only_tighten() -> None:
    interval = VppInterval(at(0), at(1), import_limit_kw=500.0, export_limit_kw=10.0)
    tightened = vpp_limits(LIMITS, interval)
    assert (tightened.grid_import_max_kw, tightened.grid_export_max_kw) == (80.0, 10.0)
    assert vpp_limits(LIMITS, None) is LIMITS


# --- the optimiser's plan ----------------------------------------------------------------------


def test_plan_bounds_map_intervals_onto_plan_steps() -> None:
    sched = schedule(
        VppInterval(at(15), at(30), setpoint_kw=10.0),
        VppInterval(at(30), at(37), setpoint_kw=-20.0, export_limit_kw=3.0),  # 7 of 15 min: free
    )
    bounds = plan_bounds(sched, T0, 900.0, 4)
    assert math.isnan(bounds.battery_kw[0]) and bounds.battery_kw[1] == 10.0
    assert math.isnan(bounds.battery_kw[2]) and bounds.export_max_kw[2] == 3.0
    assert math.isinf(bounds.import_max_kw[2]) and not bounds.empty


def test_feasible_setpoints_follow_the_soc_window_as_far_as_it_goes() -> None:
    # 100 kWh, SoC 20 %, floor 10 %: 10 kWh * 0.95 deliverable; 4 h of 5 kW asked
    out = feasible_setpoints([5.0, 5.0, 5.0, 5.0, math.nan], LIMITS, 20.0, 3600.0)
    assert out[:2] == (5.0, pytest.approx(4.5))
    assert out[2] == pytest.approx(0.0, abs=1e-9) and math.isnan(out[4])


def test_the_plan_holds_the_committed_setpoint_and_plans_around_it() -> None:
    site = make_site(5020, ems=EmsSettings(price_source="none"))
    n = 16
    prices = np.full(n, 100.0)
    inputs = site_plan_inputs(site, T0, 900.0, np.full(n, 2.0), np.zeros(n), prices, n)
    limits = replace(LIMITS, grid_export_max_kw=None)
    sched = schedule(VppInterval(at(60), at(120), setpoint_kw=20.0, import_limit_kw=1.0))
    plan = make_plan(
        constrain(inputs, sched), limits, site.grid_tariffs, 50.0, OptimiserSettings(horizon_h=4.0)
    )
    assert plan.ok
    assert plan.battery_kw[4:8] == pytest.approx([20.0] * 4)
    assert (plan.grid_kw[4:8] <= 1.0 + 1e-6).all()
    assert constrain(inputs, sched).constraints_key != inputs.constraints_key
    # a setpoint the SoC cannot hold is followed as far as it goes (never an infeasible plan)
    drain = schedule(VppInterval(at(0), at(240), setpoint_kw=50.0))
    plan = make_plan(
        constrain(inputs, drain), limits, site.grid_tariffs, 30.0, OptimiserSettings(horizon_h=4.0)
    )
    assert plan.ok and plan.soc_pct.min() >= LIMITS.soc_min_pct - 1e-6
    assert plan.battery_kw[0] == pytest.approx(50.0)


# --- status and deviation ----------------------------------------------------------------------


def test_status_reports_commitment_deviation_and_remaining_time() -> None:
    sched = schedule(VppInterval(at(0), at(5), setpoint_kw=10.0), VppInterval(at(5), at(10)))
    s = site_status("a", sched, at(1), 7.0)
    assert (s.event_id, s.committed_kw, s.deviation_kw, s.remaining_s) == ("ev1", 10.0, -3.0, 540.0)
    s = site_status("a", sched, at(6), 0.0)  # an interval without a setpoint: no deviation
    assert (s.event_id, s.committed_kw, s.deviation_kw) == ("ev1", None, None)
    s = site_status("a", sched, at(11), 0.0)
    assert s.event_id is None and s.remaining_s is None
    dev = Deviation().add("e", 10.0, 7.0).add("e", 10.0, 10.0)
    assert (dev.samples, dev.max_abs_kw, dev.mean_abs_kw, dev.last_kw) == (2, 3.0, 1.5, 0.0)
    assert dev.add("f", 1.0, 1.0).samples == 1  # a new event starts new figures


# --- offered flexibility -----------------------------------------------------------------------


def test_offer_follows_soc_limits_grid_and_own_use() -> None:
    full = offered_flexibility("a", LIMITS, 90.0, 3600.0)
    assert full.max_charge_kw == 0.0 and full.max_discharge_kw == 50.0
    assert full.available_energy_kwh == pytest.approx(80 * 0.95)
    low = offered_flexibility("a", LIMITS, 20.0, 3600.0)  # 10 kWh above the floor, for one hour
    assert low.max_discharge_kw == pytest.approx(9.5)
    assert offered_flexibility("a", LIMITS, 50.0, 3600.0, derate=0.5).max_charge_kw == 25.0
    # export cap 60 kW but PV makes 30 kW more than the load: only 30 kW left for the battery
    assert offered_flexibility("a", LIMITS, 50.0, 60.0, net_load_kw=(10.0, -30.0)).max_discharge_kw == 30.0
    # import cap 80 kW with 45 kW planned load: 35 kW of charging
    assert offered_flexibility("a", LIMITS, 50.0, 60.0, net_load_kw=(45.0,)).max_charge_kw == 35.0


def test_material_change() -> None:
    a = offered_flexibility("a", LIMITS, 50.0, 3600.0)
    assert materially_changed(None, a)
    assert not materially_changed(a, offered_flexibility("a", LIMITS, 50.5, 3600.0))
    assert materially_changed(a, offered_flexibility("a", LIMITS, 20.0, 3600.0))
    assert materially_changed(a, offered_flexibility("a", LIMITS, 50.0, 900.0))


# --- fleet split (property tests) --------------------------------------------------------------

flex = st.builds(
    lambda i, d, c, e, h: Flexibility(f"s{i}", d, c, 900.0, e, h),
    st.integers(0, 10_000),
    st.floats(0, 500),
    st.floats(0, 500),
    st.floats(0, 2000),
    st.floats(0, 2000),
)
fleets = st.lists(flex, min_size=1, max_size=8, unique_by=lambda f: f.site_id)


@settings(max_examples=120, deadline=None)
@given(fleets, st.floats(-3000, 3000))
@example(  # energies near the float minimum: the water-filling overshot the request (found by hypothesis)
    [
        Flexibility("s0", 0.5, 0.0, 900.0, 4.159169205774663e-302, 0.0),
        Flexibility("s1", 1.0, 0.0, 900.0, 2.2250738585e-313, 0.0),
    ],
    1.0,
)
def test_split_never_exceeds_a_site_and_sums_to_the_request_when_feasible(
    sites: list[Flexibility], kw: float
) -> None:
    split = split_setpoint(kw, sites)
    tol = 1e-6 * max(1.0, abs(kw))
    for s in sites:
        share = split.shares[s.site_id]
        assert -s.max_charge_kw - tol <= share <= s.max_discharge_kw + tol
        assert share * kw >= -tol  # nobody works against the request
    capacity = math.fsum(s.max_discharge_kw if kw > 0 else s.max_charge_kw for s in sites)
    if abs(kw) <= capacity:
        assert split.allocated_kw == pytest.approx(kw, abs=tol)
        assert split.shortfall_kw == pytest.approx(0.0, abs=tol)
    else:
        assert split.shortfall_kw == pytest.approx(abs(kw) - capacity, abs=tol)


def test_split_by_energy_and_rebalance_after_a_dropout() -> None:
    a = Flexibility("a", 50.0, 50.0, 900.0, 30.0, 10.0)
    b = Flexibility("b", 50.0, 50.0, 900.0, 10.0, 30.0)
    split = split_setpoint(40.0, [a, b])
    assert split.shares == {"a": pytest.approx(30.0), "b": pytest.approx(10.0)}  # by available energy
    assert split_setpoint(-40.0, [a, b]).shares == {"a": pytest.approx(-10.0), "b": pytest.approx(-30.0)}
    assert split_setpoint(80.0, [a, b]).shares == {
        "a": pytest.approx(50.0),
        "b": pytest.approx(30.0),
    }  # capped
    assert split_setpoint(40.0, [b]).shares == {"b": pytest.approx(40.0)}  # a dropped out: b takes it all
