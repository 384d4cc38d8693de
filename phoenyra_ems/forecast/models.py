"""The forecasters a site uses, by target: load, price, PV (members and their ensemble)."""

from __future__ import annotations

from collections.abc import Callable

from phoenyra_ems.forecast.base import Forecaster
from phoenyra_ems.forecast.baselines import Persistence, RecentProfile, SameWeekdayLastWeek
from phoenyra_ems.forecast.datasets import PRICE_EXOG
from phoenyra_ems.forecast.ensemble import Ensemble
from phoenyra_ems.forecast.gbm import GradientBoostingForecaster
from phoenyra_ems.forecast.prophet_model import ProphetForecaster

BANDS = (0.1, 0.9)  # P10/P90: the forecast's error corridor


def load_members(
    timezone: str,
    country: str | None,
    exog: tuple[str, ...] = (),
    *,
    prophet: bool = False,
    bands: bool = False,
) -> dict[str, Callable[[], Forecaster]]:
    """Factories of the load models (fresh, unfitted instances): the daemon's ensemble members.

    Prophet is not a default member: it lost to the 7-day profile and to gradient boosting on every
    load data set measured (docs/forecasting.md); ``prophet=True`` adds it. ``bands=True`` fits
    gradient boosting's P10/P90 models beside it (the ensemble calibrates them: ``predict_quantiles``).
    """
    members: dict[str, Callable[[], Forecaster]] = {
        "persistence": Persistence,
        "week_ago": SameWeekdayLastWeek,
        "profile_7d": lambda: RecentProfile(7),
        "gbm": lambda: GradientBoostingForecaster(
            "gbm", exog_columns=exog, timezone=timezone, country=country, quantiles=BANDS if bands else ()
        ),
    }
    if prophet:
        members["prophet"] = lambda: ProphetForecaster(
            "prophet", country=country, timezone=timezone, window_days=365
        )
    return members


def price_members(timezone: str, country: str | None) -> dict[str, Callable[[], Forecaster]]:
    return {
        "persistence": Persistence,
        "week_ago": SameWeekdayLastWeek,
        "gbm": lambda: GradientBoostingForecaster(
            "gbm", exog_columns=PRICE_EXOG, timezone=timezone, country=country, loss="squared_error"
        ),
        "prophet": lambda: ProphetForecaster(
            "prophet", country=country, timezone=timezone, regressors=PRICE_EXOG, window_days=180
        ),
    }


def load_ensemble(
    timezone: str, country: str | None, *, name: str = "ensemble", bands: bool = False
) -> Ensemble:
    """The daemon's load ensemble: fresh :func:`load_members` (``bands``: as there) with the site's
    calendar, for the collapse gate per kind of target day (``Ensemble``)."""
    members = load_members(timezone, country, bands=bands)
    return Ensemble(
        [factory() for factory in members.values()], name=name, timezone=timezone, country=country
    )
