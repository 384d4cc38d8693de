"""``source: modbus`` sensors: read on the site's Modbus endpoint beside control, never able to break it.

Real parts: our Modbus TCP simulator (generic profile, which serves ``humidity_outdoor`` at input 20
and ``temperature_cabinet`` at input 21) and the control driver reading it at the same time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.config.schema import SENSORS
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from phoenyra_ems.sensor_service import SensorService
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config

HUMIDITY = {
    "id": "rh",
    "type": "humidity",
    "site": "wien",
    "source": "modbus",
    "register": "humidity_outdoor",
}
CABINET = {  # the same register as the profile's temperature_cabinet, given by address
    "id": "cab",
    "type": "temperature",
    "site": "wien",
    "source": "modbus",
    "register": 21,
    "table": "input",
    "data_type": "int16",
    "scale": 0.1,
    "unit": "°C",
}
FAST = {"interval_s": 0.2}


@pytest.fixture
async def device() -> AsyncIterator[tuple[SiteConfig, BatterySimulator]]:
    site = make_site(free_port())
    site = replace(site, modbus=replace(site.modbus, timeout_s=0.5))
    simulator = BatterySimulator(simulator_config(site), SystemClock())
    simulator.sensor_values.update(humidity_outdoor=61.5, temperature_cabinet=27.3)
    await simulator.start()
    try:
        yield site, simulator
    finally:
        await simulator.stop()


def service_for(site: SiteConfig, *sensors: dict[str, object], **extra: object) -> SensorService:
    return SensorService(SENSORS({"sensors": list(sensors), **extra}), {"wien": site})


async def until(condition: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def value(service: SensorService, sid: str) -> float | None:
    sensor = service.registry.get(sid)
    return None if sensor is None else sensor.value


async def test_named_and_addressed_registers_are_read_and_aggregated_by_their_type(
    device: tuple[SiteConfig, BatterySimulator],
) -> None:
    site, _ = device
    other = {**CABINET, "id": "cab2", "register": 21}
    service = service_for(site, HUMIDITY, CABINET, other, aggregation={"temperature_method": "max"})
    assert not service.config.enabled  # no MQTT sensor listed: no broker needed
    await service.start()
    try:
        await until(lambda: all(value(service, f"config:{s}") is not None for s in ("rh", "cab", "cab2")))
        assert value(service, "config:rh") == pytest.approx(61.5)
        assert value(service, "config:cab") == pytest.approx(27.3)
        snapshot = service.registry.snapshot()
        assert snapshot["config:rh"]["unit"] == "%" and snapshot["config:rh"]["site"] == "wien"
        roles = service.registry.role_summary("wien")
        assert roles["humidity"]["value"] == pytest.approx(61.5) and roles["humidity"]["method"] == "avg"
        assert roles["temperature"]["method"] == "max"
        assert service.inputs("wien").dropped == ()
    finally:
        await service.stop()


async def test_a_hung_sensor_register_is_dropped_with_the_alarm_and_never_delays_control(
    device: tuple[SiteConfig, BatterySimulator],
) -> None:
    site, simulator = device
    # a long timeout, so that a control read queued behind the hung one (up to 1.5 s) stands far
    # above what a loaded machine adds to a loopback read
    site = replace(site, modbus=replace(site.modbus, timeout_s=1.5))
    driver = ModbusDevice(site.modbus, site.bess)
    await driver.start()
    assert await driver.wait_ready(3.0)
    service = service_for(site, {**HUMIDITY, **FAST}, {**CABINET, **FAST})
    await service.start()
    try:
        await until(lambda: value(service, "config:rh") is not None)
        simulator.fail_register(20, "hang")  # the humidity register stops answering
        latencies = []
        deadline = time.monotonic() + 1.8  # covers a whole hung read (timeout 1.5 s, interval 0.2 s)
        while time.monotonic() < deadline:
            start = time.perf_counter()
            await driver.read()  # the control cycle's reading
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.01)
        await until(lambda: service.inputs("wien").dropped == ("config:rh",), timeout=10.0)
        poller = service.pollers["wien"]
        assert poller.failures >= 1
        # ~1-10 ms each on an idle machine; one waiting for the hung read would take up to 1.5 s
        assert max(latencies) < 0.75, f"a control read waited {max(latencies):.3f} s"
        assert driver.connected and driver.stats.failures == 0
        error = service.registry.snapshot()["config:rh"]["error"]
        assert error is not None and "register 20" in error
        assert value(service, "config:cab") == pytest.approx(27.3)  # the other register goes on
        simulator.heal_register(20)
        await until(lambda: service.inputs("wien").dropped == (), timeout=10.0)
        assert value(service, "config:rh") == pytest.approx(61.5)
        assert service.registry.snapshot()["config:rh"]["error"] is None
    finally:
        await service.stop()
        await driver.stop()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("error", "refuses the read"),
        ("not_available", "not available"),  # the profile's invalid value 0xFFFF
        ("implausible", "not a plausible humidity"),
    ],
)
async def test_a_garbage_or_refused_register_is_a_dropped_sensor_until_it_reads_again(
    device: tuple[SiteConfig, BatterySimulator], fault: str, reason: str
) -> None:
    site, simulator = device
    if fault == "error":
        simulator.fail_register(20, "error")
    elif fault == "not_available":
        simulator.set_raw(20, 0xFFFF)
    else:
        simulator.sensor_values["humidity_outdoor"] = 140.0
    service = service_for(site, {**HUMIDITY, **FAST})
    await service.start()
    try:
        await until(lambda: service.registry.snapshot()["config:rh"]["error"] is not None)
        assert reason in service.registry.snapshot()["config:rh"]["error"]
        assert service.inputs("wien").dropped == ("config:rh",)
        simulator.heal_register(20)
        simulator.sensor_values["humidity_outdoor"] = 48.0
        await until(lambda: value(service, "config:rh") == pytest.approx(48.0))
        assert service.inputs("wien").dropped == ()
    finally:
        await service.stop()


async def test_a_reload_moves_a_sensor_to_another_register_and_removing_it_stops_the_poller(
    device: tuple[SiteConfig, BatterySimulator],
) -> None:
    site, _ = device
    service = service_for(site, HUMIDITY)
    await service.start()
    try:
        await until(lambda: value(service, "config:rh") is not None)
        moved = {**HUMIDITY, "register": "temperature_cabinet", "type": "temperature"}
        service.apply(SENSORS({"sensors": [moved]}), {"wien": site})
        await until(lambda: value(service, "config:rh") == pytest.approx(27.3))
        service.apply(SENSORS({"sensors": []}), {"wien": site})
        assert service.pollers == {} and len(service.registry) == 0
    finally:
        await service.stop()
