"""Plausibility checks on a reading: reject values no healthy device can report."""

from __future__ import annotations

import math

from phoenyra_ems.config.model import BessConfig, SiteConfig
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


# PV modules exceed their rated (STC) power under cold, clear, cloud-edge conditions; not by 30 %.
PV_OVERSHOOT = 1.3
GRID_OVERSHOOT = 1.5  # a fuse carries this much over the contracted connection for a while
BALANCE_TOLERANCE = 0.2  # meters are not read at the same instant: a fifth of the site's scale


def check_site_plausible(m: Measurements, site: SiteConfig) -> Measurements:
    """Bound PV, load and grid by the site's configuration and check the power balance.

    ``p_grid + p_pv + p_bess = p_load`` (grid + import, battery + discharge). Returns ``m`` or raises
    ImplausibleReading naming the field. Bounds (docs/safety.md): PV within −(2 % of peak) …
    1.3 × ``forecast.pv_peak_power_kw``; load up to what every source together can supply; grid within
    1.5 × the connection; the balance within 20 % of the site's largest power.
    """
    bess = site.bess
    tol = POWER_TOLERANCE_KW
    scale = max(
        bess.power_charge_max_kw,
        bess.power_discharge_max_kw,
        site.forecast.pv_peak_power_kw,
        site.grid_connection.max_power_kw or 0.0,
    )
    peak = site.forecast.pv_peak_power_kw
    pv_high = peak * PV_OVERSHOOT + tol if peak > 0 else 2 * scale + tol
    pv_low = -(0.02 * peak + tol)
    connection = site.grid_connection.max_power_kw
    import_high = connection * GRID_OVERSHOOT + tol if connection else 2 * scale + tol
    export = site.grid_connection.max_export_kw or connection
    export_high = export * GRID_OVERSHOOT + tol if export else 2 * scale + tol
    load_high = import_high + pv_high + bess.power_discharge_max_kw * POWER_TOLERANCE + tol
    _within(m.p_pv_kw, "p_pv_kw", pv_low, pv_high, "PV beyond the array's peak power")
    _within(m.p_load_kw, "p_load_kw", -tol, load_high, "load beyond what grid, PV and battery can supply")
    _within(m.p_grid_kw, "p_grid_kw", -export_high, import_high, "grid power beyond the connection")
    terms = (m.p_grid_kw, m.p_pv_kw, m.p_bess_kw, m.p_load_kw)
    if all(t is not None for t in terms):
        grid, pv, battery, load = (float(t) for t in terms)  # type: ignore[arg-type]
        mismatch = grid + pv + battery - load
        if abs(mismatch) > BALANCE_TOLERANCE * scale + 2 * tol:
            raise ImplausibleReading(
                "power_balance", mismatch, "grid + PV + battery differs from the load by that many kW"
            )
    return m


def _within(value: float | None, name: str, low: float, high: float, why: str) -> None:
    if value is not None and not (low <= value <= high):
        raise ImplausibleReading(name, value, f"{why} (allowed {low:g}..{high:g} kW)")
