"""Reports of actuals as an event's report descriptors request them (pure: no I/O).

Payload types the VEN fills (others requested are left out and logged once by the service):
``DEMAND`` (kW drawn by the resource: positive = charging, the negated battery power),
``STORAGE_CHARGE_LEVEL`` (SoC, %), ``STORAGE_USABLE_CAPACITY`` (energy still available for
discharge, kWh), ``STORAGE_MAX_DISCHARGE_POWER`` / ``STORAGE_MAX_CHARGE_POWER`` (kW the resource
can deliver now). One report per event; each interval of the report is the event interval the
sample fell in (its ``id``), holding the latest sample taken in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from phoenyra_ems.core.vpp import VppSchedule

REPORTABLE = {
    "DEMAND": "KW",
    "STORAGE_CHARGE_LEVEL": "PERCENT",
    "STORAGE_USABLE_CAPACITY": "KWH",
    "STORAGE_MAX_DISCHARGE_POWER": "KW",
    "STORAGE_MAX_CHARGE_POWER": "KW",
}
AGGREGATED = "AGGREGATED_REPORT"


@dataclass(frozen=True, slots=True)
class Sample:
    """Actuals of one resource at one moment (None: not known)."""

    power_kw: float | None  # battery power, positive = discharge
    soc_pct: float | None
    available_kwh: float | None
    max_discharge_kw: float | None
    max_charge_kw: float | None

    def value(self, payload_type: str) -> float | None:
        if payload_type == "DEMAND":
            return None if self.power_kw is None else -self.power_kw
        return {
            "STORAGE_CHARGE_LEVEL": self.soc_pct,
            "STORAGE_USABLE_CAPACITY": self.available_kwh,
            "STORAGE_MAX_DISCHARGE_POWER": self.max_discharge_kw,
            "STORAGE_MAX_CHARGE_POWER": self.max_charge_kw,
        }.get(payload_type)


def requested(event: Mapping[str, Any]) -> tuple[list[str], list[str], bool]:
    """(payload types we report, those we cannot, aggregate?) from the event's report descriptors."""
    ours: list[str] = []
    unknown: list[str] = []
    aggregate = False
    for desc in event.get("reportDescriptors") or ():
        kind = str(desc.get("payloadType"))
        (ours if kind in REPORTABLE else unknown).append(kind)
        aggregate = aggregate or bool(desc.get("aggregate"))
    return list(dict.fromkeys(ours)), unknown, aggregate


def _iso_duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):g}S"


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _sum(values: list[float | None], mean: bool) -> float | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return sum(known) / len(known) if mean else sum(known)


def combine(samples: list[Sample]) -> Sample:
    """Aggregated actuals: powers and energies add up, the SoC is the mean."""
    return Sample(
        power_kw=_sum([s.power_kw for s in samples], False),
        soc_pct=_sum([s.soc_pct for s in samples], True),
        available_kwh=_sum([s.available_kwh for s in samples], False),
        max_discharge_kw=_sum([s.max_discharge_kw for s in samples], False),
        max_charge_kw=_sum([s.max_charge_kw for s in samples], False),
    )


def build_report(
    event: Mapping[str, Any],
    client_name: str,
    schedules: Mapping[str, VppSchedule],
    samples: Mapping[str, Mapping[int, Sample]],
    report_id: str | None = None,
) -> dict[str, Any] | None:
    """The report body for ``event`` (None: nothing requested or nothing sampled yet)."""
    kinds, _, aggregate = requested(event)
    if not kinds:
        return None
    per_resource = {r: dict(s) for r, s in samples.items() if s}
    if aggregate and per_resource:
        ids = sorted({i for s in per_resource.values() for i in s})
        merged = {i: combine([s[i] for s in per_resource.values() if i in s]) for i in ids}
        schedule = next(iter(schedules.values()))
        per_resource, schedules = {AGGREGATED: merged}, {AGGREGATED: schedule}
    resources = []
    for name, by_interval in per_resource.items():
        schedule = schedules[name]
        intervals = []
        for index, sample in sorted(by_interval.items()):
            payloads = [
                {"type": kind, "values": [round(value, 4)]}
                for kind in kinds
                if (value := sample.value(kind)) is not None
            ]
            if not payloads or index >= len(schedule.intervals):
                continue
            window = schedule.intervals[index]
            period = {
                "start": _iso(window.start),
                "duration": _iso_duration((window.end - window.start).total_seconds()),
            }
            intervals.append({"id": index, "intervalPeriod": period, "payloads": payloads})
        if intervals:
            resources.append({"resourceName": name, "intervals": intervals})
    if not resources:
        return None
    report: dict[str, Any] = {
        "programID": str(event.get("programID")),
        "eventID": str(event.get("id")),
        "clientName": client_name,
        "reportName": f"{event.get('id')}-actuals",
        "payloadDescriptors": [
            {
                "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                "payloadType": k,
                "readingType": "DIRECT_READ",
                "units": REPORTABLE[k],
            }
            for k in kinds
        ],
        "resources": resources,
    }
    if report_id is not None:
        report["id"] = report_id
    return report
