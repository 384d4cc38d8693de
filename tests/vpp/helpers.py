"""A VppTarget that records what the VEN hands over, and a VTN + VEN pair on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus
from phoenyra_ems.vpp.vtn import TestVtn, VtnClient

VEN_SECRET = "s3cr3t-ven-never-logged"
BL_SECRET = "s3cr3t-bl"


@dataclass
class RecordingTarget:
    """The control half as the VEN sees it: records schedules, offers what it is told."""

    offer_kw: float = 40.0
    soc: float = 55.0
    actual_kw: float = 0.0
    applied: list[tuple[float, str, VppSchedule | None]] = field(default_factory=list)
    flex_calls: int = 0

    def apply_schedule(self, resource: str, schedule: VppSchedule | None) -> None:
        self.applied.append((time.monotonic(), resource, schedule))

    def flexibility(self, resource: str, duration_s: float) -> Flexibility:
        self.flex_calls += 1
        return Flexibility(resource, self.offer_kw, self.offer_kw, duration_s, 30.0, 20.0)

    def status(self) -> list[VppSiteStatus]:
        return [VppSiteStatus("wien", actual_kw=self.actual_kw)]

    def soc_pct(self, resource: str) -> float | None:
        return self.soc

    def current(self, resource: str) -> VppSchedule | None:
        found = [s for _, r, s in self.applied if r == resource]
        return found[-1] if found else None


def make_vtn() -> TestVtn:
    return TestVtn([VtnClient("ven1", VEN_SECRET), VtnClient("bl", BL_SECRET, role="bl")], strict=True)


def dispatch_event(
    program_id: str,
    kw: float,
    *,
    minutes: int = 15,
    start: datetime | None = None,
    resource: str | None = "wien",
    reports: bool = True,
) -> dict[str, Any]:
    begin = start or datetime.now(UTC) - timedelta(seconds=5)
    event: dict[str, Any] = {
        "programID": program_id,
        "eventName": "dispatch",
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "DISPATCH_SETPOINT", "units": "KW"}
        ],
        "intervalPeriod": {"start": begin.isoformat().replace("+00:00", "Z"), "duration": f"PT{minutes}M"},
        "intervals": [
            {
                "id": 0,
                "payloads": [
                    {"type": "DISPATCH_SETPOINT", "values": [kw]},
                    {"type": "EXPORT_CAPACITY_LIMIT", "values": [80]},
                ],
            },
        ],
    }
    if resource is not None:
        event["targets"] = [{"type": "RESOURCE_NAME", "values": [resource]}]
    if reports:
        event["reportDescriptors"] = [
            {"payloadType": "DEMAND", "units": "KW"},
            {"payloadType": "STORAGE_CHARGE_LEVEL", "units": "PERCENT"},
            {"payloadType": "STORAGE_USABLE_CAPACITY", "units": "KWH"},
        ]
    return event


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
