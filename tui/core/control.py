"""The control form: the bounds the daemon publishes, parsing, validation and the texts shown.

Everything the operator types is checked here before the confirmation modal; the daemon checks it
again and its refusal (``PhoenyraInvalidRequestError.fields``) is shown as it comes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, tzinfo

from phoenyra_ems.client import ControlAck, Mode, PhoenyraError, PhoenyraInvalidRequestError, SiteDetail
from tui.core.format import local_time

MAX_DURATION_S = 86_400
DEFAULT_DURATION = "15m"
_DURATION = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s?)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PowerBounds:
    charge_max_kw: float  # >= 0; the setpoint may go down to -charge_max_kw
    discharge_max_kw: float

    def text(self) -> str:
        return f"{-self.charge_max_kw:g} … {self.discharge_max_kw:g} kW"


def power_bounds(detail: SiteDetail) -> PowerBounds:
    """The setpoint range the daemon accepts, as it publishes it (``SiteDetail.setpoint_range``)."""
    low, high = detail.setpoint_range()
    return PowerBounds(-low + 0.0, high)


@dataclass(frozen=True, slots=True)
class ControlRequest:
    site_id: str
    mode: Mode
    strategy: str | None  # None: score-based selection
    setpoint_kw: float | None = None
    duration_s: int | None = None


class ControlFormError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def parse_duration(text: str) -> int:
    """``900``, ``900s``, ``15m``, ``15min``, ``1h``, ``1h30m`` → seconds (1 … 86400)."""
    match = _DURATION.match(text)
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError("a duration like 900, 15m or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 1 <= total <= MAX_DURATION_S:
        raise ValueError("between 1 s and 24 h")
    return total


def build_request(
    site_id: str,
    mode: Mode | str,
    strategy: str | None,
    setpoint_text: str,
    duration_text: str,
    bounds: PowerBounds,
    strategies: tuple[str, ...],
) -> ControlRequest:
    """The form's fields → a request, or :class:`ControlFormError` naming every bad field."""
    fields: dict[str, str] = {}
    try:
        mode = Mode(mode)
    except ValueError:
        raise ControlFormError({"mode": "must be auto, manual or standby"}) from None
    if strategy is not None and strategy not in strategies:
        fields["strategy"] = f"must be one of {', '.join(strategies)}"
    if mode is not Mode.MANUAL:
        if fields:
            raise ControlFormError(fields)
        return ControlRequest(site_id, mode, strategy)
    setpoint: float | None = None
    try:
        setpoint = float(setpoint_text.replace(",", ".").replace("kW", "").strip())
        if not math.isfinite(setpoint):
            raise ValueError
    except ValueError:
        fields["setpoint_kw"] = "a number in kW (+ discharges, - charges)"
    if setpoint is not None and not -bounds.charge_max_kw <= setpoint <= bounds.discharge_max_kw:
        fields["setpoint_kw"] = f"must be between {bounds.text()}"
    duration = None
    try:
        duration = parse_duration(duration_text or DEFAULT_DURATION)
    except ValueError as err:
        fields["duration_s"] = str(err)
    if fields:
        raise ControlFormError(fields)
    return ControlRequest(site_id, mode, strategy, setpoint, duration)


def format_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(p for p in parts if p) or "0 s"


def describe_request(request: ControlRequest, site_name: str) -> str:
    """The confirmation text."""
    lines = [f"Site: {site_name}", f"Mode: {request.mode}"]
    if request.setpoint_kw is not None:
        direction = (
            "discharge" if request.setpoint_kw > 0 else "charge" if request.setpoint_kw < 0 else "hold"
        )
        lines.append(f"Setpoint: {request.setpoint_kw:+g} kW ({direction})")
    if request.duration_s is not None:
        lines.append(f"For: {format_duration(request.duration_s)}, then back to auto")
    lines.append(f"Strategy: {request.strategy or 'automatic selection'}")
    return "\n".join(lines)


def describe_ack(ack: ControlAck, zone: tzinfo = UTC) -> str:
    """The daemon's ack; the expiry in ``zone`` (the site's time zone)."""
    control = ack.control
    text = f"accepted: {control.mode}"
    if control.setpoint_kw is not None:
        text += f" {control.setpoint_kw:+g} kW"
    if control.expires is not None:
        text += f" until {local_time(control.expires, zone)}"
    return text + f", strategy {control.strategy or 'auto-select'}"


def describe_error(err: PhoenyraError) -> str:
    if isinstance(err, PhoenyraInvalidRequestError) and err.fields:
        reasons = "; ".join(f"{key}: {reason}" for key, reason in err.fields.items())
        return f"rejected: {reasons}"
    return f"rejected: {err.message}"
