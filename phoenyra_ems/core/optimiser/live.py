"""The optimiser's inputs in the live controller, from what the site itself measured (no I/O).

:class:`PlanHistory` keeps step means (``ems.planning_step_s``) of the measured load, PV and price
for the last days in memory, and builds :class:`PlanInputs` once per planning step: the
built-in cheap forecasts (:mod:`phoenyra_ems.core.optimiser.forecast`, what a site without a
forecast service uses), the published price slots mapped onto the plan's steps and, beyond them,
the same time of the last known day. The month's import peak so far rides along for demand charges.

With a forecast service (``forecast.enabled``) the controller passes its latest forecast in as a
:class:`ServiceForecast`: its load and PV replace the baselines for the steps it covers, its prices
(where the service forecasts them) the last-known-day rule beyond publication; the baselines fill
the rest. ``PlanInputs.source`` says which (served with the plan).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.community.export_value import CommunityExportValue
from phoenyra_ems.core.optimiser.forecast import extend_prices, profile
from phoenyra_ems.core.optimiser.plan import PlanInputs, site_plan_inputs
from phoenyra_ems.core.strategies.base import PriceSlot

HISTORY_DAYS = 8
LOAD_DAYS, PV_DAYS = 7, 3
BASELINES = "history baselines"


@dataclass(frozen=True, slots=True)
class ServiceForecast:
    """The forecast service's latest output as the plans use it (per ``step_s`` from ``start``)."""

    made_at: datetime
    start: datetime
    step_s: float
    load_kw: Sequence[float]
    pv_kw: Sequence[float] | None = None
    price_eur_mwh: Sequence[float] | None = None  # where the service forecasts day-ahead prices


def on_steps(
    values: Sequence[float] | None, start: datetime, step_s: float, times: list[datetime]
) -> np.ndarray:
    """A series (``step_s`` from ``start``) on the plan's steps ``times``: the mean of its values
    starting within each step, else the value covering the step's start; NaN where it has none."""
    out = np.full(len(times), np.nan)
    if values is None or not len(values) or not times or step_s <= 0:
        return out
    series = np.asarray(values, dtype=np.float64)
    plan_step = (times[1] - times[0]).total_seconds() if len(times) > 1 else step_s
    offset = (start - times[0]).total_seconds()
    k = np.floor((offset + step_s * np.arange(series.size)) / plan_step).astype(np.int64)
    ok = (k >= 0) & (k < len(times)) & np.isfinite(series)
    counts = np.bincount(k[ok], minlength=len(times))
    sums = np.bincount(k[ok], weights=series[ok], minlength=len(times))
    out[counts > 0] = sums[counts > 0] / counts[counts > 0]
    covering = np.floor((np.arange(len(times)) * plan_step - offset) / step_s).astype(np.int64)
    inside = (counts == 0) & (covering >= 0) & (covering < series.size)
    out[inside] = series[covering[inside]]
    return out


class PlanHistory:
    """Step means of load, PV and price, and the plan inputs built from them."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.zone = ZoneInfo(site.location.timezone)
        self.step_s = float(site.ems.planning_step_s)
        self.per_day = max(1, round(86400.0 / self.step_s))
        self.horizon = max(1, round(site.ems.planning_horizon_h * 3600.0 / self.step_s))
        size = HISTORY_DAYS * self.per_day
        self.load: deque[float] = deque(maxlen=size)
        self.pv: deque[float] = deque(maxlen=size)
        self.price: deque[float] = deque(maxlen=size)
        self._step: datetime | None = None
        self._sums = [0.0, 0.0, 0.0]
        self._counts = [0, 0, 0]
        self._inputs: PlanInputs | None = None
        self._key: tuple[object, ...] | None = None
        self.peak_kw = 0.0
        self._month: tuple[int, int] | None = None
        # Replan phase (s): a new step's inputs only from step start + phase on; until then the
        # previous step's (a fleet staggers its sites' boundary solves, docs/optimiser.md "Fleet").
        self.phase_s = 0.0
        # The site's energy-community terms (set by the daemon's community recorder after each
        # recording): its export is valued at the internal price where the community takes it.
        self.community: CommunityExportValue | None = None

    @property
    def inputs_start(self) -> datetime | None:
        """The start of the planning step the latest inputs were built for."""
        return None if self._inputs is None else self._inputs.start

    def step_start(self, when: datetime) -> datetime:
        epoch = when.timestamp()
        return datetime.fromtimestamp(epoch - epoch % self.step_s, tz=when.tzinfo)

    def add(self, when: datetime, load_kw: float, pv_kw: float, grid_kw: float, price: float | None) -> None:
        """One measurement; closes the step (gaps count as missing) when ``when`` is in a new one."""
        start = self.step_start(when)
        if self._step is not None and start != self._step:
            missed = int((start - self._step).total_seconds() // self.step_s) - 1
            for series, k in ((self.load, 0), (self.pv, 1), (self.price, 2)):
                series.append(self._sums[k] / self._counts[k] if self._counts[k] else math.nan)
                for _ in range(min(max(missed, 0), series.maxlen or 0)):
                    series.append(math.nan)
            self._sums, self._counts = [0.0, 0.0, 0.0], [0, 0, 0]
        self._step = start
        for k, value in enumerate((load_kw, pv_kw, price)):
            if value is not None and math.isfinite(value):
                self._sums[k] += value
                self._counts[k] += 1
        local = when.astimezone(self.zone)
        if self._month != (local.year, local.month):
            self._month, self.peak_kw = (local.year, local.month), 0.0
        if math.isfinite(grid_kw):
            self.peak_kw = max(self.peak_kw, grid_kw)

    def inputs(
        self,
        now: datetime,
        published: Sequence[PriceSlot],
        slot_hours: float,
        forecast: ServiceForecast | None = None,
        no_forecast: str = "",
    ) -> PlanInputs:
        """The plan inputs for the planning step containing ``now`` (built once per step and forecast).

        ``forecast``: the forecast service's latest (None: the baselines); ``no_forecast``: why a
        site with a forecast service has none (said in ``source``).
        """
        start = self.step_start(now)
        held = self._inputs
        if held is not None and held.start < start and (now - start).total_seconds() < self.phase_s:
            return held  # this site's turn comes at start + phase: follow the previous plan until then
        key = (start, None if forecast is None else forecast.made_at, no_forecast, self.community)
        if self._inputs is not None and self._key == key:
            return self._inputs
        n = self.horizon
        load = profile(np.asarray(self.load, dtype=np.float64), self.per_day, n, LOAD_DAYS)
        pv = profile(np.asarray(self.pv, dtype=np.float64), self.per_day, n, PV_DAYS)
        times = [start + timedelta(seconds=self.step_s * k) for k in range(n)]
        known = prices_on_steps(published, slot_hours, times)
        count = int(np.argmax(~np.isfinite(known))) if not np.isfinite(known).all() else n
        prices = extend_prices(np.asarray(self.price, dtype=np.float64), known[:count], n, self.per_day)
        source = BASELINES + (f" ({no_forecast})" if no_forecast else "")
        if forecast is not None:
            source = self._with_forecast(forecast, times, count, load, pv, prices)
        if self.community is not None:
            source += (
                f"; export: community {self.community.community_id} takes "
                f"{100 * self.community.mean_uptake:.0f} % ({self.community.days} days)"
            )
        self._key = key
        self._inputs = site_plan_inputs(
            self.site,
            start,
            self.step_s,
            load,
            pv,
            prices,
            count,
            peak_reached_kw=self.peak_kw,
            source=source,
            community=self.community,
        )
        return self._inputs

    def _with_forecast(
        self,
        forecast: ServiceForecast,
        times: list[datetime],
        published: int,
        load: np.ndarray,
        pv: np.ndarray,
        prices: np.ndarray,
    ) -> str:
        """Put the service's forecasts into ``load``, ``pv``, ``prices`` (in place); the source text,
        e.g. ``load: forecast service 48 h; PV: forecast service 24 h, history baselines beyond;
        prices: published 11 h, last known day beyond``."""
        h = self.step_s / 3600.0
        parts = []
        for name, values, target in (("load", forecast.load_kw, load), ("PV", forecast.pv_kw, pv)):
            series = np.maximum(on_steps(values, forecast.start, forecast.step_s, times), 0.0)
            have = np.isfinite(series)
            target[have] = series[have]
            parts.append(f"{name}: " + _hours("forecast service", int(have.sum()), len(times), h, BASELINES))
        series = on_steps(forecast.price_eur_mwh, forecast.start, forecast.step_s, times)
        series[:published] = np.nan  # published prices stay
        have = np.isfinite(series)
        prices[have] = series[have]
        text = f"prices: published {published * h:g} h"
        if published < len(times):
            text += ", " + _hours(
                "price forecast", int(have.sum()), len(times) - published, h, "last known day"
            )
        return "; ".join([*parts, text])


def _hours(label: str, steps: int, total: int, step_h: float, rest: str) -> str:
    """``label 24 h, rest beyond``; ``rest`` when ``label`` has none of the ``total`` steps, ``label
    48 h`` when it has all."""
    if steps == 0:
        return rest
    return f"{label} {steps * step_h:g} h" + (f", {rest} beyond" if steps < total else "")


def prices_on_steps(slots: Sequence[PriceSlot], slot_hours: float, times: list[datetime]) -> np.ndarray:
    """The published price of each step (NaN where none is published)."""
    out = np.full(len(times), np.nan)
    if not slots:
        return out
    starts = np.array([s.start.timestamp() for s in slots])
    values = np.array([s.eur_mwh for s in slots], dtype=np.float64)
    at = np.array([t.timestamp() for t in times])
    idx = np.searchsorted(starts, at, side="right") - 1
    ok = (idx >= 0) & (at < starts[np.clip(idx, 0, None)] + slot_hours * 3600.0)
    out[ok] = values[idx[ok]]
    return out
