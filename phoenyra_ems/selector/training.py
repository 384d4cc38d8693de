"""Train a site's :class:`~phoenyra_ems.core.ai_selection.AIStrategySelector` from its history.

Runs in the forecast worker process (never on the event loop). The states at each window's start
come from a replay of the score-based selection over the recorded load, PV and prices (the SoC the
site recorded is not in the resampled history frame); every strategy of the pool is then replayed
over each window from that state (:mod:`phoenyra_ems.backtest.counterfactual`) and the best labels it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.counterfactual import (
    DEFAULT_TAIL_H,
    Labelled,
    WindowReplayer,
    WindowStart,
    with_pool,
)
from phoenyra_ems.backtest.data import BacktestData, BacktestDataError
from phoenyra_ems.backtest.replay import replay
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import AIStrategySelector, SelectorFeatures
from phoenyra_ems.core.decision import Decision
from phoenyra_ems.core.strategies import OPTIMISER
from phoenyra_ems.models import PlantState

TRAIN_STEP_S = 900  # the history is read in 15-min steps


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


@dataclass
class StoredSelector:
    """What the model file holds."""

    selector: AIStrategySelector
    summary: TrainSummary
    pool: tuple[str, ...]
    window_h: float


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
    """A replay chooser that only records each window's start state and features (score selection)."""

    def __init__(self, replayer: WindowReplayer) -> None:
        self.replayer = replayer
        self.windows: list[tuple[WindowStart, SelectorFeatures]] = []

    def __call__(self, i: int, state: PlantState, peak_kw: float, last: Decision | None) -> str | None:
        if i % self.replayer.window_steps == 0:
            score = last.scores.get(last.strategy, 0.0) if last is not None else 0.0
            start = WindowStart(i, state.soc, state.soh, state.setpoint, peak_kw)
            self.windows.append((start, self.replayer.features(start, score, state.temp_c)))
        return None


def label_history(
    site: SiteConfig, data: BacktestData, window_h: float = 1.0, tail_h: float = DEFAULT_TAIL_H
) -> list[Labelled]:
    """Every window of ``data`` labelled by counterfactual replay of the site's pool (the last
    windows' continuation is cut at the data's end)."""
    site = pool_site(site)
    window = max(1, round(window_h / data.step_h))
    replayer = WindowReplayer(site, data, window, tail_steps=round(tail_h / data.step_h))
    recorder = _Recorder(replayer)
    replay(site, data, None, choose=recorder)
    return [replayer.label(s, f) for s, f in recorder.windows if s.index + window <= len(data)]


def pool_site(site: SiteConfig) -> SiteConfig:
    """The site with the strategies the AI chooses among (the optimiser is not labelled yet)."""
    names = [n for n in site.ems.strategies if n != OPTIMISER] or ["self_consumption"]
    return with_pool(site, names)


def train_site_selector(
    site: SiteConfig, data: BacktestData, now: datetime, *, n_estimators: int = 100
) -> StoredSelector:
    """Label the history and fit the site's selector (its ``strategy.ai_selection`` settings)."""
    config = site.strategy.ai_selection
    started = time.perf_counter()
    labels = label_history(site, data, config.window_h, config.label_tail_h)
    selector = AIStrategySelector(
        n_estimators=n_estimators, min_samples=config.min_samples, min_confidence=config.min_confidence
    )
    weights = [x.spread for x in labels]  # regret-weighted: the windows where the choice matters count
    trained = selector.fit([x.features for x in labels], [x.best for x in labels], now, weights)
    names, counts = np.unique([x.best for x in labels], return_counts=True)
    summary = TrainSummary(
        site_id=site.site_id,
        trained_at=now,
        samples=len(labels),
        days=len(data) * data.step_h / 24.0,
        label_counts={str(k): int(v) for k, v in zip(names, counts, strict=True)},
        train_s=time.perf_counter() - started,
        trained=trained,
        importances=selector.feature_importances(),
    )
    return StoredSelector(selector, summary, pool_site(site).ems.strategies, config.window_h)
