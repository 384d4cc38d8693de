"""The baselines every model must beat: same time yesterday, and same time last week."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import TARGET, require_history, step_of, steps_per_day


def _repeat_last_period(history: pd.DataFrame, steps: int, period_days: int) -> np.ndarray:
    """Value of each future step ``k`` periods earlier, with the smallest ``k`` that is observed."""
    values = history[TARGET].to_numpy(dtype=float)
    period = steps_per_day(step_of(pd.DatetimeIndex(history.index))) * period_days
    if len(values) < period:
        raise ValueError(f"need {period_days} day(s) of history")
    j = np.arange(steps)
    source = len(values) + j - (j // period + 1) * period
    result: np.ndarray = values[source]
    # A gap in the source slot: the same slot further back (up to 7 periods), then the mean.
    older = source.copy()
    for _ in range(7):
        missing = np.isnan(result)
        if not missing.any():
            break
        older -= period
        ok = missing & (older >= 0)
        result[ok] = values[older[ok]]
    still = np.isnan(result)
    if still.any():
        result[still] = np.nanmean(values[-period:]) if np.isfinite(values[-period:]).any() else 0.0
    return result


class Persistence:
    """Same time yesterday (for horizons past a day: the last observed day, repeated)."""

    name = "persistence"
    min_history_days = 1.0

    def fit(self, history: pd.DataFrame) -> None:
        require_history(history, self.min_history_days, self.name)

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return _repeat_last_period(history, steps, 1)


class SameWeekdayLastWeek:
    """Same time on the same weekday last week."""

    name = "week_ago"
    min_history_days = 7.0

    def fit(self, history: pd.DataFrame) -> None:
        require_history(history, self.min_history_days, self.name)

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return _repeat_last_period(history, steps, 7)


class RecentProfile:
    """Mean of the same time of day over the last ``days`` observed days (a smoothed persistence)."""

    min_history_days = 3.0

    def __init__(self, days: int = 7) -> None:
        self.days = days
        self.name = f"profile_{days}d"

    def fit(self, history: pd.DataFrame) -> None:
        require_history(history, self.min_history_days, self.name)

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        per_day = steps_per_day(step_of(pd.DatetimeIndex(history.index)))
        values = history[TARGET].to_numpy(dtype=float)
        days = min(self.days, len(values) // per_day)
        if days < 1:
            raise ValueError("need a day of history")
        recent = values[len(values) - days * per_day :].reshape(days, per_day)
        with np.errstate(all="ignore"):
            profile = np.nanmean(recent, axis=0)
        profile = np.where(
            np.isfinite(profile), profile, np.nanmean(values) if np.isfinite(values).any() else 0.0
        )
        # The profile starts at the first instant of the last ``days`` days: same phase as the origin.
        return np.resize(profile, steps)


class GivenForecast:
    """A forecast the user already has (an inverter's or a service's), read from the exog column."""

    min_history_days = 0.0

    def __init__(self, column: str, name: str = "given") -> None:
        self.column = column
        self.name = name

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        if exog is None or self.column not in exog:
            raise ValueError(f"{self.name}: no {self.column} for the horizon")
        return np.asarray(exog[self.column].to_numpy(dtype=float)[:steps], dtype=float)
