"""The backtest row ``ai_selection``: walk-forward AI strategy selection with regret per window.

The replay (:func:`phoenyra_ems.backtest.replay.replay`) asks :class:`WalkForward` at every step
which strategy to pin. At each decision window's start it records the state and the features known
then; once ``training_data_days`` have passed it labels every window that is complete (counterfactual
replay, :mod:`phoenyra_ems.backtest.counterfactual`) and trains, and again every
``retrain_interval_days`` — on the past only. Until trained, or when not confident, the score-based
selection decides. ``baseline="last_best"``: no model, always the strategy with the most value over
the last 7 days of labelled windows (the simplest strong baseline).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from phoenyra_ems.backtest.counterfactual import (
    DEFAULT_TAIL_H,
    Labelled,
    WindowReplayer,
    WindowStart,
    with_pool,
)
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.replay import RunResult, replay
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import DEFAULT_STICKINESS, AIStrategySelector, SelectorFeatures
from phoenyra_ems.core.decision import Decision
from phoenyra_ems.core.strategies import OPTIMISER
from phoenyra_ems.models import PlantState

AI_SELECTION = "ai_selection"
LAST_BEST_DAYS = 7.0


@dataclass(frozen=True)
class WalkForwardSettings:
    """The row's settings; :meth:`from_site` takes them from ``strategy.ai_selection``."""

    training_data_days: float = 30.0
    retrain_interval_days: float = 7.0
    min_samples: int = 100
    window_h: float = 1.0  # one decision per window (the selection's dwell time or longer)
    tail_h: float = DEFAULT_TAIL_H  # counterfactual continuation after the window (self-consumption)
    min_confidence: float = 0.5
    kind: Literal["random_forest", "gradient_boosting", "last_best"] = "random_forest"
    n_estimators: int = 100
    max_depth: int = 10
    seed: int = 42
    weighted: bool = True  # weight each window by its spread (best − worst value): what a choice matters
    stickiness: float = DEFAULT_STICKINESS  # keep the incumbent while its probability is this close

    @classmethod
    def from_site(cls, site: SiteConfig, **overrides: Any) -> WalkForwardSettings:
        config = site.strategy.ai_selection
        values: dict[str, Any] = {
            "training_data_days": float(config.training_data_days),
            "retrain_interval_days": float(config.retrain_interval_days),
            "min_samples": config.min_samples,
            "window_h": config.window_h,
            "tail_h": config.label_tail_h,
            "min_confidence": config.min_confidence,
        }
        return cls(**{**values, **overrides})


@dataclass
class WindowRecord:
    start: WindowStart
    features: SelectorFeatures
    choice: str | None  # pinned strategy, None: score-based selection
    confidence: float | None


@dataclass
class WalkForwardResult:
    run: RunResult
    windows: list[WindowRecord]
    labels: list[Labelled]
    regret_eur: np.ndarray  # per window of the test period (after the first training)
    score_regret_eur: np.ndarray  # the score-based selection's regret over the same windows
    trainings: int
    trained_on: list[int]
    train_s: float
    label_s: float
    ai_share: float  # windows decided by the model, of the test period
    importances: dict[str, float] = field(default_factory=dict)

    def regret_line(self) -> str:
        n = len(self.regret_eur)
        if not n:
            return f"{self.run.name}: never trained (too little history)"
        return (
            f"{self.run.name}: regret against the hindsight-best strategy per window: mean "
            f"{self.regret_eur.mean():.4f} EUR, p95 {np.percentile(self.regret_eur, 95):.4f}, total "
            f"{self.regret_eur.sum():.2f} EUR over {n} windows (score selection: total "
            f"{self.score_regret_eur.sum():.2f}); model decided {100 * self.ai_share:.0f} % of windows, "
            f"{self.trainings} trainings ({self.train_s:.1f} s), labelling {self.label_s:.1f} s"
        )


class WalkForward:
    """The replay's chooser: features at each window start, walk-forward training, a pinned choice."""

    def __init__(self, site: SiteConfig, data: BacktestData, settings: WalkForwardSettings) -> None:
        self.settings = settings
        step_h = data.step_h
        self.window = max(1, round(settings.window_h / step_h))
        tail = round(settings.tail_h / step_h)
        self.replayer = WindowReplayer(site, data, self.window, tail_steps=tail)
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

    def _label_until(self, i: int) -> None:
        started = time.perf_counter()
        while len(self.labels) < len(self.windows):
            record = self.windows[len(self.labels)]
            if record.start.index + self.lag > i:
                break
            self.labels.append(self.replayer.label(record.start, record.features))
        self.label_s += time.perf_counter() - started

    def _train(self, i: int, now: PlantState) -> None:
        self._label_until(i)
        self.trained_at = i
        if self.selector is None:
            return
        started = time.perf_counter()
        weights = [x.spread for x in self.labels] if self.settings.weighted else None
        labels = [x.best for x in self.labels]
        if self.selector.fit([x.features for x in self.labels], labels, now.timestamp, weights):
            self.trainings += 1
            self.trained_on.append(len(labels))
        self.train_s += time.perf_counter() - started

    def _last_best(self, i: int) -> str | None:
        self._label_until(i)
        recent = self.labels[-self.last_best_windows :]
        if not recent:
            return None
        totals = {name: sum(x.values[name] for x in recent) for name in recent[0].values}
        return max(totals.items(), key=lambda kv: kv[1])[0]

    def __call__(self, i: int, state: PlantState, peak_kw: float, last: Decision | None) -> str | None:
        if i % self.window or self.never_trains:
            return self.current
        score = last.scores.get(last.strategy, 0.0) if last is not None else 0.0
        start = WindowStart(i, state.soc, state.soh, state.setpoint, peak_kw)
        features = self.replayer.features(start, score, state.temp_c)
        due = i >= self.first_train and (self.trained_at is None or i - self.trained_at >= self.retrain)
        confidence: float | None = None
        if self.selector is None:
            self.current = self._last_best(i) if i >= self.first_train else None
        else:
            if due:
                self._train(i, state)
            choice = self.selector.choose(
                features, self.replayer.pool, self.current, self.settings.stickiness
            )
            self.current, confidence = choice.strategy, choice.confidence
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
) -> WalkForwardResult:
    """Replay with the walk-forward AI selection over the site's pool (the optimiser left out)."""
    settings = settings or WalkForwardSettings()
    site = with_pool(site, [n for n in site.ems.strategies if n != OPTIMISER])
    chooser = WalkForward(site, data, settings)
    run = replay(site, data, None, name=name, soc_start_pct=soc_start_pct, progress=progress, choose=chooser)
    if chooser.first_train < len(data):  # the test period's windows, for the regret
        chooser._label_until(len(data) + chooser.lag)
    pairs = zip(chooser.windows, chooser.labels, strict=False)
    tested = [(w, x) for w, x in pairs if w.start.index >= chooser.first_train]
    replayer = chooser.replayer
    regret, score_regret = [], []
    for window, labelled in tested:
        best = labelled.values[labelled.best]
        score_value = replayer.value(window.start, None)
        used = labelled.values[window.choice] if window.choice is not None else score_value
        regret.append(best - used)
        score_regret.append(best - score_value)
    ai_share = float(np.mean([w.choice is not None for w, _ in tested])) if tested else 0.0
    if chooser.selector is None:
        ai_share = 1.0 if tested else 0.0
    return WalkForwardResult(
        run=run,
        windows=chooser.windows,
        labels=chooser.labels,
        regret_eur=np.array(regret),
        score_regret_eur=np.array(score_regret),
        trainings=chooser.trainings,
        trained_on=chooser.trained_on,
        train_s=chooser.train_s,
        label_s=chooser.label_s,
        ai_share=ai_share,
        importances=chooser.selector.feature_importances() if chooser.selector else {},
    )
