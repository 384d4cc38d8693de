"""AI strategy selection (the plan's phase 3.1): a classifier learns which strategy pays in which context.

:class:`AIStrategySelector` wraps a scikit-learn ``RandomForestClassifier`` (the plan's 100 trees,
depth 10, fixed seed) over :class:`SelectorFeatures` — only what is known at the decision time:
the plant state, the published prices, forecasts made then, the calendar and the score of the
strategy in control. Labels come from counterfactual replays (``phoenyra_ems.backtest.counterfactual``).

Until it is trained — too few samples, no model, or a prediction below ``min_confidence`` — it
answers ``None`` and the score-based selection (:mod:`phoenyra_ems.core.selection`) decides: the
plan's fallback. Pure: no I/O (persistence lives in :mod:`phoenyra_ems.selector.store`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

import numpy as np

LOG = logging.getLogger(__name__)

MODEL_KINDS = ("random_forest", "gradient_boosting")
ModelKind = Literal["random_forest", "gradient_boosting"]
DEFAULT_TEMP_C = 25.0  # a missing battery temperature (not every device reports one)
FORECAST_HOURS = 6.0  # PV and load forecasts are averaged over this far ahead
# The incumbent keeps control while its probability is this close to the best's. Chosen on 2024 H1
# of the household (bench/ai_selection.py --holdout 2024-07-01): 0 beat 0.15 / 0.3 / 0.5 there
# and stickiness did not reduce switches (docs/ai-selection.md).
DEFAULT_STICKINESS = 0.0


@dataclass(frozen=True, slots=True)
class SelectorFeatures:
    """The plan's features, all known at the decision time."""

    soc_pct: float
    soh_pct: float
    temp_c: float
    price_trend: float  # -1 (falling) … +1 (rising) over the known prices
    price_volatility: float  # standard deviation of the known prices, EUR/MWh
    pv_forecast_kw: float  # mean over the next 6 h, from forecasts made before now
    load_forecast_kw: float
    hour: int  # local
    weekday: int  # local, Monday 0
    score: float  # EUR/h of the strategy in control (0 when none)

    def vector(self) -> list[float]:
        # the fields in order, read directly: dataclasses.astuple copies recursively (12 µs CPU per
        # row against 0.3 µs here; a year's weekly retrain builds 17,520 rows for its two fits)
        return [
            float(self.soc_pct),
            float(self.soh_pct),
            float(self.temp_c),
            float(self.price_trend),
            float(self.price_volatility),
            float(self.pv_forecast_kw),
            float(self.load_forecast_kw),
            float(self.hour),
            float(self.weekday),
            float(self.score),
        ]


FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SelectorFeatures))


def price_trend_and_volatility(prices: Sequence[float]) -> tuple[float, float]:
    """Trend (-1…+1: the later half's mean against the earlier half's, over the price range) and
    the standard deviation of the known prices; (0, 0) with fewer than two."""
    if len(prices) < 2:
        return 0.0, 0.0
    values = np.asarray(prices, dtype=float)
    half = len(values) // 2
    spread = float(values.max() - values.min())
    trend = (float(values[half:].mean()) - float(values[:half].mean())) / spread if spread > 1e-9 else 0.0
    return max(-1.0, min(1.0, trend)), float(values.std())


def build_features(
    *,
    soc_pct: float,
    soh_pct: float,
    temp_c: float | None,
    prices: Sequence[float],
    pv_forecast_kw: float,
    load_forecast_kw: float,
    local_now: datetime,
    score: float,
) -> SelectorFeatures:
    trend, volatility = price_trend_and_volatility(prices)
    temp = DEFAULT_TEMP_C if temp_c is None or math.isnan(temp_c) else temp_c
    return SelectorFeatures(
        soc_pct=soc_pct,
        soh_pct=soh_pct,
        temp_c=temp,
        price_trend=trend,
        price_volatility=volatility,
        pv_forecast_kw=pv_forecast_kw,
        load_forecast_kw=load_forecast_kw,
        hour=local_now.hour,
        weekday=local_now.weekday(),
        score=score,
    )


@dataclass(frozen=True, slots=True)
class AIChoice:
    """Who chooses now: ``strategy`` set — the model (with its confidence); None — the score selection."""

    strategy: str | None
    confidence: float | None
    reason: str

    @property
    def source(self) -> str:
        return "ai" if self.strategy is not None else "score"


def make_model(kind: ModelKind, n_estimators: int, max_depth: int, seed: int) -> Any:
    """The classifier: the plan's random forest, or gradient boosting for the comparison."""
    if kind == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=n_estimators, max_depth=max_depth, random_state=seed)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=1)


class FlatForest:
    """A fitted random forest's trees as padded arrays, walked for all trees at once (one numpy step
    per depth level): one prediction in a fraction of a millisecond (scikit-learn's
    ``predict_proba`` validates its input per call, several ms for one row)."""

    def __init__(self, model: Any) -> None:
        self.classes = tuple(str(c) for c in model.classes_)
        trees = [estimator.tree_ for estimator in model.estimators_]
        n, width = len(trees), max(tree.node_count for tree in trees)
        self.left = np.full((n, width), -1, dtype=np.intp)
        self.right = np.full((n, width), -1, dtype=np.intp)
        self.feature = np.zeros((n, width), dtype=np.intp)
        self.threshold = np.zeros((n, width))
        self.proba = np.zeros((n, width, len(self.classes)))
        self.depth = max(int(tree.max_depth) for tree in trees)
        for k, tree in enumerate(trees):
            count = tree.node_count
            values = tree.value[:, 0, :]
            totals = values.sum(axis=1, keepdims=True)
            self.left[k, :count] = tree.children_left
            self.right[k, :count] = tree.children_right
            self.feature[k, :count] = np.maximum(tree.feature, 0)  # leaves: -2, never read
            self.threshold[k, :count] = tree.threshold
            self.proba[k, :count] = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
        self.rows = np.arange(n)

    def predict_proba(self, row: Sequence[float]) -> np.ndarray:
        x = np.asarray(row, dtype=float)
        rows, node = self.rows, np.zeros(len(self.rows), dtype=np.intp)
        for _ in range(self.depth):
            left = self.left[rows, node]
            goes_left = x[self.feature[rows, node]] <= self.threshold[rows, node]
            node = np.where(left == -1, node, np.where(goes_left, left, self.right[rows, node]))
        result: np.ndarray = self.proba[rows, node].mean(axis=0)
        return result


class AIStrategySelector:
    """The plan's selector: fit on (features, best strategy) pairs, then choose with a confidence."""

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_depth: int = 10,
        seed: int = 42,
        min_samples: int = 100,
        min_confidence: float = 0.5,
        kind: ModelKind = "random_forest",
    ) -> None:
        if kind not in MODEL_KINDS:
            raise ValueError(f"model kind {kind!r}: expected one of {', '.join(MODEL_KINDS)}")
        self.n_estimators, self.max_depth, self.seed = n_estimators, max_depth, seed
        self.min_samples, self.min_confidence, self.kind = min_samples, min_confidence, kind
        self.model: Any = None
        self.samples = 0
        self.trained_at: datetime | None = None
        self.classes: tuple[str, ...] = ()
        self.flat: FlatForest | None = None

    @property
    def trained(self) -> bool:
        return self.model is not None or len(self.classes) == 1

    def fit(
        self,
        features: Sequence[SelectorFeatures],
        labels: Sequence[str],
        now: datetime,
        weights: Sequence[float] | None = None,
    ) -> bool:
        """Train on the past; False (and the previous model kept) with fewer than ``min_samples``.
        ``weights``: per sample, e.g. what a wrong choice would have cost (regret-weighted training)."""
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        if len(labels) < self.min_samples:
            LOG.info(
                "AI strategy selection: %d samples, %d needed; the score-based selection decides",
                len(labels),
                self.min_samples,
            )
            return False
        classes = tuple(sorted(set(labels)))
        self.samples, self.trained_at, self.classes = len(labels), now, classes
        if len(classes) == 1:  # one strategy always won: nothing to learn, no classifier to fit
            self.model, self.flat = None, None
            return True
        model = make_model(self.kind, self.n_estimators, self.max_depth, self.seed)
        sample_weight = None if weights is None else np.maximum(np.asarray(weights, dtype=float), 1e-6)
        model.fit(np.array([f.vector() for f in features]), np.array(labels), sample_weight=sample_weight)
        self.model = model
        self.flat = FlatForest(model) if self.kind == "random_forest" else None
        return True

    def probabilities(self, features: SelectorFeatures) -> dict[str, float]:
        if len(self.classes) == 1:
            return {self.classes[0]: 1.0}
        if self.model is None:
            return {}
        if self.flat is not None:
            fast = self.flat.predict_proba(features.vector())
            return {c: float(p) for c, p in zip(self.flat.classes, fast, strict=True)}
        proba = self.model.predict_proba(np.array([features.vector()]))[0]
        return {str(c): float(p) for c, p in zip(self.model.classes_, proba, strict=True)}

    def choose(
        self,
        features: SelectorFeatures,
        pool: Sequence[str] | None = None,
        incumbent: str | None = None,
        stickiness: float = 0.0,
    ) -> AIChoice:
        """The model's strategy, or None (score selection) when untrained or not confident.
        ``incumbent`` keeps control while its probability is within ``stickiness`` of the best's."""
        if not self.trained:
            return AIChoice(None, None, "AI selection not trained yet: score-based selection")
        proba = self.probabilities(features)
        if pool is not None:
            proba = {k: v for k, v in proba.items() if k in pool}
        if not proba:
            return AIChoice(None, None, "AI selection knows none of the strategies in the pool")
        best, confidence = max(proba.items(), key=lambda kv: kv[1])
        if (
            incumbent is not None
            and incumbent != best
            and proba.get(incumbent, 0.0) >= confidence - stickiness
        ):
            best, confidence = incumbent, proba[incumbent]
        if confidence < self.min_confidence:
            return AIChoice(
                None, confidence, f"AI not confident ({best} {confidence:.0%}): score-based selection"
            )
        return AIChoice(best, confidence, f"AI chose {best} ({confidence:.0%})")

    def feature_importances(self) -> dict[str, float]:
        importances = getattr(self.model, "feature_importances_", None)
        if importances is None:
            return {}
        return {name: float(v) for name, v in zip(FEATURE_NAMES, importances, strict=True)}


ARM_AI, ARM_SCORE = "ai", "score"


def ab_arm(local_day: date) -> str:
    """The A/B arm of a local calendar day (``split: alternate_days``): even ordinals AI, odd score.
    Deterministic: a restart, another process or the report agree on every day's arm."""
    return ARM_AI if local_day.toordinal() % 2 == 0 else ARM_SCORE


def bootstrap_difference(
    ai_days: Sequence[float], score_days: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean(AI) − mean(score) of per-day values and its 95 % bootstrap interval (resampling days)."""
    a, b = np.asarray(ai_days, dtype=float), np.asarray(score_days, dtype=float)
    if not len(a) or not len(b):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    diffs = rng.choice(a, (resamples, len(a))).mean(axis=1) - rng.choice(b, (resamples, len(b))).mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(a.mean() - b.mean()), float(low), float(high)


# Leaving a default arm (the optimiser) needs a gain that is significant on the days it was measured
# on: the lower end of a one-sided bootstrap interval (resampling days) above zero.
DEFAULT_GATE_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class GateResult:
    """The validation of switching away from the default arm over the last days of labels."""

    allowed: bool
    gain_eur: float  # what following the model gained against the default arm, in total
    lower_eur: float  # the lower bound of that total (one-sided bootstrap over days)
    days: int


def switching_gate(
    gains_eur: Sequence[float],
    windows_per_day: int,
    *,
    level: float = DEFAULT_GATE_LEVEL,
    min_gain_eur: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
) -> GateResult:
    """Whether leaving the default arm paid on the validation windows (``gains_eur``: per window,
    the chosen strategy's value minus the default arm's, in time order). Allowed only when the total
    exceeds ``min_gain_eur`` and — with ``level`` > 0 — the ``1 − level`` quantile of the total over
    days resampled with replacement is above zero as well: a gain that a few lucky days explain
    does not open the gate. ``level`` 0: the total alone decides (the former gate)."""
    gains = np.asarray(gains_eur, dtype=float)
    total = float(gains.sum())
    if not len(gains):
        return GateResult(False, 0.0, 0.0, 0)
    per_day = max(1, int(windows_per_day))
    days = np.add.reduceat(gains, np.arange(0, len(gains), per_day))
    if level <= 0:
        return GateResult(total > min_gain_eur, total, total, len(days))
    rng = np.random.default_rng(seed)
    totals = rng.choice(days, (resamples, len(days))).sum(axis=1)
    lower = float(np.quantile(totals, 1.0 - level))
    return GateResult(total > min_gain_eur and lower > 0.0, total, lower, len(days))


@dataclass(frozen=True, slots=True)
class StopLoss:
    """The stop-loss on leaving the default arm, between two trainings: what the windows the model
    took from the default arm realised against it (each valued once its data lies in the past, by
    counterfactual replay from the window's start state), and whether that closed switching.

    A fresh one at each training. Once the total realised is below zero the gate stays closed until
    the next training (a later gain does not reopen it). Used by the walk-forward backtest and the
    daemon alike (docs/ai-selection.md)."""

    realised_eur: float = 0.0  # the switched windows' values minus the default arm's, in total
    windows: int = 0  # switched windows valued so far
    closed: bool = False

    def book(self, gains_eur: Sequence[float]) -> StopLoss:
        """With the gains (chosen strategy's value − the default arm's, EUR) of newly valued
        switched windows; closed as soon as their running total is below zero."""
        if not len(gains_eur):
            return self
        total = self.realised_eur + float(sum(gains_eur))
        return StopLoss(total, self.windows + len(gains_eur), self.closed or total < 0.0)
