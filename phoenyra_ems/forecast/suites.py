"""The evaluation suites on the shipped real data: household load, measured PV, day-ahead prices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from phoenyra_ems.forecast import datasets
from phoenyra_ems.forecast.base import Forecaster
from phoenyra_ems.forecast.baselines import Persistence, SameWeekdayLastWeek
from phoenyra_ems.forecast.ensemble import Ensemble
from phoenyra_ems.forecast.evaluation import Evaluation, daily_origins, rolling_origin
from phoenyra_ems.forecast.models import load_members, price_members
from phoenyra_ems.forecast.pv import PvForecaster

TARGETS = ("load", "pv", "price")


@dataclass(frozen=True)
class Suite:
    target: str
    description: str
    unit: str
    data: pd.DataFrame
    factories: dict[str, Callable[[], Forecaster]]
    exog_columns: tuple[str, ...] = ()
    origin_hour_utc: int = 0
    train_days: float | None = None


def _with_ensemble(
    members: Callable[[], dict[str, Callable[[], Forecaster]]],
) -> dict[str, Callable[[], Forecaster]]:
    factories = dict(members())
    factories["ensemble"] = lambda: Ensemble([factory() for factory in members().values()])
    return factories


def suite(target: str) -> Suite:
    if target == "load":
        site = datasets.KONSTANZ_SITE
        return Suite(
            "load",
            "Konstanz household load (hourly, kW)",
            "kW",
            datasets.konstanz_load(),
            _with_ensemble(lambda: load_members(site["timezone"], site["country"])),
        )
    if target == "pv":
        s = datasets.NREL_PV_SITE
        return Suite(
            "pv",
            "NREL PVDAQ system 50 (hourly, kW), recorded NSRDB weather as the forecast",
            "kW",
            datasets.nrel_pv(),
            {
                "persistence": Persistence,
                "week_ago": SameWeekdayLastWeek,
                "pvlib": lambda: PvForecaster(
                    s["latitude"],
                    s["longitude"],
                    s["peak_kw"],
                    tilt_deg=s["tilt_deg"],
                    azimuth_deg=s["azimuth_deg"],
                    altitude_m=s["altitude_m"],
                ),
            },
            exog_columns=("ghi_w_m2", "temp_air_c"),
            origin_hour_utc=7,  # local midnight in Golden (MST)
            train_days=90.0,
        )
    if target == "price":
        return Suite(
            "price",
            "AT day-ahead price 2024 (EUR/MWh), DE-LU generation forecasts as features",
            "EUR/MWh",
            datasets.prices("at"),
            _with_ensemble(lambda: price_members("Europe/Vienna", "AT")),
            exog_columns=datasets.PRICE_EXOG,
            origin_hour_utc=23,  # local midnight in Vienna (CET)
        )
    raise ValueError(f"unknown target {target!r} (one of {', '.join(TARGETS)})")


def evaluate(
    target: str, days: int = 90, progress: Callable[[int, int], None] | None = None
) -> tuple[Suite, Evaluation]:
    """Day-ahead rolling-origin evaluation over the last ``days`` days of the suite's data."""
    chosen = suite(target)
    horizon = pd.Timedelta(hours=48)
    origins = daily_origins(chosen.data, days, horizon, chosen.origin_hour_utc)
    steps = int(horizon / (chosen.data.index[1] - chosen.data.index[0]))
    evaluation = rolling_origin(
        chosen.factories,
        chosen.data,
        origins,
        steps,
        exog_columns=chosen.exog_columns,
        train_days=chosen.train_days,
        progress=progress,
    )
    return chosen, evaluation
