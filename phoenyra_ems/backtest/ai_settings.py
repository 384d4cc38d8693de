"""The ``ai_selection`` backtest row's settings and results (the row: ``backtest.ai_selection``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from phoenyra_ems.backtest.counterfactual import DEFAULT_TAIL_H, Labelled, WindowStart
from phoenyra_ems.backtest.replay import RunResult
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import DEFAULT_GATE_LEVEL, DEFAULT_STICKINESS, SelectorFeatures

# Leaving the optimiser (the default arm): on 2024 H1 of the household (1 h) no margin/confidence
# made switching pay without the validation gate; with the significance gate and the stop-loss,
# margin 0 and confidence 0.7 were best (+0.58 EUR over H1, 0.29 switches/day;
# bench/ai_selection.py --optimiser --holdout 2024-07-01 --gates significant --grid-only).
DEFAULT_SWITCH_MARGIN_EUR = 0.0
DEFAULT_SWITCH_CONFIDENCE = 0.7
DEFAULT_VALIDATION_DAYS = 14.0


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
    optimiser: bool = True  # the optimiser in the pool, as the default arm (backtest.ai_selection docstring)
    switch_margin_eur: float = DEFAULT_SWITCH_MARGIN_EUR  # leave the default arm only for more than this
    switch_confidence: float = DEFAULT_SWITCH_CONFIDENCE  # ... and with at least this probability
    # ... and only while switching paid on the last days of labels for a model trained before them
    validation_days: float = DEFAULT_VALIDATION_DAYS  # 0: no such check
    # ... significantly: the gain's one-sided bootstrap bound over those days (0: the total alone)
    gate_level: float = DEFAULT_GATE_LEVEL
    min_switch_gain_eur: float = 0.0  # ... and more than this in total over the validation days
    # ... and the gate closes again until the next training as soon as the windows the model took
    # from the default arm since that training, once labelled, lost money in total
    stop_loss: bool = True

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
    default_arm: str | None = None  # the optimiser when in the pool
    default_regret_eur: np.ndarray = field(default_factory=lambda: np.zeros(0))  # always the default arm
    trainings: int = 0
    trained_on: list[int] = field(default_factory=list)
    train_s: float = 0.0
    label_s: float = 0.0
    ai_share: float = 0.0  # windows decided by the model, of the test period
    importances: dict[str, float] = field(default_factory=dict)
    optimiser_replays: int = 0  # windows whose optimiser value needed a counterfactual replay
    validations: list[tuple[int, float]] = field(default_factory=list)  # (step, EUR switching gained)
    validations_allowed: int = 0  # of which opened the gate (significant gain)
    stop_losses: int = 0  # gates closed again before the next training: the switches lost money

    def regret_line(self) -> str:
        n = len(self.regret_eur)
        if not n:
            who = f"the {self.default_arm} decided" if self.default_arm else "the score selection decided"
            return f"{self.run.name}: never trained (too little history): {who}"
        return (
            f"{self.run.name}: regret against the hindsight-best strategy per window: mean "
            f"{self.regret_eur.mean():.4f} EUR, p95 {np.percentile(self.regret_eur, 95):.4f}, total "
            f"{self.regret_eur.sum():.2f} EUR over {n} windows (score selection: total "
            f"{self.score_regret_eur.sum():.2f}{self._default_part()}); model decided "
            f"{100 * self.ai_share:.0f} % of windows, "
            f"{self.trainings} trainings ({self.train_s:.1f} s), labelling {self.label_s:.1f} s"
            + (f" ({self.optimiser_replays} optimiser replays)" if self.default_arm else "")
            + self._validation_part()
        )

    def _validation_part(self) -> str:
        if not self.validations:
            return ""
        on = self.validations_allowed
        stopped = f" (closed again by the stop-loss {self.stop_losses} times)" if self.stop_losses else ""
        return f"; switching allowed after {on} of {len(self.validations)} validations{stopped}"

    def _default_part(self) -> str:
        if self.default_arm is None or not len(self.default_regret_eur):
            return ""
        return f", {self.default_arm} alone: total {self.default_regret_eur.sum():.2f}"
