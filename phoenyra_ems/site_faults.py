"""A site's alarms, and what its controller does when the device fails (docs/architecture.md).

What puts the site in its safe state: the device not answering for ``ems.comm_timeout_cycles``
cycles (``comm_lost``), an implausible reading for as many cycles (``implausible_reading``), no state
of charge for ``ems.soc_missing_cycles`` cycles or none ever (``soc_unavailable``), a refused
setpoint write (``write_failed``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from phoenyra_ems.clock import Clock
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.devices.errors import DeviceError, ImplausibleReading, SocUnavailable, WriteRefused
from phoenyra_ems.devices.plausibility import check_site_plausible
from phoenyra_ems.models import Alarm, AlarmSeverity, Measurements, PlantState, SiteStatus
from phoenyra_ems.site_ports import CycleStats

LOG = logging.getLogger(__name__)

READING_ALARMS = ("comm_lost", "implausible_reading", "soc_unavailable")  # cleared by a good reading


class SiteAlarms:
    """The alarms in force, by code; an alarm raised again keeps the time it was first raised."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._alarms: dict[str, Alarm] = {}

    def raise_(self, code: str, message: str, severity: AlarmSeverity = AlarmSeverity.WARNING) -> None:
        existing = self._alarms.get(code)
        since = existing.since if existing else self.clock.now()
        self._alarms[code] = Alarm(code, message, severity, since)

    def clear(self, code: str) -> None:
        self._alarms.pop(code, None)

    def active(self) -> tuple[Alarm, ...]:
        return tuple(self._alarms.values())


class DeviceFaults:
    """Counts failed reads and missing SoC; turns device errors into alarms and the safe state."""

    def __init__(self, site: SiteConfig, alarms: SiteAlarms, stats: CycleStats) -> None:
        self.site = site
        self.alarms = alarms
        self.stats = stats
        self.failed_reads = 0
        self.soc_missing = 0
        self.soc_seen = False

    def checked(self, measured: Measurements) -> Measurements:
        """The reading if the site can be controlled on it; raises ImplausibleReading otherwise."""
        measured = check_site_plausible(measured, self.site)
        if measured.soc_pct is not None:
            self.soc_missing, self.soc_seen = 0, True
            return measured
        self.soc_missing += 1
        if not self.soc_seen or self.soc_missing >= self.site.ems.soc_missing_cycles:
            raise SocUnavailable(self.soc_missing)
        return measured  # for a few cycles the last SoC stands in

    def reading_ok(self) -> None:
        """A good reading: the read failures are over."""
        self.failed_reads = 0
        for code in READING_ALARMS:
            self.alarms.clear(code)

    def on_error(self, current: PlantState, now: datetime, err: DeviceError) -> tuple[PlantState, bool]:
        """The state after a failed read or write, and whether to write the safe state."""
        if isinstance(err, WriteRefused):
            self.alarms.raise_("write_failed", f"setpoint write refused: {err}", AlarmSeverity.CRITICAL)
            reason = "safe state: the device refused the setpoint"
        elif isinstance(err, SocUnavailable):
            self.alarms.raise_("soc_unavailable", str(err), AlarmSeverity.CRITICAL)
            reason = "safe state: state of charge not available"
        else:
            self.failed_reads += 1
            self.stats.failed_reads += 1
            if isinstance(err, ImplausibleReading):
                self.alarms.raise_("implausible_reading", str(err), AlarmSeverity.CRITICAL)
                reason = "safe state: implausible reading"
            else:
                self.alarms.raise_("comm_lost", f"device not answering: {err}", AlarmSeverity.CRITICAL)
                reason = "safe state: device not answering"
            if self.failed_reads < self.site.ems.comm_timeout_cycles:
                return current.with_(timestamp=now), False
        if current.status is not SiteStatus.SAFE:
            LOG.warning("site %s: safe state (%s)", self.site.site_id, err)
        state = current.with_(timestamp=now, setpoint=0.0, status=SiteStatus.SAFE, strategy_reason=reason)
        return state, True
