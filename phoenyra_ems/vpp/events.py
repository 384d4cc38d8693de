"""OpenADR 3 events -> ``VppSchedule`` (pure: no I/O).

Payload types read: ``DISPATCH_SETPOINT`` (battery power, positive = discharge), ``IMPORT_CAPACITY_LIMIT``
and ``EXPORT_CAPACITY_LIMIT`` (at the grid connection, >= 0) and ``PRICE``. Power values are in kW
unless the event's payload descriptor gives ``units: W`` / ``MW``; prices in currency per kWh unless
``units: MWH``. An interval without its own ``intervalPeriod`` follows the previous one (the event's
period gives the first start and the default duration). A duration of ``PT0S`` (open-ended in
OpenADR) lasts ``OPEN_ENDED``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import isodate

from phoenyra_ems.core.vpp import VppInterval, VppSchedule

PAYLOADS = ("DISPATCH_SETPOINT", "IMPORT_CAPACITY_LIMIT", "EXPORT_CAPACITY_LIMIT", "PRICE")
OPEN_ENDED = timedelta(hours=24)
_POWER_SCALE = {"W": 0.001, "KW": 1.0, "MW": 1000.0}
_PRICE_SCALE = {"KWH": 1.0, "MWH": 0.001, "WH": 1000.0}


class EventError(ValueError):
    """An event the VEN cannot turn into a schedule (named by event id)."""


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration; years and months as 365 and 30 days (as OpenADR durations use them)."""
    value = isodate.parse_duration(text)
    if isinstance(value, isodate.Duration):
        months = int(value.years) * 12 + int(value.months)
        extra: timedelta = value.tdelta
        return timedelta(days=30 * months + 5 * (months // 12)) + extra
    assert isinstance(value, timedelta)
    return value


def parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def targets_of(obj: Mapping[str, Any], kind: str = "RESOURCE_NAME") -> set[str] | None:
    """The values of ``targets`` of type ``kind``; None when the object names none (addresses all)."""
    found: set[str] = set()
    named = False
    for target in obj.get("targets") or ():
        if target.get("type") == kind:
            named = True
            found.update(str(v) for v in target.get("values") or ())
    return found if named else None


def _scales(event: Mapping[str, Any]) -> dict[str, float]:
    scales: dict[str, float] = {}
    for desc in event.get("payloadDescriptors") or ():
        kind, units = desc.get("payloadType"), str(desc.get("units") or "").upper()
        if kind == "PRICE":
            scales[kind] = _PRICE_SCALE.get(units, 1.0)
        elif kind in PAYLOADS:
            if units and units not in _POWER_SCALE:
                raise EventError(f"event {event.get('id')!r}: unknown power unit {units!r} for {kind}")
            scales[kind] = _POWER_SCALE.get(units, 1.0)
    return scales


def _value(payload: Mapping[str, Any], event_id: str) -> float:
    values = payload.get("values") or ()
    if not values or isinstance(values[0], bool) or not isinstance(values[0], int | float):
        raise EventError(f"event {event_id!r}: {payload.get('type')} needs one number, got {values!r}")
    return float(values[0])


def to_schedule(event: Mapping[str, Any], resource: str) -> VppSchedule:
    """The schedule ``event`` sets for ``resource`` (intervals without a known payload are dropped)."""
    event_id = str(event.get("id") or "")
    scales = _scales(event)
    default = event.get("intervalPeriod") or {}
    try:
        cursor = parse_time(default["start"]) if "start" in default else None
        default_len = parse_duration(default.get("duration", "PT0S"))
    except (ValueError, isodate.ISO8601Error) as exc:
        raise EventError(f"event {event_id!r}: bad intervalPeriod: {exc}") from None
    intervals: list[VppInterval] = []
    for interval in event.get("intervals") or ():
        own = interval.get("intervalPeriod") or {}
        try:
            start = parse_time(own["start"]) if "start" in own else cursor
            length = parse_duration(own["duration"]) if "duration" in own else default_len
        except (ValueError, isodate.ISO8601Error) as exc:
            raise EventError(f"event {event_id!r} interval {interval.get('id')}: {exc}") from None
        if start is None:
            raise EventError(f"event {event_id!r} interval {interval.get('id')}: no start time")
        end = start + (length if length > timedelta(0) else OPEN_ENDED)
        cursor = end
        fields: dict[str, float] = {}
        for payload in interval.get("payloads") or ():
            kind = payload.get("type")
            if kind not in PAYLOADS:
                continue
            value = _value(payload, event_id) * scales.get(kind, 1.0)
            if kind != "PRICE" and kind != "DISPATCH_SETPOINT" and value < 0:
                raise EventError(f"event {event_id!r}: {kind} must be >= 0, got {value:g}")
            key = {
                "DISPATCH_SETPOINT": "setpoint_kw",
                "IMPORT_CAPACITY_LIMIT": "import_limit_kw",
                "EXPORT_CAPACITY_LIMIT": "export_limit_kw",
                "PRICE": "price_eur_kwh",
            }[str(kind)]
            fields[key] = value
        if fields:
            intervals.append(VppInterval(start=start, end=end, **fields))
    intervals.sort(key=lambda i: i.start)
    for before, after in itertools.pairwise(intervals):
        if after.start < before.end:
            raise EventError(f"event {event_id!r}: intervals overlap at {after.start.isoformat()}")
    return VppSchedule(
        event_id=event_id,
        program_id=str(event.get("programID") or ""),
        intervals=tuple(intervals),
        resource=resource,
    )


def addressed(event: Mapping[str, Any], resources: Iterable[str], ven_name: str | None = None) -> list[str]:
    """The resources of ours an event addresses: none when it names VENs (``VEN_NAME``) without
    ours; else those it names (``RESOURCE_NAME``), all of them when it names none."""
    vens = targets_of(event, "VEN_NAME")
    if vens is not None and ven_name is not None and ven_name not in vens:
        return []
    named = targets_of(event)
    return [r for r in resources if named is None or r in named]


def merge(schedules: Iterable[VppSchedule], now: datetime) -> VppSchedule | None:
    """The schedule to follow for one resource: among those not yet ended, the one whose next
    interval starts first; on a tie the one given last (pass them oldest first: the newest wins)."""
    live = [(max(s.intervals[0].start, now), -i, s) for i, s in enumerate(schedules) if s.end and s.end > now]
    return min(live, key=lambda item: item[:2])[2] if live else None


def newest_last(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Events ordered for ``merge``: by modification time (ISO strings of one VTN compare in order)."""
    return sorted(events, key=lambda e: str(e.get("modificationDateTime") or e.get("createdDateTime") or ""))
