"""Shared state types.

Sign convention (one for the whole project, documented in docs/sign-convention.md):
every power is in kW on the site's AC bus, seen from the bus, so that

    p_grid + p_pv + p_bess == p_load

* ``p_grid`` > 0: import from the grid; < 0: export (feed-in).
* ``p_bess`` > 0: the battery discharges into the bus; < 0: it charges.
* ``p_pv`` >= 0: PV generation.  ``p_load`` >= 0: household / site consumption.

A battery setpoint uses the sign of ``p_bess``: positive discharges, negative charges.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from phoenyra_ems.enums import AlarmSeverity, SiteMode, SiteStatus

if TYPE_CHECKING:  # an annotation only: models stays below core in the layers
    from phoenyra_ems.core.vpp import VppSiteStatus


@dataclass(frozen=True, slots=True)
class EnergyTotals:
    """kWh since ``since`` (the first sample ever counted); every counter only grows."""

    charged_kwh: float = 0.0
    discharged_kwh: float = 0.0
    imported_kwh: float = 0.0
    exported_kwh: float = 0.0
    since: datetime | None = None

    def plus(self, other: EnergyTotals) -> EnergyTotals:
        since = [t for t in (self.since, other.since) if t is not None]
        return EnergyTotals(
            self.charged_kwh + other.charged_kwh,
            self.discharged_kwh + other.discharged_kwh,
            self.imported_kwh + other.imported_kwh,
            self.exported_kwh + other.exported_kwh,
            min(since) if since else None,
        )


__all__ = [
    "Alarm",
    "AlarmSeverity",
    "Measurements",
    "PlantState",
    "SensorInputs",
    "SiteMode",
    "SiteStatus",
]


@dataclass(frozen=True, slots=True)
class Alarm:
    """An active condition an operator should see."""

    code: str
    message: str
    severity: AlarmSeverity = AlarmSeverity.WARNING
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Measurements:
    """One reading of a site's devices (kW, %, °C); None where a device has no such point."""

    soc_pct: float | None = None
    soh_pct: float | None = None
    temp_c: float | None = None
    p_bess_kw: float | None = None
    p_pv_kw: float | None = None
    p_load_kw: float | None = None
    p_grid_kw: float | None = None


@dataclass(frozen=True, slots=True)
class PlantState:
    """Everything the decision logic knows about one site at one instant."""

    site_id: str
    timestamp: datetime
    soc: float  # %
    soh: float = 100.0  # %
    temp_c: float | None = None
    p_bess: float = 0.0  # kW, + discharge / - charge
    p_pv: float = 0.0  # kW, >= 0
    p_load: float = 0.0  # kW, >= 0
    p_grid: float = 0.0  # kW, + import / - export
    price: float | None = None  # EUR/MWh, day-ahead price of the current interval
    setpoint: float = 0.0  # kW, the setpoint last written (same sign as p_bess)
    strategy: str | None = None
    strategy_reason: str = ""
    mode: SiteMode = SiteMode.AUTO
    status: SiteStatus = SiteStatus.STARTING
    alarms: tuple[Alarm, ...] = ()
    last_reading: datetime | None = None
    last_write: datetime | None = None
    extras: dict[str, float] = field(default_factory=dict)
    energy: EnergyTotals | None = None  # kWh counters (None until the history file has been read)
    vpp: VppSiteStatus | None = None  # the site's VPP state (site_vpp.py), None until its first cycle

    @property
    def p_net_load(self) -> float:
        """Load minus PV (kW): what the grid would carry without the battery."""
        return self.p_load - self.p_pv

    def with_(self, **changes: object) -> PlantState:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SensorInputs:
    """What a site's edge sensors contribute to one control cycle (see sensor_service.py)."""

    room_temp_c: float | None = None
    grid_power_kw: float | None = None  # an external grid meter: replaces the inverter's reading
    derate: float = 1.0  # power multiplier from the battery-room temperature
    dropped: tuple[str, ...] = ()  # sensor ids left out (stale, offline, outlier): an alarm
