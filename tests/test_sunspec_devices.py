"""SunSpec over real Modbus TCP on loopback: each simulated model set, our driver, and pysunspec2.

pysunspec2 (the SunSpec Alliance's own client) is the independent check: it scans the simulator,
must find every model with no length mismatch and must read the SoC and power our driver reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.config.model import BessConfig
from phoenyra_ems.devices.codec import encode_registers
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from phoenyra_ems.devices.sunspec import model_definition
from phoenyra_ems.simulator.server import SUNSPEC_LAYOUTS, BatterySimulator
from tests.conftest import make_site, simulator_config

CHARGE_MAX_KW, DISCHARGE_MAX_KW = 60.0, 100.0  # WChaMax != WDisChaMax
SOC_SOURCES = ((802, "SoC"), (713, "SoC"), (124, "ChaState"))
POWER_SOURCES = ((802, "W"), (714, "DCW"), (701, "W"), (103, "W"))  # all + = discharge


def _site(port: int) -> Any:
    site = make_site(port)
    bess = BessConfig(200, CHARGE_MAX_KW, DISCHARGE_MAX_KW, 0.95, 0.95, 10, 90)
    return replace(site, bess=bess, modbus=replace(site.modbus, profile="sunspec"))


async def _simulator(port: int, layout: str, clock: AcceleratedClock, **overrides: Any) -> BatterySimulator:
    site = _site(port)
    config = simulator_config(site, soc_pct=52.34, sunspec_models=layout, **overrides)
    simulator = BatterySimulator(config, clock)
    await simulator.start()
    return simulator


def _clock(speed: float = 1.0) -> AcceleratedClock:
    return AcceleratedClock(datetime(2024, 6, 1, 2, tzinfo=UTC), speed)


@pytest.mark.parametrize("layout", sorted(SUNSPEC_LAYOUTS))
async def test_driver_reads_soc_and_power_and_moves_the_battery(layout: str, port: int) -> None:
    """Each model set: the true SoC within 0.1 %, and charge/discharge setpoints (WChaMax 60 kW,
    WDisChaMax 100 kW) move the simulated battery at that power within 1 %."""
    clock = _clock()
    simulator = await _simulator(port, layout, clock)
    site = _site(port)
    device = ModbusDevice(site.modbus, site.bess, clock)
    try:
        await device.start()
        assert await device.wait_ready(5.0)
        assert device.register_map is not None
        assert set(device.register_map.sunspec_models or {}) == set(SUNSPEC_LAYOUTS[layout])
        reading = await device.read()
        truth = simulator.model.measurements(clock.now())
        assert reading.soc_pct == pytest.approx(truth.soc_pct, abs=0.1)
        assert reading.p_bess_kw == pytest.approx(0.0, abs=0.05)
        lo, hi = device.register_map.setpoint_range_kw()
        if layout == "124-only":  # no WDisChaMax anywhere: OutWRte is taken as a % of WChaMax
            assert (lo, hi) == pytest.approx((-CHARGE_MAX_KW, CHARGE_MAX_KW))
        else:
            assert lo <= -CHARGE_MAX_KW and hi >= DISCHARGE_MAX_KW
        for kw in (-50.0, 80.0, -CHARGE_MAX_KW, DISCHARGE_MAX_KW):  # 80 kW > WChaMax
            assert await device.write_setpoint(kw)
            await asyncio.sleep(0.05)
            reading = await device.read()
            truth = simulator.model.measurements(clock.now())
            want = min(max(kw, lo), hi)
            assert simulator.model.p_bess_kw == pytest.approx(want, rel=0.01), f"battery at {kw} kW"
            assert reading.p_bess_kw == pytest.approx(want, rel=0.01), f"driver reads {kw} kW"
            assert reading.soc_pct == pytest.approx(truth.soc_pct, abs=0.1)
    finally:
        await device.stop()
        await simulator.stop()
    assert simulator.model.setpoint_kw == 0.0, "stop() must leave the battery at 0 kW"


def _pysunspec2_scan(port: int) -> dict[int, dict[str, Any]]:
    """pysunspec2's view: model id -> its L, its computed length, errors and point values."""
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        device.scan()
        out: dict[int, dict[str, Any]] = {}
        for model_id, instances in device.models.items():
            if not isinstance(model_id, int):
                continue  # the same models, also keyed by name
            model = instances[0]
            model.read()
            points = model.points
            out[model_id] = {
                "L": model.model_len,
                "computed": model.len,
                "error": model.error_info,
                "values": {name: points[name].cvalue for name in points},
            }
        return out
    finally:
        device.close()


@pytest.mark.parametrize("layout", sorted(SUNSPEC_LAYOUTS))
async def test_pysunspec2_reads_what_our_driver_reads(layout: str, port: int) -> None:
    pytest.importorskip("sunspec2")
    clock = _clock()
    simulator = await _simulator(port, layout, clock)
    site = _site(port)
    device = ModbusDevice(site.modbus, site.bess, clock)
    try:
        await device.start()
        assert await device.wait_ready(5.0)
        assert await device.write_setpoint(-45.0)
        await asyncio.sleep(0.05)
        ours = await device.read()
        theirs = await asyncio.to_thread(_pysunspec2_scan, port)
        again = await device.read()
    finally:
        await device.stop()
        await simulator.stop()
    assert set(theirs) == set(SUNSPEC_LAYOUTS[layout])
    for model_id, seen in theirs.items():
        assert seen["error"] == "", f"model {model_id}: {seen['error']}"
        assert seen["L"] == seen["computed"] == model_definition(model_id).length()
    soc_model, soc_point = next(s for s in SOC_SOURCES if s[0] in theirs)
    soc = theirs[soc_model]["values"][soc_point]
    assert ours.soc_pct is not None and again.soc_pct is not None
    assert min(ours.soc_pct, again.soc_pct) - 0.05 <= soc <= max(ours.soc_pct, again.soc_pct) + 0.05
    power_model, power_point = next(s for s in POWER_SOURCES if s[0] in theirs)
    power_kw = theirs[power_model]["values"][power_point] / 1000.0
    assert power_kw == pytest.approx(ours.p_bess_kw, abs=0.01)
    assert power_kw == pytest.approx(-45.0, rel=0.01)


async def _bare_write(port: int, address: int, values: list[int]) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    try:
        assert await client.connect()
        response = await client.write_registers(address, values, device_id=1)
        assert not response.isError()
    finally:
        client.close()


def _i16(value: float) -> int:
    return round(value) & 0xFFFF


async def test_simulator_honours_124_storctl_mod_bits_and_revert_timer(port: int) -> None:
    """A bare client drives 124 as a device's manual describes: StorCtl_Mod bit 0 (charge limit)
    with a negative InWRte forces a discharge; the InOutWRte_RvrtTms it writes is the timer."""
    clock = _clock(300.0)
    simulator = await _simulator(port, "124-only", clock, revert_timeout_s=None)
    layout = simulator.register_map.sunspec_models
    assert layout is not None
    off = layout[124]
    try:  # InOutWRte_SF = -2: OutWRte, InWRte, WinTms, RvrtTms 30 s, RmpTms; then StorCtl_Mod = 1
        await _bare_write(port, off + 12, [_i16(100_00), _i16(-40_00), 0, 30, 0])
        await _bare_write(port, off + 5, [1])
        assert simulator.model.setpoint_kw == pytest.approx(0.4 * CHARGE_MAX_KW)  # % of WChaMax
        await _bare_write(port, off + 5, [2])  # only the discharge limit (100 %): the device holds
        assert simulator.model.setpoint_kw == 0.0
        await _bare_write(port, off + 12, [_i16(-25_00)])  # negative OutWRte forces a charge
        assert simulator.model.setpoint_kw == pytest.approx(-0.25 * CHARGE_MAX_KW)  # no WDisChaMax
        await asyncio.sleep(40 / 300.0)  # the written 30 s timer, not the simulator's watchdog
        simulator.model.measurements(clock.now())
        assert simulator.model.reverts == 1 and simulator.model.setpoint_kw == 0.0
    finally:
        await simulator.stop()


async def test_simulator_honours_704_wset_wsetpct_wsetena_and_reversion(port: int) -> None:
    clock = _clock(300.0)
    simulator = await _simulator(port, "802+704", clock, revert_timeout_s=None)
    layout = simulator.register_map.sunspec_models
    assert layout is not None
    md, base = model_definition(704), layout[704]

    def at(name: str) -> int:
        return base + md.point(name).offset

    try:
        # WSetEna 1, WSetMod 1 (watts), WSet -20000 W (WSet_SF 0), WSetRvrt -5000 W,
        # WSetPct/WSetPctRvrt 0, WSetEnaRvrt 1, WSetRvrtTms 30 s
        block = [1, 1, *encode_registers(-20000, "int32"), *encode_registers(-5000, "int32"), 0, 0, 1]
        await _bare_write(port, at("WSetEna"), [*block, *encode_registers(30, "uint32")])
        assert simulator.model.setpoint_kw == pytest.approx(-20.0)
        await asyncio.sleep(40 / 300.0)
        simulator.model.measurements(clock.now())
        assert simulator.model.reverts == 1
        assert simulator.model.setpoint_kw == pytest.approx(-5.0)  # reverted to WSetRvrt
        # W_MAX_PCT: WSetPct 50.00 % (WSetPct_SF -2) of WMax (no 702: the rated 100 kW), no timer
        await _bare_write(port, at("WSetRvrtTms"), [0, 0])
        await _bare_write(port, at("WSetPct"), [_i16(50_00)])
        await _bare_write(port, at("WSetMod"), [0])
        assert simulator.model.setpoint_kw == pytest.approx(0.5 * DISCHARGE_MAX_KW)
        await asyncio.sleep(40 / 300.0)
        simulator.model.measurements(clock.now())
        assert simulator.model.setpoint_kw == pytest.approx(50.0) and simulator.model.reverts == 1
        await _bare_write(port, at("WSetEna"), [0])  # function disabled: the device holds
        assert simulator.model.setpoint_kw == 0.0
    finally:
        await simulator.stop()


def test_sunspec_models_need_the_sunspec_profile() -> None:
    site = make_site(1)
    with pytest.raises(ValueError, match="SunSpec profile"):
        BatterySimulator(simulator_config(site, sunspec_models="124-only"))


def _pysunspec2_write(port: int, model_id: int, values: dict[str, float]) -> None:
    """pysunspec2 writes points (cvalue: scale factors applied by pysunspec2, not by us)."""
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    device = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=2)
    try:
        device.scan()
        model = device.models[model_id][0]
        model.read()
        for name, value in values.items():
            model.points[name].cvalue = value
        model.write()
    finally:
        device.close()


@pytest.mark.parametrize(
    ("layout", "model_id", "values", "kw"),
    [
        ("802+704", 704, {"WSetEna": 1, "WSetMod": 1, "WSet": -20000.0}, -20.0),
        ("713+704", 704, {"WSetEna": 1, "WSetMod": 0, "WSetPct": 35.5}, 35.5),  # % of WMax 100 kW
        ("124-only", 124, {"StorCtl_Mod": 1, "InWRte": -40.0, "InOutWRte_RvrtTms": 0}, 24.0),
        ("713+714", 124, {"StorCtl_Mod": 2, "OutWRte": -30.0, "InOutWRte_RvrtTms": 0}, -30.0),  # 702
    ],
)
async def test_pysunspec2_writes_are_honoured(
    layout: str, model_id: int, values: dict[str, float], kw: float, port: int
) -> None:
    """Control written by the independent client moves the simulated battery."""
    pytest.importorskip("sunspec2")
    simulator = await _simulator(port, layout, _clock())
    try:
        await asyncio.to_thread(_pysunspec2_write, port, model_id, values)
        assert simulator.model.setpoint_kw == pytest.approx(kw, rel=0.001)
    finally:
        await simulator.stop()
