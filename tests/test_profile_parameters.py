"""A device profile's parameters (``parameters:`` in its YAML), set per site in ``modbus.parameters``:
declared by the profile, validated against it, applied by the driver and the simulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.config.loader import ConfigError, load_config
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from phoenyra_ems.profiles.catalog import profile_path
from phoenyra_ems.profiles.loader import ProfileError, apply_parameters, load_profile, parse_profile_file
from phoenyra_ems.profiles.model import RegisterPoint
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import make_site, simulator_config

CONFIG = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 200, power_charge_max_kw: 100, power_discharge_max_kw: 100}
      modbus:
        profile: generic
        parameters: {power_scale: 10}
"""


def test_a_parameter_multiplies_the_scale_of_its_points_only() -> None:
    generic = load_profile("generic")
    scaled = apply_parameters(generic, {"power_scale": 10.0})
    for name, measure in generic.measurements.items():
        assert isinstance(measure, RegisterPoint)
        after = scaled.measurements[name]
        assert isinstance(after, RegisterPoint)
        factor = 10.0 if name in generic.parameters["power_scale"].points else 1.0
        assert after.scale == pytest.approx(measure.scale * factor), name
    assert apply_parameters(generic, {}) is generic
    with pytest.raises(ProfileError, match=r"no parameter 'power_scal'.*power_scale"):
        apply_parameters(generic, {"power_scal": 10.0})


def test_a_profile_declaring_a_parameter_on_an_unknown_point_is_refused(tmp_path: Path) -> None:
    text = profile_path("generic").read_text()
    bad = tmp_path / "generic.yaml"
    bad.write_text(text.replace("points: [p_bess_kw,", "points: [p_bes_kw,"))
    with pytest.raises(ProfileError, match=r"power_scale\.points.*'p_bes_kw' is not a measurement"):
        parse_profile_file(bad)


def test_the_site_sets_it_and_an_unknown_name_is_an_error_with_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ems.yaml"
    path.write_text(CONFIG)
    assert load_config(path).sites["wien"].modbus.parameters == {"power_scale": 10.0}
    path.write_text(CONFIG.replace("power_scale: 10", "power_scale: 10, scale_soc: 2"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.path == "sites.sites.wien.modbus.parameters.scale_soc" and issue.line == 7
    assert "no parameter 'scale_soc'" in issue.message and "power_scale" in issue.message
    path.write_text(CONFIG.replace("power_scale: 10", "power_scale: -1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.issues[0].path == "sites.sites.wien.modbus.parameters.power_scale"


async def test_the_driver_reads_a_gateway_that_reports_power_in_10_w_steps(port: int) -> None:
    """The simulator serves the generic map as written (W); the site says the gateway's registers
    count 10-W steps: the driver reads ten times the simulator's power, the SoC unchanged."""
    site = make_site(port)
    clock = AcceleratedClock(datetime(2024, 6, 1, 10, tzinfo=UTC), 1.0)
    simulator = BatterySimulator(simulator_config(site, soc_pct=42.0), clock)  # no parameters
    await simulator.start()
    scaled = replace(site.modbus, parameters={"power_scale": 10.0})
    device = ModbusDevice(scaled, site.bess, clock)
    try:
        await device.start()
        assert await device.wait_ready(5.0)
        reading = await device.read()
        truth = simulator.model.measurements(clock.now())
        assert reading.soc_pct == pytest.approx(42.0, abs=0.5)
        assert truth.p_pv_kw > 1.0  # 10:00 UTC in June: the PV register is far from zero
        assert reading.p_pv_kw == pytest.approx(10 * truth.p_pv_kw, rel=0.01, abs=0.01)
    finally:
        await device.stop()
        await simulator.stop()
