"""What every forecaster is: fit on history, predict the next steps after it.

History is a :class:`pandas.DataFrame` on a regular, tz-aware UTC :class:`~pandas.DatetimeIndex`
(interval starts) with the target in column ``y`` and any exogenous columns beside it (temperature,
irradiance, generation forecasts). A forecast starts one step after the last row of the history it is
given (the *origin*) and covers ``steps`` steps; values known for the future (a weather forecast,
published generation forecasts) come in ``exog``, indexed by the future instants.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np
import pandas as pd

LOGGER = logging.getLogger("phoenyra_ems.forecast")
TARGET = "y"


class ForecastError(Exception):
    """A forecaster could not fit or predict."""


class InsufficientHistory(ForecastError):
    """Too little history for this model; callers fall back to a simpler one."""


class Forecaster(Protocol):
    name: str
    min_history_days: float

    def fit(self, history: pd.DataFrame) -> None:
        """Learn from ``history`` (raises InsufficientHistory when it is too short)."""
        ...

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        """``steps`` values after the last row of ``history`` (the recent past the model may use)."""
        ...


def step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The regular step of ``index`` (ForecastError when it has none)."""
    if len(index) < 2:
        raise InsufficientHistory("history needs at least two rows")
    step = index[1] - index[0]
    if step <= pd.Timedelta(0):
        raise ForecastError("history index must be ascending")
    return pd.Timedelta(step)


def steps_per_day(step: pd.Timedelta) -> int:
    per_day = pd.Timedelta(days=1) / step
    if abs(per_day - round(per_day)) > 1e-9:
        raise ForecastError(f"step {step} does not divide a day")
    whole: int = round(per_day)
    return whole


def future_index(history: pd.DataFrame, steps: int) -> pd.DatetimeIndex:
    """The instants a forecast of ``steps`` after ``history`` covers."""
    step = step_of(pd.DatetimeIndex(history.index))
    return pd.date_range(history.index[-1] + step, periods=steps, freq=step)


def history_days(history: pd.DataFrame) -> float:
    """Days of history that hold a target value."""
    observed = history[TARGET].dropna()
    if observed.empty:
        return 0.0
    return float((observed.index[-1] - observed.index[0]) / pd.Timedelta(days=1))


def require_history(history: pd.DataFrame, days: float, name: str) -> None:
    have = history_days(history)
    if have < days:
        raise InsufficientHistory(f"{name} needs {days:g} days of history, has {have:.1f}")


def as_history(values: pd.Series, **exog: pd.Series) -> pd.DataFrame:
    """A history frame from a target series (and exogenous series on the same index)."""
    frame = pd.DataFrame({TARGET: values.astype(float)})
    for column, series in exog.items():
        frame[column] = series.reindex(frame.index).astype(float)
    return frame
