"""The evaluation suites on the shipped real data: household load, measured PV, day-ahead prices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.forecast import datasets
from phoenyra_ems.forecast.base import TARGET, Forecaster, history_days
from phoenyra_ems.forecast.baselines import Persistence, SameWeekdayLastWeek
from phoenyra_ems.forecast.calendar_features import country_for
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
            origin_hour_utc=_local_midnight_utc(site["timezone"]),
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
            # 11:00 in Vienna (CET): before the next day's prices are published (~12:45), so hours
            # 14-37 of the horizon are the next day, the one a price forecast is for.
            origin_hour_utc=10,
        )
    raise ValueError(f"unknown target {target!r} (one of {', '.join(TARGETS)})")


def site_suites(site: SiteConfig, history: pd.DataFrame) -> list[Suite]:
    """A configured site's own recorded history: its load, and its PV when it has an array."""
    timezone = site.location.timezone
    country = country_for(timezone)
    suites = [
        Suite(
            "load",
            f"site {site.site_id}: recorded load (kW)",
            "kW",
            pd.DataFrame({TARGET: history["p_load"]}),
            _with_ensemble(lambda: load_members(timezone, country)),
            origin_hour_utc=_local_midnight_utc(timezone),
        )
    ]
    if PvForecaster.for_site(site) is not None:
        suites.append(
            Suite(
                "pv",
                f"site {site.site_id}: recorded PV (kW), clear sky × observed ratio (no weather)",
                "kW",
                pd.DataFrame({TARGET: history["p_pv"]}),
                {
                    "persistence": Persistence,
                    "week_ago": SameWeekdayLastWeek,
                    "pvlib": lambda: _array_of(site),
                },
                origin_hour_utc=_local_midnight_utc(timezone),
                train_days=90.0,
            )
        )
    return suites


def _array_of(site: SiteConfig) -> Forecaster:
    model = PvForecaster.for_site(site)
    assert model is not None, "site_suites checks that the site has an array"
    return model


def _local_midnight_utc(timezone: str) -> int:
    """The UTC hour of local midnight (standard time) — the origins of the day-ahead evaluation."""
    offset = pd.Timestamp("2024-01-15", tz=timezone).utcoffset()
    return int(-(offset or pd.Timedelta(0)) / pd.Timedelta(hours=1)) % 24


def evaluate(
    target: str | Suite, days: int = 90, progress: Callable[[int, int], None] | None = None
) -> tuple[Suite, Evaluation]:
    """Day-ahead rolling-origin evaluation over the last ``days`` days of the suite's data."""
    chosen = suite(target) if isinstance(target, str) else target
    horizon = pd.Timedelta(hours=48)
    # Each origin needs two weeks before it for the models and a whole horizon after it.
    days = max(1, min(days, int(history_days(chosen.data) - 16)))
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
