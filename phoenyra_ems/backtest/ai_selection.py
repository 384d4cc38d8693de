"""The backtest row ``ai_selection``: walk-forward AI strategy selection with regret per window.

The replay (:func:`phoenyra_ems.backtest.replay.replay`) asks :class:`WalkForward` at every step
which strategy to pin. At each decision window's start it records the state and the features known
then; once ``training_data_days`` have passed it labels every window that is complete (counterfactual
replay, :mod:`phoenyra_ems.backtest.counterfactual`) and trains, and again every
``retrain_interval_days`` — on the past only. Until trained, or when not confident, the score-based
selection decides. ``baseline="last_best"``: no model, always the strategy with the most value over
the last 7 days of labelled windows (the simplest strong baseline).

With the optimiser in the pool (``optimiser=True``, the default) it is the **default arm**: it runs
until the model is trained and whenever the model is not confident, and a window's label is another
strategy only where that one beat the optimiser by more than ``switch_margin_eur`` (money
hysteresis). The windows the replay itself ran the optimiser are valued from that run (no second
LP per step); only the windows another strategy ran replay the optimiser counterfactually.
Switching is allowed only after a validation that shows a significant gain (one-sided bootstrap
bound over the validation days above zero), and a stop-loss closes it again until the next
training once the switches since that training lost money.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from phoenyra_ems.backtest.ai_settings import WalkForwardResult, WalkForwardSettings, WindowRecord
from phoenyra_ems.backtest.ai_switching import switch_choice, training_targets, validate_switching
from phoenyra_ems.backtest.counterfactual import (
    Labelled,
    WindowReplayer,
    WindowStart,
    with_pool,
)
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts
from phoenyra_ems.backtest.replay import RunResult, replay
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import (
    AIStrategySelector,
    SelectorFeatures,
    StopLoss,
)
from phoenyra_ems.core.battery import BatteryState, step
from phoenyra_ems.core.decision import Decision
from phoenyra_ems.core.strategies import OPTIMISER
from phoenyra_ems.models import PlantState

AI_SELECTION = "ai_selection"
LAST_BEST_DAYS = 7.0
_NEVER = 2.0  # a confidence no probability reaches
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WalkForward:
    """The replay's chooser: features at each window start, walk-forward training, a pinned choice."""

    def __init__(
        self,
        site: SiteConfig,
        data: BacktestData,
        settings: WalkForwardSettings,
        plan_forecasts: BacktestForecasts | None = None,
    ) -> None:
        self.settings = settings
        step_h = data.step_h
        self.window = max(1, round(settings.window_h / step_h))
        tail = round(settings.tail_h / step_h)
        self.replayer = WindowReplayer(
            site, data, self.window, tail_steps=tail, plan_forecasts=plan_forecasts
        )
        self.default_arm = OPTIMISER if OPTIMISER in self.replayer.pool else None
        self.lag = self.window + tail  # a window can be labelled once its data lies in the past
        per_day = 24.0 / step_h
        self.first_train = round(settings.training_data_days * per_day)
        self.never_trains = self.first_train >= len(data)  # too short a period: the scores decide
        self.retrain = max(1, round(settings.retrain_interval_days * per_day))
        self.last_best_windows = max(1, round(LAST_BEST_DAYS * per_day / self.window))
        self.selector: AIStrategySelector | None = None
        if settings.kind != "last_best":
            self.selector = AIStrategySelector(
                n_estimators=settings.n_estimators,
                max_depth=settings.max_depth,
                seed=settings.seed,
                min_samples=settings.min_samples,
                min_confidence=settings.min_confidence,
                kind=settings.kind,
            )
        self.windows: list[WindowRecord] = []
        self.labels: list[Labelled] = []
        self.trained_at: int | None = None
        self.trainings = 0
        self.trained_on: list[int] = []  # windows labelled at each training (all complete by then)
        self.train_s = self.label_s = 0.0
        self.current: str | None = None
        self.optimiser_replays = 0
        # switching allowed (the validation before each training), and the gains it measured
        self.switching = settings.validation_days <= 0
        self.validations: list[tuple[int, float]] = []
        self.validations_allowed = 0
        # the stop-loss: what the model's switches since the last training realised (labelled so far)
        self.stop_losses = 0
        self.stop_loss, self._checked = StopLoss(), 0
        # The default arm's own run, per window it ran: its value (module docstring).
        self.known: dict[int, float] = {}
        self._path: tuple[WindowStart, float, float] | None = None  # window start, cost, peak so far
        self._previous: tuple[int, BatteryState] | None = None
        self.model = self.replayer.model
        self.data = data

    # --- the default arm's run, noted as it happens ---------------------------------------------
    def _note_step(self, i: int, state: PlantState, last: Decision | None) -> None:
        """Book step i−1 (its decision is ``last``) to the default arm's window in progress."""
        previous, self._previous = self._previous, (i, BatteryState(soc_pct=state.soc, soh_pct=state.soh))
        if self._path is None or previous is None or last is None or previous[0] != i - 1:
            return
        j, battery = i - 1, previous[1]
        _, delivered = step(self.model, battery, last.setpoint_kw, self.replayer.dt_s)
        g = float(self.data.load_kw[j] - self.data.pv_kw[j]) - delivered
        cap = last.limits.grid_export_max_kw
        if cap is not None and g < -cap:
            g = -cap
        r = self.replayer
        start, cost, peak = self._path
        cost += (g * r.buy[j] if g > 0 else g * r.sell[j]) * r.step_h / 1000.0
        if r.month[j] == r.month[start.index]:
            peak = max(peak, g)
        self._path = (start, cost, peak)

    def _close_path(self, state: PlantState) -> None:
        """At a window's end: the default arm's window is valued from its own run."""
        if self._path is None:
            return
        start, cost, peak = self._path
        self._path = None
        battery = BatteryState(soc_pct=state.soc, soh_pct=state.soh)
        self.known[start.index] = self.replayer.value_of_path(start, cost, peak, battery, state.setpoint)

    # --- labels and training ---------------------------------------------------------------------
    def _label_until(self, i: int) -> None:
        started = time.perf_counter()
        while len(self.labels) < len(self.windows):
            record = self.windows[len(self.labels)]
            if record.start.index + self.lag > i:
                break
            known = {}
            if self.default_arm is not None:
                value = self.known.get(record.start.index)
                if value is None:
                    self.optimiser_replays += 1
                else:
                    known[self.default_arm] = value
            self.labels.append(self.replayer.label(record.start, record.features, known))
        self.label_s += time.perf_counter() - started

    def _train(self, i: int, now: PlantState) -> None:
        self._label_until(i)
        self.trained_at = i
        if self.selector is None:
            return
        started = time.perf_counter()
        if self.default_arm is not None:
            self.stop_loss, self._checked = StopLoss(), len(self.windows)  # the stop-loss starts afresh
            self.switching = True
            if self.settings.validation_days > 0:
                self.switching, gain = self._validate()
                self.validations.append((i, gain))
                self.validations_allowed += self.switching
            if not self.switching:  # a closed gate keeps the default arm: no model until the next
                self.train_s += time.perf_counter() - started
                return
        labels, weights = training_targets(self.labels, self.default_arm, self.settings.switch_margin_eur)
        features = [x.features for x in self.labels]
        if self.selector.fit(features, labels, now.timestamp, weights if self.settings.weighted else None):
            self.trainings += 1
            self.trained_on.append(len(labels))
        self.train_s += time.perf_counter() - started

    def _validate(self) -> tuple[bool, float]:
        """Whether leaving the default arm paid significantly: a model trained without the last
        ``validation_days`` of labels, followed over them (out of sample); off without enough."""
        s = self.settings
        n = round(s.validation_days * 24.0 / s.window_h)
        older, recent = self.labels[:-n], self.labels[-n:]
        if len(older) < s.min_samples or len(recent) < n:
            return False, 0.0
        assert self.selector is not None and self.default_arm is not None
        check = AIStrategySelector(
            n_estimators=s.n_estimators,
            max_depth=s.max_depth,
            seed=s.seed,
            min_samples=s.min_samples,
            kind=self.selector.kind,
        )
        names, weights = training_targets(older, self.default_arm, s.switch_margin_eur)
        check.fit([x.features for x in older], names, _EPOCH, weights if s.weighted else None)
        gate = validate_switching(check, recent, self.default_arm, s)
        return gate.allowed, gate.gain_eur

    def _stop_loss(self, i: int) -> None:
        """Close the gate until the next training once the windows the model took from the default
        arm since the last training (as far as they are labelled by step ``i``) lost money."""
        assert self.default_arm is not None
        self._label_until(i)
        gains = []
        while self._checked < len(self.labels):
            record, labelled = self.windows[self._checked], self.labels[self._checked]
            if record.choice is not None and record.choice != self.default_arm:
                gains.append(labelled.values[record.choice] - labelled.values[self.default_arm])
            self._checked += 1
        self.stop_loss = self.stop_loss.book(gains)
        if self.stop_loss.closed:
            self.switching = False
            self.stop_losses += 1

    def _last_best(self, i: int) -> str | None:
        self._label_until(i)
        recent = self.labels[-self.last_best_windows :]
        if not recent:
            return self.default_arm
        totals = {name: sum(x.values[name] for x in recent) for name in recent[0].values}
        return max(totals.items(), key=lambda kv: kv[1])[0]

    def _model_choice(self, features: SelectorFeatures) -> tuple[str | None, float | None]:
        assert self.selector is not None
        if self.default_arm is None:
            pool, stickiness = self.replayer.pool, self.settings.stickiness
            choice = self.selector.choose(features, pool, self.current, stickiness)
            return choice.strategy, choice.confidence
        needed = self.settings.switch_confidence if self.switching else _NEVER
        return switch_choice(self.selector, features, self.replayer.pool, self.default_arm, needed)

    def __call__(self, i: int, state: PlantState, peak_kw: float, last: Decision | None) -> str | None:
        if self.default_arm is not None:
            self._note_step(i, state, last)
        if i % self.window:
            return self.current
        self._close_path(state)
        if self.never_trains:
            self.current = self.default_arm
            return self.current
        score = last.scores.get(last.strategy, 0.0) if last is not None else 0.0
        start = WindowStart(i, state.soc, state.soh, state.setpoint, peak_kw)
        features = self.replayer.features(start, score, state.temp_c)
        due = i >= self.first_train and (self.trained_at is None or i - self.trained_at >= self.retrain)
        confidence: float | None = None
        if self.selector is None:
            self.current = self._last_best(i) if i >= self.first_train else self.default_arm
        else:
            if due and self.settings.switch_confidence <= 1.0:  # above 1: the default arm only
                self._train(i, state)
            elif self.switching and self.default_arm is not None and self.settings.stop_loss:
                self._stop_loss(i)
            self.current, confidence = self._model_choice(features)
        if self.default_arm is not None and self.current == self.default_arm:
            self._path = (start, 0.0, peak_kw)
        self.windows.append(WindowRecord(start, features, self.current, confidence))
        return self.current


def run_ai_selection(
    site: SiteConfig,
    data: BacktestData,
    settings: WalkForwardSettings | None = None,
    *,
    name: str = AI_SELECTION,
    soc_start_pct: float = 50.0,
    progress: Callable[[int], None] | None = None,
    default_run: RunResult | None = None,
) -> WalkForwardResult:
    """Replay with the walk-forward AI selection over the site's pool (the optimiser as the default
    arm when ``settings.optimiser``). ``default_run``: the optimiser's own replay of ``data``, taken
    as the row when the period is too short to train (the row is then that run, not a second one)."""
    settings = settings or WalkForwardSettings()
    names = [n for n in site.ems.strategies if n != OPTIMISER]
    if settings.optimiser:
        names.append(OPTIMISER)
    site = with_pool(site, names)
    plans = None
    if settings.optimiser:
        plans = BacktestForecasts(site, data, site.ems.planning_horizon_h)
    chooser = WalkForward(site, data, settings, plans)
    if chooser.never_trains and chooser.default_arm is not None and default_run is not None:
        if progress is not None:
            progress(len(data))
        return WalkForwardResult(
            run=replace(default_run, name=name),
            windows=[],
            labels=[],
            regret_eur=np.zeros(0),
            score_regret_eur=np.zeros(0),
            default_arm=chooser.default_arm,
        )
    run = replay(
        site,
        data,
        None,
        name=name,
        soc_start_pct=soc_start_pct,
        progress=progress,
        choose=chooser,
        plan_inputs=plans,
    )
    if chooser._path is not None:  # the last window ends with the data: value it by replay
        chooser._path = None
    if chooser.first_train < len(data):  # the test period's windows, for the regret
        chooser._label_until(len(data) + chooser.lag)
    pairs = zip(chooser.windows, chooser.labels, strict=False)
    tested = [(w, x) for w, x in pairs if w.start.index >= chooser.first_train]
    replayer = chooser.replayer
    default = chooser.default_arm
    regret, score_regret, default_regret = [], [], []
    for window, labelled in tested:
        best = labelled.values[labelled.best]
        score_value = replayer.value(window.start, None)
        used = labelled.values[window.choice] if window.choice is not None else score_value
        regret.append(best - used)
        score_regret.append(best - score_value)
        if default is not None:
            default_regret.append(best - labelled.values[default])
    ai_share = float(np.mean([w.choice is not None for w, _ in tested])) if tested else 0.0
    if default is not None:
        ai_share = float(np.mean([w.confidence is not None for w, _ in tested])) if tested else 0.0
    if chooser.selector is None:
        ai_share = 1.0 if tested else 0.0
    return WalkForwardResult(
        run=run,
        windows=chooser.windows,
        labels=chooser.labels,
        regret_eur=np.array(regret),
        score_regret_eur=np.array(score_regret),
        default_arm=default,
        default_regret_eur=np.array(default_regret),
        trainings=chooser.trainings,
        trained_on=chooser.trained_on,
        train_s=chooser.train_s,
        label_s=chooser.label_s,
        ai_share=ai_share,
        importances=chooser.selector.feature_importances() if chooser.selector else {},
        optimiser_replays=chooser.optimiser_replays,
        validations=chooser.validations,
        validations_allowed=chooser.validations_allowed,
        stop_losses=chooser.stop_losses,
    )
