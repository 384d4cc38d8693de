"""Perfect-foresight optimum: hand-checkable cases, feasibility of random cases, input errors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.backtest.optimum import OptimumInput, OptimumResult, baseline_cost, solve_optimum

ETA = 0.95
TOL = 1e-6


def make(
    load: list[float],
    pv: list[float] | None = None,
    buy: list[float] | float = 300.0,
    sell: list[float] | float = 80.0,
    **kw: Any,
) -> OptimumInput:
    n = len(load)
    args: dict[str, Any] = {
        "step_h": 1.0,
        "load_kw": np.asarray(load, dtype=float),
        "pv_kw": np.asarray(pv if pv is not None else [0.0] * n, dtype=float),
        "buy_eur_mwh": np.broadcast_to(np.asarray(buy, dtype=float), (n,)).copy(),
        "sell_eur_mwh": np.broadcast_to(np.asarray(sell, dtype=float), (n,)).copy(),
        "capacity_kwh": 10.0,
        "charge_max_kw": 5.0,
        "discharge_max_kw": 5.0,
        "efficiency_charge": ETA,
        "efficiency_discharge": ETA,
        "soc_min_pct": 0.0,
        "soc_max_pct": 100.0,
        "soc_start_pct": 0.0,
    }
    args.update(kw)
    return OptimumInput(**args)


def throughput_kwh(res: OptimumResult, step_h: float = 1.0) -> float:
    return float(np.abs(res.battery_kw).sum() * step_h)


# --- hand-checkable cases -------------------------------------------------------------------------


def test_two_step_spread_exact_cost() -> None:
    # Price 0 then 100 EUR/MWh, 5 kWh of load in the expensive hour, battery empty at start and end.
    inp = make([0.0, 5.0], buy=[0.0, 100.0], sell=[0.0, 0.0])
    res = solve_optimum(inp)
    delivered = 5.0 * ETA * ETA  # 5 kW for 1 h at price 0, back out after both losses
    assert res.battery_kw == pytest.approx([-5.0, delivered], abs=TOL)
    assert res.grid_kw == pytest.approx([5.0, 5.0 - delivered], abs=TOL)
    assert res.soc_pct == pytest.approx([5.0 * ETA / 10 * 100, 0.0], abs=TOL)
    assert res.cost_eur == pytest.approx((5.0 - delivered) * 100 / 1000, abs=TOL)  # 0.04875 EUR
    assert res.energy_cost_eur == pytest.approx(res.cost_eur) and res.demand_charge_eur == 0.0
    assert baseline_cost(inp) == pytest.approx(0.5, abs=TOL)
    assert res.simultaneous_steps == 0
    assert res.status.endswith("Optimal)")


@pytest.mark.parametrize("eta", [ETA, 1.0])  # lossless: cycling is free, the tie-break keeps it idle
def test_flat_prices_no_cycling_and_cost_equals_baseline(eta: float) -> None:
    rng = np.random.default_rng(3)
    inp = make(
        list(rng.uniform(0.2, 3.0, 24)), soc_start_pct=50.0, efficiency_charge=eta, efficiency_discharge=eta
    )
    res = solve_optimum(inp)
    assert throughput_kwh(res) < TOL
    assert res.soc_pct == pytest.approx(np.full(24, 50.0), abs=TOL)
    assert res.cost_eur == pytest.approx(baseline_cost(inp), abs=TOL)
    assert res.simultaneous_steps == 0


def test_pv_surplus_stored_for_the_evening() -> None:
    # Noon: 5 kW surplus twice; evening: 3 kW load twice. Store exactly what the evening needs.
    inp = make([1.0, 1.0, 3.0, 3.0], pv=[6.0, 6.0, 0.0, 0.0], buy=300.0, sell=80.0)
    res = solve_optimum(inp)
    stored_ac = 6.0 / ETA**2  # AC charge that comes back as 6 kWh
    assert res.grid_kw[2:] == pytest.approx([0.0, 0.0], abs=TOL)
    assert res.battery_kw[2:] == pytest.approx([3.0, 3.0], abs=TOL)
    assert -res.battery_kw[:2].sum() == pytest.approx(stored_ac, abs=TOL)
    assert res.cost_eur == pytest.approx(-(10.0 - stored_ac) * 80 / 1000, abs=TOL)
    assert baseline_cost(inp) == pytest.approx(-10 * 0.08 + 6 * 0.3, abs=TOL)
    assert res.curtailed_kw == pytest.approx(np.zeros(4), abs=TOL)


def test_export_cap_forces_storage_and_curtailment() -> None:
    # 10 kW PV, no load, 3 kW feed-in limit, 5 kW charger: store 5, export 3, curtail 2.
    inp = make([0.0, 10.0], pv=[10.0, 0.0], export_max_kw=3.0)
    res = solve_optimum(inp)
    assert res.grid_kw[0] == pytest.approx(-3.0, abs=TOL)
    assert res.battery_kw[0] == pytest.approx(-5.0, abs=TOL)
    assert res.curtailed_kw == pytest.approx([2.0, 0.0], abs=TOL)
    assert res.cost_eur == pytest.approx(-3 * 0.08 + (10 - 5 * ETA**2) * 0.3, abs=TOL)
    assert baseline_cost(inp) == pytest.approx(-3 * 0.08 + 10 * 0.3, abs=TOL)  # curtails 7 kW
    # Without curtailment 10 kW cannot go anywhere: infeasible, HiGHS's status named.
    with pytest.raises(RuntimeError, match=r"HiGHS.*(status 2|Infeasible)"):
        solve_optimum(replace(inp, curtailment=False))
    with pytest.raises(ValueError, match="export_max_kw"):
        baseline_cost(replace(inp, curtailment=False))
    # A bigger charger can take 7 kW itself.
    big = solve_optimum(replace(inp, curtailment=False, charge_max_kw=8.0))
    assert big.battery_kw[0] == pytest.approx(-7.0, abs=TOL)
    assert big.curtailed_kw == pytest.approx([0.0, 0.0], abs=TOL)


def test_export_cap_per_step_array() -> None:
    inp = make(
        [0.0, 0.0, 0.0], pv=[4.0, 4.0, 4.0], export_max_kw=np.array([1.0, np.inf, 0.0]), capacity_kwh=0.0
    )
    res = solve_optimum(inp)
    assert res.grid_kw == pytest.approx([-1.0, -4.0, 0.0], abs=TOL)
    assert res.curtailed_kw == pytest.approx([3.0, 0.0, 4.0], abs=TOL)


def test_demand_charge_lowers_each_monthly_peak() -> None:
    # 15-min steps, 10 EUR/kW/month dwarfs the losses, battery 8 of 10 kWh at start and end.
    # Month 1 [2, 2, 10, 2, 2, 2] kW: the discharge limit (5 kW) bounds the shaving: peak 5.
    # Month 2 [1, 1, 3, 1, 1, 1] kW: month 1 stores 2 kWh extra (up to 10 kWh) that month 2 spends,
    # (8 - 6*P)*0.25/0.95 = 2 kWh stored: flat import P = 1/15 kW.
    month_1, month_2 = [2.0, 2.0, 10.0, 2.0, 2.0, 2.0], [1.0, 1.0, 3.0, 1.0, 1.0, 1.0]
    months = np.array([2024 * 12 + 1] * 6 + [2024 * 12 + 2] * 6)
    inp = make(
        month_1 + month_2,
        step_h=0.25,
        soc_start_pct=80.0,
        demand_charge_eur_kw_month=10.0,
        month_of_step=months,
    )
    res = solve_optimum(inp)
    assert res.grid_kw[:6].max() == pytest.approx(5.0, abs=TOL)
    assert res.grid_kw[6:] == pytest.approx(np.full(6, 1 / 15), abs=TOL)
    assert res.demand_charge_eur == pytest.approx(10 * (5.0 + 1 / 15), abs=TOL)
    assert res.cost_eur == pytest.approx(res.energy_cost_eur + res.demand_charge_eur)
    assert res.soc_pct[5] == pytest.approx(100.0, abs=TOL) and res.soc_pct[-1] == pytest.approx(80.0, abs=TOL)
    base = baseline_cost(inp)
    assert base == pytest.approx(sum(month_1 + month_2) * 0.25 * 0.3 + 10 * (10.0 + 3.0), abs=TOL)
    assert res.cost_eur < base - 75
    # Without the demand charge the battery has no reason to shave the peak.
    flat = solve_optimum(replace(inp, demand_charge_eur_kw_month=0.0))
    assert flat.grid_kw.max() == pytest.approx(10.0, abs=TOL)


@pytest.mark.parametrize(("charge", "peak"), [(0.02, 5.0), (0.004, 10.0)])
def test_demand_charge_weighed_against_losses(charge: float, peak: float) -> None:
    # Shaving 1 kW for one 15-min step costs 0.25*(1/0.95**2 - 1) kWh of losses at 0.3 EUR/kWh
    # = 0.0081 EUR: worth it against 0.02 EUR/kW/month, not against 0.004.
    load = [2.0, 2.0, 10.0, 2.0, 2.0, 2.0]
    inp = make(
        load,
        step_h=0.25,
        soc_start_pct=80.0,
        demand_charge_eur_kw_month=charge,
        month_of_step=np.full(6, 2024 * 12 + 1),
    )
    assert solve_optimum(inp).grid_kw.max() == pytest.approx(peak, abs=TOL)


def test_baseline_weighs_negative_price_imports_against_the_demand_charge() -> None:
    # Step 0: paid 100 EUR/MWh to import, exporting costs 150; step 1 sets a 1 kW peak. Curtailing
    # all PV to import 3 kW would earn 0.3 EUR but cost 20 EUR of peak: import only up to the peak.
    inp = make(
        [3.0, 1.0],
        pv=[5.0, 0.0],
        buy=[-100.0, 300.0],
        sell=[-150.0, 0.0],
        capacity_kwh=0.0,
        demand_charge_eur_kw_month=10.0,
        month_of_step=np.array([7, 7]),
    )
    assert baseline_cost(inp) == pytest.approx(-0.1 + 0.3 + 10.0, abs=TOL)
    res = solve_optimum(inp)
    assert res.cost_eur == pytest.approx(-0.1 + 0.3 + 10.0, abs=TOL)
    assert res.curtailed_kw[0] == pytest.approx(3.0, abs=TOL)
    # Without the demand charge it is worth importing the whole load.
    assert baseline_cost(replace(inp, demand_charge_eur_kw_month=0.0)) == pytest.approx(-0.3 + 0.3, abs=TOL)


def test_tiny_limits_near_solver_tolerance_stay_feasible() -> None:
    # HiGHS's presolve once declared this all-zero case infeasible (a limit of 1.2e-7 kW).
    inp = make([0.0] * 8, buy=0.0, sell=0.0, step_h=0.25, capacity_kwh=1.0, charge_max_kw=0.0)
    inp = replace(
        inp, discharge_max_kw=1.192092896e-07, soc_max_pct=2.0, soc_start_pct=1.0, curtailment=False
    )
    assert solve_optimum(inp).cost_eur == pytest.approx(0.0, abs=TOL)


def test_negative_prices_burn_energy_are_counted_and_fixed() -> None:
    # Paid to import everywhere: the LP would charge and discharge at once to burn energy; those
    # steps are counted, fixed to their net direction and solved again: the schedule is physical.
    inp = make([0.0] * 4, buy=-100.0, sell=-200.0, soc_start_pct=50.0)
    res = solve_optimum(inp)
    assert res.simultaneous_found >= 2
    assert res.simultaneous_steps == 0
    assert res.cost_eur < 0
    assert (res.grid_kw >= -TOL).all()
    # Physical: one direction per step, so the stored energy follows the net battery power.
    energy = np.concatenate([[5.0], res.soc_pct / 10])
    delta = np.diff(energy)
    expected = np.where(res.battery_kw < 0, -res.battery_kw * ETA, -res.battery_kw / ETA)
    assert delta == pytest.approx(expected, abs=1e-6)


def test_import_cap_too_small_names_the_cap() -> None:
    inp = make([10.0, 10.0], import_max_kw=2.0, soc_start_pct=100.0)
    with pytest.raises(RuntimeError, match=r"import_max_kw = 2 kW cannot cover the load.*step 0"):
        solve_optimum(inp)
    # Within the discharge limit but not enough energy over the stretch: still named.
    long = make([6.0] * 6, import_max_kw=2.0, soc_start_pct=100.0)
    with pytest.raises(RuntimeError, match=r"HiGHS.*import_max_kw.*too little energy"):
        solve_optimum(long)
    # Enough energy: feasible, import capped.
    ok = solve_optimum(make([6.0, 6.0], import_max_kw=2.0, soc_start_pct=100.0, soc_end_min_pct=0.0))
    assert ok.grid_kw.max() <= 2.0 + TOL


def test_soc_end_target_respected() -> None:
    inp = make([1.0] * 6, buy=[50, 50, 50, 300, 300, 300], sell=0.0, soc_start_pct=20.0, soc_end_min_pct=60.0)
    res = solve_optimum(inp)
    assert res.soc_pct[-1] >= 60.0 - TOL


def test_no_battery_equals_baseline() -> None:
    rng = np.random.default_rng(7)
    inp = make(
        list(rng.uniform(0, 5, 48)),
        pv=list(rng.uniform(0, 8, 48)),
        buy=list(rng.uniform(-50, 300, 48)),
        sell=0.0,
        capacity_kwh=0.0,
        export_max_kw=2.0,
    )
    inp = replace(inp, sell_eur_mwh=np.minimum(inp.buy_eur_mwh, 60.0))
    assert solve_optimum(inp).cost_eur == pytest.approx(baseline_cost(inp), abs=TOL)


# --- random feasibility ---------------------------------------------------------------------------


@st.composite
def inputs(draw: st.DrawFn) -> OptimumInput:
    n = draw(st.integers(2, 48))
    floats = st.floats

    def arr(lo: float, hi: float) -> np.ndarray:
        return np.array(draw(st.lists(floats(lo, hi), min_size=n, max_size=n)))

    load = arr(0, 20)
    pv = draw(st.sampled_from([np.zeros(n), arr(0, 25)]))
    buy = arr(-150, 500)
    sell = buy - arr(0, 300)
    soc_min = draw(floats(0, 50))
    soc_max = draw(floats(soc_min, 100))
    curtailment = draw(st.booleans())
    export = draw(st.sampled_from(["none", "scalar", "array"]))
    surplus = float(np.max(pv - load)) if not curtailment else 0.0  # keep the no-battery case feasible
    export_max: np.ndarray | float | None = None
    if export == "scalar":
        export_max = max(draw(floats(0, 15)), surplus)
    elif export == "array":
        export_max = np.maximum(arr(0, 15), surplus)
    demand = draw(st.sampled_from([0.0, 0.0, draw(floats(0.1, 20))]))
    split = draw(st.integers(1, n))
    return OptimumInput(
        step_h=draw(st.sampled_from([0.25, 0.5, 1.0])),
        load_kw=load,
        pv_kw=pv,
        buy_eur_mwh=buy,
        sell_eur_mwh=sell,
        capacity_kwh=draw(st.sampled_from([0.0, draw(floats(0.5, 60))])),
        charge_max_kw=draw(floats(0, 20)),
        discharge_max_kw=draw(floats(0, 20)),
        efficiency_charge=draw(floats(0.6, 1)),
        efficiency_discharge=draw(floats(0.6, 1)),
        soc_min_pct=soc_min,
        soc_max_pct=soc_max,
        soc_start_pct=draw(floats(soc_min, soc_max)),
        import_max_kw=draw(
            st.sampled_from([None, float(np.max(load - pv, initial=0)) + draw(floats(0, 10))])
        ),
        export_max_kw=export_max,
        demand_charge_eur_kw_month=demand,
        month_of_step=np.where(np.arange(n) < split, 24289, 24290) if demand > 0 else None,
        curtailment=curtailment,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_random_results_are_feasible_and_beat_baseline(inp: OptimumInput) -> None:
    res = solve_optimum(inp)
    n, h = len(inp.load_kw), inp.step_h
    for series in (res.battery_kw, res.grid_kw, res.soc_pct, res.curtailed_kw):
        assert series.shape == (n,)
    assert (res.soc_pct >= inp.soc_min_pct - TOL).all() and (res.soc_pct <= inp.soc_max_pct + TOL).all()
    assert res.soc_pct[-1] >= inp.soc_start_pct - TOL
    assert (res.battery_kw <= inp.discharge_max_kw + TOL).all()
    assert (res.battery_kw >= -inp.charge_max_kw - TOL).all()
    if inp.import_max_kw is not None:
        assert (res.grid_kw <= inp.import_max_kw + TOL).all()
    if inp.export_max_kw is not None:
        assert (res.grid_kw >= -np.asarray(inp.export_max_kw) - TOL).all()
    assert (res.curtailed_kw >= -TOL).all() and (res.curtailed_kw <= inp.pv_kw + TOL).all()
    if not inp.curtailment:
        assert np.abs(res.curtailed_kw).max() <= TOL
    balance = res.grid_kw + (inp.pv_kw - res.curtailed_kw) + res.battery_kw - inp.load_kw
    assert np.abs(balance).max() <= TOL
    if res.simultaneous_steps == 0 and inp.capacity_kwh > 0:  # net flows then tell the energy story
        charge, discharge = np.maximum(-res.battery_kw, 0), np.maximum(res.battery_kw, 0)
        delta = (charge * inp.efficiency_charge - discharge / inp.efficiency_discharge) * h
        energy_kwh = np.concatenate([[inp.soc_start_pct], res.soc_pct]) / 100 * inp.capacity_kwh
        assert np.abs(np.diff(energy_kwh) - delta).max() <= TOL
    grid = res.grid_kw
    energy = (
        np.sum(inp.buy_eur_mwh * np.maximum(grid, 0) - inp.sell_eur_mwh * np.maximum(-grid, 0)) * h / 1000
    )
    assert res.energy_cost_eur == pytest.approx(energy, abs=TOL)
    assert res.cost_eur == pytest.approx(res.energy_cost_eur + res.demand_charge_eur, abs=TOL)
    base = baseline_cost(inp)
    assert res.cost_eur <= base + TOL
    no_battery = solve_optimum(replace(inp, capacity_kwh=0.0))
    assert no_battery.cost_eur == pytest.approx(base, abs=1e-5)


# --- input errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pv_kw": np.zeros(3)}, "pv_kw"),
        ({"buy_eur_mwh": np.array([1.0, np.nan])}, "buy_eur_mwh"),
        ({"sell_eur_mwh": np.array([1.0, np.inf])}, "sell_eur_mwh"),
        ({"sell_eur_mwh": np.array([0.0, 500.0])}, "sell_eur_mwh"),
        ({"load_kw": np.array([1.0, -1.0])}, "load_kw"),
        ({"load_kw": np.zeros(0), "pv_kw": np.zeros(0)}, "load_kw"),
        ({"pv_kw": np.zeros((2, 1))}, "pv_kw"),
        ({"capacity_kwh": -1.0}, "capacity_kwh"),
        ({"capacity_kwh": float("nan")}, "capacity_kwh"),
        ({"charge_max_kw": -1.0}, "charge_max_kw"),
        ({"discharge_max_kw": float("inf")}, "discharge_max_kw"),
        ({"efficiency_charge": 0.0}, "efficiency_charge"),
        ({"efficiency_discharge": 1.2}, "efficiency_discharge"),
        ({"soc_min_pct": -5.0}, "soc_min_pct"),
        ({"soc_max_pct": 101.0}, "soc_max_pct"),
        ({"soc_start_pct": 95.0, "soc_max_pct": 90.0}, "soc_start_pct"),
        ({"soc_start_pct": 5.0, "soc_min_pct": 10.0}, "soc_start_pct"),
        ({"soc_end_min_pct": 101.0}, "soc_end_min_pct"),
        ({"import_max_kw": -2.0}, "import_max_kw"),
        ({"export_max_kw": np.array([1.0, 2.0, 3.0])}, "export_max_kw"),
        ({"export_max_kw": -1.0}, "export_max_kw"),
        ({"step_h": 0.0}, "step_h"),
        ({"demand_charge_eur_kw_month": 5.0}, "month_of_step"),
        ({"demand_charge_eur_kw_month": -1.0}, "demand_charge_eur_kw_month"),
        ({"month_of_step": np.array([1, 2, 3])}, "month_of_step"),
        ({"month_of_step": np.array([1.5, 2.0])}, "month_of_step"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(change: dict[str, Any], field: str) -> None:
    inp = replace(make([1.0, 2.0], soc_start_pct=50.0), **change)
    with pytest.raises(ValueError, match=field):
        solve_optimum(inp)
    with pytest.raises(ValueError, match=field):
        baseline_cost(inp)
