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

The optimiser may be in the pool: pinned, it plans at every step from the forecasts made then
(``plan_forecasts``, as the backtest's optimiser row); :meth:`WindowReplayer.value_of_path` values a
window already played (e.g. by the walk-forward's own run) the same way without replaying it.

The label is the best strategy; every strategy's value is kept so that regret can be computed.
Features (:class:`~phoenyra_ems.core.ai_selection.SelectorFeatures`) use only what was known at the
window's start: published prices and forecasts from history before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from phoenyra_ems.backtest.calendar import DataCalendar
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts
from phoenyra_ems.backtest.replay import storage_value_eur_kwh, tariff_prices
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import FORECAST_HOURS, SelectorFeatures, build_features
from phoenyra_ems.core.battery import BatteryModel, BatteryState, step
from phoenyra_ems.core.decision import ControlIntent, Decision, decide, decision_context
from phoenyra_ems.core.safety import SafetyInput, enforce
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import OPTIMISER, PriceSlot, Strategy, build_strategies
from phoenyra_ems.core.strategies.optimiser import Optimiser
from phoenyra_ems.models import PlantState, SiteMode

# (step, battery, last setpoint, previous decision) -> the strategy to pin for this step, or None
WindowPick = Callable[[int, BatteryState, float, "Decision | None"], "str | None"]


DEFAULT_TAIL_H = 24.0  # continuation after the window: later consequences count (docs/ai-selection.md)
# Continuations whose decisions depend only on the step and the battery's state (not on the recent
# net load or a selection state): those reaching the same state at the same step share what follows.
MEMO_CONTINUATIONS = frozenset({"self_consumption"})


def _state_key(battery: BatteryState, setpoint: float) -> tuple[float, float, float]:
    """The continuation's state, to 1e-6 % SoC, 1e-4 % SoH and 0.1 W: closer states share the rest."""
    return round(battery.soc_pct, 6), round(battery.soh_pct, 4), round(setpoint, 4)


class _Trajectory:
    """One continuation run: per step its grid power, grid cost and SoC after the step; it grows on
    demand, and stops with ``link`` where it meets another run's state (the rest is that run's)."""

    __slots__ = ("battery", "cost", "grid", "link", "setpoint", "soc", "start")

    def __init__(self, start: int, battery: BatteryState, setpoint: float) -> None:
        self.start, self.battery, self.setpoint = start, battery, setpoint
        self.grid: list[float] = []
        self.cost: list[float] = []
        self.soc: list[float] = []
        self.link: tuple[_Trajectory, int] | None = None


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
        plan_forecasts: BacktestForecasts | None = None,
    ) -> None:
        names = list(dict.fromkeys(pool or site.ems.strategies))
        self.site, self.data, self.window_steps, self.tail_steps = site, data, window_steps, tail_steps
        self.pool = tuple(names)
        self.strategies: dict[str, Strategy] = {s.name: s for s in build_strategies(names, site.ems)}
        # The score-based selection (value(None)) chooses among the rule-based strategies, as the
        # backtest's "selection" row does; the optimiser is a candidate only when pinned.
        self.rule_based = [s for name, s in self.strategies.items() if name != OPTIMISER] or [
            build_strategies(["self_consumption"], site.ems)[0]
        ]
        # The optimiser's plans: forecasts made before each plan (as the backtest's optimiser row).
        # per-step facts of the data, computed once for the replayer and both forecast helpers
        calendar = plan_forecasts.calendar if plan_forecasts is not None else DataCalendar.of(site, data)
        if calendar.timezone != site.location.timezone or len(calendar.starts) != len(data):
            calendar = DataCalendar.of(site, data)
        self.plans: BacktestForecasts | None = None
        if OPTIMISER in self.strategies:
            self.plans = plan_forecasts or BacktestForecasts(
                site, data, site.ems.planning_horizon_h, calendar=calendar
            )
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
        local = calendar.local
        self.local = list(local.to_pydatetime())
        self.starts = calendar.starts
        self.known_end = calendar.known_end
        self.month = np.asarray(local.year * 12 + local.month)
        self.buy, self.sell = tariff_prices(site, data)
        self.storage_value = storage_value_eur_kwh(site, data)
        self.net_window = max(2, round(1.0 / self.step_h))
        self._slots: dict[int, tuple[int, tuple[PriceSlot, ...]]] = {}
        self.forecasts = BacktestForecasts(site, data, FORECAST_HOURS, calendar=calendar)
        # first step of the next local month, per step (a window's demand charge counts its month)
        change = np.flatnonzero(np.diff(self.month)) + 1
        self.month_stop = np.append(change, len(data))[np.searchsorted(change, np.arange(len(data)), "right")]
        self._memo: dict[tuple[int, tuple[float, float, float]], tuple[_Trajectory, int]] = {}

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
        pool = list(self.strategies.values()) if strategy is not None else self.rule_based
        optimiser = self.strategies.get(OPTIMISER)
        if isinstance(optimiser, Optimiser):
            optimiser.plan = None  # a fresh replay: no plan carried over from another window
        selection = SelectionState()
        lo = max(0, i0 - self.net_window)
        net = [float(data.load_kw[k] - data.pv_kw[k]) for k in range(lo, i0)]
        cost = 0.0
        peak = start.month_peak_kw
        new_peak = peak
        month0 = self.month[i0]
        last: Decision | None = None
        shared = self.tail_steps > 0 and self.continuation.name in MEMO_CONTINUATIONS
        for j in range(i0, window_end if shared else end):
            plan_inputs = None
            if j < window_end:
                pinned = strategy(j, battery, setpoint, last) if callable(strategy) else strategy
                strategies, intent = pool, ControlIntent(mode=SiteMode.AUTO, strategy=pinned)
                if pinned == OPTIMISER and self.plans is not None:
                    plan_inputs = self.plans(j, new_peak)
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
                plan_inputs=plan_inputs,
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
        if not shared:
            return self._valued(start, cost, new_peak, battery.soc_pct)
        return self.value_of_path(start, cost, new_peak, battery, setpoint)

    def value_of_path(
        self, start: WindowStart, cost: float, peak_kw: float, battery: BatteryState, setpoint_kw: float
    ) -> float:
        """The value of a window already played (its grid cost, its highest grid power in the month
        and the state at its end), with the shared continuation after it: the same valuation as
        :meth:`value`. The walk-forward uses it for the windows its own replay ran the default arm
        (the optimiser), so those need no second LP per step."""
        window_end = min(len(self.data), start.index + self.window_steps)
        end = min(len(self.data), window_end + self.tail_steps)
        soc_end = battery.soc_pct
        if window_end < end:
            month_stop = int(self.month_stop[start.index])
            tail_cost, tail_peak, soc_end = self._tail(window_end, end, battery, setpoint_kw, month_stop)
            cost += tail_cost
            peak_kw = max(peak_kw, tail_peak)
        return self._valued(start, cost, peak_kw, soc_end)

    def _valued(self, start: WindowStart, cost: float, peak_kw: float, soc_end: float) -> float:
        capacity = self.model.capacity_kwh * start.soh_pct / 100.0
        stored = (soc_end - start.soc_pct) / 100.0 * capacity
        demand = (max(peak_kw, start.month_peak_kw) - start.month_peak_kw) * (
            self.site.grid_tariffs.demand_charge_eur_kw_month
        )
        return -cost - demand + stored * self.storage_value

    # --- the shared continuation -------------------------------------------------------------
    def _tail(
        self, t: int, e: int, battery: BatteryState, setpoint: float, month_stop: int
    ) -> tuple[float, float, float]:
        """The continuation from ``battery``/``setpoint`` at step ``t`` to ``e``: its grid cost, its
        highest grid power before ``month_stop`` and the SoC at ``e``. Continuations that reach the
        same state at the same step share what follows (:class:`_Trajectory`)."""
        hit = self._memo.get((t, _state_key(battery, setpoint)))
        trajectory, pos = hit if hit is not None else (_Trajectory(t, battery, setpoint), 0)
        cost, peak, soc, j = 0.0, -math.inf, battery.soc_pct, t
        while j < e:
            if pos >= len(trajectory.grid):
                if trajectory.link is not None:
                    trajectory, pos = trajectory.link
                else:
                    self._advance(trajectory)
                continue
            m = min(len(trajectory.grid) - pos, e - j)
            cost += sum(trajectory.cost[pos : pos + m])
            if month_stop > j:
                peak = max(peak, max(trajectory.grid[pos : pos + min(m, month_stop - j)]))
            soc = trajectory.soc[pos + m - 1]
            pos, j = pos + m, j + m
        return cost, peak, soc

    def _advance(self, trajectory: _Trajectory) -> None:
        """One more step of ``trajectory`` — or, when another one was in the same state at this
        step, a link to it (they coincide from here on)."""
        j = trajectory.start + len(trajectory.grid)
        key = (j, _state_key(trajectory.battery, trajectory.setpoint))
        hit = self._memo.get(key)
        if hit is not None and hit[0] is not trajectory:
            trajectory.link = hit
            return
        self._memo[key] = (trajectory, len(trajectory.grid))
        if j >= len(self.data):
            raise IndexError(f"continuation past the data's end (step {j})")
        battery, setpoint = trajectory.battery, trajectory.setpoint
        load, pv = float(self.data.load_kw[j]), float(self.data.pv_kw[j])
        state = PlantState(
            site_id=self.site.site_id,
            timestamp=self.starts[j],
            soc=battery.soc_pct,
            soh=battery.soh_pct,
            temp_c=None,
            p_pv=pv,
            p_load=load,
            p_grid=load - pv,
            price=float(self.data.price_eur_mwh[j]),
            setpoint=setpoint,
        )
        # decide() with a pool of one: that strategy's proposal through the safety layer
        ctx = decision_context(
            self.site, state, self.starts[j], self.dt_s, self._prices(j), self.step_h, (), self.local[j]
        )
        proposal = self.continuation.propose(ctx)
        safe = enforce(
            SafetyInput(
                command_kw=proposal.setpoint_kw,
                soc_pct=state.soc,
                p_pv_kw=pv,
                p_load_kw=load,
                dt_s=self.dt_s,
                hold_s=self.dt_s,
                previous_setpoint_kw=setpoint,
                soh_pct=state.soh,
                derate=ctx.derate,
            ),
            ctx.limits,
        )
        battery, delivered = step(self.model, battery, safe.setpoint_kw, self.dt_s)
        g = load - pv - delivered
        cap = ctx.limits.grid_export_max_kw
        if cap is not None and g < -cap:
            g = -cap
        trajectory.grid.append(g)
        trajectory.cost.append((g * self.buy[j] if g > 0 else g * self.sell[j]) * self.step_h / 1000.0)
        trajectory.soc.append(battery.soc_pct)
        trajectory.battery, trajectory.setpoint = battery, safe.setpoint_kw

    def label(
        self, start: WindowStart, features: SelectorFeatures, known: dict[str, float] | None = None
    ) -> Labelled:
        """Every strategy's value; ``known``: values already measured (e.g. the replay's own run)."""
        known = known or {}
        return Labelled(
            start,
            features,
            {name: known[name] if name in known else self.value(start, name) for name in self.pool},
        )


def with_pool(site: SiteConfig, pool: Sequence[str]) -> SiteConfig:
    """The site with its selection restricted to ``pool`` (the default strategy kept if in it)."""
    names = tuple(pool)
    default = site.ems.default_strategy if site.ems.default_strategy in names else names[0]
    return replace(site, ems=replace(site.ems, strategies=names, default_strategy=default))
