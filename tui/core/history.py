"""A chosen day's window in the site's time zone, and chart series from samples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from tui.core.format import site_zone as site_zone  # re-exported: the views import it from here
from tui.core.store import ChartPoint

HISTORY_STEP_S = 300


def day_window(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight (23 or 25 h on DST days)."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start, end


def parse_day(text: str) -> date:
    return date.fromisoformat(text.strip())


@dataclass(frozen=True, slots=True)
class Series:
    x: list[float]  # hours (last hour: minutes before the newest point; day: local hour of day)
    p_bess: list[float]
    p_pv: list[float]
    p_load: list[float]
    p_grid: list[float]
    soc: list[float]

    @property
    def empty(self) -> bool:
        return not self.x


def _series(points: Sequence[ChartPoint], x: list[float]) -> Series:
    return Series(
        x,
        [p.p_bess for p in points],
        [p.p_pv for p in points],
        [p.p_load for p in points],
        [p.p_grid for p in points],
        [p.soc for p in points],
    )


def last_hour_series(points: Iterable[ChartPoint]) -> Series:
    """x = minutes relative to the newest point (-60 … 0)."""
    pts = list(points)
    if not pts:
        return _series([], [])
    newest = pts[-1].timestamp
    return _series(pts, [(p.timestamp - newest).total_seconds() / 60 for p in pts])


def day_series(points: Iterable[ChartPoint], zone: tzinfo, day: date) -> Series:
    """x = local hour of the day (0 … 24)."""
    start, _ = day_window(day, zone)
    pts = list(points)
    return _series(pts, [(p.timestamp - start).total_seconds() / 3600 for p in pts])


@dataclass(frozen=True, slots=True)
class DaySummary:
    charged_kwh: float
    discharged_kwh: float
    imported_kwh: float
    exported_kwh: float
    pv_kwh: float
    load_kwh: float
    soc_min: float | None
    soc_max: float | None


def summarise(points: Sequence[ChartPoint], step_s: float = HISTORY_STEP_S) -> DaySummary:
    h = step_s / 3600
    return DaySummary(
        charged_kwh=sum(max(0.0, -p.p_bess) for p in points) * h,
        discharged_kwh=sum(max(0.0, p.p_bess) for p in points) * h,
        imported_kwh=sum(max(0.0, p.p_grid) for p in points) * h,
        exported_kwh=sum(max(0.0, -p.p_grid) for p in points) * h,
        pv_kwh=sum(p.p_pv for p in points) * h,
        load_kwh=sum(p.p_load for p in points) * h,
        soc_min=min((p.soc for p in points), default=None),
        soc_max=max((p.soc for p in points), default=None),
    )
