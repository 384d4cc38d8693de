"""Plausibility checks on a reading: reject values no healthy device can report."""

from __future__ import annotations

import math

from phoenyra_ems.config.model import BessConfig
from phoenyra_ems.devices.errors import ImplausibleReading
from phoenyra_ems.models import Measurements

# Meters overshoot a little around setpoint steps; beyond this the reading is wrong.
POWER_TOLERANCE = 1.1
POWER_TOLERANCE_KW = 0.5


def check_plausible(m: Measurements, bess: BessConfig) -> Measurements:
    """Return ``m`` unchanged, or raise ImplausibleReading naming the bad field."""
    for name in ("soc_pct", "soh_pct"):
        value = getattr(m, name)
        if value is not None and not (0.0 <= value <= 100.0):
            raise ImplausibleReading(name, value, "outside 0-100 %")
    for name in ("soc_pct", "soh_pct", "temp_c", "p_bess_kw", "p_pv_kw", "p_load_kw", "p_grid_kw"):
        value = getattr(m, name)
        if value is not None and not math.isfinite(value):
            raise ImplausibleReading(name, value, "not a number")
    if m.p_bess_kw is not None:
        high = bess.power_discharge_max_kw * POWER_TOLERANCE + POWER_TOLERANCE_KW
        low = -bess.power_charge_max_kw * POWER_TOLERANCE - POWER_TOLERANCE_KW
        if not (low <= m.p_bess_kw <= high):
            raise ImplausibleReading(
                "p_bess_kw", m.p_bess_kw, f"beyond the hardware limit {low:g}..{high:g} kW"
            )
    if m.temp_c is not None and not (-40.0 <= m.temp_c <= 120.0):
        raise ImplausibleReading("temp_c", m.temp_c, "outside -40..120 °C")
    return m
