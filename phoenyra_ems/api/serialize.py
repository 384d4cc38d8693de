"""JSON shapes of the API (the OpenAPI document in ``openapi.py`` describes the same).

Measured floats are rounded here, at the edge, so that ``52.300000000000004`` % is ``52.3``: powers
(kW) to 3 decimals (1 W), SoC, SoH and temperatures to 2, prices (EUR/MWh) to 2; never ``-0.0``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.aggregation import AggregatedState
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.core.energy import EnergyTotals
from phoenyra_ems.core.overrides import LimitOverrides
from phoenyra_ems.core.vpp import Flexibility, VppInterval, VppSchedule, VppSiteStatus
from phoenyra_ems.history.store import HistoryRecord
from phoenyra_ems.models import Alarm, PlantState

JSON = dict[str, Any]


KW_DIGITS = 3
PCT_DIGITS = 2  # % and °C
PRICE_DIGITS = 2
ENERGY_DIGITS = 4  # kWh: 0.1 Wh


def _round(value: float, digits: int) -> float:
    return round(value, digits) + 0.0  # + 0.0: -0.0 becomes 0.0


def _opt_round(value: float | None, digits: int) -> float | None:
    return None if value is None else _round(value, digits)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alarm_json(alarm: Alarm) -> JSON:
    return {
        "code": alarm.code,
        "message": alarm.message,
        "severity": str(alarm.severity),
        "since": iso(alarm.since),
    }


def state_json(state: PlantState) -> JSON:
    return {
        "site_id": state.site_id,
        "timestamp": iso(state.timestamp),
        "soc": _round(state.soc, PCT_DIGITS),
        "soh": _round(state.soh, PCT_DIGITS),
        "temp_c": _opt_round(state.temp_c, PCT_DIGITS),
        "p_bess": _round(state.p_bess, KW_DIGITS),
        "p_pv": _round(state.p_pv, KW_DIGITS),
        "p_load": _round(state.p_load, KW_DIGITS),
        "p_grid": _round(state.p_grid, KW_DIGITS),
        "price": _opt_round(state.price, PRICE_DIGITS),
        "setpoint": _round(state.setpoint, KW_DIGITS),
        "strategy": state.strategy,
        "strategy_reason": state.strategy_reason,
        "mode": str(state.mode),
        "status": str(state.status),
        "alarms": [alarm_json(a) for a in state.alarms],
        "last_reading": iso(state.last_reading),
        "last_write": iso(state.last_write),
        "inputs": {key: _round(value, KW_DIGITS) for key, value in state.extras.items()},
        "energy": energy_json(state.energy),
        "vpp": vpp_state_json(state.vpp),
    }


def flexibility_json(offer: Flexibility | None) -> JSON | None:
    """What a site (or the aggregated resource) can deliver for ``duration_s`` from now."""
    if offer is None:
        return None
    return {
        "site_id": offer.site_id,
        "max_discharge_kw": _round(offer.max_discharge_kw, KW_DIGITS),
        "max_charge_kw": _round(offer.max_charge_kw, KW_DIGITS),
        "duration_s": _round(offer.duration_s, 1),
        "available_energy_kwh": _round(offer.available_energy_kwh, ENERGY_DIGITS),
        "headroom_energy_kwh": _round(offer.headroom_energy_kwh, ENERGY_DIGITS),
    }


def vpp_state_json(status: VppSiteStatus | None) -> JSON | None:
    """The site's VPP block: the active event, its committed power, the deviation, the offer."""
    if status is None:
        return None
    return {
        "active": status.event_id is not None,
        "event_id": status.event_id,
        "committed_kw": _opt_round(status.committed_kw, KW_DIGITS),
        "actual_kw": _opt_round(status.actual_kw, KW_DIGITS),
        "deviation_kw": _opt_round(status.deviation_kw, KW_DIGITS),
        "remaining_s": _opt_round(status.remaining_s, 1),
        "offered": flexibility_json(status.offered),
        "notes": list(status.notes),
    }


def vpp_interval_json(interval: VppInterval) -> JSON:
    return {
        "start": iso(interval.start),
        "end": iso(interval.end),
        "setpoint_kw": _opt_round(interval.setpoint_kw, KW_DIGITS),
        "import_limit_kw": _opt_round(interval.import_limit_kw, KW_DIGITS),
        "export_limit_kw": _opt_round(interval.export_limit_kw, KW_DIGITS),
        "price_eur_kwh": _opt_round(interval.price_eur_kwh, 5),
    }


def vpp_schedule_json(schedule: VppSchedule | None, now: datetime) -> JSON | None:
    """A committed schedule; ``state`` is ``active`` (an interval covers now) or ``upcoming``."""
    if schedule is None:
        return None
    first = schedule.intervals[0].start if schedule.intervals else None
    return {
        "event_id": schedule.event_id,
        "program_id": schedule.program_id,
        "resource": schedule.resource,
        "state": "upcoming" if first is not None and now < first else "active",
        "start": iso(first),
        "end": iso(schedule.end),
        "intervals": [vpp_interval_json(i) for i in schedule.intervals],
    }


def energy_json(totals: EnergyTotals | None) -> JSON | None:
    """The site's energy counters (kWh since ``since``), ``None`` until the history file was read."""
    if totals is None:
        return None
    return {
        "charged_kwh": _round(totals.charged_kwh, ENERGY_DIGITS),
        "discharged_kwh": _round(totals.discharged_kwh, ENERGY_DIGITS),
        "imported_kwh": _round(totals.imported_kwh, ENERGY_DIGITS),
        "exported_kwh": _round(totals.exported_kwh, ENERGY_DIGITS),
        "since": iso(totals.since),
    }


def control_json(intent: ControlIntent) -> JSON:
    return {
        "mode": str(intent.mode),
        "strategy": intent.strategy,
        "setpoint_kw": intent.manual_setpoint_kw if intent.mode == "manual" else None,
        "expires": iso(intent.manual_expires),
    }


def limits_json(site: SiteConfig, overrides: LimitOverrides) -> JSON:
    bess = site.bess
    return {
        "soc_min_pct": bess.soc_min_pct,
        "soc_max_pct": bess.soc_max_pct,
        "soc_reserve_pct": overrides.soc_reserve_pct,
        "power_charge_max_kw": overrides.power_charge_max_kw,
        "power_discharge_max_kw": overrides.power_discharge_max_kw,
        "hardware_power_charge_max_kw": bess.power_charge_max_kw,
        "hardware_power_discharge_max_kw": bess.power_discharge_max_kw,
    }


def site_json(site: SiteConfig, state: PlantState) -> JSON:
    return {
        "id": site.site_id,
        "name": site.name,
        "status": str(state.status),
        "location": {
            "city": site.location.city,
            "latitude": site.location.latitude,
            "longitude": site.location.longitude,
            "timezone": site.location.timezone,
        },
        "bess": {
            "energy_capacity_kwh": site.bess.energy_capacity_kwh,
            "power_charge_max_kw": site.bess.power_charge_max_kw,
            "power_discharge_max_kw": site.bess.power_discharge_max_kw,
            "soc_min_pct": site.bess.soc_min_pct,
            "soc_max_pct": site.bess.soc_max_pct,
        },
        "device": {"profile": site.modbus.profile, "host": site.modbus.host, "port": site.modbus.port},
        "strategies": list(site.ems.strategies),
    }


def site_detail_json(site: SiteConfig, state: PlantState, controller: SiteController | None) -> JSON:
    detail = site_json(site, state)
    detail["state"] = state_json(state)
    if controller is not None:
        detail["control"] = control_json(controller.intent)
        detail["limits"] = limits_json(site, controller.overrides)
    return detail


def aggregated_json(agg: AggregatedState) -> JSON:
    return {
        "site_count": agg.site_count,
        "total_capacity_kwh": agg.total_capacity_kwh,
        "soc_avg_pct": _opt_round(agg.soc_avg_pct, PCT_DIGITS),
        "p_bess": _round(agg.p_bess, KW_DIGITS),
        "p_pv": _round(agg.p_pv, KW_DIGITS),
        "p_load": _round(agg.p_load, KW_DIGITS),
        "p_grid": _round(agg.p_grid, KW_DIGITS),
        "sites": [state_json(s) for s in agg.sites],
    }


def history_json(record: HistoryRecord) -> JSON:
    return {
        "timestamp": iso(record.time),
        "soc": _round(record.soc, PCT_DIGITS),
        "soh": _round(record.soh, PCT_DIGITS),
        "temp_c": _opt_round(record.temp_c, PCT_DIGITS),
        "p_bess": _round(record.p_bess, KW_DIGITS),
        "p_pv": _round(record.p_pv, KW_DIGITS),
        "p_load": _round(record.p_load, KW_DIGITS),
        "p_grid": _round(record.p_grid, KW_DIGITS),
        "price": _opt_round(record.price, PRICE_DIGITS),
        "setpoint": _round(record.setpoint, KW_DIGITS),
        "strategy": record.strategy,
        "mode": record.mode,
        "status": record.status,
    }
