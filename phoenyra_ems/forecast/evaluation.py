"""Rolling-origin evaluation: refit on a schedule, forecast from each origin, score per horizon."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import LOGGER, TARGET, Forecaster

BASELINE = "persistence"


@dataclass
class Evaluation:
    """Forecast errors of each model: ``errors[name]`` is (origin, horizon step), NaN where unknown."""

    horizon_steps: int
    step: pd.Timedelta
    origins: list[pd.Timestamp]
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    actual_mean_abs: float = float("nan")
    fit_s: dict[str, float] = field(default_factory=dict)  # longest fit of each model
    predict_ms: dict[str, float] = field(default_factory=dict)  # median prediction time
    # P10/P90 of the models that have a band: (lower − actual, upper − actual) per origin and step
    bands: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def mae(self, name: str) -> float:
        return float(np.nanmean(np.abs(self.errors[name])))

    def rmse(self, name: str) -> float:
        return float(np.sqrt(np.nanmean(self.errors[name] ** 2)))

    def nmae(self, name: str) -> float:
        return self.mae(name) / self.actual_mean_abs if self.actual_mean_abs else float("nan")

    def skill(self, name: str, baseline: str = BASELINE) -> float:
        """1 − MAE / MAE of the baseline: 0.2 = 20 % better than persistence."""
        return 1.0 - self.mae(name) / self.mae(baseline) if baseline in self.errors else float("nan")

    def coverage(self, name: str) -> float:
        """Share of the actual values inside the model's band (P10–P90: 0.8 nominal); NaN: no band."""
        if name not in self.bands:
            return float("nan")
        low, high = self.bands[name]
        ok = np.isfinite(low) & np.isfinite(high)
        return float(np.mean((low[ok] <= 0) & (high[ok] >= 0))) if ok.any() else float("nan")

    def mae_by_hour(self, name: str) -> np.ndarray:
        """MAE per hour of horizon (steps grouped into hours)."""
        per_hour = max(1, round(pd.Timedelta(hours=1) / self.step))
        errors = np.abs(self.errors[name])
        hours = self.horizon_steps // per_hour
        grouped = errors[:, : hours * per_hour].reshape(len(errors), hours, per_hour)
        return np.asarray(np.nanmean(grouped, axis=(0, 2)), dtype=float)

    def table(self) -> list[dict[str, float | str]]:
        return [
            {
                "model": name,
                "mae": self.mae(name),
                "rmse": self.rmse(name),
                "nmae": self.nmae(name),
                "skill": self.skill(name),
                "fit_s": self.fit_s.get(name, float("nan")),
                "predict_ms": self.predict_ms.get(name, float("nan")),
                "coverage": self.coverage(name),
            }
            for name in self.errors
        ]


def daily_origins(
    data: pd.DataFrame, days: int, horizon: pd.Timedelta, hour_utc: int = 0
) -> list[pd.Timestamp]:
    """The last ``days`` midnights (or ``hour_utc``) whose whole horizon lies inside ``data``."""
    last = data[TARGET].last_valid_index()
    step = data.index[1] - data.index[0]
    end = (last + step - horizon).normalize() + pd.Timedelta(hours=hour_utc)
    while end + horizon > last + step:
        end -= pd.Timedelta(days=1)
    return list(pd.date_range(end - pd.Timedelta(days=days - 1), end, freq="1D"))


def rolling_origin(
    factories: Mapping[str, Callable[[], Forecaster]],
    data: pd.DataFrame,
    origins: Iterable[pd.Timestamp],
    horizon_steps: int,
    *,
    refit_every_days: float = 7.0,
    exog_columns: tuple[str, ...] = (),
    train_days: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Score every model in ``factories`` from each origin (fit on data before it, refit weekly).

    ``exog`` for the forecast is the data's own ``exog_columns`` over the horizon: recorded weather or
    published generation forecasts standing in for the forecasts a live site would fetch.
    """
    origins = list(origins)
    step = pd.Timedelta(data.index[1] - data.index[0])
    evaluation = Evaluation(horizon_steps, step, origins)
    cuts = data.index.searchsorted(origins)  # the first row at or after each origin
    window = None if train_days is None else pd.Timedelta(days=train_days)
    firsts = [0 if window is None else int(data.index.searchsorted(o - window)) for o in origins]
    target = data[TARGET].to_numpy(dtype=float)
    truths = np.full((len(origins), horizon_steps), np.nan)  # NaN past the end of the data
    for row, cut in enumerate(cuts):
        known = target[cut : cut + horizon_steps]
        truths[row, : len(known)] = known
    if origins:
        evaluation.actual_mean_abs = float(np.nanmean(np.abs(truths)))
    refit = pd.Timedelta(days=refit_every_days)
    for name, factory in factories.items():
        model: Forecaster | None = None
        fitted_at: pd.Timestamp | None = None
        rows, fit_times, predict_times = [], [], []
        lows: list[np.ndarray] = []
        highs: list[np.ndarray] = []
        for number, (origin, first, cut) in enumerate(zip(origins, firsts, cuts, strict=True)):
            past = data.iloc[first:cut]
            if model is None or fitted_at is None or origin - fitted_at >= refit:
                model = factory()
                started = time.perf_counter()
                try:
                    model.fit(past)
                except Exception as err:
                    LOGGER.warning("%s failed to fit at %s: %s", name, origin, err)
                    model = None
                fit_times.append(time.perf_counter() - started)
                fitted_at = origin
            predicted = np.full(horizon_steps, np.nan)
            band = None
            if model is not None:
                exog = data.iloc[cut : cut + horizon_steps][list(exog_columns)] if exog_columns else None
                started = time.perf_counter()
                try:
                    predicted = model.predict(past, horizon_steps, exog)
                except Exception as err:
                    LOGGER.warning("%s failed to predict at %s: %s", name, origin, err)
                predict_times.append(time.perf_counter() - started)
                band = _band(model, past, horizon_steps, exog, name)
            if band is not None:
                lows.append(band[0] - truths[number])
                highs.append(band[1] - truths[number])
            elif lows:
                lows.append(np.full(horizon_steps, np.nan))
                highs.append(np.full(horizon_steps, np.nan))
            rows.append(predicted - truths[number])
            if progress is not None:
                progress(number + 1, len(origins))
        evaluation.errors[name] = np.vstack(rows)
        if lows:
            evaluation.bands[name] = (np.vstack(lows), np.vstack(highs))
        evaluation.fit_s[name] = max(fit_times) if fit_times else float("nan")
        evaluation.predict_ms[name] = (
            1000 * float(np.median(predict_times)) if predict_times else float("nan")
        )
    return evaluation


def _band(
    model: Forecaster, past: pd.DataFrame, steps: int, exog: pd.DataFrame | None, name: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The lowest and highest quantile forecast of a model that has them (gbm with bands, the ensemble)."""
    quantiles = getattr(model, "predict_quantiles", None)
    if quantiles is None:
        return None
    try:
        bands = quantiles(past, steps, exog)
    except Exception as err:
        LOGGER.warning("%s failed to predict its band: %s", name, err)
        return None
    if len(bands) < 2:
        return None
    return np.asarray(bands[min(bands)], dtype=float), np.asarray(bands[max(bands)], dtype=float)
