"""Calendar features in the site's local time: time of day, weekday, public holidays (AT/DE)."""

from __future__ import annotations

from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

# The zones of the sites we know; anything else: no public holidays (a warning-free default).
COUNTRY_BY_TIMEZONE = {"Europe/Vienna": "AT", "Europe/Berlin": "DE", "Europe/Busingen": "DE"}


def country_for(timezone: str) -> str | None:
    return COUNTRY_BY_TIMEZONE.get(timezone)


@lru_cache(maxsize=16)
def _holiday_calendar(country: str, first_year: int, last_year: int) -> frozenset[object]:
    return frozenset(holidays.country_holidays(country, years=range(first_year, last_year + 1)).keys())


def holiday_flags(index: pd.DatetimeIndex, timezone: str, country: str | None) -> np.ndarray:
    """1.0 where the local date is a public holiday of ``country``."""
    if country is None or len(index) == 0:
        return np.zeros(len(index))
    local = index.tz_convert(timezone)
    days = _holiday_calendar(country, int(local.year.min()), int(local.year.max()))
    return np.fromiter((d in days for d in local.date), dtype=float, count=len(local))


def day_kinds(index: pd.DatetimeIndex, timezone: str, country: str | None) -> np.ndarray:
    """The kind of each instant's local day: its weekday (0 = Monday), a public holiday counting as
    a Sunday (6)."""
    if len(index) == 0:
        return np.zeros(0, dtype=int)
    midnights = index.tz_convert(timezone).normalize()  # each local day once (a month: ~30, not ~3,000)
    _, at, which = np.unique(np.asarray(midnights.asi8), return_index=True, return_inverse=True)
    first = midnights[at]
    weekday = np.asarray(first.day_of_week, dtype=int)
    return np.asarray(np.where(holiday_flags(first, timezone, country) > 0, 6, weekday)[which.ravel()])


def calendar_features(index: pd.DatetimeIndex, timezone: str, country: str | None) -> pd.DataFrame:
    """Hour of day (fractional), weekday (0 = Monday), weekend/holiday flag, day of year."""
    local = index.tz_convert(timezone)
    holiday = holiday_flags(index, timezone, country)
    weekday = np.asarray(local.day_of_week, dtype=float)
    return pd.DataFrame(
        {
            "hour": np.asarray(local.hour + local.minute / 60.0, dtype=float),
            "weekday": weekday,
            "day_off": np.maximum(holiday, (weekday >= 5).astype(float)),
            "holiday": holiday,
            "doy_sin": np.sin(2 * np.pi * np.asarray(local.day_of_year, dtype=float) / 365.25),
            "doy_cos": np.cos(2 * np.pi * np.asarray(local.day_of_year, dtype=float) / 365.25),
        },
        index=index,
    )


def holiday_table(country: str, first_year: int, last_year: int) -> pd.DataFrame:
    """Public holidays as Prophet's ``holidays`` frame (``ds``, ``holiday``)."""
    days = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    return pd.DataFrame(
        {"ds": pd.to_datetime(list(days.keys())), "holiday": [str(name) for name in days.values()]}
    ).sort_values("ds", ignore_index=True)
