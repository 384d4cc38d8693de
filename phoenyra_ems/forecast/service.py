"""Per-site forecasts in the daemon: retrain on a schedule from the site's own history, off the loop.

A :class:`SiteForecaster` is attached to a site's controller (``forecast.enabled``). Every
``retrain_interval_h`` it reads ``history_days`` of the site's history (averaged to ``step_s``),
fits the load ensemble (and the PV model when the site has a location and a PV peak) in a worker
**process** — a fit never holds the event loop, whatever scikit-learn or Stan do with threads —
and stores the fitted models per site (``<history_dir>/forecast_site_<id>.pkl``, replaced
atomically) so a restart predicts at once. Predictions run in a thread; the latest one is kept for
the API. Too little history: the ensemble keeps the baselines that can fit (logged).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from phoenyra_ems.atomic import write_atomically
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.forecast.base import TARGET, ForecastError, InsufficientHistory
from phoenyra_ems.forecast.calendar_features import country_for
from phoenyra_ems.history.frames import history_frame, read_buckets
from phoenyra_ems.tasks import cancel_and_wait

if TYPE_CHECKING:
    from phoenyra_ems.controller import SiteController
    from phoenyra_ems.forecast.weather import WeatherClient

LOGGER = logging.getLogger("phoenyra_ems.forecast.service")
MIN_HISTORY_DAYS = 1.0  # below this nothing can be fitted: the site runs without forecasts
RETRY_AFTER_FAILURE_S = 3600.0


def model_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"forecast_site_{site_id}.pkl"


@dataclass(frozen=True)
class FitSummary:
    site_id: str
    fitted_at: datetime
    rows: int
    fit_s: float
    load_weights: dict[str, list[float]]
    pv_scale: float | None


@dataclass(frozen=True)
class SiteForecast:
    """One forecast of a site: values per step from ``start``."""

    site_id: str
    made_at: datetime
    start: datetime
    step_s: int
    load_kw: tuple[float, ...]
    pv_kw: tuple[float, ...] | None
    pv_source: str | None  # "weather" | "clear-sky fallback"
    predict_ms: float
    members: dict[str, list[float]] = field(default_factory=dict)
    # Day-ahead prices per step: the published ones, then the price profile (None: no prices known).
    price_eur_mwh: tuple[float, ...] | None = None


def _limit_threads() -> None:
    """One thread per worker: the daemon's event loop keeps the other core."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        pass


def fit_site_models(site: SiteConfig, history: pd.DataFrame, path: str, fitted_at: datetime) -> FitSummary:
    """Fit and store a site's models (runs in a worker process; ``history``: p_load, p_pv columns)."""
    from phoenyra_ems.forecast.models import load_ensemble
    from phoenyra_ems.forecast.pv import PvForecaster

    _limit_threads()
    started = time.perf_counter()
    timezone = site.location.timezone
    load = pd.DataFrame({TARGET: history["p_load"]})
    ensemble = load_ensemble(timezone, country_for(timezone), name=f"{site.site_id} load")
    ensemble.fit(load)
    pv_model = PvForecaster.for_site(site)
    if pv_model is not None:
        try:
            pv_model.fit(pd.DataFrame({TARGET: history["p_pv"]}))
        except ForecastError as err:  # e.g. no daylight yet: the configured size stands
            LOGGER.warning("site %s: PV model keeps its defaults: %s", site.site_id, err)
    models = {"load": ensemble, "pv": pv_model, "fitted_at": fitted_at}
    write_atomically(path, lambda out: pickle.dump(models, out))
    return FitSummary(
        site.site_id,
        fitted_at,
        len(history),
        time.perf_counter() - started,
        ensemble.member_weights(),
        pv_model.scale if pv_model is not None else None,
    )


class SiteForecaster:
    """The controller attachment that keeps a site's forecasts fresh."""

    def __init__(
        self,
        site: SiteConfig,
        executor: Executor,
        weather: WeatherClient | None = None,
        renew_executor: Callable[[Executor], Executor] | None = None,
    ) -> None:
        self.site = site
        self.executor = executor
        self.renew_executor = renew_executor  # a dead worker (OOM, a crash in Stan): a fresh pool
        self.weather = weather
        self.path = model_path(site.ems.history_dir, site.site_id)
        self.models: dict[str, Any] | None = None
        self.latest: SiteForecast | None = None
        self.last_fit: FitSummary | None = None
        self.last_error: str | None = None
        self._controller: SiteController | None = None
        self._task: asyncio.Task[None] | None = None
        self._retrain_lock = asyncio.Lock()
        self._retry_at: datetime | None = None  # after a failed retraining, not before

    async def start(self, controller: SiteController) -> None:
        self._controller = controller
        if self.path.exists():
            try:
                self.models = await asyncio.to_thread(self._read_models)
                LOGGER.info("site %s: forecast models loaded from %s", self.site.site_id, self.path)
            except Exception as err:  # a corrupt or incompatible file: retrain
                LOGGER.warning("site %s: cannot load %s (%s): retraining", self.site.site_id, self.path, err)
        self._task = asyncio.create_task(self._run(), name=f"forecast {self.site.site_id}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task, f"forecast service of site {self.site.site_id}")
            self._task = None

    def _read_models(self) -> dict[str, Any]:
        with self.path.open("rb") as handle:
            models: dict[str, Any] = pickle.load(handle)  # our own file, written by fit_site_models
        return models

    def _due(self, now: datetime) -> bool:
        if self._retry_at is not None and now < self._retry_at:
            return False
        if self.models is None:
            return True
        fitted_at: datetime = self.models["fitted_at"]
        return now - fitted_at >= timedelta(hours=self.site.forecast.retrain_interval_h)

    async def _run(self) -> None:
        assert self._controller is not None
        clock = self._controller.clock
        while True:
            now = clock.now()
            if self._due(now):
                try:
                    await self.retrain()
                    self._retry_at = None
                except InsufficientHistory as err:
                    LOGGER.info("site %s: no forecast yet: %s", self.site.site_id, err)
                    self._retry_at = now + timedelta(seconds=RETRY_AFTER_FAILURE_S / 4)
                except Exception as err:
                    self.last_error = str(err)
                    LOGGER.warning("site %s: forecast retraining failed: %s", self.site.site_id, err)
                    self._retry_at = now + timedelta(seconds=RETRY_AFTER_FAILURE_S)
            if self.models is not None:
                try:
                    await self.predict()
                except Exception as err:
                    self.last_error = str(err)
                    LOGGER.warning("site %s: forecast failed: %s", self.site.site_id, err)
            await clock.sleep(self.site.forecast.step_s)  # a new forecast every step

    async def retrain(self) -> FitSummary:
        """Read the history, fit in the worker process, swap the new models in."""
        assert self._controller is not None and self._controller.history is not None
        async with self._retrain_lock:
            now = self._controller.clock.now()
            config = self.site.forecast
            history = await self._history(timedelta(days=config.history_days))
            days = len(history) * config.step_s / 86400.0
            if days < MIN_HISTORY_DAYS:
                raise InsufficientHistory(f"{days:.1f} days of history, {MIN_HISTORY_DAYS:g} needed")
            # submit() may start the worker process (and pickles the history): not on the loop either.
            try:
                future = await asyncio.to_thread(
                    self.executor.submit, fit_site_models, self.site, history, str(self.path), now
                )
                summary: FitSummary = await asyncio.wrap_future(future)
            except BrokenProcessPool as err:
                if self.renew_executor is not None:
                    self.executor = self.renew_executor(self.executor)
                raise ForecastError(f"the forecast worker died ({err}); retrying later") from err
            self.models = await asyncio.to_thread(self._read_models)
            self.last_fit, self.last_error = summary, None
            LOGGER.info(
                "site %s: forecast models retrained on %d rows in %.1f s",
                self.site.site_id,
                summary.rows,
                summary.fit_s,
            )
            return summary

    async def _history(self, span: timedelta) -> pd.DataFrame:
        """The site's history up to the current step, on the step grid, read on a connection of its own.

        The controller's connection stays free for its writes (WAL: readers never block the writer),
        and the query is aligned to the grid so every bucket is exactly one step of the clock.
        """
        assert self._controller is not None and self._controller.history is not None
        step_s = self.site.forecast.step_s
        now = self._controller.clock.now()
        end = datetime.fromtimestamp(now.timestamp() // step_s * step_s, UTC)
        records = await read_buckets(self._controller.history.path, end - span, end, step_s)
        return await asyncio.to_thread(history_frame, records, step_s)

    async def predict(self) -> SiteForecast:
        """A fresh forecast from the stored models and the latest history (in a thread)."""
        assert self._controller is not None and self._controller.history is not None and self.models
        config = self.site.forecast
        now = self._controller.clock.now()
        history = await self._history(timedelta(days=15))
        if history.empty:
            raise InsufficientHistory("no recent history")
        weather = None
        where = self.site.coordinates
        if self.weather is not None and where is not None:
            from phoenyra_ems.forecast.weather import fetch_weather

            weather = await fetch_weather(self.weather, *where, int(config.horizon_h) + 1)
        prices = getattr(self._controller, "prices", None)  # the controller's provider (published prices)
        published = None if prices is None else (prices.slots(now, config.horizon_h), prices.slot_hours)
        self.latest = await asyncio.to_thread(self._predict_sync, history, weather, now, published)
        return self.latest

    def _predict_sync(
        self, history: pd.DataFrame, weather: Any, now: datetime, published: tuple[Any, float] | None = None
    ) -> SiteForecast:
        from phoenyra_ems.forecast.pv import weather_frame

        assert self.models is not None
        started = time.perf_counter()
        steps = int(self.site.forecast.horizon_h * 3600 / self.site.forecast.step_s)
        load_history = pd.DataFrame({TARGET: history["p_load"]})
        load = np.clip(self.models["load"].predict(load_history, steps), 0.0, None)
        pv_values, pv_source = None, None
        if self.models.get("pv") is not None:
            pv_model = self.models["pv"]
            exog = None
            if weather is not None:
                exog = weather_frame(weather).resample(f"{self.site.forecast.step_s}s").interpolate()
            pv_values = tuple(
                float(v) for v in pv_model.predict(pd.DataFrame({TARGET: history["p_pv"]}), steps, exog)
            )
            pv_source = pv_model.last_source
        start = history.index[-1] + pd.Timedelta(seconds=self.site.forecast.step_s)
        slots, slot_hours = published or ((), 1.0)
        price = price_series(history["price"], slots, slot_hours, start.to_pydatetime(), steps)
        return SiteForecast(
            self.site.site_id,
            now,
            start.to_pydatetime(),
            self.site.forecast.step_s,
            tuple(float(v) for v in load),
            pv_values,
            pv_source,
            1000 * (time.perf_counter() - started),
            self.models["load"].member_weights(),
            price,
        )


def price_series(
    recorded: pd.Series, slots: Any, slot_hours: float, start: datetime, steps: int
) -> tuple[float, ...] | None:
    """``steps`` day-ahead prices from ``start``: the published slots, then the price profile of the
    recorded and published prices (docs/optimiser.md, "Price forecast"); None without any price."""
    from phoenyra_ems.core.optimiser.live import prices_on_steps
    from phoenyra_ems.forecast.price_profile import PRICE_DAYS, price_profile

    step = recorded.index[1] - recorded.index[0] if len(recorded) > 1 else pd.Timedelta(minutes=15)
    step_s = step.total_seconds()
    per_day = round(86400.0 / step_s)
    times = [start + timedelta(seconds=step_s * k) for k in range(steps)]
    known = prices_on_steps(slots, slot_hours, times)
    count = int(np.argmax(~np.isfinite(known))) if not np.isfinite(known).all() else steps
    past = recorded.to_numpy(dtype=float)[-PRICE_DAYS * per_day :]
    history = np.concatenate([past, known[:count]])
    if not np.isfinite(history).any():
        return None
    beyond = price_profile(history, per_day, steps - count)
    return tuple(float(v) for v in np.concatenate([known[:count], beyond]))
