"""The optimiser's inputs in a backtest: forecasts made at each plan time only from data before it.

``realistic``: load and PV from the built-in history baselines of the daemon
(:mod:`phoenyra_ems.core.optimiser.forecast`, what a site without a forecast service uses), the
prices as published at that time (the rest of the local day; from 13:00 the next day too), beyond
that the same hour of the last known day. ``perfect``: the actual load, PV and prices (a sanity
check of the planner and its execution against the bound).

``load_model``: the load forecaster of the daemon's forecast service (e.g. its ensemble) instead of
the history baseline: fitted on the data before the plan time, refitted every ``refit_days`` (the
service's schedule; weekly keeps a household year affordable), a forecast made at the start of each
``predict_every_h`` block (the service row: every forecast step of the daemon) from the data before
it and used by that block's plans (its first step too: the planner puts the measured present in
and carries its departure, as live). Until it has the history it needs the baseline stands in.
``pv_model``: the same for PV (the service's pvlib model). ``ForecastSettings.price_forecast``:
beyond publication the service's price profile (:mod:`phoenyra_ems.forecast.price_profile`) from
the prices known at the plan time instead of the last known day. :func:`service_forecasts` puts the
three together: what a site with ``forecast.enabled`` plans from. ``given_pv``: the PV forecast the
user already has (the data's ``pv_forecast_kw``) instead of the baseline. ``perfect_parts``: those inputs
("load", "pv", "price") as they actually came, the rest realistic — what a perfect forecast of one
input alone is worth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.calendar import DataCalendar
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.optimiser.forecast import extend_prices, profile, scale_to_today
from phoenyra_ems.core.optimiser.plan import PlanInputs
from phoenyra_ems.forecast.base import LOGGER, TARGET, Forecaster
from phoenyra_ems.forecast.price_profile import PRICE_DAYS, PRICE_DECAY, price_profile

LOAD_PROFILE_DAYS = 7
PV_PROFILE_DAYS = 3
PERFECT_PARTS = ("load", "pv", "price")  # BacktestForecasts(perfect_parts=...): one input perfect


@dataclass(frozen=True)
class ForecastSettings:
    load_days: int = LOAD_PROFILE_DAYS
    pv_days: int = PV_PROFILE_DAYS
    pv_today: bool = True  # scale the PV profile by how today compares with it so far
    refit_days: float = 7.0  # a load_model is refitted this often on the data before the plan
    train_days: float = 365.0  # ... on at most this much of it
    predict_every_h: float = 1.0  # a load_model forecast is made at the start of each such block
    price_forecast: bool = False  # beyond publication: the price profile, not the last known day
    price_days: int = PRICE_DAYS
    price_decay: float = PRICE_DECAY


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
        pv_model: Callable[[], Forecaster] | None = None,
        calendar: DataCalendar | None = None,
        perfect_parts: Collection[str] = (),
        given_pv: bool = False,
    ) -> None:
        self.site, self.data, self.perfect = site, data, perfect
        if given_pv and data.pv_forecast_kw is None:
            raise ValueError("given_pv: the data has no pv_forecast_kw column")
        self.given_pv = given_pv
        unknown = set(perfect_parts) - set(PERFECT_PARTS)
        if unknown:
            raise ValueError(f"perfect_parts: unknown {sorted(unknown)} (known: {', '.join(PERFECT_PARTS)})")
        self.perfect_parts = frozenset(perfect_parts)
        self.load_model, self.pv_model = load_model, pv_model
        self.stats = ModelStats()
        self.pv_stats = ModelStats()
        self.settings = settings or ForecastSettings()
        self.step_h = data.step_h
        self.per_day = round(24 / self.step_h)
        self.horizon = max(1, round(horizon_h / self.step_h))
        self._load: _WalkForward | None = None
        self._pv: _WalkForward | None = None
        if load_model is not None:
            frame = pd.DataFrame({TARGET: data.load_kw}, index=data.index)
            self._load = _WalkForward(
                load_model, frame, self.per_day, self.horizon, self.settings, self.stats, "load"
            )
        if pv_model is not None:
            frame = pd.DataFrame({TARGET: data.pv_kw}, index=data.index)
            self._pv = _WalkForward(
                pv_model, frame, self.per_day, self.horizon, self.settings, self.pv_stats, "PV"
            )
        # ``calendar``: the same data's per-step facts, when the caller has them already (shared)
        self.calendar = calendar or DataCalendar.of(site, data)
        local = self.calendar.local
        self.known_end = self.calendar.known_end
        caps = self.calendar.caps
        tail = caps[-self.per_day :] if len(caps) >= self.per_day else caps
        self.caps = np.concatenate([caps, np.resize(tail, self.horizon)])
        labels = np.asarray(local.year * 12 + local.month, dtype=np.intp)
        self.months = np.concatenate([labels, np.full(self.horizon, labels[-1])])
        self.starts = self.calendar.starts
        minutes = np.asarray(local.hour * 60 + local.minute)
        self.step_of_day = np.minimum(minutes // round(self.step_h * 60), self.per_day - 1)
        self.price_abs_error = 0.0  # beyond publication, against the actual prices
        self.price_errors = 0

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
            elif self._scored(i):  # the baseline's day-ahead error, for comparison
                self._score(self.stats, load, data.load_kw, i, n)
            pv = profile(data.pv_kw[:i], self.per_day, n, s.pv_days)
            if s.pv_today and i > 0:
                into_day = int(self.step_of_day[i])
                day_start = i - into_day
                expected = profile(data.pv_kw[:day_start], self.per_day, into_day, s.pv_days)
                pv = scale_to_today(
                    pv, data.pv_kw[day_start:i], expected, self.per_day - into_day, self.per_day
                )
            modelled_pv = self._pv.series(i, n) if self._pv is not None else None
            if modelled_pv is not None:
                pv = modelled_pv
            elif self.given_pv and data.pv_forecast_kw is not None:  # the user's own, where it reaches
                pv = self._from_data(i, pv, data.pv_forecast_kw)
            if self._pv is None and self._scored(i):  # a model's own forecasts are scored as made
                self._score(self.pv_stats, pv, data.pv_kw, i, n)
            end = int(self.known_end[i])
            published = min(end - i, n)
            if s.price_forecast:
                known = data.price_eur_mwh[max(0, end - s.price_days * self.per_day) : end]
                beyond = price_profile(known, self.per_day, n - published, s.price_days, s.price_decay)
                prices = np.concatenate([data.price_eur_mwh[i : i + published], beyond])
            else:
                past = data.price_eur_mwh[max(0, i - 2 * self.per_day) : i]
                prices = extend_prices(past, data.price_eur_mwh[i:end], n, self.per_day)
            actual = data.price_eur_mwh[i + published : i + n]
            self.price_abs_error += float(np.abs(prices[published : published + len(actual)] - actual).sum())
            self.price_errors += len(actual)
            if self.perfect_parts:
                load, pv, prices, published = self._with_actual(i, load, pv, prices, published)
            with_models = self.load_model is not None or self.pv_model is not None
            source = "forecast service models" if with_models else "history baselines"
            if s.price_forecast:
                source += "; prices: published, price forecast beyond"
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

    def _with_actual(
        self, i: int, load: np.ndarray, pv: np.ndarray, prices: np.ndarray, published: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The ``perfect_parts`` of a plan's inputs replaced by what actually came (what a perfect
        forecast of that part alone would be worth)."""
        data = self.data
        if "load" in self.perfect_parts:
            load = self._from_data(i, load, data.load_kw)
        if "pv" in self.perfect_parts:
            pv = self._from_data(i, pv, data.pv_kw)
        if "price" in self.perfect_parts:
            prices = self._from_data(i, prices, data.price_eur_mwh)
            published = max(published, min(len(prices), len(data) - i))
        return load, pv, prices, published

    @staticmethod
    def _from_data(i: int, forecast: np.ndarray, series: np.ndarray) -> np.ndarray:
        """``forecast`` (from step ``i``) with the steps ``series`` covers taken from it instead."""
        covered = series[i : i + len(forecast)]
        return np.concatenate([covered, np.asarray(forecast, dtype=float)[len(covered) :]])

    @property
    def exact_parts(self) -> frozenset[str]:
        """The inputs the plans get as they actually came (no forecast error to score)."""
        return frozenset(PERFECT_PARTS) if self.perfect else self.perfect_parts

    def _scored(self, i: int) -> bool:
        """Whether a baseline's forecast at step ``i`` is scored: at each forecast block's start
        once two weeks of history exist (as the models' forecasts are)."""
        return i % max(1, round(self.settings.predict_every_h / self.step_h)) == 0 and i >= 14 * self.per_day

    def _score(self, stats: ModelStats, forecast: np.ndarray, actual: np.ndarray, i: int, n: int) -> None:
        """Add the next day of ``forecast`` (made at step ``i``) against ``actual`` to ``stats``."""
        day = min(self.per_day, len(actual) - i, n)
        stats.abs_error_sum += float(np.abs(forecast[:day] - actual[i : i + day]).sum())
        stats.error_count += day

    @property
    def price_mae(self) -> float:
        """Mean absolute error (EUR/MWh) of the plans' prices beyond publication."""
        return self.price_abs_error / self.price_errors if self.price_errors else float("nan")

    def _model_load(self, i: int, n: int) -> np.ndarray | None:
        """The load model's forecast for steps ``i .. i+n`` from the data before the block's start."""
        assert self._load is not None
        return self._load.series(i, n)


class _WalkForward:
    """One forecaster of one series, walked forward: fitted on the data before each refit, a forecast
    made at the start of each block from the data before it (what the daemon's service does)."""

    def __init__(
        self,
        factory: Callable[[], Forecaster],
        frame: pd.DataFrame,
        per_day: int,
        horizon: int,
        settings: ForecastSettings,
        stats: ModelStats,
        what: str,
    ) -> None:
        self.factory, self.frame, self.per_day, self.horizon = factory, frame, per_day, horizon
        self.settings, self.stats, self.what = settings, stats, what
        self.actual = frame[TARGET].to_numpy(dtype=float)
        self.model: Forecaster | None = None
        self.fitted_i = -(10**9)
        self.cached: tuple[int, np.ndarray] | None = None

    def series(self, i: int, n: int) -> np.ndarray | None:
        s, per_day, index = self.settings, self.per_day, self.frame.index
        block = max(1, round(s.predict_every_h * per_day / 24))
        start = i - i % block
        if start < 15 * per_day:  # the models need two whole weeks; the baseline until then
            return None
        if i - self.fitted_i >= round(s.refit_days * per_day) or self.model is None:
            self.fitted_i = start
            self.model = self.factory()
            began = time.perf_counter()
            try:
                self.model.fit(self.frame.iloc[max(0, start - round(s.train_days * per_day)) : start])
            except Exception as err:  # a model that cannot fit: the baseline plans, the run goes on
                self.stats.failures.append(f"{index[start]}: {err}")
                LOGGER.warning("backtest %s model failed to fit at %s: %s", self.what, index[start], err)
                self.model = None
                self.fitted_i = start - round((s.refit_days - 1) * per_day)  # again in a day
            self.stats.fits += 1
            self.stats.fit_s += time.perf_counter() - began
            self.cached = None
        if self.model is None:
            return None
        if self.cached is None or self.cached[0] != start:
            steps = self.horizon + block
            past = self.frame.iloc[max(0, start - 21 * per_day) : start]
            began = time.perf_counter()
            try:
                forecast = np.asarray(self.model.predict(past, steps), dtype=float)
            except Exception as err:
                LOGGER.warning("backtest %s model failed to predict at %s: %s", self.what, index[start], err)
                return None
            self.stats.predictions += 1
            self.stats.predict_s += time.perf_counter() - began
            forecast = np.where(np.isfinite(forecast), np.maximum(forecast, 0.0), 0.0)
            self.cached = (start, forecast)
            day = min(per_day, len(self.actual) - start)  # score the next 24 h as they come
            self.stats.abs_error_sum += float(np.abs(forecast[:day] - self.actual[start : start + day]).sum())
            self.stats.error_count += day
        offset = i - self.cached[0]
        out: np.ndarray = self.cached[1][offset : offset + n].copy()
        return out


class ClearSkyCache:
    """The array's clear-sky power per instant, computed once per block of days and reused.

    Without weather the PV model asks pvlib for the same instants again and again: the next 48 h
    at every hourly forecast, the last 3 days for the observed ratio, the training window at every
    refit (solar position, Linke turbidity read from pvlib's file each time) — 40 % of a 15-min
    service row. The values depend only on the instant and the step (every call here is on the
    data's regular grid), so they are computed for ``BLOCK_DAYS`` at a time and looked up.
    """

    BLOCK_DAYS = 30

    def __init__(self) -> None:
        self._by_step: dict[pd.Timedelta, pd.Series] = {}

    def modelled_kw(
        self, compute: Callable[[pd.DatetimeIndex], np.ndarray], index: pd.DatetimeIndex
    ) -> np.ndarray:
        if len(index) < 2:
            return np.asarray(compute(index), dtype=float)
        raw = index.asi8  # in the index's own unit (ns or us)
        if raw[1] <= raw[0] or not (np.diff(raw) == raw[1] - raw[0]).all():
            return np.asarray(compute(index), dtype=float)
        step = pd.Timedelta(index[1] - index[0])
        known = self._by_step.get(step)
        if known is not None:
            values: np.ndarray = known.reindex(index).to_numpy(dtype=float)
            if not np.isnan(values).any():
                return values
        span = max(int((index[-1] - index[0]) / step) + 1, round(pd.Timedelta(days=self.BLOCK_DAYS) / step))
        block = pd.date_range(index[0], periods=span, freq=step)
        fresh = pd.Series(compute(block), index=block)
        merged = fresh if known is None else known.combine_first(fresh)
        self._by_step[step] = merged
        out: np.ndarray = merged.reindex(index).to_numpy(dtype=float)
        return out


class _ClearSkyPv:
    """The service's PV model as it runs without a weather service (no weather archive to replay):
    clear sky x the ratio observed over the last three days; its per-forecast warning left out.
    With a ``cache`` its clear-sky power is looked up rather than recomputed (same values)."""

    def __init__(self, model: Forecaster, cache: ClearSkyCache | None = None) -> None:
        self.model = model
        self.name, self.min_history_days = model.name, model.min_history_days
        compute = getattr(model, "modelled_kw", None)
        if cache is not None and compute is not None:

            def modelled_kw(
                index: pd.DatetimeIndex, ghi: np.ndarray | None = None, temp_air_c: np.ndarray | None = None
            ) -> np.ndarray:
                if ghi is not None or temp_air_c is not None:
                    return np.asarray(compute(index, ghi, temp_air_c), dtype=float)
                return cache.modelled_kw(compute, index)

            model.modelled_kw = modelled_kw  # type: ignore[attr-defined]

    def fit(self, history: pd.DataFrame) -> None:
        self.model.fit(history)

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        previous = LOGGER.level
        LOGGER.setLevel(logging.ERROR)
        try:
            return self.model.predict(history, steps, exog)
        finally:
            LOGGER.setLevel(previous)


def service_pv_model(site: SiteConfig) -> Callable[[], Forecaster] | None:
    """The service's pvlib model without weather, one per refit; None when the site has no
    coordinates or PV peak (the service forecasts no PV then)."""
    from phoenyra_ems.forecast.pv import PvForecaster

    if PvForecaster.for_site(site) is None:
        return None
    clear_sky = ClearSkyCache()  # shared by every refit's model: the sun does not change

    def pv_model() -> Forecaster:
        model = PvForecaster.for_site(site)
        assert model is not None
        return _ClearSkyPv(model, clear_sky)

    return pv_model


def service_forecasts(
    site: SiteConfig,
    data: BacktestData,
    horizon_h: float,
    *,
    load: bool = True,
    pv: bool = True,
    prices: bool = True,
) -> BacktestForecasts:
    """The daemon's forecast service walked forward: the load ensemble (``load``), the pvlib PV model
    (``pv``; the site needs coordinates and a PV peak) and the price profile beyond publication
    (``prices``); what is left out comes from the history baselines, as without the service."""
    from phoenyra_ems.forecast.calendar_features import country_for
    from phoenyra_ems.forecast.models import load_ensemble

    zone = site.location.timezone

    def load_model() -> Forecaster:
        return load_ensemble(zone, country_for(zone), name=f"{site.site_id} load")

    # A new forecast every forecast step of the daemon (forecast.step_s), at most one per data step.
    every_h = max(data.step_h, site.forecast.step_s / 3600.0)
    return BacktestForecasts(
        site,
        data,
        horizon_h,
        settings=ForecastSettings(price_forecast=prices, predict_every_h=every_h),
        load_model=load_model if load else None,
        pv_model=service_pv_model(site) if pv else None,
    )
