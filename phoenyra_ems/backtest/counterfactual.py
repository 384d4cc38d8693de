"""Labels for the AI strategy selection by counterfactual replay.

A site only ever ran one strategy at a time, so "the strategy that made the most money" is not in
its history. For a decision window (``window_steps`` from step ``start``) every strategy of the pool
is replayed from the recorded state (SoC, SoH, last setpoint, recent net load, the month's peak so
far) over the recorded load, PV and prices of that window — with :func:`~phoenyra_ems.core.decision.decide`
(strategies + safety layer) and the battery model of :mod:`phoenyra_ems.core.battery`, exactly as
:func:`phoenyra_ems.backtest.replay.replay` does — optionally followed by ``tail_steps`` of one
common continuation strategy (so that energy bought now for later shows its later use), and valued
the same way for all: minus the grid bill, minus the demand charge of a new monthly peak, plus the
change of stored energy at :func:`~phoenyra_ems.backtest.replay.storage_value_eur_kwh`.

The label is the best strategy; every strategy's value is kept so that regret can be computed.
Features (:class:`~phoenyra_ems.core.ai_selection.SelectorFeatures`) use only what was known at the
window's start: published prices and forecasts from history before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts
from phoenyra_ems.backtest.replay import known_until, storage_value_eur_kwh, tariff_prices
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import FORECAST_HOURS, SelectorFeatures, build_features
from phoenyra_ems.core.battery import BatteryModel, BatteryState, step
from phoenyra_ems.core.decision import ControlIntent, Decision, decide
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import OPTIMISER, PriceSlot, Strategy, build_strategies
from phoenyra_ems.models import PlantState, SiteMode

# (step, battery, last setpoint, previous decision) -> the strategy to pin for this step, or None
WindowPick = Callable[[int, BatteryState, float, "Decision | None"], "str | None"]


DEFAULT_TAIL_H = 24.0  # continuation after the window: later consequences count (docs/ai-selection.md)


@dataclass(frozen=True, slots=True)
class WindowStart:
    """The recorded state at a window's start."""

    index: int
    soc_pct: float
    soh_pct: float = 100.0
    setpoint_kw: float = 0.0
    month_peak_kw: float = 0.0


@dataclass(frozen=True, slots=True)
class Labelled:
    start: WindowStart
    features: SelectorFeatures
    values: dict[str, float]  # EUR over the window (+ tail) per strategy

    @property
    def best(self) -> str:
        return max(self.values.items(), key=lambda kv: kv[1])[0]

    @property
    def spread(self) -> float:
        """How much the choice mattered in this window: best minus worst value (EUR)."""
        return max(self.values.values()) - min(self.values.values())

    def regret(self, strategy: str) -> float:
        return self.values[self.best] - self.values[strategy]


class WindowReplayer:
    """Counterfactual values and decision-time features for one site over one data set."""

    def __init__(
        self,
        site: SiteConfig,
        data: BacktestData,
        window_steps: int,
        pool: Sequence[str] | None = None,
        *,
        tail_steps: int = 0,
        continuation: str = "self_consumption",
    ) -> None:
        names = [n for n in (pool or site.ems.strategies) if n != OPTIMISER]
        self.site, self.data, self.window_steps, self.tail_steps = site, data, window_steps, tail_steps
        self.pool = tuple(names)
        self.strategies: dict[str, Strategy] = {s.name: s for s in build_strategies(names, site.ems)}
        self.continuation = build_strategies([continuation], site.ems)[0]
        bess = site.bess
        self.model = BatteryModel(
            bess.energy_capacity_kwh,
            bess.power_charge_max_kw,
            bess.power_discharge_max_kw,
            bess.efficiency_charge,
            bess.efficiency_discharge,
        )
        self.step_h = data.step_h
        self.dt_s = self.step_h * 3600.0
        tz = site.location.timezone
        local = data.index.tz_convert(tz)
        self.local = [t.to_pydatetime() for t in local]
        self.starts = [t.to_pydatetime() for t in data.index]
        self.known_end = np.searchsorted(data.index, [known_until(t) for t in local])
        self.month = np.asarray(local.year * 12 + local.month)
        self.buy, self.sell = tariff_prices(site, data)
        self.storage_value = storage_value_eur_kwh(site, data)
        self.net_window = max(2, round(1.0 / self.step_h))
        self._slots: dict[int, tuple[int, tuple[PriceSlot, ...]]] = {}
        self.forecasts = BacktestForecasts(site, data, FORECAST_HOURS)

    def _prices(self, j: int) -> tuple[PriceSlot, ...]:
        end = int(self.known_end[j])
        cached = self._slots.get(end)
        if cached is None or cached[0] > j:
            price = self.data.price_eur_mwh
            cached = (j, tuple(PriceSlot(self.starts[k], float(price[k])) for k in range(j, end)))
            self._slots[end] = cached
        first, slots = cached
        return slots[j - first :]

    def features(self, start: WindowStart, score: float, temp_c: float | None = None) -> SelectorFeatures:
        """What was known at the window's start (published prices, forecasts from the past only)."""
        i = start.index
        plan = self.forecasts(i)
        end = int(self.known_end[i])
        return build_features(
            soc_pct=start.soc_pct,
            soh_pct=start.soh_pct,
            temp_c=temp_c,
            prices=self.data.price_eur_mwh[i:end].tolist(),
            pv_forecast_kw=float(plan.pv_kw.mean()),
            load_forecast_kw=float(plan.load_kw.mean()),
            local_now=self.local[i],
            score=score,
        )

    def value(self, start: WindowStart, strategy: str | WindowPick | None) -> float:
        """EUR of following ``strategy`` (None: the score-based selection over the pool; a callable:
        asked at every step, e.g. a trained selector) over the window and then the continuation,
        from the recorded state."""
        data, site = self.data, self.site
        n = len(data)
        i0 = start.index
        window_end = min(n, i0 + self.window_steps)
        end = min(n, window_end + self.tail_steps)
        battery = BatteryState(soc_pct=start.soc_pct, soh_pct=start.soh_pct)
        setpoint = start.setpoint_kw
        pool = list(self.strategies.values())
        selection = SelectionState()
        lo = max(0, i0 - self.net_window)
        net = [float(data.load_kw[k] - data.pv_kw[k]) for k in range(lo, i0)]
        cost = 0.0
        peak = start.month_peak_kw
        new_peak = peak
        month0 = self.month[i0]
        last: Decision | None = None
        for j in range(i0, end):
            if j < window_end:
                pinned = strategy(j, battery, setpoint, last) if callable(strategy) else strategy
                strategies, intent = pool, ControlIntent(mode=SiteMode.AUTO, strategy=pinned)
            else:
                strategies, intent = [self.continuation], ControlIntent(mode=SiteMode.AUTO)
            load, pv = float(data.load_kw[j]), float(data.pv_kw[j])
            state = PlantState(
                site_id=site.site_id,
                timestamp=self.starts[j],
                soc=battery.soc_pct,
                soh=battery.soh_pct,
                temp_c=None,
                p_pv=pv,
                p_load=load,
                p_grid=load - pv,
                price=float(data.price_eur_mwh[j]),
                setpoint=setpoint,
            )
            decision = decide(
                site,
                state,
                intent,
                strategies,
                selection,
                self.starts[j],
                self.dt_s,
                prices=self._prices(j),
                slot_hours=self.step_h,
                recent_net_load_kw=tuple(net[-self.net_window :]),
                hold_s=self.dt_s,
                local_now=self.local[j],
            )
            selection, last = decision.selection, decision
            battery, delivered = step(self.model, battery, decision.setpoint_kw, self.dt_s)
            setpoint = decision.setpoint_kw
            g = load - pv - delivered
            cap = decision.limits.grid_export_max_kw
            if cap is not None and g < -cap:
                g = -cap
            cost += (g * self.buy[j] if g > 0 else g * self.sell[j]) * self.step_h / 1000.0
            if self.month[j] == month0:
                new_peak = max(new_peak, g)
            net.append(load - pv)
        capacity = self.model.capacity_kwh * start.soh_pct / 100.0
        stored = (battery.soc_pct - start.soc_pct) / 100.0 * capacity
        demand = (new_peak - peak) * site.grid_tariffs.demand_charge_eur_kw_month
        return -cost - demand + stored * self.storage_value

    def label(self, start: WindowStart, features: SelectorFeatures) -> Labelled:
        return Labelled(start, features, {name: self.value(start, name) for name in self.pool})


def with_pool(site: SiteConfig, pool: Sequence[str]) -> SiteConfig:
    """The site with its selection restricted to ``pool`` (the default strategy kept if in it)."""
    names = tuple(pool)
    default = site.ems.default_strategy if site.ems.default_strategy in names else names[0]
    return replace(site, ems=replace(site.ems, strategies=names, default_strategy=default))
