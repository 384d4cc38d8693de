"""The series a backtest replays: load, PV and day-ahead prices on one regular UTC grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.series import DATA_DIR, HOUSEHOLD_FILE, PRICE_FILE

STEPS = {"15min": pd.Timedelta(minutes=15), "1h": pd.Timedelta(hours=1)}


class BacktestDataError(ValueError):
    """The input data cannot be replayed (names the file and the column or row)."""


@dataclass(frozen=True)
class BacktestData:
    index: pd.DatetimeIndex  # interval starts, UTC
    load_kw: np.ndarray
    pv_kw: np.ndarray
    price_eur_mwh: np.ndarray  # day-ahead price of each step's interval
    description: str

    @property
    def step_h(self) -> float:
        return float((self.index[1] - self.index[0]) / pd.Timedelta(hours=1))

    def __len__(self) -> int:
        return len(self.index)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise BacktestDataError(f"{path}: not a readable CSV file ({err})") from None
    if "timestamp_utc" not in frame:
        raise BacktestDataError(f"{path}: no timestamp_utc column")
    stamps = pd.to_datetime(frame.pop("timestamp_utc"), utc=True, errors="coerce", format="ISO8601")
    if stamps.isna().any():
        row = int(np.argmax(stamps.isna().to_numpy())) + 2
        raise BacktestDataError(f"{path}:{row}: timestamp_utc is not an ISO 8601 instant")
    frame.index = pd.DatetimeIndex(stamps)
    if len(frame) < 2:
        raise BacktestDataError(f"{path}: needs at least two rows")
    return frame


def _regular(frame: pd.DataFrame, step: pd.Timedelta, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Mean power per step: finer data averaged, coarser data held (a mean kW stays a mean kW)."""
    frame = frame[~frame.index.duplicated()].sort_index()
    grid = pd.date_range(start, end, freq=step, inclusive="left")
    source_step = frame.index[1] - frame.index[0]
    if source_step < step:
        resampled = frame.resample(step).mean()
    else:
        resampled = frame.reindex(frame.index.union(grid)).ffill(limit=int(source_step / step))
    return resampled.reindex(grid).interpolate(limit_direction="both")


def household_2024(step: str = "1h", start: str = "2024-01-01", end: str = "2025-01-01") -> BacktestData:
    """The Konstanz house (load and ~10 kWp PV, 2016, also a leap year) on 2024's days, AT prices 2024.

    Times are local (Europe/Vienna) midnights; the household's day of year is kept (its weekdays
    shift by two days — acceptable for a household, documented in docs/backtest.md).
    """
    if step not in STEPS:
        raise BacktestDataError(f"step must be one of {sorted(STEPS)}")
    house = _read_csv(DATA_DIR / HOUSEHOLD_FILE)
    house.index = house.index + pd.DateOffset(years=8)
    prices = _read_csv(DATA_DIR / PRICE_FILE)[["price_at_eur_per_mwh"]]
    first = pd.Timestamp(start, tz="Europe/Vienna").tz_convert("UTC")
    last = pd.Timestamp(end, tz="Europe/Vienna").tz_convert("UTC")
    if first >= last:
        raise BacktestDataError("the period is empty: start must come before end")
    if first < prices.index[0] or last > prices.index[-1] + pd.Timedelta(hours=1):
        raise BacktestDataError(f"period {start} → {end} is outside the 2024 data")
    frame = _regular(house.join(prices, how="outer"), STEPS[step], first, last)
    frame = frame.rename(
        columns={"household_load_kw": "load_kw", "price_at_eur_per_mwh": "price_eur_per_mwh"}
    )
    return _backtest_data(
        frame, f"Konstanz household (2016 load and PV on 2024's days), AT day-ahead 2024, {step} steps"
    )


def _backtest_data(frame: pd.DataFrame, description: str) -> BacktestData:
    """The replay's arrays from a regular frame with load_kw, pv_kw, price_eur_per_mwh."""
    return BacktestData(
        pd.DatetimeIndex(frame.index),
        frame["load_kw"].clip(lower=0).to_numpy(dtype=float),
        frame["pv_kw"].clip(lower=0).to_numpy(dtype=float),
        frame["price_eur_per_mwh"].to_numpy(dtype=float),
        description,
    )


def from_history(
    site: SiteConfig, step: str = "1h", start: str | None = None, end: str | None = None
) -> BacktestData:
    """A configured site's own recorded history (load, PV and the price it saw), from its database."""
    from phoenyra_ems.forecast.service import read_site_history

    if step not in STEPS:
        raise BacktestDataError(f"step must be one of {sorted(STEPS)}")
    first = (
        pd.Timestamp(start, tz=site.location.timezone).tz_convert("UTC").to_pydatetime() if start else None
    )
    last = pd.Timestamp(end, tz=site.location.timezone).tz_convert("UTC").to_pydatetime() if end else None
    frame = read_site_history(site, int(STEPS[step].total_seconds()), first, last)
    if len(frame) < 2:
        raise BacktestDataError(f"site {site.site_id}: fewer than two {step} steps of history in that period")
    if frame["price"].isna().all():
        raise BacktestDataError(f"site {site.site_id}: its history has no prices (ems.price_source is none)")
    frame = frame.interpolate(limit_direction="both")  # the daemon's gaps: bridged
    frame = frame.rename(columns={"p_load": "load_kw", "p_pv": "pv_kw", "price": "price_eur_per_mwh"})
    return _backtest_data(frame, f"site {site.site_id}: its recorded history, {step} steps")


def from_csv(
    path: str | Path, step: str = "1h", start: str | None = None, end: str | None = None
) -> BacktestData:
    """Your own data: ``timestamp_utc, load_kw, pv_kw, price_eur_per_mwh`` (any regular step)."""
    file = Path(path)
    frame = _read_csv(file)
    missing = {"load_kw", "pv_kw", "price_eur_per_mwh"} - set(frame)
    if missing:
        raise BacktestDataError(f"{file}: missing column(s) {', '.join(sorted(missing))}")
    if step not in STEPS:
        raise BacktestDataError(f"step must be one of {sorted(STEPS)}")
    for column in ("load_kw", "pv_kw", "price_eur_per_mwh"):
        bad = pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy())) + 2
            raise BacktestDataError(f"{file}:{row}: {column} is not a number")
    first = pd.Timestamp(start, tz="UTC") if start else frame.index[0]
    last = pd.Timestamp(end, tz="UTC") if end else frame.index[-1] + (frame.index[-1] - frame.index[-2])
    return _backtest_data(
        _regular(frame.apply(pd.to_numeric), STEPS[step], first, last), f"{file.name}, {step} steps"
    )
