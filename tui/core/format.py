"""Text for the views: power flow with direction arrows, ages, health. Pure functions.

Sign convention (docs/sign-convention.md): ``p_grid + p_pv + p_bess = p_load``; ``p_bess > 0``
discharges into the bus, ``p_grid > 0`` imports. An arrow ``──▶`` means power flows *into* the
site's AC bus, ``◀──`` out of it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from phoenyra_ems.client import EnergyCounters, SiteState, SiteStatus

IDLE_KW = 0.05
IN = "──▶"
OUT = "◀──"
NONE = "───"

STRATEGY_SHORT = {
    "arbitrage": "arbitrage",
    "peak_shaving": "peak shave",
    "self_consumption": "self cons.",
    "load_balancing": "load bal.",
}


@dataclass(frozen=True, slots=True)
class FlowLine:
    label: str
    kw: float  # magnitude
    arrow: str
    note: str


def _direction(p: float, into: str, out: str) -> tuple[str, str]:
    if p > IDLE_KW:
        return IN, into
    if p < -IDLE_KW:
        return OUT, out
    return NONE, "idle"


def flow_lines(state: SiteState) -> list[FlowLine]:
    pv_arrow, pv_note = _direction(state.p_pv, "generating", "-")
    grid_arrow, grid_note = _direction(state.p_grid, "import", "export")
    bess_arrow, bess_note = _direction(state.p_bess, "discharging", "charging")
    load_arrow, load_note = _direction(-state.p_load, "-", "consumption")
    return [
        FlowLine("PV", abs(state.p_pv), pv_arrow, pv_note),
        FlowLine("Grid", abs(state.p_grid), grid_arrow, grid_note),
        FlowLine("Battery", abs(state.p_bess), bess_arrow, bess_note),
        FlowLine("Load", abs(state.p_load), load_arrow, load_note),
    ]


def flow_text(state: SiteState) -> str:
    """The power-flow diagram, one line per branch around the bus."""
    corners = ["┐", "┤", "┤", "┘"]
    return "\n".join(
        f"{line.label:<8}{line.kw:7.1f} kW {line.arrow}{corner} {line.note}"
        for line, corner in zip(flow_lines(state), corners, strict=True)
    )


def site_zone(name: str) -> tzinfo:
    """The site's IANA time zone (``location.timezone``); UTC when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime, zone: tzinfo, seconds: bool = True) -> str:
    """``12:45:00 CEST``: a daemon time (UTC) as the site's wall-clock time with its zone."""
    return f"{value.astimezone(zone):%H:%M:%S %Z}" if seconds else f"{value.astimezone(zone):%H:%M %Z}"


def no_negative_zero(value: float, digits: int) -> float:
    """``value`` rounded to ``digits``, never ``-0.0`` (what would show as ``-0.0``/``-0`` is 0)."""
    return round(value, digits) + 0.0  # -0.0 + 0.0 == 0.0


def kw(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    value = no_negative_zero(value, 1)
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def axis_ticks(low: float, high: float, count: int = 5) -> tuple[float, float, list[float], list[str]]:
    """Axis limits and about ``count`` round ticks inside them (steps of 1, 2, 2.5 or 5 × 10ⁿ) with
    their labels, never ``-0``: plotext's own labels show ``-0.0`` on small ranges. A flat series
    gets ±1 around its value."""
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if (high - low) / (m * magnitude) <= count + 1)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + (1 if step / magnitude == 2.5 else 0))
    ticks = [
        no_negative_zero(i * step, decimals + 2)
        for i in range(math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) + 1)
    ]
    return low, high, ticks, [f"{no_negative_zero(t, decimals):.{decimals}f}" for t in ticks]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def strategy_short(name: str | None) -> str:
    return "-" if name is None else STRATEGY_SHORT.get(name, name)


def health(state: SiteState, received_age_s: float | None) -> tuple[str, str]:
    """Communication health as (level, text); level ``ok``, ``warn`` or ``error``."""
    reading = (
        "no reading yet"
        if state.last_reading is None
        else f"last reading {age((state.timestamp - state.last_reading).total_seconds())} before the cycle"
    )
    pushed = f"update {age(received_age_s)} ago"
    if state.status is SiteStatus.RUNNING:
        level = "warn" if received_age_s is not None and received_age_s > 10 else "ok"
    elif state.status in (SiteStatus.SAFE, SiteStatus.STARTING):
        level = "warn"
    else:
        level = "error"
    return level, f"{state.status}: {reading}; {pushed}"


def soc_bar(soc: float, soc_min: float, soc_max: float, width: int) -> str:
    """A SoC gauge ``███████░░░|░░`` with the allowed window marked by ``|`` at min and max."""
    width = max(10, width)
    filled = round(max(0.0, min(100.0, soc)) / 100 * width)
    cells = ["█" if i < filled else "░" for i in range(width)]
    for mark in (soc_min, soc_max):
        i = min(width - 1, max(0, round(mark / 100 * width)))
        cells[i] = "▏" if i < filled else "|"
    return "".join(cells)


_REQUEST_PREFIX = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE|WS) \S+: ")
_AIOHTTP_NOISE = re.compile(r"\s+ssl:\S+|\s*\[[^\]]*\]")
_CANNOT_CONNECT = re.compile(r"^Cannot connect to host (\S+)$")


def energy_line(energy: EnergyCounters | None) -> str:
    """The daemon's energy counters in one line ("" while it has none)."""
    if energy is None:
        return ""
    since = f" since {energy.since:%Y-%m-%d}" if energy.since is not None else ""
    return (
        f"Energy{since}: charged {energy.charged_kwh:,.1f} · discharged {energy.discharged_kwh:,.1f} · "
        f"import {energy.imported_kwh:,.1f} · export {energy.exported_kwh:,.1f} kWh"
    )


def short_error(message: str, limit: int = 60) -> str:
    """An error for a one-line banner: without the request (``GET /api/v1/info:``) and aiohttp's
    detail (``ssl:default [Connect call failed …]``), ``Cannot connect to host H`` as
    ``H unreachable``, at most ``limit`` characters."""
    text = _AIOHTTP_NOISE.sub("", _REQUEST_PREFIX.sub("", message.strip())).strip() or message.strip()
    text = _CANNOT_CONNECT.sub(r"\1 unreachable", text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
