"""A site's plan: the horizon problem from its limits, tariff, state and forecasts, solved.

:class:`PlanInputs` is what the caller (live controller or backtest) assembles: forecasts of load
and PV, day-ahead prices (published, then a fallback), per-step export caps and month labels in the
site's local time. :func:`make_plan` turns it and the present situation (SoC, limits incl.
operator overrides and derating, tariff) into a :class:`Plan` — never an exception: a failed
solve gives a plan with ``ok == False`` that callers fall back from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from phoenyra_ems.config.model import (
    PRESENT_DECAY_H,
    PV_PRESENT_DECAY_H,
    EmsSettings,
    GridTariffConfig,
    SiteConfig,
)
from phoenyra_ems.core.community.export_value import CommunityExportValue, export_value_eur_mwh
from phoenyra_ems.core.limits import SiteLimits, feedin_limit_varies, limits_at
from phoenyra_ems.core.optimiser.model import (
    MIN_CAPACITY_KWH,
    Problem,
    Solution,
    solve,
    terminal_value_eur_kwh,
)
from phoenyra_ems.core.vpp_control import feasible_setpoints

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

EXECUTIONS = ("grid", "battery")


@dataclass(frozen=True, slots=True)
class OptimiserSettings:
    """How the optimiser plans and follows its plan (``ems.*`` in the configuration)."""

    planning_step_s: float = 900.0
    horizon_h: float = 48.0
    execution: str = "value"  # value | grid | battery (see strategies/optimiser.py)
    replan_soc_deviation_pct: float = 5.0  # replan at once when the SoC strays this far from the plan
    corridor_pct: float = 10.0  # (grid execution) how far the battery may leave the plan's SoC
    wear_eur_kwh: float = 0.0  # per kWh charged and per kWh discharged
    terminal_quantile: float = 0.25  # stored energy at the end: this quantile of buy prices x eta
    time_limit_s: float = 1.0
    measured_present: bool = True  # the plan's first step uses the measured load and PV
    # ... and the present's departure from the forecast fades over the next steps: exp(-lead / this)
    present_decay_h: float = PRESENT_DECAY_H  # load
    pv_present_decay_h: float = PV_PRESENT_DECAY_H  # PV (as a ratio)

    @classmethod
    def from_ems(cls, ems: EmsSettings) -> OptimiserSettings:
        return cls(
            planning_step_s=ems.planning_step_s,
            horizon_h=ems.planning_horizon_h,
            execution=ems.plan_execution,
            replan_soc_deviation_pct=ems.plan_replan_soc_pct,
            wear_eur_kwh=ems.wear_cost_eur_kwh,
            present_decay_h=ems.plan_present_decay_h,
            pv_present_decay_h=ems.plan_pv_present_decay_h,
        )


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Forecasts and prices for one plan, per step from ``start`` (the plan's first step)."""

    start: datetime  # tz-aware
    step_s: float
    load_kw: FloatArray
    pv_kw: FloatArray
    price_eur_mwh: FloatArray  # day-ahead per step: published, then a forecast / fallback
    published_steps: int  # how many of the prices are published
    export_max_kw: FloatArray | None = None  # per step (feed-in rules in local time); None: now's
    month_index: IntArray | None = None  # 0 = this local month, 1 = the next...
    peak_reached_kw: float = 0.0  # this month's import peak so far (billed anyway)
    timezone: str = "UTC"
    source: str = ""  # where the forecasts come from (for the reason and the API)
    # A committed VPP schedule on the plan's steps (core/optimiser/vpp.py): import caps, fixed
    # battery power (NaN: free), and what they were made from (a change replans).
    import_max_kw: FloatArray | None = None
    battery_fixed_kw: FloatArray | None = None
    constraints_key: tuple[object, ...] = ()
    # A member of an energy community (core/community/export_value.py): per step, its internal
    # price (EUR/MWh) and the expected shared part of an exported kWh; None: not a member.
    community_eur_mwh: FloatArray | None = None
    community_uptake: FloatArray | None = None

    @property
    def steps(self) -> int:
        return len(self.load_kw)


@dataclass(frozen=True, slots=True)
class Plan:
    """A solved plan; series per step (SoC at the END of each step)."""

    start: datetime
    step_s: float
    soc_start_pct: float
    battery_kw: FloatArray
    grid_kw: FloatArray
    soc_pct: FloatArray
    buy_eur_mwh: FloatArray
    sell_eur_mwh: FloatArray
    load_kw: FloatArray
    pv_kw: FloatArray
    value_eur_h: FloatArray  # what each step is worth: bill saved now + stored energy's value change
    water_value_eur_kwh: FloatArray
    status: str  # optimal | slack | failed
    message: str
    solve_ms: float
    slack_soc_kwh: float = 0.0
    slack_export_kw: float = 0.0
    slack_import_kw: float = 0.0
    simultaneous_found: int = 0
    timezone: str = "UTC"
    source: str = ""
    key: tuple[object, ...] = field(default_factory=tuple)  # what it was made from (replan trigger)
    made_at: datetime | None = None  # when it was solved (inside its first step live); None: at start

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * len(self.battery_kw))

    def index_at(self, when: datetime) -> int | None:
        """The plan step covering ``when`` (None outside the plan)."""
        if not len(self.battery_kw):
            return None
        k = math.floor((when - self.start).total_seconds() / self.step_s)
        return k if 0 <= k < len(self.battery_kw) else None

    def soc_at(self, when: datetime) -> float | None:
        """The planned SoC at ``when`` (linear within a step).

        A plan made inside a step (``made_at`` after ``start``: live, where a replan comes at any
        cycle) starts from the SoC measured then, not at the step's start: from ``made_at`` on the SoC
        moves at each step's planned rate. Interpolating from the step's start instead would expect
        the first step's change to be partly done already, so a plan made late in a step with a large
        first step would look "off the plan" at once and be replanned at every cycle.
        """
        k = self.index_at(when)
        if k is None:
            return None
        made = self.made_at
        if made is None or made <= self.start:
            before = self.soc_start_pct if k == 0 else float(self.soc_pct[k - 1])
            frac = ((when - self.start).total_seconds() - k * self.step_s) / self.step_s
            return before + (float(self.soc_pct[k]) - before) * frac
        m = self.index_at(made)
        if m is None:
            return None
        if when <= made:
            return self.soc_start_pct  # what it was made from
        soc = self.soc_start_pct
        since = (made - self.start).total_seconds()
        until = (when - self.start).total_seconds()
        for j in range(m, k + 1):
            before = self.soc_start_pct if j == 0 else float(self.soc_pct[j - 1])
            rate = (float(self.soc_pct[j]) - before) / self.step_s
            lo, hi = max(since, j * self.step_s), min(until, (j + 1) * self.step_s)
            soc += rate * max(0.0, hi - lo)
        return soc


def site_plan_inputs(
    site: SiteConfig,
    start: datetime,
    step_s: float,
    load_kw: FloatArray,
    pv_kw: FloatArray,
    price_eur_mwh: FloatArray,
    published_steps: int,
    *,
    export_max_kw: FloatArray | None = None,
    peak_reached_kw: float = 0.0,
    source: str = "",
    community: CommunityExportValue | None = None,
) -> PlanInputs:
    """PlanInputs with the site's feed-in rules and months read in its local time; ``community``:
    the site's community terms (export valued at the internal price where it is shared)."""
    zone = ZoneInfo(site.location.timezone)
    n = len(load_kw)
    times = [(start + timedelta(seconds=step_s * k)).astimezone(zone) for k in range(n)]
    if export_max_kw is None:
        # Per step only where the feed-in rules change with the time of day; else one evaluation.
        at = times if feedin_limit_varies(site) else times[:1]
        caps = [limits_at(site, t).grid_export_max_kw for t in at]
        export_max_kw = np.array([np.inf if c is None else c for c in caps], dtype=np.float64)
        if len(at) < n:
            export_max_kw = np.full(n, export_max_kw[0])
    first = (times[0].year * 12 + times[0].month) if n else 0
    months = np.array([t.year * 12 + t.month - first for t in times], dtype=np.intp)
    return PlanInputs(
        start=start,
        step_s=step_s,
        load_kw=np.asarray(load_kw, dtype=np.float64),
        pv_kw=np.asarray(pv_kw, dtype=np.float64),
        price_eur_mwh=np.asarray(price_eur_mwh, dtype=np.float64),
        published_steps=published_steps,
        export_max_kw=export_max_kw,
        month_index=months,
        peak_reached_kw=peak_reached_kw,
        timezone=site.location.timezone,
        source=source,
        community_eur_mwh=None if community is None else community.internal_eur_mwh(price_eur_mwh),
        community_uptake=None if community is None else community.uptake_at(times),
    )


def _clean(values: FloatArray, n: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)[:n]
    if arr.shape[0] < n:
        arr = np.concatenate([arr, np.full(n - arr.shape[0], arr[-1] if arr.size else 0.0)])
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)


def tariff_series(tariffs: GridTariffConfig, day_ahead: FloatArray) -> tuple[FloatArray, FloatArray]:
    buy = day_ahead + tariffs.energy_price_markup_eur_mwh
    if tariffs.feedin_pricing == "spot":
        return buy, day_ahead + tariffs.feedin_tariff_eur_mwh
    return buy, np.full(day_ahead.shape, tariffs.feedin_tariff_eur_mwh)


def make_plan(
    inputs: PlanInputs,
    limits: SiteLimits,
    tariffs: GridTariffConfig,
    soc_pct: float,
    settings: OptimiserSettings,
    *,
    soh_pct: float = 100.0,
    derate: float = 1.0,
    perfect_horizon_steps: int | None = None,
) -> Plan:
    """Solve the horizon from the present SoC; never raises (a failed plan has ``ok == False``)."""
    step_h = inputs.step_s / 3600.0
    n = max(1, min(inputs.steps, round(settings.horizon_h / step_h) if step_h > 0 else 1))
    if perfect_horizon_steps is not None:
        n = min(n, perfect_horizon_steps)
    load, pv = np.maximum(_clean(inputs.load_kw, n), 0.0), np.maximum(_clean(inputs.pv_kw, n), 0.0)
    day_ahead = _clean(inputs.price_eur_mwh, n)
    buy, sell = tariff_series(tariffs, day_ahead)
    if inputs.community_eur_mwh is not None and inputs.community_uptake is not None:
        sell = export_value_eur_mwh(
            sell, _clean(inputs.community_eur_mwh, n), np.clip(_clean(inputs.community_uptake, n), 0.0, 1.0)
        )
    derate = min(max(derate, 0.0), 1.0) if math.isfinite(derate) else 0.0
    now_cap = math.inf if limits.grid_export_max_kw is None else limits.grid_export_max_kw
    export = np.full(n, now_cap)
    if inputs.export_max_kw is not None:
        raw = np.asarray(inputs.export_max_kw, dtype=np.float64)[:n]
        export[: len(raw)] = np.where(np.isnan(raw), now_cap, np.maximum(raw, 0.0))
        export[0] = min(export[0], now_cap)
    import_cap = limits.import_cap_kw
    imports = np.full(n, math.inf if import_cap is None else import_cap)
    if inputs.import_max_kw is not None:
        raw = np.asarray(inputs.import_max_kw, dtype=np.float64)[:n]
        imports[: len(raw)] = np.minimum(
            imports[: len(raw)], np.where(np.isnan(raw), np.inf, np.maximum(raw, 0.0))
        )
    fixed: FloatArray | None = None
    if inputs.battery_fixed_kw is not None:
        raw = np.full(n, np.nan)
        given = np.asarray(inputs.battery_fixed_kw, dtype=np.float64)[:n]
        raw[: len(given)] = given
        fixed = np.asarray(
            feasible_setpoints(raw.tolist(), limits, soc_pct, inputs.step_s, soh_pct=soh_pct, derate=derate)
        )
    months = inputs.month_index[:n] if inputs.month_index is not None else None
    if months is not None and len(months) < n:
        months = np.concatenate([months, np.full(n - len(months), months[-1] if len(months) else 0)])
    reached = np.zeros(int(months.max()) + 1 if months is not None and len(months) else 1)
    reached[0] = max(0.0, inputs.peak_reached_kw) if math.isfinite(inputs.peak_reached_kw) else 0.0
    capacity = limits.capacity_kwh * min(max(soh_pct, 1.0), 100.0) / 100.0
    problem = Problem(
        step_h=step_h,
        load_kw=load,
        pv_kw=pv,
        buy_eur_mwh=buy,
        sell_eur_mwh=sell,
        capacity_kwh=capacity,
        charge_max_kw=limits.charge_max_kw * derate,
        discharge_max_kw=limits.discharge_max_kw * derate,
        efficiency_charge=limits.efficiency_charge,
        efficiency_discharge=limits.efficiency_discharge,
        soc_min_pct=limits.soc_min_pct,
        soc_max_pct=limits.soc_max_pct,
        soc_start_pct=soc_pct,
        import_max_kw=imports,
        export_max_kw=export,
        demand_charge_eur_kw_month=tariffs.demand_charge_eur_kw_month,
        month_index=months,
        peak_reached_kw=reached,
        wear_eur_kwh=settings.wear_eur_kwh,
        terminal_value_eur_kwh=terminal_value_eur_kwh(
            buy, limits.efficiency_discharge, settings.terminal_quantile
        ),
        # A controller cannot curtail PV for price (the replays and sites here cannot): the inverter
        # only curtails what the export cap forces.
        curtailment=True,
        curtailment_max_kw=np.maximum(pv - export, 0.0),
        soft=True,
        time_limit_s=settings.time_limit_s,
        battery_fixed_kw=fixed,
    )
    solution = solve(problem)
    return _plan(inputs, solution, problem, soc_pct, capacity)


def _plan(inputs: PlanInputs, s: Solution, p: Problem, soc_pct: float, capacity: float) -> Plan:
    n = len(p.load_kw)
    h = p.step_h
    buy, sell = np.asarray(p.buy_eur_mwh), np.asarray(p.sell_eur_mwh)
    if s.ok:
        soc = s.energy_kwh / capacity * 100.0 if capacity > MIN_CAPACITY_KWH else np.full(n, soc_pct)
        net = p.load_kw - p.pv_kw
        base = np.where(net > 0, buy * net, sell * net)  # EUR/MWh x kW
        grid = s.grid_kw
        with_plan = np.where(grid > 0, buy * grid, sell * grid)
        e_before = np.concatenate([[soc_pct / 100.0 * capacity], s.energy_kwh[:-1]])
        stored = (s.energy_kwh - e_before) / h  # kW into store
        value = (base - with_plan) / 1000.0 + s.water_value_eur_kwh * stored
    else:
        soc = np.full(n, soc_pct)
        value = np.zeros(n)
    return Plan(
        start=inputs.start,
        step_s=inputs.step_s,
        soc_start_pct=soc_pct,
        battery_kw=s.battery_kw,
        grid_kw=s.grid_kw,
        soc_pct=soc,
        buy_eur_mwh=buy,
        sell_eur_mwh=sell,
        load_kw=np.asarray(p.load_kw),
        pv_kw=np.asarray(p.pv_kw),
        value_eur_h=value,
        water_value_eur_kwh=s.water_value_eur_kwh,
        status=s.status,
        message=s.message,
        solve_ms=1000.0 * (s.build_s + s.solve_s),
        slack_soc_kwh=s.slack_soc_kwh,
        slack_export_kw=s.slack_export_kw,
        slack_import_kw=s.slack_import_kw,
        simultaneous_found=s.simultaneous_found,
        timezone=inputs.timezone,
        source=inputs.source,
    )


def describe(plan: Plan, k: int, setpoint_kw: float) -> str:
    """What the plan does at step ``k``, in words (for the reason text)."""
    zone = ZoneInfo(plan.timezone)
    n = len(plan.battery_kw)

    def at(j: int) -> str:
        return f"{(plan.start + timedelta(seconds=plan.step_s * j)).astimezone(zone):%H:%M}"

    battery = float(plan.battery_kw[k])
    if battery < -0.05:
        source = "PV" if plan.pv_kw[k] - plan.load_kw[k] >= -battery - 0.05 else "the grid"
        later = [j for j in range(k + 1, n) if plan.battery_kw[j] > 0.05]
        if later:
            block_end = later[0]
            while block_end + 1 < n and plan.battery_kw[block_end + 1] > 0.05:
                block_end += 1
            peak = max(range(later[0], block_end + 1), key=lambda j: float(plan.buy_eur_mwh[j]))
            return (
                f"plan: charging {-setpoint_kw:.1f} kW from {source} for the {at(peak)} peak at "
                f"{plan.buy_eur_mwh[peak]:.0f} EUR/MWh"
            )
        return f"plan: charging {-setpoint_kw:.1f} kW from {source} at {plan.buy_eur_mwh[k]:.0f} EUR/MWh"
    if battery > 0.05:
        what = "exporting" if plan.grid_kw[k] < -0.05 else "covering load"
        return (
            f"plan: discharging {setpoint_kw:.1f} kW ({what}) at {plan.buy_eur_mwh[k]:.0f} EUR/MWh, "
            f"stored energy worth {1000 * plan.water_value_eur_kwh[k]:.0f}"
        )
    nxt = next((j for j in range(k + 1, n) if abs(plan.battery_kw[j]) > 0.05), None)
    until = f" until {at(nxt)}" if nxt is not None else ""
    return f"plan: holding {plan.soc_pct[k]:.0f} %{until} at {plan.buy_eur_mwh[k]:.0f} EUR/MWh"
