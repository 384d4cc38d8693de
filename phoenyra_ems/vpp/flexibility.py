"""Offered flexibility as VEN resource attributes, and when a change is material (pure)."""

from __future__ import annotations

from typing import Any

from phoenyra_ems.core.vpp import Flexibility

# OpenADR 3 attribute types (Definitions, "attribute types") plus our own, prefixed.
MAX_EXPORT = "MAX_POWER_EXPORT"  # kW the resource can discharge for the offered duration
MAX_CONSUMPTION = "MAX_POWER_CONSUMPTION"  # kW it can charge for the offered duration
AVAILABLE_ENERGY = "PHOENYRA_AVAILABLE_ENERGY_KWH"
HEADROOM_ENERGY = "PHOENYRA_HEADROOM_ENERGY_KWH"
DURATION = "PHOENYRA_OFFER_DURATION_S"
RESPONSE_TIME = "PHOENYRA_RESPONSE_TIME_S"

MATERIAL_KW = 1.0  # a change smaller than this (and than MATERIAL_SHARE) is not re-announced
MATERIAL_SHARE = 0.05


def attributes(flex: Flexibility, response_time_s: float) -> list[dict[str, Any]]:
    pairs = (
        (MAX_EXPORT, flex.max_discharge_kw),
        (MAX_CONSUMPTION, flex.max_charge_kw),
        (AVAILABLE_ENERGY, flex.available_energy_kwh),
        (HEADROOM_ENERGY, flex.headroom_energy_kwh),
        (DURATION, flex.duration_s),
        (RESPONSE_TIME, response_time_s),
    )
    return [{"type": kind, "values": [round(float(value), 3)]} for kind, value in pairs]


def _differs(old: float, new: float, floor: float) -> bool:
    return abs(new - old) >= max(floor, MATERIAL_SHARE * max(abs(old), abs(new)))


def material(old: Flexibility | None, new: Flexibility) -> bool:
    """True when ``new`` should be re-announced: first offer, or a power changed by at least
    1 kW and 5 %, or an energy by at least 1 kWh and 5 %."""
    if old is None:
        return True
    return (
        _differs(old.max_discharge_kw, new.max_discharge_kw, MATERIAL_KW)
        or _differs(old.max_charge_kw, new.max_charge_kw, MATERIAL_KW)
        or _differs(old.available_energy_kwh, new.available_energy_kwh, MATERIAL_KW)
        or _differs(old.headroom_energy_kwh, new.headroom_energy_kwh, MATERIAL_KW)
    )
