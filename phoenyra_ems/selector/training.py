"""Train a site's :class:`~phoenyra_ems.core.ai_selection.AIStrategySelector` from its history.

Runs in the forecast worker process (never on the event loop). The states at each window's start
come from a replay of the score-based selection over the recorded load, PV and prices (the SoC the
site recorded is not in the resampled history frame); every strategy of the pool is then replayed
over each window from that state (:mod:`phoenyra_ems.backtest.counterfactual`) and the best labels it.

With the optimiser in the site's pool it is replayed too (a plan per step from the forecasts made
then, as the backtest's walk-forward does) and it is the **default arm**: the model learns to leave
it only where another strategy beat it by more than the switch margin, and switching is allowed only
when a model trained without the last ``validation_days`` of labels gained significantly over them
(:func:`~phoenyra_ems.backtest.ai_switching.validate_switching`) — the same rules as the backtest row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.ai_settings import DEFAULT_SWITCH_CONFIDENCE, WalkForwardSettings
from phoenyra_ems.backtest.ai_switching import switch_choice, training_targets, validate_switching
from phoenyra_ems.backtest.counterfactual import (
    DEFAULT_TAIL_H,
    Labelled,
    WindowReplayer,
    WindowStart,
    with_pool,
)
from phoenyra_ems.backtest.data import BacktestData, BacktestDataError
from phoenyra_ems.backtest.replay import replay
from phoenyra_ems.config.model import SiteConfig, StrategySelectionConfig
from phoenyra_ems.core.ai_selection import (
    DEFAULT_STICKINESS,
    AIChoice,
    AIStrategySelector,
    GateResult,
    SelectorFeatures,
)
from phoenyra_ems.core.decision import Decision
from phoenyra_ems.core.strategies import OPTIMISER
from phoenyra_ems.models import PlantState

TRAIN_STEP_S = 900  # the history is read in 15-min steps
_NEVER = 2.0  # a switch confidence no probability reaches: the default arm only


@dataclass(frozen=True)
class TrainSummary:
    site_id: str
    trained_at: datetime
    samples: int
    days: float
    label_counts: dict[str, int]
    train_s: float
    trained: bool  # False: too few samples (the score-based selection keeps deciding)
    importances: dict[str, float] = field(default_factory=dict)
    default_arm: str | None = None  # the optimiser when in the pool: the model leaves it only if...
    switching: bool = False  # ... the validation gate opened at this training
    gate: GateResult | None = None  # that validation (None: too few labels for it, or no default arm)


@dataclass
class StoredSelector:
    """What the model file holds."""

    selector: AIStrategySelector
    summary: TrainSummary
    pool: tuple[str, ...]
    window_h: float

    @property
    def default_arm(self) -> str | None:
        return getattr(self.summary, "default_arm", None)  # None in models stored before it existed

    @property
    def switching(self) -> bool:
        return bool(getattr(self.summary, "switching", False))

    def choose(
        self, features: SelectorFeatures, incumbent: str | None = None, stopped: bool = False
    ) -> AIChoice:
        """The model's strategy (None: the score-based selection). With a default arm (the
        optimiser): the default arm unless the gate opened at training, the stop-loss has not
        closed it since (``stopped``), and the model names another strategy with at least the switch
        confidence."""
        default = self.default_arm
        if default is None:
            return self.selector.choose(features, self.pool, incumbent, DEFAULT_STICKINESS)
        if not self.selector.trained:
            return AIChoice(None, None, "AI selection not trained yet: score-based selection")
        needed = DEFAULT_SWITCH_CONFIDENCE if self.switching and not stopped else _NEVER
        strategy, confidence = switch_choice(self.selector, features, self.pool, default, needed)
        shown = f" ({confidence:.0%})" if confidence is not None else ""
        if strategy != default:
            return AIChoice(strategy, confidence, f"AI chose {strategy}{shown}")
        why = ""
        if not self.switching:
            why = ": leaving it did not pay significantly in validation"
        elif stopped:
            why = ": the stop-loss closed switching until the next training (its switches lost money)"
        return AIChoice(strategy, confidence, f"AI keeps the {default}{shown}{why}")


def data_from_history(frame: pd.DataFrame, site_id: str) -> BacktestData:
    """A history frame (p_load, p_pv, price on a regular grid) as replay data; gaps bridged."""
    if len(frame) < 2 or frame["price"].isna().all():
        raise BacktestDataError(f"site {site_id}: too little history with prices to label")
    frame = frame.interpolate(limit_direction="both")
    return BacktestData(
        pd.DatetimeIndex(frame.index),
        frame["p_load"].clip(lower=0).to_numpy(dtype=float),
        frame["p_pv"].clip(lower=0).to_numpy(dtype=float),
        frame["price"].to_numpy(dtype=float),
        f"site {site_id}: recorded history",
    )


class _Recorder:
    """A replay chooser that only records each window's start state and features (score selection).
    Windows start on whole multiples of the window length (UTC), as the daemon's choices do;
    ``offset``: the replayed data starts at this step of the replayer's data."""

    def __init__(self, replayer: WindowReplayer, window_starts: np.ndarray, offset: int = 0) -> None:
        self.replayer, self.window_starts, self.offset = replayer, window_starts, offset
        self.windows: list[tuple[WindowStart, SelectorFeatures]] = []

    def __call__(self, i: int, state: PlantState, peak_kw: float, last: Decision | None) -> str | None:
        i += self.offset
        if self.window_starts[i]:
            score = last.scores.get(last.strategy, 0.0) if last is not None else 0.0
            start = WindowStart(i, state.soc, state.soh, state.setpoint, peak_kw)
            self.windows.append((start, self.replayer.features(start, score, state.temp_c)))
        return None


LABELS_VERSION = 3  # bump when what a label means changes: stored labels are then relabelled


@dataclass
class LabelStore:
    """Labels kept between trainings (per site, next to its model): each complete window (window
    and continuation inside the history) is labelled once; a retrain labels only newer windows."""

    fingerprint: str
    starts: list[int] = field(default_factory=list)  # epoch s of each window's start, ascending
    labels: list[Labelled] = field(default_factory=list)


def label_fingerprint(site: SiteConfig, step_h: float, window_h: float, tail_h: float) -> str:
    """What the labels depend on: the pool and its settings, battery, tariffs, limits, window and
    continuation; another fingerprint means the stored labels are relabelled."""
    import hashlib

    pool = replace(pool_site(site), strategy=StrategySelectionConfig())
    text = repr((LABELS_VERSION, pool, round(step_h, 6), window_h, tail_h))
    return hashlib.sha256(text.encode()).hexdigest()


def _slice(data: BacktestData, start: int) -> BacktestData:
    return replace(
        data,
        index=data.index[start:],
        load_kw=data.load_kw[start:],
        pv_kw=data.pv_kw[start:],
        price_eur_mwh=data.price_eur_mwh[start:],
    )


def label_history(
    site: SiteConfig,
    data: BacktestData,
    window_h: float = 1.0,
    tail_h: float = DEFAULT_TAIL_H,
    store: LabelStore | None = None,
) -> tuple[list[Labelled], LabelStore]:
    """Every window of ``data`` labelled by counterfactual replay of the site's pool (the last
    windows' continuation is cut at the data's end), and the store of complete windows' labels.

    With a ``store`` of the same fingerprint, its windows inside ``data`` are taken as they are and
    the score-selection replay that gives the states resumes at its last window (from that window's
    recorded SoC) — only newer windows are labelled."""
    states = rule_based_site(site)
    site = pool_site(site)
    window = max(1, round(window_h / data.step_h))
    tail = round(tail_h / data.step_h)
    fingerprint = label_fingerprint(site, data.step_h, window_h, tail_h)
    if store is None or store.fingerprint != fingerprint:
        store = LabelStore(fingerprint)
    epoch = np.asarray(data.index.as_unit("s").asi8, dtype=np.int64)
    window_s = round(window_h * 3600)
    window_starts = epoch % window_s == 0
    if not window_starts.any():  # data off the hour grid: windows from its first step
        window_starts = np.arange(len(data)) % window == 0
    known = {t: x for t, x in zip(store.starts, store.labels, strict=True) if epoch[0] <= t <= epoch[-1]}
    replayer = WindowReplayer(site, data, window, tail_steps=tail)
    resume, soc_start = 0, 50.0
    if known:
        last = max(known)
        resume = int(np.searchsorted(epoch, last))
        soc_start = known[last].start.soc_pct
    recorder = _Recorder(replayer, window_starts, resume)
    replay(states, _slice(data, resume), None, choose=recorder, soc_start_pct=soc_start)
    kept = dict(known)
    labels = [x for t, x in sorted(known.items())]
    for start, features in recorder.windows:
        t = int(epoch[start.index])
        if t in known or start.index + window > len(data):
            continue
        labelled = replayer.label(start, features)
        labels.append(labelled)
        if start.index + window + tail <= len(data):  # complete: its label will not change
            kept[t] = labelled
    ordered = sorted(kept)
    return labels, LabelStore(fingerprint, ordered, [kept[t] for t in ordered])


def pool_site(site: SiteConfig) -> SiteConfig:
    """The site with the strategies the AI chooses among: its pool, the optimiser included."""
    return with_pool(site, list(site.ems.strategies) or ["self_consumption"])


def rule_based_site(site: SiteConfig) -> SiteConfig:
    """The site with its rule-based strategies only: the score-selection replay that gives the
    windows' start states (the optimiser's plans need forecasts; it is replayed per window only)."""
    names = [n for n in site.ems.strategies if n != OPTIMISER] or ["self_consumption"]
    return with_pool(site, names)


def walk_forward_settings(site: SiteConfig) -> WalkForwardSettings:
    """The backtest row's settings for the site (switch margin, confidence, validation gate)."""
    return WalkForwardSettings.from_site(site)


def train_site_selector(
    site: SiteConfig,
    data: BacktestData,
    now: datetime,
    *,
    n_estimators: int = 100,
    labels_path: Path | None = None,
) -> StoredSelector:
    """Label the history and fit the site's selector (its ``strategy.ai_selection`` settings).
    ``labels_path``: the site's label store — read, extended by the new windows, written back."""
    from phoenyra_ems.selector.store import load_labels, save_labels

    config = site.strategy.ai_selection
    started = time.perf_counter()
    store = load_labels(labels_path) if labels_path is not None else None
    labels, store = label_history(site, data, config.window_h, config.label_tail_h, store)
    if labels_path is not None:
        save_labels(labels_path, store)
    pool = pool_site(site).ems.strategies
    default = OPTIMISER if OPTIMISER in pool else None

    def fresh() -> AIStrategySelector:
        return AIStrategySelector(
            n_estimators=n_estimators, min_samples=config.min_samples, min_confidence=config.min_confidence
        )

    selector = fresh()
    rows = [x.features for x in labels]
    gate: GateResult | None = None
    if default is None:
        # regret-weighted: the windows where the choice matters count
        names, weights = [x.best for x in labels], [x.spread for x in labels]
    else:
        settings = walk_forward_settings(site)
        names, weights = training_targets(labels, default, settings.switch_margin_eur)
        gate = _validate(fresh(), labels, default, settings, now)
    trained = selector.fit(rows, names, now, weights)
    best, counts = np.unique([x.best for x in labels], return_counts=True)
    summary = TrainSummary(
        site_id=site.site_id,
        trained_at=now,
        samples=len(labels),
        days=len(data) * data.step_h / 24.0,
        label_counts={str(k): int(v) for k, v in zip(best, counts, strict=True)},
        train_s=time.perf_counter() - started,
        trained=trained,
        importances=selector.feature_importances(),
        default_arm=default,
        switching=bool(gate is not None and gate.allowed),
        gate=gate,
    )
    return StoredSelector(selector, summary, pool, config.window_h)


def _validate(
    check: AIStrategySelector,
    labels: list[Labelled],
    default: str,
    settings: WalkForwardSettings,
    now: datetime,
) -> GateResult | None:
    """The validation gate: ``check`` trained without the last ``validation_days`` of labels and
    followed over them; None (switching stays off) when there are too few labels for it."""
    n = round(settings.validation_days * 24.0 / settings.window_h)
    older, recent = labels[:-n], labels[-n:]
    if n <= 0 or len(older) < settings.min_samples or len(recent) < n:
        return None
    names, weights = training_targets(older, default, settings.switch_margin_eur)
    if not check.fit([x.features for x in older], names, now, weights):
        return None
    return validate_switching(check, recent, default, settings)
