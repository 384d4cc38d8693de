"""The optimiser's inputs in a backtest: forecasts made at each plan time only from data before it.

``realistic``: load and PV from the built-in history baselines of the daemon
(:mod:`phoenyra_ems.core.optimiser.forecast`, what a site without a forecast service uses), the
prices as published at that time (the rest of the local day; from 13:00 the next day too), beyond
that the same hour of the last known day. ``perfect``: the actual load, PV and prices (a sanity
check of the planner and its execution against the bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.replay import export_caps, known_ends
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.optimiser.forecast import extend_prices, profile, scale_to_today
from phoenyra_ems.core.optimiser.plan import PlanInputs

LOAD_PROFILE_DAYS = 7
PV_PROFILE_DAYS = 3


@dataclass(frozen=True)
class ForecastSettings:
    load_days: int = LOAD_PROFILE_DAYS
    pv_days: int = PV_PROFILE_DAYS
    pv_today: bool = True  # scale the PV profile by how today compares with it so far
    nowcast: bool = True  # the first step's load: the last observed step (the present, live)


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
    ) -> None:
        self.site, self.data, self.perfect = site, data, perfect
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
            published, source = min(end - i, n), "history baselines"
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
