"""The battery's horizon problem as a linear programme on HiGHS: one builder for plans and the bound.

Pure (no I/O). Variables per step ``t`` (power in kW, mean over the step; energy in kWh):

* ``c_t`` charge and ``d_t`` discharge (AC), each in ``[0, max_t]`` (derating and operator limits
  are already in ``max_t``);
* ``i_t`` grid import in ``[0, import_max_t]`` (connection and contractual peak cap), ``x_t`` export
  in ``[0, export_max_t]`` (connection, fixed and dynamic feed-in rules, per step);
* ``u_t`` curtailed PV in ``[0, pv_t]``: free where the site may curtail, penalised slack where it
  may not (PV above the export limit that no battery can absorb);
* ``v_t`` unserved import in ``[0, load_t]``: penalised slack where load exceeds the import cap and
  the battery cannot cover it (soft problems only);
* ``e_t`` stored energy at the end of the step;
* one peak ``p_m >= i_t`` per month ``m`` with a demand charge, ``p_m >=`` the peak already reached;
* in soft problems ``l_t, h_t >= 0``: how far ``e_t`` lies below the SoC window's floor / above its
  ceiling (only possible when the start is outside it; penalised).

Rows: ``i - x + d - c - u + v = load - pv`` (balance), ``e_t - e_{t-1} - eta_c*h*c_t + h/eta_d*d_t
= 0`` (``e_{-1}``: the start), in soft problems ``-e_t - l_t <= -e_min`` and ``e_t - h_t <= e_max``
(hard problems bound ``e_t`` directly), and ``i_t - p_m(t) <= 0`` with a demand charge.

Objective (EUR): ``sum(buy*i - sell*x)*h/1000 + wear*(c + d)*h + demand*sum(p_m - reached_m)
- terminal_value*e_{n-1}`` plus the penalties. The energy left in store is *valued*, not forced to a
fixed end SoC (:func:`terminal_value_eur_kwh` proposes a value); a hard floor on the end SoC is
available for the bound.

Simultaneous charge and discharge can only pay when burning energy pays (purchases at a negative
price). A tie-break cost on throughput (0.01 EUR/MWh) keeps the battery idle where it gains
nothing; if the solution still charges and discharges in the same step, those steps are fixed to
their net direction and the LP is solved again (up to ``SIMULTANEOUS_ROUNDS`` times);
:attr:`Solution.simultaneous_found` counts the steps of the first solution,
:attr:`Solution.simultaneous_steps` what is left (0 unless a re-solve failed).

Never an exception for a plan: bad input or a solver failure/time-out give ``status`` ``"failed"``
(the caller falls back), slack gives ``"slack"`` with the amounts in the solution. The sparse
matrices are cached per shape (steps, months, efficiencies, step length): a receding-horizon plan
only updates vectors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from phoenyra_ems.core.optimiser.highs import Lp, highs, resolve
from phoenyra_ems.core.optimiser.layout import Layout, constraint_matrix, pin_battery

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

TIE_BREAK_EUR_KWH = 1e-5
"""Cost per kWh of charge and of discharge in the objective only (breaks ties, not reported)."""
SLACK_PENALTY_EUR_KWH = 20.0
"""Cost of one kWh of slack (SoC outside its window per step, unserved import, forced curtailment)."""
SIMULTANEOUS_TOL_KW = 1e-6
SLACK_TOL = 1e-6
SIMULTANEOUS_ROUNDS = 4
MIN_CAPACITY_KWH = 1e-6  # below this there is no battery (avoids SoC from denormal capacities)


@dataclass(frozen=True, slots=True)
class Problem:
    """One horizon (or a whole period): per-step series of equal length, the battery and the tariff."""

    step_h: float
    load_kw: FloatArray
    pv_kw: FloatArray
    buy_eur_mwh: FloatArray  # price paid per MWh imported
    sell_eur_mwh: FloatArray  # price earned per MWh exported (clipped to buy: a meter nets flows)
    capacity_kwh: float  # usable-now capacity (SoH applied)
    charge_max_kw: FloatArray | float
    discharge_max_kw: FloatArray | float
    efficiency_charge: float
    efficiency_discharge: float
    soc_min_pct: float
    soc_max_pct: float
    soc_start_pct: float
    import_max_kw: FloatArray | float = math.inf  # per step; inf: none
    export_max_kw: FloatArray | float = math.inf
    demand_charge_eur_kw_month: float = 0.0
    month_index: IntArray | None = None  # 0..months-1 per step (needed with a demand charge)
    peak_reached_kw: FloatArray | float = 0.0  # per month: the peak already billed
    wear_eur_kwh: float = 0.0  # per kWh charged and per kWh discharged (AC)
    terminal_value_eur_kwh: float = 0.0  # value of a stored kWh at the end
    soc_end_min_pct: float | None = None  # hard floor on the end SoC (the bound); None: none
    curtailment: bool = True  # PV may be curtailed at no cost
    curtailment_max_kw: FloatArray | float | None = None  # per step, at most this (None: all PV)
    soft: bool = True  # penalised slack instead of infeasibility
    time_limit_s: float | None = None
    # Per step a fixed battery power (+ discharge / - charge; NaN: free), e.g. a committed VPP
    # setpoint, limited to the step's power bounds. Where it cannot be kept (SoC window) the solve
    # is repeated with those steps only capped, and the message says so.
    battery_fixed_kw: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class Solution:
    """The optimal operation; series per step (energy and SoC at the END of each step)."""

    status: str  # "optimal" | "slack" | "failed"
    message: str
    charge_kw: FloatArray
    discharge_kw: FloatArray
    import_kw: FloatArray
    export_kw: FloatArray
    curtailed_kw: FloatArray
    energy_kwh: FloatArray
    water_value_eur_kwh: FloatArray  # value of one more stored kWh at the end of each step (duals)
    objective_eur: float  # incl. penalties, terminal value and tie-breaks
    slack_soc_kwh: float  # max over steps of the SoC window's slack
    slack_export_kw: float  # max PV that had to be curtailed although the site cannot
    slack_import_kw: float  # max load the import cap could not serve
    simultaneous_found: int  # steps charging and discharging at once in the first solution
    simultaneous_steps: int  # ... left in the returned solution
    build_s: float
    solve_s: float
    highs_status: int = 0  # scipy's linprog status of the (last) solve

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def battery_kw(self) -> FloatArray:
        """+ discharge / - charge (AC)."""
        out: FloatArray = self.discharge_kw - self.charge_kw
        return out

    @property
    def grid_kw(self) -> FloatArray:
        """+ import / - export."""
        out: FloatArray = self.import_kw - self.export_kw
        return out


def terminal_value_eur_kwh(
    buy_eur_mwh: FloatArray, efficiency_discharge: float, quantile: float = 0.25
) -> float:
    """A stored kWh at the horizon's end: it will displace a purchase, valued low on purpose.

    ``efficiency_discharge x`` the ``quantile`` of the horizon's purchase prices (EUR/kWh, >= 0).
    A low quantile: the energy has not been sold yet, and over-valuing it makes a plan hoard.
    """
    if len(buy_eur_mwh) == 0:
        return 0.0
    value = float(np.quantile(buy_eur_mwh, quantile)) * efficiency_discharge / 1000.0
    return max(0.0, value) if math.isfinite(value) else 0.0


def _failed(n: int, message: str, build_s: float = 0.0, solve_s: float = 0.0, status: int = 4) -> Solution:
    zeros = np.zeros(n)
    return Solution(
        "failed", message, zeros, zeros, zeros, zeros, zeros, zeros, zeros, math.nan,
        0.0, 0.0, 0.0, 0, 0, build_s, solve_s, status,
    )  # fmt: skip


def _per_step(name: str, value: FloatArray | float, n: int) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a number or have {n} steps, got shape {arr.shape}")
    if np.isnan(arr).any() or (arr < 0).any():
        raise ValueError(f"{name} must be >= 0 (inf: none) at every step")
    return arr


def _series(name: str, value: FloatArray, n: int | None = None) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise ValueError(f"{name} must be one-dimensional with {n} steps, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} is NaN or infinite")
    return arr


PRESOLVE_FROM_STEPS = 2000
"""Presolve pays for the bound over a whole period; for a horizon it costs more than it saves."""


def solve(problem: Problem) -> Solution:
    """The cheapest operation over the horizon. Never raises: a failure is ``status == "failed"``."""
    n = int(np.asarray(problem.load_kw).shape[0]) if np.ndim(problem.load_kw) == 1 else 0
    started = time.perf_counter()
    try:
        return _solve(problem, started)
    except (ValueError, TypeError, FloatingPointError, MemoryError) as err:
        return _failed(n, f"invalid input: {err}", time.perf_counter() - started)


def _solve(p: Problem, started: float) -> Solution:
    h = float(p.step_h)
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"step_h must be > 0, got {p.step_h}")
    load = _series("load_kw", p.load_kw)
    n = load.shape[0]
    if n == 0:
        raise ValueError("the horizon is empty")
    pv = _series("pv_kw", p.pv_kw, n)
    buy = _series("buy_eur_mwh", p.buy_eur_mwh, n)
    sell = np.minimum(_series("sell_eur_mwh", p.sell_eur_mwh, n), buy)
    load, pv = np.maximum(load, 0.0), np.maximum(pv, 0.0)
    eta_c, eta_d = float(p.efficiency_charge), float(p.efficiency_discharge)
    if not (0 < eta_c <= 1 and 0 < eta_d <= 1):
        raise ValueError("efficiencies must be in (0, 1]")
    capacity = float(p.capacity_kwh)
    if not (math.isfinite(capacity) and capacity >= 0):
        raise ValueError("capacity_kwh must be >= 0")
    has_battery = capacity > MIN_CAPACITY_KWH
    capacity = capacity if has_battery else 0.0
    charge_max = _per_step("charge_max_kw", p.charge_max_kw, n) if has_battery else np.zeros(n)
    discharge_max = _per_step("discharge_max_kw", p.discharge_max_kw, n) if has_battery else np.zeros(n)
    import_max = _per_step("import_max_kw", p.import_max_kw, n)
    export_max = _per_step("export_max_kw", p.export_max_kw, n)
    soc_min, soc_max = float(p.soc_min_pct), float(p.soc_max_pct)
    soc_start = float(p.soc_start_pct)
    for name, value in (("soc_min_pct", soc_min), ("soc_max_pct", soc_max), ("soc_start_pct", soc_start)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite")
    e_min = min(max(soc_min, 0.0), 100.0) / 100 * capacity
    e_max = max(min(soc_max, 100.0), soc_min) / 100 * capacity
    e_start = min(max(soc_start, 0.0), 100.0) / 100 * capacity
    demand_rate = float(p.demand_charge_eur_kw_month)
    if not (math.isfinite(demand_rate) and demand_rate >= 0):
        raise ValueError("demand_charge_eur_kw_month must be >= 0")
    demand = demand_rate > 0
    if p.month_index is not None:
        month_index = np.asarray(p.month_index, dtype=np.intp)
        if month_index.shape != (n,) or (month_index < 0).any():
            raise ValueError(f"month_index must hold {n} labels 0..months-1")
        months = int(month_index.max()) + 1
    else:
        month_index, months = np.zeros(n, dtype=np.intp), 1
    reached = np.broadcast_to(np.asarray(p.peak_reached_kw, dtype=np.float64), (months,))
    wear, terminal = float(p.wear_eur_kwh), float(p.terminal_value_eur_kwh)
    if not (math.isfinite(wear) and math.isfinite(terminal) and np.isfinite(reached).all()):
        raise ValueError("wear, terminal value and reached peaks must be finite")

    soft = p.soft
    # SoC slack rows only when the start lies outside the window (else the bounds hold it).
    soc_rows = soft and has_battery and not (e_min - 1e-9 <= e_start <= e_max + 1e-9)
    lay = Layout(n, months if demand else 0, soc_rows)
    matrix = constraint_matrix(n, months, month_index, h, eta_c, eta_d, soc_rows, demand)

    # Objective in EUR * 1000/h (prices in EUR/MWh per kW): tolerances stay far below a cent.
    scale = 1000.0 / h
    penalty = SLACK_PENALTY_EUR_KWH * 1000.0
    cost = np.zeros(lay.n_var)
    cost[lay.c : lay.i] = (TIE_BREAK_EUR_KWH + max(wear, 0.0)) * 1000.0
    cost[lay.i : lay.x] = buy
    cost[lay.x : lay.u] = -sell
    cost[lay.u : lay.v] = 0.0 if p.curtailment else penalty
    cost[lay.v : lay.e] = penalty
    if has_battery:
        cost[lay.p - 1] -= terminal * scale
    cost[lay.p : lay.lo] = demand_rate * scale
    cost[lay.lo : lay.n_var] = penalty / h  # per kWh of SoC slack, per step

    lower = np.zeros(lay.n_var)
    upper = np.zeros(lay.n_var)
    upper[lay.c : lay.d] = charge_max
    upper[lay.d : lay.i] = discharge_max
    upper[lay.i : lay.x] = import_max
    upper[lay.x : lay.u] = export_max
    curtail_max = (
        pv
        if p.curtailment_max_kw is None
        else np.minimum(pv, _per_step("curtailment_max_kw", p.curtailment_max_kw, n))
    )
    upper[lay.u : lay.v] = curtail_max if p.curtailment else (pv if soft else 0.0)
    upper[lay.v : lay.e] = load if soft else 0.0
    if soc_rows:
        upper[lay.e : lay.p] = capacity
        upper[lay.lo : lay.n_var] = np.inf
    else:
        lower[lay.e : lay.p] = e_min
        upper[lay.e : lay.p] = e_max
    if p.soc_end_min_pct is not None and not soc_rows:  # the bound's fair end (plans value the energy)
        e_end = max(0.0, min(float(p.soc_end_min_pct) / 100 * capacity, e_max))
        lower[lay.p - 1] = max(lower[lay.p - 1], e_end)
    lower[lay.p : lay.lo] = reached[: lay.n_peak]
    upper[lay.p : lay.lo] = np.inf
    pinned = pin_battery(p.battery_fixed_kw, n, lay, lower, upper) if has_battery else False

    row_upper = np.concatenate([load - pv, np.zeros(n)])
    row_upper[n] = e_start
    row_lower = row_upper.copy()
    if soc_rows:
        row_lower = np.concatenate([row_lower, np.full(n, e_min), np.full(n, -np.inf)])
        row_upper = np.concatenate([row_upper, np.full(n, np.inf), np.full(n, e_max)])
    if demand:
        row_lower = np.concatenate([row_lower, np.full(n, -np.inf)])
        row_upper = np.concatenate([row_upper, np.zeros(n)])
    build_s = time.perf_counter() - started

    presolve = n >= PRESOLVE_FROM_STEPS
    lp = Lp(cost, lower, upper, matrix, row_lower, row_upper)
    solve_started = time.perf_counter()
    run = highs(lp, presolve, p.time_limit_s)
    if run.status in (2, 4):  # HiGHS's presolve can misjudge bounds near its tolerances: confirm
        run = highs(lp, not presolve, p.time_limit_s)
    relaxed = ""
    if run.status == 2 and pinned:  # the fixed steps break the SoC window: keep them as caps only
        lower[lay.c : lay.i] = 0.0
        lp = Lp(cost, lower, upper, matrix, row_lower, row_upper)
        run = highs(lp, presolve, p.time_limit_s)
        relaxed = "; fixed battery steps relaxed to caps (SoC window)"
    if run.status != 0 or run.x is None:
        return _failed(
            n,
            f"HiGHS found no optimum (status {run.status}: {run.message})",
            build_s,
            time.perf_counter() - solve_started,
            run.status,
        )
    x = np.clip(run.x, lower, upper)
    c0, d0 = lay.c, lay.d
    both = (x[c0:d0] > SIMULTANEOUS_TOL_KW) & (x[d0 : lay.i] > SIMULTANEOUS_TOL_KW)
    found = int(np.count_nonzero(both))
    left = found
    fixed = upper
    for _ in range(SIMULTANEOUS_ROUNDS):  # fix those steps to their net direction, solve again
        if not left:
            break
        steps = np.flatnonzero((x[c0:d0] > SIMULTANEOUS_TOL_KW) & (x[d0 : lay.i] > SIMULTANEOUS_TOL_KW))
        fixed = fixed.copy()
        net_charge = x[c0 + steps] >= x[d0 + steps]
        fixed[d0 + steps[net_charge]] = 0.0
        fixed[c0 + steps[~net_charge]] = 0.0
        changed = np.concatenate([d0 + steps[net_charge], c0 + steps[~net_charge]])
        lp_fixed = Lp(cost, lower, fixed, matrix, row_lower, row_upper)
        again = resolve(run, lp_fixed, changed, presolve, p.time_limit_s)
        if again.status != 0 or again.x is None:
            break
        run, upper = again, fixed
        x = np.clip(again.x, lower, upper)
        left = int(np.count_nonzero((x[c0:d0] > SIMULTANEOUS_TOL_KW) & (x[d0 : lay.i] > SIMULTANEOUS_TOL_KW)))
    solve_s = time.perf_counter() - solve_started

    duals = run.row_dual if run.row_dual is not None else np.zeros(len(row_upper))
    # d(objective)/d(energy injected at step t), in EUR per kWh: the value of one more stored kWh.
    water = -np.asarray(duals[n : 2 * n], dtype=np.float64) / scale
    slack_soc = float(x[lay.lo : lay.n_var].max(initial=0.0)) if soc_rows else 0.0
    slack_export = 0.0 if p.curtailment else float(x[lay.u : lay.v].max(initial=0.0))
    slack_import = float(x[lay.v : lay.e].max(initial=0.0))
    slack = max(slack_soc, slack_export, slack_import) > SLACK_TOL
    objective = float(cost @ x) / scale
    return Solution(
        status="slack" if slack else "optimal",
        message=f"optimal ({run.message}){relaxed}",
        charge_kw=x[c0:d0],
        discharge_kw=x[d0 : lay.i],
        import_kw=x[lay.i : lay.x],
        export_kw=x[lay.x : lay.u],
        curtailed_kw=x[lay.u : lay.v],
        energy_kwh=x[lay.e : lay.p],
        water_value_eur_kwh=water,
        objective_eur=objective,
        slack_soc_kwh=slack_soc,
        slack_export_kw=slack_export,
        slack_import_kw=slack_import,
        simultaneous_found=found,
        simultaneous_steps=left,
        build_s=build_s,
        solve_s=solve_s,
        highs_status=run.status,
    )
