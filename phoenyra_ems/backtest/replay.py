"""Replay real data through a site's decision logic: strategies, selection, safety layer, battery.

No Modbus, no clock: each step builds the :class:`PlantState` the controller would see, asks
:func:`phoenyra_ems.core.decision.decide` for a setpoint, applies it with the battery model of
:mod:`phoenyra_ems.core.battery` and books the grid exchange at the site's tariff. Prices are known
as a day-ahead market publishes them: the whole current local day, and the next day from 13:00 on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.battery import BatteryModel, BatteryState, step
from phoenyra_ems.core.cycle import build_step, decide_step
from phoenyra_ems.core.decision import ControlIntent, Decision
from phoenyra_ems.core.limits import limits_at
from phoenyra_ems.core.optimiser.plan import PlanInputs
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import PriceSlot, build_strategies
from phoenyra_ems.core.strategies.optimiser import Optimiser
from phoenyra_ems.models import Measurements, PlantState, SiteMode, SiteStatus

PUBLICATION_HOUR_LOCAL = 13  # day-ahead results (EPEX/EXAA) are out by then

# (step, plant state, the month's import peak so far, the previous decision) -> strategy to pin or None
StepChooser = Callable[[int, PlantState, float, "Decision | None"], "str | None"]


@dataclass
class RunResult:
    """One replay: its cost and the plan's success metrics."""

    name: str
    energy_cost_eur: float
    demand_charge_eur: float
    storage_adjustment_eur: float  # the change of stored energy valued at the period's mean price
    switches: int
    days: float
    throughput_kwh: float
    capacity_kwh: float
    soc_end_pct: float
    violations: int = 0  # steps where a hard limit was exceeded (must stay 0)
    reversals: int = 0  # the battery's direction flipped between consecutive non-idle setpoints
    plan_stats: dict[str, float] = field(default_factory=dict)  # optimiser: replans, slack, solve ms
    strategy_share: dict[str, float] = field(default_factory=dict)
    cumulative_cost_eur: np.ndarray = field(default_factory=lambda: np.zeros(0))
    grid_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per step, + import / - export

    @property
    def cost_eur(self) -> float:
        return self.energy_cost_eur + self.demand_charge_eur + self.storage_adjustment_eur

    @property
    def switches_per_day(self) -> float:
        return self.switches / self.days if self.days else 0.0

    @property
    def reversals_per_day(self) -> float:
        return self.reversals / self.days if self.days else 0.0

    @property
    def cycles(self) -> float:
        return self.throughput_kwh / (2 * self.capacity_kwh) if self.capacity_kwh else 0.0


def known_until(local_now: datetime) -> pd.Timestamp:
    """End of the prices known at ``local_now``: tomorrow's end after publication, else today's."""
    today = pd.Timestamp(local_now).normalize()
    days = 2 if local_now.hour >= PUBLICATION_HOUR_LOCAL else 1
    end = today + pd.DateOffset(days=days)  # calendar days: local midnight also across DST changes
    return end.tz_convert("UTC") if end.tzinfo else end


def known_ends(index: pd.DatetimeIndex, local: pd.DatetimeIndex) -> np.ndarray:
    """Per step of ``index``, the first step whose price was not yet published then (known_until
    computed once per local day and side of the publication hour, not per step)."""
    after = np.asarray(local.hour >= PUBLICATION_HOUR_LOCAL)
    days = np.asarray(local.normalize().asi8)
    cache: dict[tuple[int, bool], int] = {}
    ends = np.empty(len(index), dtype=np.intp)
    for k, key in enumerate(zip(days.tolist(), after.tolist(), strict=True)):
        end = cache.get(key)
        if end is None:
            end = cache[key] = int(np.searchsorted(index, known_until(local[k])))
        ends[k] = end
    return ends


def monthly_demand_charge(
    index: pd.DatetimeIndex, grid_kw: np.ndarray, eur_kw_month: float, timezone: str
) -> float:
    if eur_kw_month <= 0:
        return 0.0
    months = index.tz_convert(timezone).to_period("M")
    peaks = pd.Series(np.maximum(grid_kw, 0.0)).groupby(np.asarray(months)).max()
    return float(peaks.sum() * eur_kw_month)


def tariff_prices(site: SiteConfig, data: BacktestData) -> tuple[np.ndarray, np.ndarray]:
    """EUR/MWh per step to buy and to sell at the site's tariff (GridTariffConfig, vectorised)."""
    tariffs = site.grid_tariffs
    buy = data.price_eur_mwh + tariffs.energy_price_markup_eur_mwh
    if tariffs.feedin_pricing == "spot":
        return buy, data.price_eur_mwh + tariffs.feedin_tariff_eur_mwh
    return buy, np.full(len(data), tariffs.feedin_tariff_eur_mwh)


def grid_costs(site: SiteConfig, data: BacktestData, grid_kw: np.ndarray) -> np.ndarray:
    """EUR per step for the grid exchange at the site's tariff."""
    buy, sell = tariff_prices(site, data)
    costs: np.ndarray = np.where(grid_kw > 0, grid_kw * buy, grid_kw * sell) * data.step_h / 1000.0
    return costs


def storage_value_eur_kwh(site: SiteConfig, data: BacktestData) -> float:
    """What a stored kWh is worth at the end: it saves a purchase at the period's mean price."""
    mean_buy = float(np.mean(data.price_eur_mwh)) + site.grid_tariffs.energy_price_markup_eur_mwh
    return max(0.0, site.bess.efficiency_discharge * mean_buy / 1000.0)


def replay(
    site: SiteConfig,
    data: BacktestData,
    strategy: str | None,
    *,
    name: str | None = None,
    soc_start_pct: float = 50.0,
    progress: Callable[[int], None] | None = None,
    plan_inputs: Callable[[int, float], PlanInputs] | None = None,
    choose: StepChooser | None = None,
) -> RunResult:
    """Replay ``data`` with one strategy pinned (``strategy``) or the score-based selection (None).

    ``plan_inputs(i, peak_reached_kw)``: the optimiser's forecasts and prices for a plan made at
    the start of step ``i`` (see :mod:`phoenyra_ems.backtest.forecasts`). ``choose``: asked before
    each step which strategy to pin (None: the score-based selection), e.g. the AI selection.
    """
    timezone = site.location.timezone
    bess = site.bess
    model = BatteryModel(
        bess.energy_capacity_kwh,
        bess.power_charge_max_kw,
        bess.power_discharge_max_kw,
        bess.efficiency_charge,
        bess.efficiency_discharge,
    )
    battery = BatteryState(soc_pct=soc_start_pct)
    strategies = build_strategies(list(site.ems.strategies), site.ems)
    wants_plan = plan_inputs is not None and any(s.name == "optimiser" for s in strategies)
    month_of_step = np.asarray(data.index.tz_convert(timezone).month)
    peak = 0.0
    last_direction = 0
    reversals = 0
    intent = ControlIntent(mode=SiteMode.AUTO, strategy=strategy)
    selection = SelectionState()
    last_decision: Decision | None = None
    n, step_h = len(data), data.step_h
    dt_s = step_h * 3600.0
    local_index = data.index.tz_convert(timezone)
    starts = [t.to_pydatetime() for t in data.index]
    known_end = known_ends(data.index, local_index)
    net_load: tuple[float, ...] = ()
    previous = PlantState(site_id=site.site_id, timestamp=datetime.fromtimestamp(0, UTC), soc=soc_start_pct)
    grid = np.zeros(n)
    chosen: list[str] = []
    setpoint = 0.0
    violations = 0
    slots_cache: tuple[int, int, tuple[PriceSlot, ...]] = (-1, -1, ())
    for i in range(n):
        now = starts[i]
        end = int(known_end[i])
        if slots_cache[1] != end:  # one tuple per publication, sliced per step
            slots_cache = (
                i,
                end,
                tuple(PriceSlot(starts[j], float(data.price_eur_mwh[j])) for j in range(i, end)),
            )
        first, _, all_slots = slots_cache
        prices = all_slots[i - first :]
        load, pv = float(data.load_kw[i]), float(data.pv_kw[i])
        # What a meter sees at the step's start: the step's load and PV, the last setpoint running.
        measured = Measurements(battery.soc_pct, battery.soh_pct, None, None, pv, load, None)
        cycle_step = build_step(
            site,
            previous,
            measured,
            intent,
            now,
            dt_s=dt_s,
            hold_s=dt_s,
            prices=prices,
            slot_hours=step_h,
            past_net_load_kw=net_load,
            plan_inputs=plan_inputs(i, peak) if wants_plan and plan_inputs is not None else None,
        )
        net_load = cycle_step.recent_net_load_kw
        if choose is not None:
            pinned = choose(i, cycle_step.state, peak, last_decision)
            cycle_step = replace(cycle_step, intent=ControlIntent(mode=SiteMode.AUTO, strategy=pinned))
        decision = decide_step(cycle_step, strategies, selection)
        selection, last_decision = decision.selection, decision
        battery, delivered = step(model, battery, decision.setpoint_kw, dt_s)
        setpoint = decision.setpoint_kw
        previous = cycle_step.state.with_(  # what the controller publishes after its write
            setpoint=setpoint,
            strategy=decision.strategy,
            strategy_reason=decision.reason,
            status=SiteStatus.RUNNING,
            last_write=now,
        )
        g = load - pv - delivered
        limits = decision.limits
        export_cap = limits.grid_export_max_kw
        if export_cap is not None and g < -export_cap:
            g = -export_cap  # the inverter curtails PV to the feed-in limit
        import_cap = limits.import_cap_kw
        if (
            import_cap is not None
            and g > import_cap + 1e-6
            and delivered < min(limits.discharge_max_kw, setpoint)
        ):
            violations += 1
        if not limits.soc_min_pct - 1e-6 <= battery.soc_pct <= limits.soc_max_pct + 1e-6 and delivered != 0:
            violations += 1
        grid[i] = g
        peak = 0.0 if i + 1 < n and month_of_step[i + 1] != month_of_step[i] else max(peak, g)
        direction = (setpoint > 0.05) - (setpoint < -0.05)
        if direction:
            reversals += last_direction == -direction
            last_direction = direction
        chosen.append(decision.strategy)
        if progress is not None:
            progress(i + 1)
    costs = grid_costs(site, data, grid)
    stored_delta_kwh = (battery.soc_pct - soc_start_pct) / 100.0 * bess.energy_capacity_kwh
    switches = sum(1 for a, b in pairwise(chosen) if a != b)
    optimiser = next((s for s in strategies if s.name == "optimiser"), None)
    plan_stats: dict[str, float] = {}
    if isinstance(optimiser, Optimiser):
        plan_stats = {"replans": float(optimiser.replans), **optimiser.stats}
    shares = pd.Series(chosen).value_counts(normalize=True)
    return RunResult(
        name=name or strategy or "selection",
        energy_cost_eur=float(costs.sum()),
        demand_charge_eur=monthly_demand_charge(
            data.index, grid, site.grid_tariffs.demand_charge_eur_kw_month, timezone
        ),
        storage_adjustment_eur=-stored_delta_kwh * storage_value_eur_kwh(site, data),
        switches=switches,
        days=n * step_h / 24.0,
        throughput_kwh=battery.throughput_kwh,
        capacity_kwh=bess.energy_capacity_kwh,
        soc_end_pct=battery.soc_pct,
        violations=violations,
        reversals=reversals,
        plan_stats=plan_stats,
        strategy_share={str(k): float(v) for k, v in shares.items()},
        cumulative_cost_eur=np.cumsum(costs),
        grid_kw=grid,
    )


def export_caps(site: SiteConfig, data: BacktestData) -> np.ndarray:
    """The export limit (kW) of every step, feed-in rules read in the site's local time; inf: none."""
    local = data.index.tz_convert(site.location.timezone)
    caps = [limits_at(site, t.to_pydatetime()).grid_export_max_kw for t in local]
    return np.array([np.inf if cap is None else cap for cap in caps], dtype=float)


def no_battery(site: SiteConfig, data: BacktestData) -> RunResult:
    """The energy bill without a battery (PV and load only; exports curtailed to the feed-in limit)."""
    grid = np.maximum(data.load_kw - data.pv_kw, -export_caps(site, data))
    costs = grid_costs(site, data, grid)
    return RunResult(
        name="no battery",
        energy_cost_eur=float(costs.sum()),
        demand_charge_eur=monthly_demand_charge(
            data.index, grid, site.grid_tariffs.demand_charge_eur_kw_month, site.location.timezone
        ),
        storage_adjustment_eur=0.0,
        switches=0,
        days=len(data) * data.step_h / 24.0,
        throughput_kwh=0.0,
        capacity_kwh=site.bess.energy_capacity_kwh,
        soc_end_pct=float("nan"),
        cumulative_cost_eur=np.cumsum(costs),
        grid_kw=grid,
    )
