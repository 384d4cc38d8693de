"""The series a backtest replays: load, PV and day-ahead prices on one regular UTC grid.

Every source (the shipped household year, ``--data CSV``, a site's ``--history``) goes through the
same checks: the period (``--from``/``--to``, read as the site's local time) must lie inside the
data and not be empty; gaps in the data up to ``max_gap_h`` (default 1 h) are filled by linear
interpolation and counted, longer ones are refused (a backtest on invented data proves nothing).
The shipped household year is the exception: its known gaps (phoenyra_ems/data/README.md) are
bridged and reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.series import DATA_DIR, HOUSEHOLD_FILE, PRICE_FILE

STEPS = {"15min": pd.Timedelta(minutes=15), "1h": pd.Timedelta(hours=1)}
MAX_GAP_H = 1.0
COLUMNS = ("load_kw", "pv_kw", "price_eur_per_mwh")
PV_FORECAST = "pv_forecast_kw"  # optional: a PV forecast the user already has (forecast-eval --value)
HOUSEHOLD_ZONE = "Europe/Vienna"


class BacktestDataError(ValueError):
    """The input data cannot be replayed (names the file and the column or row, or the option)."""


@dataclass(frozen=True)
class BacktestData:
    index: pd.DatetimeIndex  # interval starts, UTC
    load_kw: np.ndarray
    pv_kw: np.ndarray
    price_eur_mwh: np.ndarray  # day-ahead price of each step's interval
    description: str
    notes: tuple[str, ...] = ()  # what was done to the data (gaps filled), printed with the table
    # A PV forecast the user already has (CSV column pv_forecast_kw: each step's forecast), if any
    pv_forecast_kw: np.ndarray | None = None

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


# --- the period ---------------------------------------------------------------------------------
def _instant(value: str, zone: str, option: str) -> pd.Timestamp:
    """``--from``/``--to`` as a UTC instant: a date or a time without offset is the site's local time."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as err:
        raise BacktestDataError(f"{option} {value!r} is not a date or time ({err})") from None
    if stamp is pd.NaT:
        raise BacktestDataError(f"{option} {value!r} is not a date or time")
    try:
        local = stamp.tz_convert(zone) if stamp.tzinfo is not None else stamp.tz_localize(zone)
    except Exception as err:  # nonexistent or ambiguous local times (DST), unknown zones
        raise BacktestDataError(f"{option} {value!r} is not a valid time in {zone} ({err})") from None
    return local.tz_convert("UTC")


def _show(stamp: pd.Timestamp, zone: str) -> str:
    return f"{stamp.tz_convert(zone):%Y-%m-%d %H:%M%z}"


def _span(first: pd.Timestamp, end: pd.Timestamp, zone: str) -> str:
    return f"{_show(first, zone)} → {_show(end, zone)} ({zone})"


def _period(
    what: str, first: pd.Timestamp, end: pd.Timestamp, start: str | None, stop: str | None, zone: str
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period asked for, checked against the data's range ``[first, end)``."""
    lo = _instant(start, zone, "--from") if start else first
    hi = _instant(stop, zone, "--to") if stop else end
    covers = f"{what} covers {_span(first, end, zone)}"
    if lo >= hi:
        raise BacktestDataError(
            f"the period is empty: --from {_show(lo, zone)} is not before --to {_show(hi, zone)}; {covers}"
        )
    if lo < first:
        raise BacktestDataError(f"--from {_show(lo, zone)} is outside the data: {covers}")
    if hi > end:
        raise BacktestDataError(f"--to {_show(hi, zone)} is outside the data: {covers}")
    return lo, hi


# --- gaps and the grid --------------------------------------------------------------------------
def _source_step(frame: pd.DataFrame, what: str) -> pd.Timedelta:
    """The data's own step (its most common spacing); refuses rows off that grid."""
    index = frame.index
    dupes = index.duplicated()
    if dupes.any():
        raise BacktestDataError(f"{what}: {index[int(np.argmax(dupes))]:%Y-%m-%d %H:%M} UTC appears twice")
    diffs = pd.Series(index[1:] - index[:-1])
    step = diffs.mode().iloc[0]
    off = (diffs % step) != pd.Timedelta(0)
    if off.any():
        k = int(np.argmax(off.to_numpy())) + 1
        raise BacktestDataError(
            f"{what}: {index[k]:%Y-%m-%d %H:%M} UTC is off the data's {_duration(step)} grid "
            f"(the rows before and after are {_duration(diffs.iloc[k - 1])} apart)"
        )
    return pd.Timedelta(step)


def _duration(delta: pd.Timedelta) -> str:
    minutes = delta / pd.Timedelta(minutes=1)
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


def _filled(
    frame: pd.DataFrame,
    step: pd.Timedelta,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    what: str,
    zone: str,
    max_gap_h: float | None,
) -> tuple[pd.DataFrame, str | None]:
    """The rows covering ``[lo, hi)`` on the data's full grid, gaps filled; refuses gaps > ``max_gap_h``.

    ``max_gap_h`` None: every gap is bridged (the shipped data, whose gaps are known). Returns the
    frame and a note on what was filled (None when nothing was).
    """
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    full = frame.reindex(grid)
    full = full[(full.index + step > lo) & (full.index < hi)]
    missing = full.isna().any(axis=1).to_numpy()
    if not missing.any():
        return full, None
    # runs of missing rows: start index and length
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    longest = int(np.argmax(lengths))
    gap_start = full.index[starts[longest]]
    gap = step * int(lengths[longest])
    where = f"{_span(gap_start, gap_start + gap, zone)}"
    if max_gap_h is not None and gap > pd.Timedelta(hours=max_gap_h):
        window = full.iloc[starts[longest] : ends[longest]]
        empty = ", ".join(c for c in full.columns if window[c].isna().any())
        raise BacktestDataError(
            f"{what} has no data for {_duration(gap)} from {where} in {empty} ({len(starts)} gap(s), "
            f"{int(missing.sum())} of {len(full)} steps missing in the period); the backtest fills gaps "
            f"of at most {max_gap_h:g} h and refuses longer ones rather than invent data: choose a period "
            "without it (--from/--to) or allow longer gaps with --max-gap HOURS"
        )
    # The first missing step holds the last value, the rest is interpolated linearly (as the
    # backtest always bridged the shipped data: its figures in docs/backtest.md stay comparable).
    full = full.ffill(limit=1).interpolate(method="time", limit_direction="both")
    note = (
        f"{what}: {int(missing.sum())} of {len(full)} {_duration(step)} steps were missing "
        f"({len(starts)} gap(s), the longest {_duration(gap)} from {where}), filled (the last value, "
        "then linear interpolation)"
    )
    return full, note


def _regular(
    frame: pd.DataFrame, source: pd.Timedelta, step: pd.Timedelta, lo: pd.Timestamp, hi: pd.Timestamp
) -> pd.DataFrame:
    """Mean power per step of ``[lo, hi)`` from a gap-free frame on its own grid.

    Each value holds over its interval (a mean kW stays a mean kW); finer data is averaged, coarser
    data held, also when the steps start off the data's grid (local midnights in zones like +05:30).
    """
    offset = int((lo - frame.index[0]).total_seconds()) % int(source.total_seconds())
    fine_s = math.gcd(int(source.total_seconds()), int(step.total_seconds()), offset)
    if fine_s < 60:
        raise BacktestDataError("--from must fall on a whole minute of the data's grid")
    fine = pd.Timedelta(seconds=fine_s)
    times = pd.date_range(frame.index[0], frame.index[-1] + source, freq=fine, inclusive="left")
    held = frame.reindex(times, method="ffill")
    held = held[(held.index >= lo) & (held.index < hi)]
    per_step = held.resample(step, origin=lo).mean()
    grid = pd.date_range(lo, hi, freq=step, inclusive="left")
    grid = grid[grid + step <= hi]  # whole steps only
    if len(grid) < 2:
        raise BacktestDataError(f"the period {lo} → {hi} holds fewer than two {_duration(step)} steps")
    return per_step.reindex(grid)


def _columns(frame: pd.DataFrame) -> list[str]:
    """The columns a backtest reads: ``COLUMNS``, and ``pv_forecast_kw`` where the data has it."""
    return [*COLUMNS, *([PV_FORECAST] if PV_FORECAST in frame else [])]


def _prepare(
    frame: pd.DataFrame,
    what: str,
    step: str,
    start: str | None,
    end: str | None,
    zone: str,
    max_gap_h: float | None,
    description: str,
) -> BacktestData:
    """Checks and regularises ``frame`` (UTC index, columns load_kw, pv_kw, price_eur_per_mwh and
    optionally pv_forecast_kw)."""
    if step not in STEPS:
        raise BacktestDataError(f"step must be one of {sorted(STEPS)}")
    frame = frame.sort_index()
    source = _source_step(frame, what)
    lo, hi = _period(what, frame.index[0], frame.index[-1] + source, start, end, zone)
    full, note = _filled(frame[_columns(frame)], source, lo, hi, what, zone, max_gap_h)
    regular = _regular(full, source, STEPS[step], lo, hi)
    given = regular[PV_FORECAST].clip(lower=0).to_numpy(dtype=float) if PV_FORECAST in regular else None
    return BacktestData(
        pd.DatetimeIndex(regular.index),
        regular["load_kw"].clip(lower=0).to_numpy(dtype=float),
        regular["pv_kw"].clip(lower=0).to_numpy(dtype=float),
        regular["price_eur_per_mwh"].to_numpy(dtype=float),
        description,
        (note,) if note else (),
        given,
    )


# --- the sources --------------------------------------------------------------------------------
def household_2024(
    step: str = "1h", start: str | None = None, end: str | None = None, timezone: str = HOUSEHOLD_ZONE
) -> BacktestData:
    """The Konstanz house (load and ~10 kWp PV, 2016, also a leap year) on 2024's days, AT prices 2024.

    Without ``start``/``end``: the whole local days the data covers in ``timezone`` (the year 2024 in
    Vienna). The household's day of year is kept (its weekdays shift by two days — acceptable for a
    household, documented in docs/backtest.md). Its known gaps are bridged and reported in ``notes``.
    """
    house = _read_csv(DATA_DIR / HOUSEHOLD_FILE)
    house.index = house.index + pd.DateOffset(years=8)
    prices = _read_csv(DATA_DIR / PRICE_FILE)[["price_at_eur_per_mwh"]]
    frame = house.join(prices, how="outer").rename(
        columns={"household_load_kw": "load_kw", "price_at_eur_per_mwh": "price_eur_per_mwh"}
    )
    if start is None or end is None:  # whole local days
        first = frame.index[0].tz_convert(timezone)
        last = (frame.index[-1] + pd.Timedelta(hours=1)).tz_convert(timezone)
        day0 = first.normalize() if first == first.normalize() else first.normalize() + pd.Timedelta(days=1)
        start = start or f"{day0:%Y-%m-%d}"
        end = end or f"{last.normalize():%Y-%m-%d}"
    return _prepare(
        frame,
        "the household data (2024)",
        step,
        start,
        end,
        timezone,
        None,
        f"Konstanz household (2016 load and PV on 2024's days), AT day-ahead 2024, {step} steps",
    )


def from_history(
    site: SiteConfig,
    step: str = "1h",
    start: str | None = None,
    end: str | None = None,
    max_gap_h: float = MAX_GAP_H,
) -> BacktestData:
    """A configured site's own recorded history (load, PV and the price it saw), from its database."""
    from phoenyra_ems.history.frames import read_site_history

    if step not in STEPS:
        raise BacktestDataError(f"step must be one of {sorted(STEPS)}")
    zone = site.location.timezone
    # The whole history: its range is what --from/--to are checked against.
    frame = read_site_history(site, int(STEPS[step].total_seconds()))
    if len(frame) < 2:
        raise BacktestDataError(f"site {site.site_id}: fewer than two {step} steps of recorded history")
    if frame["price"].isna().all():
        raise BacktestDataError(f"site {site.site_id}: its history has no prices (ems.price_source is none)")
    frame = frame.rename(columns={"p_load": "load_kw", "p_pv": "pv_kw", "price": "price_eur_per_mwh"})
    return _prepare(
        frame,
        f"site {site.site_id}'s recorded history",
        step,
        start,
        end,
        zone,
        max_gap_h,
        f"site {site.site_id}: its recorded history, {step} steps",
    )


def from_csv(
    path: str | Path,
    step: str = "1h",
    start: str | None = None,
    end: str | None = None,
    timezone: str = "UTC",
    max_gap_h: float = MAX_GAP_H,
) -> BacktestData:
    """Your own data: ``timestamp_utc, load_kw, pv_kw, price_eur_per_mwh`` (any regular step), and
    optionally ``pv_forecast_kw``: a PV forecast you already have (kept in ``pv_forecast_kw``).

    ``start``/``end`` are read in ``timezone`` (the site's) unless they carry an offset.
    """
    file = Path(path)
    frame = _read_csv(file)
    missing = set(COLUMNS) - set(frame)
    if missing:
        raise BacktestDataError(f"{file}: missing column(s) {', '.join(sorted(missing))}")
    if step not in STEPS:
        raise BacktestDataError(f"step must be one of {sorted(STEPS)}")
    for column in _columns(frame):
        bad = pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy())) + 2
            raise BacktestDataError(f"{file}:{row}: {column} is not a number")
    return _prepare(
        frame.apply(pd.to_numeric),
        str(file),
        step,
        start,
        end,
        timezone,
        max_gap_h,
        f"{file.name}, {step} steps",
    )
