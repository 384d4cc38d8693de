"""Prophet (Meta): trend, daily and weekly seasonality, public holidays, optional regressors.

Fitted on hourly means of at most the last ``window_days`` (Prophet's cost grows with rows, and a
day-ahead forecast gains nothing from finer input); predicted directly at the site's step. Prophet's
seasonality is in the clock time of its ``ds`` column, so it is fitted in the site's local time: a
household's evening peak follows the local clock through daylight saving time, not UTC.

Its side effects are contained here: ``prophet.plot`` logs an ERROR when plotly is missing (we never
plot with it), ``cmdstanpy`` installs a plain-text handler of its own (a fit worker whose daemon logs
JSON would print plain lines), and Prophet 1.x calls pandas with ``inplace=`` (a Pandas4Warning per
call). The public holidays are built here from ``holidays`` (no ``add_country_holidays``: its pandas
calls are among those), the rest of Prophet's warnings are silenced around its calls only.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import TARGET, ForecastError, future_index, require_history
from phoenyra_ems.forecast.calendar_features import holiday_table

logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "Importing plotly failed": we never plot
for _noisy in ("cmdstanpy", "prophet"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def _quiet_cmdstanpy() -> None:
    """cmdstanpy's own stream handler out: its records go through the daemon's (JSON) handlers."""
    from cmdstanpy.utils import get_logger  # its first call adds the handler: let it, then take it out

    logger = get_logger()
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.WARNING)


@contextmanager
def _prophet_calls() -> Iterator[None]:
    """Prophet's own pandas deprecations (``inplace=``) silenced where it makes them, nowhere else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"prophet(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet(\.|$)")
        yield


class ProphetForecaster:
    min_history_days = 14.0

    def __init__(
        self,
        name: str = "prophet",
        *,
        country: str | None = "AT",
        timezone: str = "UTC",
        regressors: tuple[str, ...] = (),
        window_days: float = 365.0,
        yearly: bool | None = None,
        changepoint_prior_scale: float = 0.05,
    ) -> None:
        self.name = name
        self.country = country
        self.timezone = timezone
        self.regressors = regressors
        self.window_days = window_days
        self.yearly = yearly
        self.changepoint_prior_scale = changepoint_prior_scale
        self._model: object | None = None
        self._regressor_means: dict[str, float] = {}

    def fit(self, history: pd.DataFrame) -> None:
        from prophet import Prophet  # imported late: it loads Stan, ~1 s

        _quiet_cmdstanpy()
        require_history(history, self.min_history_days, self.name)
        recent = history[history.index > history.index[-1] - pd.Timedelta(days=self.window_days)]
        hourly = recent.resample("1h").mean()
        frame = pd.DataFrame(
            {"ds": self._local(pd.DatetimeIndex(hourly.index)), "y": hourly[TARGET].to_numpy()}
        )
        for column in self.regressors:
            values = hourly[column] if column in hourly else pd.Series(np.nan, index=hourly.index)
            self._regressor_means[column] = float(values.mean()) if values.notna().any() else 0.0
            frame[column] = values.fillna(self._regressor_means[column]).to_numpy()
        frame = frame.dropna(subset=["y"])
        span_days = (frame["ds"].iloc[-1] - frame["ds"].iloc[0]) / pd.Timedelta(days=1)
        first, last = frame["ds"].iloc[0].year, frame["ds"].iloc[-1].year + 2  # the horizon may cross a year
        model = Prophet(
            daily_seasonality=True,
            weekly_seasonality=True,
            yearly_seasonality=self.yearly if self.yearly is not None else span_days >= 730,
            changepoint_prior_scale=self.changepoint_prior_scale,
            uncertainty_samples=0,
            holidays=holiday_table(self.country, first, last) if self.country else None,
        )
        for column in self.regressors:
            model.add_regressor(column)
        try:
            with _prophet_calls():
                model.fit(frame)
        except Exception as err:  # Stan's failures come as RuntimeError and friends
            raise ForecastError(f"{self.name}: Prophet fit failed: {err}") from err
        self._model = model

    def _local(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """Naive local clock times (Prophet's ``ds``) of UTC instants."""
        return index.tz_convert(self.timezone).tz_localize(None)

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        if self._model is None:
            raise ForecastError(f"{self.name}: not fitted")
        times = future_index(history, steps)
        frame = pd.DataFrame({"ds": self._local(times)})
        for column in self.regressors:
            if exog is not None and column in exog:
                values = exog[column].reindex(times).to_numpy(dtype=float)
            else:
                values = np.full(steps, np.nan)
            frame[column] = np.where(np.isfinite(values), values, self._regressor_means[column])
        with _prophet_calls():
            result = self._model.predict(frame)  # type: ignore[attr-defined]
        return np.asarray(result["yhat"].to_numpy(), dtype=float)
