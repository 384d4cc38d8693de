"""The optimiser's inputs in the live controller, from what the site itself measured (no I/O).

:class:`PlanHistory` keeps step means (``ems.planning_step_s``) of the measured load, PV and price
for the last days in memory, and builds :class:`PlanInputs` once per planning step: the
built-in cheap forecasts (:mod:`phoenyra_ems.core.optimiser.forecast`, what a site without a
forecast service uses), the published price slots mapped onto the plan's steps and, beyond them,
the same time of the last known day. The month's import peak so far rides along for demand charges.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.optimiser.forecast import extend_prices, profile
from phoenyra_ems.core.optimiser.plan import PlanInputs, site_plan_inputs
from phoenyra_ems.core.strategies.base import PriceSlot

HISTORY_DAYS = 8
LOAD_DAYS, PV_DAYS = 7, 3


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
        self.peak_kw = 0.0
        self._month: tuple[int, int] | None = None

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

    def inputs(self, now: datetime, published: Sequence[PriceSlot], slot_hours: float) -> PlanInputs:
        """The plan inputs for the planning step containing ``now`` (built once per step)."""
        start = self.step_start(now)
        if self._inputs is not None and self._inputs.start == start:
            return self._inputs
        n = self.horizon
        load = profile(np.asarray(self.load, dtype=np.float64), self.per_day, n, LOAD_DAYS)
        pv = profile(np.asarray(self.pv, dtype=np.float64), self.per_day, n, PV_DAYS)
        times = [start + timedelta(seconds=self.step_s * k) for k in range(n)]
        known = _prices_on_steps(published, slot_hours, times)
        count = int(np.argmax(~np.isfinite(known))) if not np.isfinite(known).all() else n
        prices = extend_prices(np.asarray(self.price, dtype=np.float64), known[:count], n, self.per_day)
        self._inputs = site_plan_inputs(
            self.site,
            start,
            self.step_s,
            load,
            pv,
            prices,
            count,
            peak_reached_kw=self.peak_kw,
            source="history baselines",
        )
        return self._inputs


def _prices_on_steps(slots: Sequence[PriceSlot], slot_hours: float, times: list[datetime]) -> np.ndarray:
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
