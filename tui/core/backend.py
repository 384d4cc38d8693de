"""What the views may ask for, as a protocol; the live implementation is
:class:`tui.core.connection.ConnectionManager`, :class:`StaticBackend` serves fixed data (snapshot
tests, offline screenshots)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from typing import Protocol

from phoenyra_ems.client import CommunityState, PhoenyraNotFoundError, Sensor
from tui.core.control import ControlRequest
from tui.core.store import ChartPoint, ConsoleStore, ControlOutcome


class Backend(Protocol):
    store: ConsoleStore

    async def run(self) -> None:
        """Keep the store up to date until :meth:`stop`; never raises for a lost daemon."""

    async def stop(self) -> None: ...

    def request_refresh(self) -> None:
        """Refresh everything now (and retry at once when disconnected)."""

    def select_site(self, site_id: str) -> None:
        """Make ``site_id`` the current site and load what its views need."""

    async def send_control(self, request: ControlRequest) -> ControlOutcome: ...

    async def day_history(self, site_id: str, day: date) -> list[ChartPoint]: ...

    async def sensors(self, site_id: str) -> list[Sensor]:
        """The site's edge sensors (MQTT discovery; none when the daemon has it switched off)."""

    async def community(self) -> CommunityState:
        """The energy community (``PhoenyraNotFoundError`` when the daemon has none)."""


class StaticBackend:
    """A backend over a hand-filled store: nothing changes unless the caller changes it."""

    def __init__(
        self,
        store: ConsoleStore,
        history: dict[tuple[str, date], Sequence[ChartPoint]] | None = None,
        outcome: ControlOutcome | None = None,
        sensors: dict[str, list[Sensor]] | None = None,
        community: CommunityState | None = None,
    ) -> None:
        self.store = store
        self.site_sensors = dict(sensors or {})
        self.community_state = community
        self.history = dict(history or {})
        self.outcome = outcome or ControlOutcome(True, "accepted")
        self.sent: list[ControlRequest] = []
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()

    def request_refresh(self) -> None:
        self.store.touch()

    def select_site(self, site_id: str) -> None:
        self.store.select_site(site_id)

    async def send_control(self, request: ControlRequest) -> ControlOutcome:
        self.sent.append(request)
        self.store.set_control_result(request.site_id, self.outcome)
        return self.outcome

    async def day_history(self, site_id: str, day: date) -> list[ChartPoint]:
        return list(self.history.get((site_id, day), ()))

    async def sensors(self, site_id: str) -> list[Sensor]:
        return list(self.site_sensors.get(site_id, ()))

    async def community(self) -> CommunityState:
        if self.community_state is None:
            raise PhoenyraNotFoundError("no community is configured", status=404, code="not_found")
        return self.community_state
