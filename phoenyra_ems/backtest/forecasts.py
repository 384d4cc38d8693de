"""The optimiser's inputs in a backtest: forecasts made at each plan time only from data before it.

``realistic``: load and PV from the built-in history baselines of the daemon
(:mod:`phoenyra_ems.core.optimiser.forecast`, what a site without a forecast service uses), the
prices as published at that time (the rest of the local day; from 13:00 the next day too), beyond
that the same hour of the last known day. ``perfect``: the actual load, PV and prices (a sanity
check of the planner and its execution against the bound).

``load_model``: the load forecaster of the daemon's forecast service (e.g. its ensemble) instead of
the history baseline: fitted on the data before the plan time, refitted every ``refit_days`` (the
service's schedule; weekly keeps a household year affordable), a forecast made at the start of each
hour from the data before it and used by that hour's plans (the first step's load stays the last
observed step: the present). Until it has the history it needs the baseline stands in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.replay import export_caps, known_ends
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.optimiser.forecast import extend_prices, profile, scale_to_today
from phoenyra_ems.core.optimiser.plan import PlanInputs
from phoenyra_ems.forecast.base import LOGGER, TARGET, Forecaster

LOAD_PROFILE_DAYS = 7
PV_PROFILE_DAYS = 3


@dataclass(frozen=True)
class ForecastSettings:
    load_days: int = LOAD_PROFILE_DAYS
    pv_days: int = PV_PROFILE_DAYS
    pv_today: bool = True  # scale the PV profile by how today compares with it so far
    nowcast: bool = True  # the first step's load: the last observed step (the present, live)
    refit_days: float = 7.0  # a load_model is refitted this often on the data before the plan
    train_days: float = 365.0  # ... on at most this much of it
    predict_every_h: float = 1.0  # a load_model forecast is made at the start of each such block


@dataclass
class ModelStats:
    """What the load model cost and how good its forecasts were (day ahead, at the hour)."""

    fits: int = 0
    fit_s: float = 0.0
    predictions: int = 0
    predict_s: float = 0.0
    abs_error_sum: float = 0.0
    error_count: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def mae_kw(self) -> float:
        return self.abs_error_sum / self.error_count if self.error_count else float("nan")


class BacktestForecasts:
    """``(i, peak_reached_kw) -> PlanInputs`` for a plan made at the start of step ``i``."""

    def __init__(
        self,
        site: SiteConfig,
        data: BacktestData,
        horizon_h: float,
        *,
        perfect: bool = False,
        settings: ForecastSettings | None = None,
        load_model: Callable[[], Forecaster] | None = None,
    ) -> None:
        self.site, self.data, self.perfect = site, data, perfect
        self.load_model = load_model
        self.stats = ModelStats()
        self._model: Forecaster | None = None
        self._fitted_i = -(10**9)
        self._cached: tuple[int, np.ndarray] | None = None
        self._frame = pd.DataFrame({TARGET: data.load_kw}, index=data.index)
        self.settings = settings or ForecastSettings()
        self.step_h = data.step_h
        self.per_day = round(24 / self.step_h)
        self.horizon = max(1, round(horizon_h / self.step_h))
        local = data.index.tz_convert(site.location.timezone)
        self.known_end = known_ends(data.index, local)
        caps = export_caps(site, data)
        tail = caps[-self.per_day :] if len(caps) >= self.per_day else caps
        self.caps = np.concatenate([caps, np.resize(tail, self.horizon)])
        labels = np.asarray(local.year * 12 + local.month, dtype=np.intp)
        self.months = np.concatenate([labels, np.full(self.horizon, labels[-1])])
        self.starts = [t.to_pydatetime() for t in data.index]
        minutes = np.asarray(local.hour * 60 + local.minute)
        self.step_of_day = np.minimum(minutes // round(self.step_h * 60), self.per_day - 1)

    def __call__(self, i: int, peak_reached_kw: float = 0.0) -> PlanInputs:
        data, n_data = self.data, len(self.data)
        if self.perfect:
            n = min(self.horizon, n_data - i)
            load, pv = data.load_kw[i : i + n], data.pv_kw[i : i + n]
            prices = data.price_eur_mwh[i : i + n]
            published, source = n, "perfect forecasts"
        else:
            n = self.horizon
            s = self.settings
            load = profile(data.load_kw[:i], self.per_day, n, s.load_days)
            if self.load_model is not None:
                modelled = self._model_load(i, n)
                if modelled is not None:
                    load = modelled
            elif i % max(1, round(s.predict_every_h / self.step_h)) == 0 and i >= 14 * self.per_day:
                day = min(self.per_day, n_data - i, n)  # the baseline's day-ahead error, for comparison
                self.stats.abs_error_sum += float(np.abs(load[:day] - data.load_kw[i : i + day]).sum())
                self.stats.error_count += day
            pv = profile(data.pv_kw[:i], self.per_day, n, s.pv_days)
            if s.pv_today and i > 0:
                into_day = int(self.step_of_day[i])
                day_start = i - into_day
                expected = profile(data.pv_kw[:day_start], self.per_day, into_day, s.pv_days)
                pv = scale_to_today(
                    pv, data.pv_kw[day_start:i], expected, self.per_day - into_day, self.per_day
                )
            if s.nowcast and i > 0:
                load[0] = data.load_kw[i - 1]
            end = int(self.known_end[i])
            past = data.price_eur_mwh[max(0, i - 2 * self.per_day) : i]
            prices = extend_prices(past, data.price_eur_mwh[i:end], n, self.per_day)
            published = min(end - i, n)
            source = "history baselines" if self.load_model is None else "forecast service models"
        months = self.months[i : i + n]
        return PlanInputs(
            start=self.starts[i],
            step_s=self.step_h * 3600.0,
            load_kw=np.asarray(load, dtype=np.float64),
            pv_kw=np.asarray(pv, dtype=np.float64),
            price_eur_mwh=np.asarray(prices, dtype=np.float64),
            published_steps=published,
            export_max_kw=self.caps[i : i + n],
            month_index=months - months[0],
            peak_reached_kw=peak_reached_kw,
            timezone=self.site.location.timezone,
            source=source,
        )

    def _model_load(self, i: int, n: int) -> np.ndarray | None:
        """The load model's forecast for steps ``i .. i+n`` from the data before the block's start."""
        s = self.settings
        block = max(1, round(s.predict_every_h / self.step_h))
        start = i - i % block
        if start < 15 * self.per_day:  # the models need two whole weeks; the baseline until then
            return None
        if i - self._fitted_i >= round(s.refit_days * self.per_day) or self._model is None:
            assert self.load_model is not None
            self._fitted_i = start
            self._model = self.load_model()
            began = time.perf_counter()
            try:
                self._model.fit(self._frame.iloc[max(0, start - round(s.train_days * self.per_day)) : start])
            except Exception as err:  # a model that cannot fit: the baseline plans, the run goes on
                self.stats.failures.append(f"{self.data.index[start]}: {err}")
                LOGGER.warning("backtest load model failed to fit at %s: %s", self.data.index[start], err)
                self._model = None
                self._fitted_i = start - round((s.refit_days - 1) * self.per_day)  # again in a day
            self.stats.fits += 1
            self.stats.fit_s += time.perf_counter() - began
            self._cached = None
        if self._model is None:
            return None
        if self._cached is None or self._cached[0] != start:
            steps = self.horizon + block
            past = self._frame.iloc[max(0, start - 21 * self.per_day) : start]
            began = time.perf_counter()
            try:
                forecast = np.asarray(self._model.predict(past, steps), dtype=float)
            except Exception as err:
                LOGGER.warning("backtest load model failed to predict at %s: %s", self.data.index[start], err)
                return None
            self.stats.predictions += 1
            self.stats.predict_s += time.perf_counter() - began
            forecast = np.where(np.isfinite(forecast), np.maximum(forecast, 0.0), 0.0)
            self._cached = (start, forecast)
            day = min(self.per_day, len(self.data) - start)  # score the next 24 h as they come
            self.stats.abs_error_sum += float(
                np.abs(forecast[:day] - self.data.load_kw[start : start + day]).sum()
            )
            self.stats.error_count += day
        offset = i - self._cached[0]
        out: np.ndarray = self._cached[1][offset : offset + n].copy()
        return out
