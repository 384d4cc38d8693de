"""Day-ahead prices beyond publication: the same time of day over the last known days, recent days first.

The day-ahead market publishes the next day's prices around 13:00; a 48-h plan reaches up to a day
beyond them. Before this forecaster the plans repeated the last known day there. The profile is a
weighted mean of the same time of day over the last ``days`` known days, day ``d`` back weighted
``decay ** (d - 1)``: ``decay = 0`` is the last known day repeated, ``decay = 1`` the flat mean. The
defaults were chosen by money on the household's first half of 2024 (docs/optimiser.md, "Price
forecast"). numpy only; :class:`PriceProfile` wraps it for the forecast service's frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from phoenyra_ems.forecast.base import TARGET, require_history, step_of, steps_per_day

PRICE_DAYS = 7
PRICE_DECAY = 1.0  # chosen by money on 2024 H1 (docs/optimiser.md): the flat 7-day mean


def price_profile(
    known: NDArray[np.float64], per_day: int, steps: int, days: int = PRICE_DAYS, decay: float = PRICE_DECAY
) -> NDArray[np.float64]:
    """``steps`` prices after the last of ``known`` (NaN are gaps, skipped).

    Step ``k`` after the end takes the weighted mean of the steps ``per_day``, ``2 per_day``, …
    before it that are known (at most ``days`` days back). Without any: the mean of ``known``, else 0.
    """
    values = np.asarray(known, dtype=np.float64)
    if steps <= 0:
        return np.zeros(0)
    if per_day <= 0 or not np.isfinite(values).any():
        return np.zeros(steps)
    j = np.arange(steps) % per_day
    back = np.arange(1, max(days, 1) + 1)
    idx = values.size + j[:, None] - back[None, :] * per_day  # steps x days
    picked = np.where(idx >= 0, values[np.clip(idx, 0, values.size - 1)], np.nan)
    weights = np.broadcast_to(float(decay) ** (back - 1.0), picked.shape)
    finite = np.isfinite(picked)
    total = np.where(finite, weights, 0.0).sum(axis=1)
    sums = np.where(finite, picked * weights, 0.0).sum(axis=1)
    out = np.where(total > 0, sums / np.where(total > 0, total, 1.0), float(np.nanmean(values)))
    return np.asarray(out, dtype=np.float64)


class PriceProfile:
    """The forecaster interface around :func:`price_profile` (history: the prices known so far)."""

    min_history_days = 1.0

    def __init__(self, days: int = PRICE_DAYS, decay: float = PRICE_DECAY) -> None:
        if days < 1 or not 0.0 <= decay <= 1.0:
            raise ValueError("days must be >= 1 and decay in [0, 1]")
        self.days, self.decay = days, decay
        self.name = f"price_profile_{days}d"

    def fit(self, history: pd.DataFrame) -> None:
        require_history(history, self.min_history_days, self.name)

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        per_day = steps_per_day(step_of(pd.DatetimeIndex(history.index)))
        values = history[TARGET].to_numpy(dtype=float)
        return price_profile(values, per_day, steps, self.days, self.decay)
