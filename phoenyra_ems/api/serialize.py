"""JSON shapes of the API (the OpenAPI document in ``openapi.py`` describes the same)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.aggregation import AggregatedState
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.core.overrides import LimitOverrides
from phoenyra_ems.history.store import HistoryRecord
from phoenyra_ems.models import Alarm, PlantState

JSON = dict[str, Any]


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
        "soc": state.soc,
        "soh": state.soh,
        "temp_c": state.temp_c,
        "p_bess": state.p_bess,
        "p_pv": state.p_pv,
        "p_load": state.p_load,
        "p_grid": state.p_grid,
        "price": state.price,
        "setpoint": state.setpoint,
        "strategy": state.strategy,
        "strategy_reason": state.strategy_reason,
        "mode": str(state.mode),
        "status": str(state.status),
        "alarms": [alarm_json(a) for a in state.alarms],
        "last_reading": iso(state.last_reading),
        "last_write": iso(state.last_write),
        "inputs": dict(state.extras),
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
        "soc_avg_pct": agg.soc_avg_pct,
        "p_bess": agg.p_bess,
        "p_pv": agg.p_pv,
        "p_load": agg.p_load,
        "p_grid": agg.p_grid,
        "sites": [state_json(s) for s in agg.sites],
    }


def history_json(record: HistoryRecord) -> JSON:
    return {
        "timestamp": iso(record.time),
        "soc": record.soc,
        "soh": record.soh,
        "temp_c": record.temp_c,
        "p_bess": record.p_bess,
        "p_pv": record.p_pv,
        "p_load": record.p_load,
        "p_grid": record.p_grid,
        "price": record.price,
        "setpoint": record.setpoint,
        "strategy": record.strategy,
        "mode": record.mode,
        "status": record.status,
    }
