"""Perfect-foresight optimum of a battery over a whole period: the upper bound for backtests.

One linear programme over all steps (up to a year at 15 min = 35,136 steps), solved with HiGHS.
It is the receding-horizon planner's model (:mod:`phoenyra_ems.core.optimiser.model`) over the
whole period with perfect data and without slack, so the bound and the plans cannot drift apart.

Variables per step ``t`` (power in kW, mean over the step; energy in kWh):

* ``c_t`` charge (AC) in ``[0, charge_max]``, ``d_t`` discharge (AC) in ``[0, discharge_max]``,
* ``i_t`` grid import in ``[0, import_max]``, ``x_t`` grid export in ``[0, export_max_t]``,
* ``u_t`` curtailed PV in ``[0, pv_t]`` (fixed to 0 when curtailment is off),
* ``e_t`` stored energy at the end of the step in ``[soc_min, soc_max] * capacity``,
* one peak ``p_m >= i_t`` per month ``m`` when a demand charge is set.

Constraints: ``i - x = load - (pv - u) - d + c`` (balance), ``e_t = e_{t-1} + (c_t*eta_c -
d_t/eta_d)*step_h`` with ``e_{-1}`` the start energy, ``e_{n-1} >= end target``.
Objective: ``sum(buy*i - sell*x)*step_h/1000 + demand_charge*sum(p_m)`` minus the terminal value
of the energy left.

An LP cannot forbid charging and discharging in the same step; that only pays when energy has to
be burnt (purchases at negative prices). The model fixes such steps to their net direction and
solves again, so the schedule is physical; :attr:`OptimumResult.simultaneous_found` counts the
steps of the first solution, :attr:`OptimumResult.simultaneous_steps` those left (0 unless the
second solve failed). A tiny tie-break cost on throughput (0.01 EUR/MWh) keeps the battery idle
where cycling gains nothing; the reported cost is that of the returned schedule and excludes it.

The model needs ``buy >= sell`` at every step: otherwise importing and exporting at the same time
would be free money and the LP unbounded (a meter sees only the net flow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from phoenyra_ems.core.optimiser.model import Problem, solve

FloatArray = NDArray[np.float64]

_PRICE_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class OptimumInput:
    """A period to optimise: per-step series (all of the same length) and the battery and tariff."""

    step_h: float
    load_kw: np.ndarray  # >= 0, mean power per step
    pv_kw: np.ndarray  # >= 0
    buy_eur_mwh: np.ndarray  # price paid per MWh imported (day-ahead + markup), may be negative
    sell_eur_mwh: np.ndarray  # price received per MWh exported (may be negative: exporting then costs)
    capacity_kwh: float
    charge_max_kw: float
    discharge_max_kw: float
    efficiency_charge: float  # AC->stored
    efficiency_discharge: float  # stored->AC
    soc_min_pct: float
    soc_max_pct: float
    soc_start_pct: float
    import_max_kw: float | None = None  # grid connection
    export_max_kw: np.ndarray | float | None = None  # feed-in limit per step (or constant)
    demand_charge_eur_kw_month: float = 0.0
    month_of_step: np.ndarray | None = (
        None  # int label per step (e.g. year*12+month); needed with a demand charge
    )
    soc_end_min_pct: float | None = None  # default: end at least where it started (fair comparison)
    # Value of energy left in store at the end (EUR per stored kWh): with it the bound and the
    # replays, which book the change of stored energy at the same value, compare like for like.
    terminal_value_eur_kwh: float = 0.0
    curtailment: bool = True  # PV may be curtailed (inverters do when export is capped or pays negative)


@dataclass(frozen=True, slots=True)
class OptimumResult:
    """The optimal schedule; series have one value per step (SoC at the end of the step)."""

    cost_eur: float  # energy cost + demand charges
    energy_cost_eur: float  # (imports*buy - exports*sell)*step_h/1000 on the net grid flow
    demand_charge_eur: float
    battery_kw: np.ndarray  # + discharge / - charge (AC), = discharge - charge
    grid_kw: np.ndarray  # + import / - export
    soc_pct: np.ndarray  # at the END of each step
    curtailed_kw: np.ndarray
    solve_s: float  # time spent in HiGHS
    status: str  # HiGHS's message
    simultaneous_steps: int = 0  # steps charging and discharging at once (LP artefact, see module doc)
    storage_credit_eur: float = 0.0  # terminal_value_eur_kwh x (stored at the end - at the start)
    simultaneous_found: int = 0  # ... in the first LP solution, before those steps were fixed


@dataclass(frozen=True, slots=True)
class _Checked:
    """Validated, normalised input."""

    n: int
    load: FloatArray
    pv: FloatArray
    buy: FloatArray
    sell: FloatArray
    import_max: float  # inf when unlimited
    export_max: FloatArray  # inf where unlimited
    month_index: NDArray[np.intp]  # 0..months-1 per step (all 0 without demand charge)
    months: int
    e_start: float
    e_min: float
    e_max: float
    e_end: float


def _series(name: str, value: object, n: int | None) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} steps, load_kw has {n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} is NaN or infinite at step {int(bad[0])}")
    return arr


def _non_negative(name: str, value: float, *, allow_inf: bool = False) -> float:
    v = float(value)
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return v


def _check(inp: OptimumInput) -> _Checked:
    step_h = float(inp.step_h)
    if not (math.isfinite(step_h) and step_h > 0):
        raise ValueError(f"step_h must be > 0, got {inp.step_h}")
    load = _series("load_kw", inp.load_kw, None)
    n = load.shape[0]
    if n == 0:
        raise ValueError("load_kw is empty")
    pv = _series("pv_kw", inp.pv_kw, n)
    buy = _series("buy_eur_mwh", inp.buy_eur_mwh, n)
    sell = _series("sell_eur_mwh", inp.sell_eur_mwh, n)
    for name, arr in (("load_kw", load), ("pv_kw", pv)):
        neg = np.flatnonzero(arr < 0)
        if neg.size:
            raise ValueError(f"{name} is negative at step {int(neg[0])}: {arr[neg[0]]}")
    above = np.flatnonzero(sell > buy + _PRICE_TOL)
    if above.size:
        k = int(above[0])
        raise ValueError(
            f"sell_eur_mwh exceeds buy_eur_mwh at step {k} ({sell[k]} > {buy[k]}): simultaneous "
            "import and export would be free money, the model needs buy >= sell"
        )

    capacity = _non_negative("capacity_kwh", inp.capacity_kwh)
    _non_negative("charge_max_kw", inp.charge_max_kw)
    _non_negative("discharge_max_kw", inp.discharge_max_kw)
    for name, eff in (
        ("efficiency_charge", inp.efficiency_charge),
        ("efficiency_discharge", inp.efficiency_discharge),
    ):
        if not (0 < float(eff) <= 1):
            raise ValueError(f"{name} must be in (0, 1], got {eff}")
    soc_min, soc_max, soc_start = float(inp.soc_min_pct), float(inp.soc_max_pct), float(inp.soc_start_pct)
    if not (0 <= soc_min <= 100):
        raise ValueError(f"soc_min_pct must be in [0, 100], got {inp.soc_min_pct}")
    if not (soc_min <= soc_max <= 100):
        raise ValueError(f"soc_max_pct must be in [soc_min_pct={soc_min}, 100], got {inp.soc_max_pct}")
    if not (soc_min <= soc_start <= soc_max):
        raise ValueError(f"soc_start_pct {inp.soc_start_pct} is outside the window [{soc_min}, {soc_max}]")
    soc_end = soc_start if inp.soc_end_min_pct is None else float(inp.soc_end_min_pct)
    if not (0 <= soc_end <= soc_max):
        raise ValueError(f"soc_end_min_pct must be in [0, soc_max_pct={soc_max}], got {inp.soc_end_min_pct}")

    import_max = math.inf
    if inp.import_max_kw is not None:
        import_max = _non_negative("import_max_kw", inp.import_max_kw, allow_inf=True)
    if inp.export_max_kw is None:
        export_max = np.full(n, np.inf)
    else:
        raw = np.asarray(inp.export_max_kw, dtype=np.float64)
        if raw.ndim == 0:
            raw = np.full(n, float(raw))
        elif raw.ndim != 1 or raw.shape[0] != n:
            raise ValueError(
                f"export_max_kw must be a number or have {n} steps like load_kw, got shape {raw.shape}"
            )
        if np.isnan(raw).any() or (raw < 0).any():
            raise ValueError("export_max_kw must be >= 0 (inf = unlimited) at every step")
        export_max = raw

    demand = float(inp.demand_charge_eur_kw_month)
    if not (math.isfinite(demand) and demand >= 0):
        raise ValueError(f"demand_charge_eur_kw_month must be a finite number >= 0, got {demand}")
    month_index = np.zeros(n, dtype=np.intp)
    months = 1
    if inp.month_of_step is not None:
        labels = np.asarray(inp.month_of_step)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(f"month_of_step must have {n} steps like load_kw, got shape {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise ValueError(f"month_of_step must hold integer labels, got dtype {labels.dtype}")
        uniq, inverse = np.unique(labels, return_inverse=True)
        month_index, months = inverse.astype(np.intp).reshape(n), int(uniq.shape[0])
    elif demand > 0:
        raise ValueError("month_of_step is required when demand_charge_eur_kw_month > 0")

    return _Checked(
        n=n,
        load=load,
        pv=pv,
        buy=buy,
        sell=sell,
        import_max=import_max,
        export_max=export_max,
        month_index=month_index,
        months=months,
        e_start=soc_start / 100 * capacity,
        e_min=soc_min / 100 * capacity,
        e_max=soc_max / 100 * capacity,
        e_end=soc_end / 100 * capacity,
    )


def _costs(inp: OptimumInput, chk: _Checked, grid: FloatArray) -> tuple[float, float]:
    """Energy cost and demand charge of a net grid flow."""
    energy = float(
        np.sum(chk.buy * np.maximum(grid, 0.0) - chk.sell * np.maximum(-grid, 0.0)) * inp.step_h / 1000
    )
    demand = 0.0
    if inp.demand_charge_eur_kw_month > 0:
        peaks = np.zeros(chk.months)
        np.maximum.at(peaks, chk.month_index, np.maximum(grid, 0.0))
        demand = float(inp.demand_charge_eur_kw_month * peaks.sum())
    return energy, demand


def baseline_cost(inp: OptimumInput) -> float:
    """Cost of the same period without a battery (same tariff, demand charge and grid limits).

    PV is curtailed (when allowed) as far as the export cap demands and wherever that lowers the
    bill (negative prices). This is the optimum with no battery, so ``solve_optimum`` never costs
    more when the end SoC target is at most the start SoC.
    """
    chk = _check(inp)
    net = chk.load - chk.pv  # grid flow without curtailment: the lowest possible
    hi = chk.load if inp.curtailment else net  # all PV curtailed
    lo = np.maximum(net, -chk.export_max)
    hi = np.minimum(hi, chk.import_max)
    bad = np.flatnonzero(lo > hi + 1e-9)
    if bad.size:
        k = int(bad[0])
        what = (
            f"load - pv = {net[k]:g} kW exceeds import_max_kw = {chk.import_max:g}"
            if net[k] > chk.import_max
            else f"pv - load = {-net[k]:g} kW exceeds export_max_kw = {chk.export_max[k]:g} (curtailment off)"
        )
        raise ValueError(f"no feasible operation without a battery at step {k}: {what}")
    hi = np.maximum(hi, lo)
    candidates = np.stack([lo, hi, np.clip(0.0, lo, hi)])
    cost = chk.buy * np.maximum(candidates, 0.0) - chk.sell * np.maximum(-candidates, 0.0)
    grid = candidates[np.argmin(cost, axis=0), np.arange(chk.n)]
    if inp.demand_charge_eur_kw_month > 0 and np.any((grid > 0) & (grid > lo + 1e-9)):
        # Curtailing to import more at a negative price raises the peak: weigh both exactly.
        return solve_optimum(replace(inp, capacity_kwh=0.0, soc_end_min_pct=None)).cost_eur
    energy, demand = _costs(inp, chk, grid)
    return energy + demand


def solve_optimum(inp: OptimumInput) -> OptimumResult:
    """The cheapest operation of the battery over the period with perfect foresight.

    The model is the planner's (:mod:`phoenyra_ems.core.optimiser.model`) over the whole period,
    without slack. Raises ValueError on bad input (naming the field) and RuntimeError with HiGHS's
    status when the problem has no solution (with a dedicated message when the import cap cannot
    cover load).
    """
    chk = _check(inp)
    has_battery = inp.capacity_kwh > 0
    solution = solve(
        Problem(
            step_h=float(inp.step_h),
            load_kw=chk.load,
            pv_kw=chk.pv,
            buy_eur_mwh=chk.buy,
            sell_eur_mwh=chk.sell,
            capacity_kwh=float(inp.capacity_kwh),
            charge_max_kw=float(inp.charge_max_kw),
            discharge_max_kw=float(inp.discharge_max_kw),
            efficiency_charge=float(inp.efficiency_charge),
            efficiency_discharge=float(inp.efficiency_discharge),
            soc_min_pct=float(inp.soc_min_pct),
            soc_max_pct=float(inp.soc_max_pct),
            soc_start_pct=float(inp.soc_start_pct),
            import_max_kw=chk.import_max,
            export_max_kw=chk.export_max,
            demand_charge_eur_kw_month=float(inp.demand_charge_eur_kw_month),
            month_index=chk.month_index,
            terminal_value_eur_kwh=float(inp.terminal_value_eur_kwh),
            soc_end_min_pct=100.0 * chk.e_end / inp.capacity_kwh if has_battery else None,
            curtailment=inp.curtailment,
            soft=False,
        )
    )
    if not solution.ok:
        raise RuntimeError(_failure_message(inp, chk, solution.highs_status, solution.message))

    grid = solution.grid_kw
    energy_cost, demand_charge = _costs(inp, chk, grid)
    energy = solution.energy_kwh
    soc = energy / inp.capacity_kwh * 100 if has_battery else np.full(chk.n, float(inp.soc_start_pct))
    storage_credit = inp.terminal_value_eur_kwh * (float(energy[-1]) - chk.e_start) if has_battery else 0.0
    return OptimumResult(
        cost_eur=energy_cost + demand_charge - storage_credit,
        energy_cost_eur=energy_cost,
        demand_charge_eur=demand_charge,
        battery_kw=solution.battery_kw,
        grid_kw=grid,
        soc_pct=soc,
        curtailed_kw=solution.curtailed_kw.copy(),
        solve_s=solution.solve_s,
        status=solution.message,
        simultaneous_steps=solution.simultaneous_steps,
        storage_credit_eur=storage_credit,
        simultaneous_found=solution.simultaneous_found,
    )


def _failure_message(inp: OptimumInput, chk: _Checked, status: int, message: str) -> str:
    """Explain why HiGHS found no solution; names the import cap when it is the cause."""
    base = message if message.startswith("HiGHS") else f"HiGHS found no optimum (status {status}: {message})"
    if status == 2 and math.isfinite(chk.import_max):
        try:
            solve_optimum(replace(inp, import_max_kw=None))
        except RuntimeError:
            return base
        short = chk.load - chk.pv - (inp.discharge_max_kw if inp.capacity_kwh > 0 else 0.0) - chk.import_max
        worst = int(np.argmax(short))
        where = (
            f"; at step {worst} load - pv exceeds it by {short[worst]:g} kW even at full discharge"
            if short[worst] > 1e-9
            else "; the battery holds too little energy to bridge the steps where load - pv exceeds it"
        )
        return f"{base}: the import cap import_max_kw = {chk.import_max:g} kW cannot cover the load{where}"
    return base
