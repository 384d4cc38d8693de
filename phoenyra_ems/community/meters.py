"""Each member's metered energy per 15-minute interval: from a site's history, a CSV, or the simulator.

A meter is a mapping interval start (UNIX seconds, UTC) -> (consumption taken, generation fed in), kWh.
For our sites that is the grid connection: import is consumption, export is generation (the battery
and the PV behind the meter are the site's own business, as they are for the grid operator).
"""

from __future__ import annotations

import calendar
import csv
import math
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from phoenyra_ems.config.community_model import CommunityConfig, CommunityMember
from phoenyra_ems.config.model import EmsConfig, SiteConfig

STEP_S = 900
Meter = dict[int, tuple[float, float]]


class MeterError(ValueError):
    """A member's data cannot be read (names the file and line)."""


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` -> [start, end) in UTC, midnight to midnight in the community's zone."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        first = datetime(year, mon, 1, tzinfo=ZoneInfo(tz))
    except ValueError:
        raise MeterError(f"month {month!r}: expected YYYY-MM") from None
    last = first + timedelta(days=calendar.monthrange(year, mon)[1])
    last = datetime(last.year, last.month, 1, tzinfo=ZoneInfo(tz))
    return first.astimezone(UTC), last.astimezone(UTC)


def interval_starts(start: datetime, end: datetime) -> list[int]:
    lo = math.ceil(start.timestamp() / STEP_S) * STEP_S
    return list(range(lo, int(end.timestamp()), STEP_S))


def month_of(ts: int, tz: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m")


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(text: str | None, where: str, column: str) -> float:
    if text is None or not text.strip():
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise MeterError(f"{where}: {column} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise MeterError(f"{where}: {column} must be a finite number ≥ 0, got {text!r}")
    return value


def read_csv_meter(path: Path, start: datetime, end: datetime) -> Meter:
    """``timestamp_utc, consumption_kwh, generation_kwh`` (either energy column may be absent), 15 min."""
    lo, hi = start.timestamp(), end.timestamp()
    out: Meter = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            names = reader.fieldnames or []
            if "timestamp_utc" not in names or not {"consumption_kwh", "generation_kwh"} & set(names):
                raise MeterError(
                    f"{path}:1: needs columns timestamp_utc and consumption_kwh and/or generation_kwh"
                )
            for row in reader:
                where = f"{path}:{reader.line_num}"
                try:
                    when = datetime.fromisoformat(row["timestamp_utc"].replace("Z", "+00:00"))
                except (ValueError, AttributeError):
                    raise MeterError(f"{where}: timestamp_utc is not an ISO 8601 instant") from None
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                ts = int(when.timestamp())
                if ts % STEP_S:
                    raise MeterError(f"{where}: {row['timestamp_utc']} is not the start of a quarter-hour")
                if lo <= ts < hi:
                    out[ts] = (
                        _number(row.get("consumption_kwh"), where, "consumption_kwh"),
                        _number(row.get("generation_kwh"), where, "generation_kwh"),
                    )
    except OSError as err:
        raise MeterError(f"{path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise MeterError(f"{path}: not UTF-8 text") from None
    return out


def read_history_meter(site: SiteConfig, start: datetime, end: datetime) -> Meter:
    """Import and export per quarter-hour from the site's recorded history (mean positive parts)."""
    from phoenyra_ems.history.store import database_path

    path = database_path(site.ems.history_dir, site.site_id)
    if not path.exists():
        raise MeterError(f"{path}: no recorded history for site {site.site_id!r}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT CAST(ts / ? AS INTEGER) * ?, AVG(MAX(p_grid, 0)), AVG(MAX(-p_grid, 0)) FROM samples "
            "WHERE ts >= ? AND ts < ? GROUP BY 1",
            (STEP_S, STEP_S, start.timestamp(), end.timestamp()),
        ).fetchall()
    except sqlite3.Error as err:
        raise MeterError(f"{path}: {err}") from None
    finally:
        db.close()
    hours = STEP_S / 3600
    return {int(ts): (imp * hours, exp * hours) for ts, imp, exp in rows}


def simulate_site_meter(site: SiteConfig, starts: list[int]) -> Meter:
    """The demo's simulated site on the shipped real series (commercial load, PV), its battery used
    for self-consumption (charge from surplus, discharge into the load, within its limits)."""
    from phoenyra_ems import series

    # as demo.simulator_for (not imported: it loads the daemon): a commercial load whose peaks just
    # exceed the peak cap (or reach 60 % of the grid connection); 0.30 kW per MWh/a is its p99
    grid_kw = site.grid_connection.max_power_kw or site.bess.power_discharge_max_kw
    annual_load_mwh = (site.grid_tariffs.peak_import_cap_kw or 0.6 * grid_kw) * 1.05 / 0.30
    pv_peak_kw = site.forecast.pv_peak_power_kw
    load, pv = series.commercial_load_per_mwh_a(), series.pv_per_kwp()
    bess = site.bess
    lo, hi = (
        bess.soc_min_pct / 100 * bess.energy_capacity_kwh,
        bess.soc_max_pct / 100 * bess.energy_capacity_kwh,
    )
    energy = (lo + hi) / 2
    hours = STEP_S / 3600
    out: Meter = {}
    for ts in starts:
        mid = datetime.fromtimestamp(ts + STEP_S / 2, UTC)
        net = load.value_at(mid) * annual_load_mwh - max(0.0, pv.value_at(mid) * pv_peak_kw)
        if net < 0:  # surplus: charge
            charge = min(-net, bess.power_charge_max_kw, (hi - energy) / (bess.efficiency_charge * hours))
            energy += charge * bess.efficiency_charge * hours
            net += charge
        else:
            discharge = min(
                net, bess.power_discharge_max_kw, (energy - lo) * bess.efficiency_discharge / hours
            )
            energy -= discharge / bess.efficiency_discharge * hours
            net -= discharge
        out[ts] = (max(net, 0.0) * hours, max(-net, 0.0) * hours)
    return out


def member_meter(
    member: CommunityMember, config: EmsConfig, starts: list[int], source: str
) -> tuple[Meter, int]:
    """A member's meter over ``starts`` and the number of intervals it had no data for (counted as 0)."""
    if not starts:
        return {}, 0
    start = datetime.fromtimestamp(starts[0], UTC)
    end = datetime.fromtimestamp(starts[-1] + STEP_S, UTC)
    if member.csv is not None:
        path = Path(member.csv)
        if not path.is_absolute() and config.source:
            path = Path(config.source).parent / path
        meter = read_csv_meter(path, start, end)
    else:
        site = config.sites[str(member.site)]
        meter = (
            simulate_site_meter(site, starts)
            if source == "simulated"
            else read_history_meter(site, start, end)
        )
    missing = sum(1 for ts in starts if ts not in meter)
    return meter, missing


def community_of(config: EmsConfig) -> CommunityConfig:
    if config.community is None:
        raise MeterError(f"{config.source or 'the configuration'}: no community: block (docs/community.md)")
    return config.community
