"""Prophet (Meta): trend, daily and weekly seasonality, public holidays, optional regressors.

Fitted on hourly means of at most the last ``window_days`` (Prophet's cost grows with rows, and a
day-ahead forecast gains nothing from finer input); predicted directly at the site's step.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import TARGET, ForecastError, future_index, require_history

for _noisy in ("cmdstanpy", "prophet", "prophet.plot"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


class ProphetForecaster:
    min_history_days = 14.0

    def __init__(
        self,
        name: str = "prophet",
        *,
        country: str | None = "AT",
        regressors: tuple[str, ...] = (),
        window_days: float = 365.0,
        yearly: bool | None = None,
        changepoint_prior_scale: float = 0.05,
    ) -> None:
        self.name = name
        self.country = country
        self.regressors = regressors
        self.window_days = window_days
        self.yearly = yearly
        self.changepoint_prior_scale = changepoint_prior_scale
        self._model: object | None = None
        self._regressor_means: dict[str, float] = {}

    def fit(self, history: pd.DataFrame) -> None:
        from prophet import Prophet  # imported late: it loads Stan, ~1 s

        require_history(history, self.min_history_days, self.name)
        recent = history[history.index > history.index[-1] - pd.Timedelta(days=self.window_days)]
        hourly = recent.resample("1h").mean()
        frame = pd.DataFrame({"ds": hourly.index.tz_localize(None), "y": hourly[TARGET].to_numpy()})
        for column in self.regressors:
            values = hourly[column] if column in hourly else pd.Series(np.nan, index=hourly.index)
            self._regressor_means[column] = float(values.mean()) if values.notna().any() else 0.0
            frame[column] = values.fillna(self._regressor_means[column]).to_numpy()
        frame = frame.dropna(subset=["y"])
        span_days = (frame["ds"].iloc[-1] - frame["ds"].iloc[0]) / pd.Timedelta(days=1)
        model = Prophet(
            daily_seasonality=True,
            weekly_seasonality=True,
            yearly_seasonality=self.yearly if self.yearly is not None else span_days >= 730,
            changepoint_prior_scale=self.changepoint_prior_scale,
            uncertainty_samples=0,
        )
        if self.country:
            model.add_country_holidays(country_name=self.country)
        for column in self.regressors:
            model.add_regressor(column)
        try:
            model.fit(frame)
        except Exception as err:  # Stan's failures come as RuntimeError and friends
            raise ForecastError(f"{self.name}: Prophet fit failed: {err}") from err
        self._model = model

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        if self._model is None:
            raise ForecastError(f"{self.name}: not fitted")
        times = future_index(history, steps)
        frame = pd.DataFrame({"ds": times.tz_localize(None)})
        for column in self.regressors:
            if exog is not None and column in exog:
                values = exog[column].reindex(times).to_numpy(dtype=float)
            else:
                values = np.full(steps, np.nan)
            frame[column] = np.where(np.isfinite(values), values, self._regressor_means[column])
        result = self._model.predict(frame)  # type: ignore[attr-defined]
        return np.asarray(result["yhat"].to_numpy(), dtype=float)
