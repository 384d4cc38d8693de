"""Per-step facts of a data set that several replay helpers need, computed once and shared.

The counterfactual replayer (:class:`~phoenyra_ems.backtest.counterfactual.WindowReplayer`) and its
two forecast helpers (:class:`~phoenyra_ems.backtest.forecasts.BacktestForecasts`: the features' 6 h
and the optimiser's plans) each computed the price publication ends, the export caps and the step
starts of the whole data set; over a year of 15-min history that was most of a weekly retrain's
fixed cost (three publication scans, two export-cap scans of 35,000 steps each). Same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.replay import export_caps, known_ends
from phoenyra_ems.config.model import SiteConfig


@dataclass(frozen=True)
class DataCalendar:
    """Per step of one data set at one site: local time, the first step whose price was not yet
    published then, the export cap (kW; inf: none) and the step's start (UTC)."""

    timezone: str
    local: pd.DatetimeIndex
    known_end: np.ndarray
    caps: np.ndarray
    starts: list[datetime]

    @classmethod
    def of(cls, site: SiteConfig, data: BacktestData) -> DataCalendar:
        local = data.index.tz_convert(site.location.timezone)
        return cls(
            site.location.timezone,
            local,
            known_ends(data.index, local),
            export_caps(site, data),
            list(data.index.to_pydatetime()),
        )
