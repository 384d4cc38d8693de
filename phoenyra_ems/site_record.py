"""A site's history and energy counters: each cycle's state is counted and written (docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime

from phoenyra_ems.core.energy import EnergyMeter
from phoenyra_ems.history.store import HistoryRecord, HistoryStore
from phoenyra_ems.models import PlantState
from phoenyra_ems.site_faults import SiteAlarms

RETENTION_EVERY_S = 3600.0


class SiteRecorder:
    """Counts energy, appends the history; its trouble raises ``history_unavailable``, never stops control."""

    def __init__(self, history: HistoryStore | None, energy: EnergyMeter, alarms: SiteAlarms) -> None:
        self.history = history
        self.energy = energy
        self.alarms = alarms
        self._last_retention: datetime | None = None

    def count_energy(self, state: PlantState) -> None:
        """Energy counters from this cycle's reading; they start from what the history file holds."""
        if not self.energy.restored and (self.history is None or self.history.energy_loaded):
            self.energy.restore(None if self.history is None else self.history.stored_energy)
        if state.last_reading is not None and state.last_reading == state.timestamp:
            self.energy.add(state.timestamp, state.p_bess, state.p_grid)
        else:  # no fresh reading: what flowed until the next one is unknown
            self.energy.gap()

    async def record(self, state: PlantState) -> None:
        self.count_energy(state)
        if self.history is None:
            return
        if state.last_reading is not None:  # nothing measured yet: no sample worth keeping
            await self.history.append(HistoryRecord.from_state(state), self.energy.totals)
            now = state.timestamp
            since = None if self._last_retention is None else (now - self._last_retention).total_seconds()
            if since is None or since > RETENTION_EVERY_S:
                self._last_retention = now
                await self.history.apply_retention(now)
        if self.history.error is None:
            self.alarms.clear("history_unavailable")
        else:
            waiting = f"{self.history.backlog} rows wait in memory"
            dropped = f", {self.history.dropped} dropped" if self.history.dropped else ""
            self.alarms.raise_("history_unavailable", f"{self.history.error} ({waiting}{dropped})")
