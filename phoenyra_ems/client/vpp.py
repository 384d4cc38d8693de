"""Typed views of the VPP overview (``GET /api/v1/vpp``) and the site state's ``vpp`` block (docs/vpp.md).

Parsed as strictly as :mod:`phoenyra_ems.client.models`: a field of the wrong type raises
:class:`PhoenyraInvalidResponseError` naming it (``sites[0].state.committed_kw: ...``); unknown
extra fields are ignored. Powers in kW (+ discharge / export, - charge / import), energies in kWh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from phoenyra_ems.client.models import (
    VppFlexibility,
    VppState,
    _field,
    _list,
    _num,
    _object,
    _opt_num,
    _opt_str,
    _opt_time,
    _str,
    _string_item,
    _time,
)

__all__ = [
    "VppAggregated",
    "VppDeviation",
    "VppFlexibility",
    "VppInterval",
    "VppOverview",
    "VppSchedule",
    "VppSite",
    "VppState",
]


def _opt(data: Mapping[str, Any], key: str, path: str, parse: Any) -> Any:
    value = data.get(key)
    return None if value is None else parse(value, f"{path}.{key}")


def _strings(data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    return _list(data, key, path, _string_item) if data.get(key) is not None else ()


def _objects(data: Mapping[str, Any], key: str, path: str) -> tuple[dict[str, Any], ...]:
    return _list(data, key, path, lambda v, p: dict(_object(v, p)))


@dataclass(frozen=True, slots=True)
class VppInterval:
    start: datetime
    end: datetime
    setpoint_kw: float | None
    import_limit_kw: float | None
    export_limit_kw: float | None
    price_eur_kwh: float | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "interval") -> Self:
        d = _object(data, path)
        return cls(
            start=_time(d, "start", path),
            end=_time(d, "end", path),
            setpoint_kw=_opt_num(d, "setpoint_kw", path),
            import_limit_kw=_opt_num(d, "import_limit_kw", path),
            export_limit_kw=_opt_num(d, "export_limit_kw", path),
            price_eur_kwh=_opt_num(d, "price_eur_kwh", path),
        )


@dataclass(frozen=True, slots=True)
class VppSchedule:
    """A committed schedule; ``state`` is ``active`` or ``upcoming``."""

    event_id: str
    program_id: str
    resource: str
    state: str
    start: datetime | None
    end: datetime | None
    intervals: tuple[VppInterval, ...]

    @classmethod
    def from_dict(cls, data: Any, path: str = "schedule") -> Self:
        d = _object(data, path)
        return cls(
            event_id=_str(d, "event_id", path),
            program_id=_str(d, "program_id", path),
            resource=_opt_str(d, "resource", path) or "",
            state=_str(d, "state", path),
            start=_opt_time(d, "start", path),
            end=_opt_time(d, "end", path),
            intervals=_list(d, "intervals", path, VppInterval.from_dict),
        )


@dataclass(frozen=True, slots=True)
class VppDeviation:
    """How well a site followed its committed setpoints in the latest event."""

    event_id: str
    samples: int
    last_kw: float | None
    mean_abs_kw: float | None
    max_abs_kw: float

    @classmethod
    def from_dict(cls, data: Any, path: str = "deviation") -> Self:
        d = _object(data, path)
        return cls(
            event_id=_str(d, "event_id", path),
            samples=int(_num(d, "samples", path)),
            last_kw=_opt_num(d, "last_kw", path),
            mean_abs_kw=_opt_num(d, "mean_abs_kw", path),
            max_abs_kw=_num(d, "max_abs_kw", path),
        )


@dataclass(frozen=True, slots=True)
class VppSite:
    site_id: str
    schedule: VppSchedule | None
    state: VppState | None
    deviation: VppDeviation | None
    ended: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Any, path: str = "site") -> Self:
        d = _object(data, path)
        return cls(
            site_id=_str(d, "site_id", path),
            schedule=_opt(d, "schedule", path, VppSchedule.from_dict),
            state=_opt(d, "state", path, VppState.from_dict),
            deviation=_opt(d, "deviation", path, VppDeviation.from_dict),
            ended=_strings(d, "ended", path),
        )


@dataclass(frozen=True, slots=True)
class VppAggregated:
    """The aggregated resource (all VPP sites as one): its schedule, the sites its split uses."""

    resource: str
    schedule: VppSchedule | None
    members: tuple[str, ...]
    offered: VppFlexibility | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "aggregated") -> Self:
        d = _object(data, path)
        return cls(
            resource=_str(d, "resource", path),
            schedule=_opt(d, "schedule", path, VppSchedule.from_dict),
            members=_strings(d, "members", path),
            offered=_opt(d, "offered", path, VppFlexibility.from_dict),
        )


@dataclass(frozen=True, slots=True)
class VppOverview:
    """``GET /api/v1/vpp``: programs and events (as the VEN reports them), sites, aggregated resource
    (admins only)."""

    programs: tuple[dict[str, Any], ...]
    events: tuple[dict[str, Any], ...]
    sites: tuple[VppSite, ...]
    aggregated: VppAggregated | None

    @classmethod
    def from_dict(cls, data: Any, path: str = "vpp") -> Self:
        d = _object(data, path)
        _field(d, "sites", path)
        return cls(
            programs=_objects(d, "programs", path) if d.get("programs") is not None else (),
            events=_objects(d, "events", path) if d.get("events") is not None else (),
            sites=_list(d, "sites", path, VppSite.from_dict),
            aggregated=_opt(d, "aggregated", path, VppAggregated.from_dict),
        )
