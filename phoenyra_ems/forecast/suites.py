"""The evaluation suites on the shipped real data: household load, measured PV, day-ahead prices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.forecast import csv_data, datasets
from phoenyra_ems.forecast.base import TARGET, Forecaster, history_days
from phoenyra_ems.forecast.baselines import GivenForecast, Persistence, RecentProfile, SameWeekdayLastWeek
from phoenyra_ems.forecast.calendar_features import country_for
from phoenyra_ems.forecast.csv_data import CsvData
from phoenyra_ems.forecast.ensemble import Ensemble
from phoenyra_ems.forecast.evaluation import Evaluation, daily_origins, rolling_origin
from phoenyra_ems.forecast.models import load_ensemble, load_members, price_members
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
    extra: dict[str, Callable[[], Forecaster]] | None = None,
    ensemble: Callable[[], Forecaster] | None = None,
) -> dict[str, Callable[[], Forecaster]]:
    """The members, ``extra`` models scored beside them (not members), and their ensemble
    (``ensemble``: its factory; default: the members' day-blind ensemble)."""
    factories = dict(members())
    factories.update(extra or {})
    factories["ensemble"] = ensemble or (lambda: Ensemble([factory() for factory in members().values()]))
    return factories


def load_factories(timezone: str, country: str | None) -> dict[str, Callable[[], Forecaster]]:
    """The daemon's load ensemble, its members, and Prophet scored beside them; gradient boosting
    with its P10/P90 band (raw in the ``gbm`` row, conformally calibrated in the ``ensemble`` row)."""
    prophet = load_members(timezone, country, prophet=True)["prophet"]
    return _with_ensemble(
        lambda: load_members(timezone, country, bands=True),
        {"prophet": prophet},
        lambda: load_ensemble(timezone, country, bands=True),
    )


def suite(target: str) -> Suite:
    if target == "load":
        site = datasets.KONSTANZ_SITE
        return Suite(
            "load",
            "Konstanz household load (hourly, kW)",
            "kW",
            datasets.konstanz_load(),
            load_factories(site["timezone"], site["country"]),
            origin_hour_utc=_local_midnight_utc(site["timezone"]),
        )
    if target == "pv":
        return Suite(
            "pv",
            "NREL PVDAQ system 50 (hourly, kW), recorded NSRDB weather as the forecast",
            "kW",
            datasets.nrel_pv(),
            {
                "persistence": Persistence,
                "week_ago": SameWeekdayLastWeek,
                "pvlib": datasets.nrel_pv_forecaster,
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
            load_factories(timezone, country),
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


def csv_suites(data: CsvData, targets: tuple[str, ...], timezone: str) -> list[Suite]:
    """Suites on a user's CSV (``forecast-eval --data``): the same models a site in ``timezone`` runs."""
    country = country_for(timezone)
    frame = data.frame
    name = data.path.name
    step = f"{data.step / pd.Timedelta(minutes=1):g} min"
    suites = []
    for target in targets:
        column = csv_data.COLUMNS[target]
        history = pd.DataFrame({TARGET: frame[column]})
        if target == "load":
            suites.append(
                Suite(
                    "load",
                    f"{name}: load ({step}, kW)",
                    "kW",
                    history,
                    load_factories(timezone, country),
                )
            )
        elif target == "pv":
            factories: dict[str, Callable[[], Forecaster]] = {
                "persistence": Persistence,
                "profile_3d": lambda: RecentProfile(3),
            }
            exog: tuple[str, ...] = ()
            if csv_data.USER_PV_FORECAST in frame:
                history[csv_data.USER_PV_FORECAST] = frame[csv_data.USER_PV_FORECAST]
                exog = (csv_data.USER_PV_FORECAST,)
                factories["given"] = lambda: GivenForecast(csv_data.USER_PV_FORECAST, "given")
                factories["ensemble"] = _ensemble_factory(dict(factories))
            suites.append(
                Suite("pv", f"{name}: PV ({step}, kW)", "kW", history, factories, exog_columns=exog)
            )
        else:
            suites.append(
                Suite(
                    "price",
                    f"{name}: day-ahead price ({step}, EUR/MWh), origins 11:00 local",
                    "EUR/MWh",
                    history,
                    _with_ensemble(lambda: price_members(timezone, country)),
                )
            )
    return suites


def _ensemble_factory(members: dict[str, Callable[[], Forecaster]]) -> Callable[[], Forecaster]:
    return lambda: Ensemble([factory() for factory in members.values()])


def _array_of(site: SiteConfig) -> Forecaster:
    model = PvForecaster.for_site(site)
    assert model is not None, "site_suites checks that the site has an array"
    return model


def _local_midnight_utc(timezone: str) -> int:
    """The UTC hour of local midnight (standard time) — the origins of the day-ahead evaluation."""
    offset = pd.Timestamp("2024-01-15", tz=timezone).utcoffset()
    return int(-(offset or pd.Timedelta(0)) / pd.Timedelta(hours=1)) % 24


def evaluate(
    target: str | Suite,
    days: int = 90,
    progress: Callable[[int, int], None] | None = None,
    origins: list[pd.Timestamp] | None = None,
) -> tuple[Suite, Evaluation]:
    """Day-ahead rolling-origin evaluation over ``origins`` (default: the last ``days`` days)."""
    chosen = suite(target) if isinstance(target, str) else target
    horizon = pd.Timedelta(hours=48)
    if origins is None:
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
