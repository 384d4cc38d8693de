"""What a site's controller is built from: its device adapter, its attachments, its cycle counters."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from phoenyra_ems.models import Measurements

if TYPE_CHECKING:
    from phoenyra_ems.controller import SiteController


class Attachment(Protocol):
    """Something that lives as long as a site's controller (e.g. its MQTT telemetry link)."""

    async def start(self, controller: SiteController) -> None: ...

    async def stop(self) -> None: ...


class SiteDevice(Protocol):
    """What the controller needs from a device adapter (Modbus today)."""

    @property
    def connected(self) -> bool: ...

    @property
    def hold_s(self) -> float: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def read(self) -> Measurements: ...

    async def write_setpoint(self, kw: float) -> bool: ...

    async def write_safe(self) -> None: ...


@dataclass
class CycleStats:
    cycles: int = 0
    missed: int = 0
    failed_reads: int = 0
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
