"""A battery site on Modbus TCP: pymodbus server + battery physics + real PV and load data."""

from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig

__all__ = ["BatterySimulator", "SimulatorConfig"]
