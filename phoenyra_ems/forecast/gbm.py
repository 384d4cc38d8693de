"""Gradient boosting on lags, calendar and exogenous features: one model for every horizon.

Training rows are (origin, horizon) pairs cut from the history: for a target instant ``t`` forecast
from origin ``o`` the features are only what is known at ``o`` — the value at the same time on the
last observed day and on the same weekday a week earlier, the mean of the last 24 h, the mean of the
same time of day over the last 7 observed days, the last value — plus the calendar of ``t`` and the
exogenous columns at ``t`` (temperature, generation forecasts). Built with NumPy indexing, no loop
per row; scikit-learn's HistGradientBoostingRegressor handles the gaps (NaN) itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from phoenyra_ems.forecast.base import (
    TARGET,
    ForecastError,
    future_index,
    require_history,
    step_of,
    steps_per_day,
)
from phoenyra_ems.forecast.calendar_features import calendar_features

CALENDAR_COLUMNS = ("hour", "weekday", "day_off", "doy_sin", "doy_cos")


@dataclass(frozen=True, slots=True)
class _Lagged:
    """Per-position helpers over the target array (NaN where unknown)."""

    values: np.ndarray
    mean_24h: np.ndarray  # mean of the day ending at each position (inclusive)
    tod_mean_7d: np.ndarray  # mean of the 7 values a day apart ending at each position

    @classmethod
    def of(cls, values: np.ndarray, per_day: int) -> _Lagged:
        series = pd.Series(values)
        mean_24h = series.rolling(per_day, min_periods=max(1, per_day // 2)).mean().to_numpy()
        stacked = np.vstack(
            [
                np.concatenate([np.full(k * per_day, np.nan), values[: len(values) - k * per_day]])
                for k in range(7)
            ]
        )
        with np.errstate(invalid="ignore"):
            counts = np.isfinite(stacked).sum(axis=0)
            sums = np.nansum(stacked, axis=0)
            tod = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return cls(values, mean_24h, tod)


def _take(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    out = np.full(positions.shape, np.nan)
    ok = (positions >= 0) & (positions < len(array))
    out[ok] = array[positions[ok]]
    return out


def _lag_features(
    lagged: _Lagged, origin: np.ndarray, horizon: np.ndarray, per_day: int
) -> dict[str, np.ndarray]:
    """Features for targets at ``origin + horizon`` known at ``origin`` (positions in the array)."""
    target = origin + horizon
    day_back = (horizon // per_day + 1) * per_day
    week = 7 * per_day
    week_back = (horizon // week + 1) * week
    return {
        "horizon": horizon.astype(float) / per_day,
        "same_time_last_day": _take(lagged.values, target - day_back),
        "same_time_last_week": _take(lagged.values, target - week_back),
        "tod_mean_7d": _take(lagged.tod_mean_7d, target - day_back),
        "mean_24h": _take(lagged.mean_24h, origin - 1),
        "last": _take(lagged.values, origin - 1),
    }


class GradientBoostingForecaster:
    """Load or price, any step: fits a year of 15-min data in seconds, predicts in milliseconds."""

    min_history_days = 14.0

    def __init__(
        self,
        name: str = "gbm",
        *,
        horizon_steps: int | None = None,
        exog_columns: tuple[str, ...] = (),
        timezone: str = "Europe/Vienna",
        country: str | None = "AT",
        origin_every_h: float = 6.0,
        max_rows: int = 120_000,
        loss: str = "absolute_error",
        quantile: float | None = None,
        max_iter: int = 200,
        random_state: int = 0,
        quantiles: tuple[float, ...] = (),
        band_max_iter: int = 100,
    ) -> None:
        self.name = name
        self.horizon_steps = horizon_steps
        self.exog_columns = exog_columns
        self.timezone = timezone
        self.country = country
        self.origin_every_h = origin_every_h
        self.max_rows = max_rows
        self.random_state = random_state
        self.loss = loss
        # Shallow, strongly regularised trees: household load is noisy, deep trees learn the noise.
        # Absolute error (the median) by default: household load is skewed, the mean overshoots the
        # quiet hours (issue 19: squared error had no skill in summer nights).
        self._model = self._regressor(loss, quantile, max_iter, random_state)
        # Extra quantile models of the same family (P10/P90): the forecast's error corridor.
        self.quantiles = quantiles
        # Fewer rounds than the median model: the bands are calibrated on recent residuals anyway
        # (conformal.py), and they must not double the fit time.
        self._bands = {q: self._regressor("quantile", q, band_max_iter, random_state) for q in quantiles}
        self._fitted = False

    @staticmethod
    def _regressor(
        loss: str, quantile: float | None, max_iter: int, random_state: int
    ) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            loss=loss,
            quantile=quantile,
            max_iter=max_iter,
            learning_rate=0.03 if loss == "squared_error" else 0.1,
            max_depth=4,
            min_samples_leaf=200,
            l2_regularization=1.0,
            random_state=random_state,
        )

    def _frame(
        self,
        lagged: _Lagged,
        times: pd.DatetimeIndex,
        origin: np.ndarray,
        horizon: np.ndarray,
        per_day: int,
        exog: pd.DataFrame | None,
    ) -> pd.DataFrame:
        features = _lag_features(lagged, origin, horizon, per_day)
        calendar = calendar_features(times, self.timezone, self.country)
        for column in CALENDAR_COLUMNS:
            features[column] = calendar[column].to_numpy()
        for column in self.exog_columns:
            if exog is not None and column in exog:
                features[column] = exog[column].reindex(times).to_numpy(dtype=float)
            else:
                features[column] = np.full(len(times), np.nan)
        return pd.DataFrame(features)

    def fit(self, history: pd.DataFrame) -> None:
        require_history(history, self.min_history_days, self.name)
        index = pd.DatetimeIndex(history.index)
        per_day = steps_per_day(step_of(index))
        horizon_steps = self.horizon_steps or 2 * per_day
        values = history[TARGET].to_numpy(dtype=float)
        lagged = _Lagged.of(values, per_day)
        stride = max(1, round(self.origin_every_h * per_day / 24))
        origins = np.arange(7 * per_day, len(values) - 1, stride)
        origin, horizon = (a.ravel() for a in np.meshgrid(origins, np.arange(horizon_steps), indexing="ij"))
        keep = origin + horizon < len(values)
        origin, horizon = origin[keep], horizon[keep]
        keep = np.isfinite(values[origin + horizon])
        origin, horizon = origin[keep], horizon[keep]
        if len(origin) > self.max_rows:
            chosen = np.random.default_rng(self.random_state).choice(
                len(origin), self.max_rows, replace=False
            )
            origin, horizon = origin[chosen], horizon[chosen]
        if len(origin) == 0:
            raise ForecastError(f"{self.name}: no complete training rows")
        times = index[origin + horizon]
        frame = self._frame(lagged, pd.DatetimeIndex(times), origin, horizon, per_day, history)
        with threadpool_limits(1):  # OpenMP threads spin against a busy event loop; one is plenty
            self._model.fit(frame, values[origin + horizon])
            for band in self._bands.values():
                band.fit(frame, values[origin + horizon])
        self._fitted = True

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return self._predict(history, steps, exog)[0]

    def predict_quantiles(
        self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None
    ) -> dict[float, np.ndarray]:
        """The quantile forecasts of ``quantiles`` (e.g. P10, P90), each sorted against the others."""
        _, bands = self._predict(history, steps, exog)
        return bands

    def predict_with_bands(
        self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        """The forecast and its quantile bands from one feature frame (no band models: ``{}``)."""
        return self._predict(history, steps, exog)

    def _predict(
        self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        if not self._fitted:
            raise ForecastError(f"{self.name}: not fitted")
        index = pd.DatetimeIndex(history.index)
        per_day = steps_per_day(step_of(index))
        # Only the recent past matters to the features: two weeks (+ the horizon's whole weeks).
        keep = (steps // (7 * per_day) + 2) * 7 * per_day + per_day
        recent = history.iloc[-keep:]
        values = recent[TARGET].to_numpy(dtype=float)
        lagged = _Lagged.of(values, per_day)
        horizon = np.arange(steps)
        origin = np.full(steps, len(values))
        times = future_index(history, steps)
        frame = self._frame(lagged, times, origin, horizon, per_day, exog)
        with threadpool_limits(1):
            central = np.asarray(self._model.predict(frame), dtype=float)
            bands = {q: np.asarray(m.predict(frame), dtype=float) for q, m in self._bands.items()}
        if bands:  # quantile models fitted apart can cross: sort them per step
            ordered = np.sort(np.vstack(list(bands.values())), axis=0)
            bands = dict(zip(sorted(bands), ordered, strict=True))
        return central, bands
