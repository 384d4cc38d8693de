"""A user's own data for ``forecast-eval --data``: the backtest's CSV format, checked, never repaired.

Columns: ``timestamp_utc`` (ISO 8601, interval start), ``load_kw``, ``pv_kw``, ``price_eur_per_mwh``
and optionally ``pv_forecast_kw`` (a forecast the user already has, e.g. from the inverter's cloud).
Any regular step that divides a day (15 min, 30 min, 1 h). A forecast evaluation on invented data
would be a statement about the invention: gaps (missing rows or empty cells in a column that is
evaluated) are refused with the first gap's row and time, not interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

COLUMNS = {"load": "load_kw", "pv": "pv_kw", "price": "price_eur_per_mwh"}
USER_PV_FORECAST = "pv_forecast_kw"
HISTORY_BEFORE_ORIGIN = pd.Timedelta(days=14)  # the models' minimum (gbm, prophet)


class ForecastDataError(ValueError):
    """The data or the window cannot be evaluated (names the file, row, column or option)."""


@dataclass(frozen=True)
class CsvData:
    path: Path
    frame: pd.DataFrame  # numeric columns on a regular UTC index
    step: pd.Timedelta

    @property
    def end(self) -> pd.Timestamp:
        """The end of the last interval."""
        return pd.Timestamp(self.frame.index[-1] + self.step)

    def span(self) -> str:
        return f"{self.frame.index[0]:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC"


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ForecastDataError(
            f"--timezone {name!r} is not an IANA time zone (e.g. Europe/Vienna)"
        ) from None
    return name


def read(path: str | Path, targets: tuple[str, ...]) -> CsvData:
    """The file's columns for ``targets`` (and ``pv_forecast_kw`` when present), checked."""
    file = Path(path)
    try:
        frame = pd.read_csv(file)
    except FileNotFoundError:
        raise ForecastDataError(f"{file}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ForecastDataError(f"{file}: not a readable CSV file ({err})") from None
    if "timestamp_utc" not in frame:
        raise ForecastDataError(f"{file}: no timestamp_utc column")
    stamps = pd.to_datetime(frame.pop("timestamp_utc"), utc=True, errors="coerce", format="ISO8601")
    if stamps.isna().any():
        row = int(np.argmax(stamps.isna().to_numpy())) + 2
        raise ForecastDataError(f"{file}:{row}: timestamp_utc is not an ISO 8601 instant")
    if len(frame) < 2:
        raise ForecastDataError(f"{file}: needs at least two rows")
    index = pd.DatetimeIndex(stamps)
    steps = index[1:] - index[:-1]
    step = pd.Timedelta(steps[0])
    per_day = pd.Timedelta(days=1) / step if step > pd.Timedelta(0) else 0.5
    if abs(per_day - round(per_day)) > 1e-9:
        raise ForecastDataError(f"{file}: step {step} (between rows 2 and 3) does not divide a day")
    irregular = np.flatnonzero(steps != step)
    if irregular.size:
        at = int(irregular[0])
        raise ForecastDataError(
            f"{file}:{at + 3}: {index[at + 1]:%Y-%m-%d %H:%M} follows {index[at]:%Y-%m-%d %H:%M} "
            f"(step {step / pd.Timedelta(minutes=1):g} min expected): missing or duplicate rows are a gap; "
            "the evaluation does not invent data"
        )
    wanted = [COLUMNS[t] for t in targets]
    missing = [c for c in wanted if c not in frame]
    if missing:
        raise ForecastDataError(f"{file}: missing column(s) {', '.join(missing)}")
    if USER_PV_FORECAST in frame and "pv" in targets:
        wanted.append(USER_PV_FORECAST)
    numeric = pd.DataFrame(index=index)
    for column in wanted:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy())) + 2
            raise ForecastDataError(f"{file}:{row}: {column} is not a number")
        empty = values.isna().to_numpy()
        if empty.any():
            row = int(np.argmax(empty))
            raise ForecastDataError(
                f"{file}:{row + 2}: {column} is empty at {index[row]:%Y-%m-%d %H:%M} UTC "
                f"({int(empty.sum())} empty cells): a gap; fill it or cut the file, the evaluation "
                "does not invent data"
            )
        numeric[column] = values.to_numpy(dtype=float)
    return CsvData(file, numeric, step)


def origins(
    data: CsvData,
    timezone: str,
    first: str | None,
    last: str | None,
    days: int,
    horizon: pd.Timedelta,
    local_hour: int = 0,
) -> list[pd.Timestamp]:
    """Origins at ``local_hour`` of each local day from ``first`` to ``last`` (inclusive dates).

    Without a window: the last ``days`` days that fit. Each origin needs 14 days of data before it and
    a whole horizon after it; a window that does not fit is refused naming the option and the range.
    """
    earliest = data.frame.index[0] + HISTORY_BEFORE_ORIGIN
    latest = data.end - horizon

    def local(day: pd.Timestamp) -> pd.Timestamp:
        return pd.Timestamp(day.date(), tz=timezone) + pd.Timedelta(hours=local_hour)

    def parse(option: str, text: str) -> pd.Timestamp:
        try:
            return pd.Timestamp(text)
        except ValueError:
            raise ForecastDataError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None

    first_ok = local(earliest.tz_convert(timezone))
    if first_ok < earliest:
        first_ok = local(first_ok + pd.Timedelta(days=1))
    last_ok = local(latest.tz_convert(timezone))
    if last_ok > latest:
        last_ok = local(last_ok - pd.Timedelta(days=1))
    allowed = (
        f"{data.path.name} covers {data.span()}; origins need 14 days before and "
        f"{horizon / pd.Timedelta(hours=1):g} h after them, so the window can be "
        f"{first_ok:%Y-%m-%d} → {last_ok:%Y-%m-%d}"
    )
    if first_ok > last_ok:
        raise ForecastDataError(f"{data.path.name} is too short to evaluate: {allowed}")
    start = local(parse("--from", first)) if first else None
    end = local(parse("--to", last)) if last else None
    if start is not None and end is not None and start > end:
        raise ForecastDataError(f"--from {first} is after --to {last}: the window is reversed")
    if start is not None and not first_ok <= start <= last_ok:
        raise ForecastDataError(f"--from {first} is outside the data: {allowed}")
    if end is not None and not first_ok <= end <= last_ok:
        raise ForecastDataError(f"--to {last} is outside the data: {allowed}")
    if end is None:
        end = last_ok if start is None else min(last_ok, local(start + pd.Timedelta(days=days - 1)))
    if start is None:
        start = max(first_ok, local(end - pd.Timedelta(days=days - 1)))
    days_local = pd.date_range(start.date(), end.date(), freq="1D")
    return [local(pd.Timestamp(d)).tz_convert("UTC") for d in days_local]
