"""Real time series shipped in ``phoenyra_ems/data``, replayable at any date.

A series covers one year; ``value_at`` maps any instant onto the same day-of-year and time of day in
that year (so the demo can run "today" on real data) and interpolates linearly over gaps.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
PRICE_FILE = "prices_at_de_lu_dayahead_2024_hourly.csv"
HOUSEHOLD_FILE = "household_konstanz_2016_hourly.csv"
COMMERCIAL_FILE = "load_ci_tool_manufacturer_2018_15min.csv"
KONSTANZ_PV_PEAK_KW = 10.0  # the source's estimate of the Konstanz system


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class YearSeries:
    """Values at regular instants of one year (UTC); the file starts at 23:00 UTC on 31 December."""

    start: datetime
    step_s: float
    values: tuple[float, ...]

    @property
    def period_s(self) -> float:
        return self.step_s * len(self.values)

    def _offset_s(self, when: datetime) -> float:
        """Seconds into the series for ``when``, by day-of-year and time of day."""
        when = when.astimezone(UTC)
        day_of_year = when.timetuple().tm_yday - 1
        shifted = when.replace(year=self.start.year + 1, month=1, day=1) + timedelta(days=day_of_year)
        offset = (shifted - self.start).total_seconds()
        return offset % self.period_s

    def value_at(self, when: datetime) -> float:
        offset = self._offset_s(when)
        index = int(offset // self.step_s)
        frac = (offset - index * self.step_s) / self.step_s
        a = self.values[index]
        b = self.values[(index + 1) % len(self.values)]
        return a + (b - a) * frac

    def slots(self, when: datetime, count: int) -> list[tuple[datetime, float]]:
        """``count`` values from the slot containing ``when`` on, with their start instants."""
        offset = self._offset_s(when)
        index = int(offset // self.step_s)
        first = when.astimezone(UTC) - timedelta(seconds=offset - index * self.step_s)
        return [
            (first + timedelta(seconds=i * self.step_s), self.values[(index + i) % len(self.values)])
            for i in range(count)
        ]


def _fill_gaps(raw: list[float | None]) -> list[float]:
    """Linear interpolation over empty cells (edges take the nearest value)."""
    known = [i for i, v in enumerate(raw) if v is not None]
    if not known:
        return [0.0] * len(raw)
    out: list[float] = []
    for i, value in enumerate(raw):
        if value is not None:
            out.append(value)
            continue
        pos = bisect_right(known, i)
        left = known[pos - 1] if pos > 0 else None
        right = known[pos] if pos < len(known) else None
        if left is None or right is None:
            nearest = right if left is None else left
            assert nearest is not None
            out.append(raw[nearest] or 0.0)
        else:
            lv, rv = raw[left] or 0.0, raw[right] or 0.0
            out.append(lv + (rv - lv) * (i - left) / (right - left))
    return out


@lru_cache(maxsize=16)
def load_column(file_name: str, column: str, scale: float = 1.0) -> YearSeries:
    """One column of a shipped CSV file as a YearSeries (cached)."""
    with (DATA_DIR / file_name).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    times = [_parse_utc(r["timestamp_utc"]) for r in rows]
    raw = [float(r[column]) * scale if r[column] not in ("", None) else None for r in rows]
    step = (times[1] - times[0]).total_seconds()
    return YearSeries(times[0], step, tuple(_fill_gaps(raw)))


def prices(zone: str = "at") -> YearSeries:
    """Day-ahead prices 2024 (EUR/MWh) of a zone: ``at`` or ``de_lu``."""
    return load_column(PRICE_FILE, f"price_{zone}_eur_per_mwh")


def pv_per_kwp() -> YearSeries:
    """Real PV output per kWp (Konstanz 2016)."""
    return load_column(HOUSEHOLD_FILE, "pv_kw", 1 / KONSTANZ_PV_PEAK_KW)


def household_load_kw() -> YearSeries:
    """A real household's load in kW (Konstanz 2016, about 6.1 MWh/a)."""
    return load_column(HOUSEHOLD_FILE, "household_load_kw")


def commercial_load_per_mwh_a() -> YearSeries:
    """A real tool manufacturer's load in kW per MWh of annual consumption (2018)."""
    return load_column(COMMERCIAL_FILE, "g_mv_tool_manufacturer_w_per_mwh_a", 1 / 1000)
