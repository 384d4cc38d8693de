"""Battery physics shared by the simulator and the backtest: energy, efficiency, limits, ageing."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Calendar + cycle fade: about 2 % per 1000 full equivalent cycles, a slow, visible trend.
SOH_FADE_PER_FULL_CYCLE_PCT = 0.002  # % of SoH lost per full equivalent cycle


@dataclass(frozen=True, slots=True)
class BatteryModel:
    capacity_kwh: float
    charge_max_kw: float
    discharge_max_kw: float
    efficiency_charge: float = 0.95
    efficiency_discharge: float = 0.95
    thermal_mass_kwh_per_k: float = 0.5  # heat capacity of the pack, kWh/K
    cooling_kw_per_k: float = 0.05  # heat loss to ambient per kelvin above it


@dataclass(frozen=True, slots=True)
class BatteryState:
    soc_pct: float
    soh_pct: float = 100.0
    temp_c: float = 25.0
    throughput_kwh: float = 0.0  # DC energy moved in either direction


def step(
    model: BatteryModel, state: BatteryState, power_kw: float, dt_s: float, ambient_c: float = 25.0
) -> tuple[BatteryState, float]:
    """Apply AC power ``power_kw`` (+ discharge / - charge) for ``dt_s``.

    Returns the new state and the AC power actually delivered: the battery cannot go past 0 or
    100 % SoC nor past its power limits, whatever it is told.
    """
    hours = dt_s / 3600.0
    capacity = model.capacity_kwh * state.soh_pct / 100.0
    stored = state.soc_pct / 100.0 * capacity
    power = min(max(power_kw, -model.charge_max_kw), model.discharge_max_kw)
    if power >= 0:  # discharge: the cells give power / eta
        dc_kwh = min(power / model.efficiency_discharge * hours, stored)
        power = dc_kwh * model.efficiency_discharge / hours if hours > 0 else 0.0
        stored -= dc_kwh
    else:  # charge: the cells take |power| * eta
        dc_kwh = min(-power * model.efficiency_charge * hours, capacity - stored)
        power = -dc_kwh / model.efficiency_charge / hours if hours > 0 else 0.0
        stored += dc_kwh
    loss_kw = abs(power) * (1 - min(model.efficiency_charge, model.efficiency_discharge))
    heat = (loss_kw - model.cooling_kw_per_k * (state.temp_c - ambient_c)) * hours
    new_temp = state.temp_c + heat / model.thermal_mass_kwh_per_k
    full_cycles = dc_kwh / (2 * model.capacity_kwh) if model.capacity_kwh > 0 else 0.0
    new_state = replace(
        state,
        soc_pct=100.0 * stored / capacity if capacity > 0 else 0.0,
        soh_pct=max(0.0, state.soh_pct - SOH_FADE_PER_FULL_CYCLE_PCT * full_cycles),
        temp_c=new_temp,
        throughput_kwh=state.throughput_kwh + dc_kwh,
    )
    return new_state, power
