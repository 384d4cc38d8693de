"""What ``source: modbus`` sensors cost the control read, with a healthy and with a hung register.

One simulated generic device on loopback; the control driver (``ModbusDevice``) reads it back to
back while sensor registers are polled every 50 ms. Prints the control read latency (p50, p99, max
in ms) for:

* ``no sensors``: the baseline;
* ``own connection``: the sensor poller (``ModbusSensorPoller``, as the daemon runs it);
* ``own connection, hung``: the same with the humidity register never answering (timeout 0.5 s);
* ``shared client, hung``: for comparison, the same hung read issued on the control driver's own
  pymodbus client (what sharing the site's connection would do): control waits for the timeout.

    .venv/bin/python bench/modbus_sensors.py [--reads 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._common import free_port, percentile  # noqa: E402
from phoenyra_ems.clock import SystemClock  # noqa: E402
from phoenyra_ems.config.model import BessConfig, ExplicitSensorConfig, ModbusConfig  # noqa: E402
from phoenyra_ems.devices.modbus_driver import ModbusDevice  # noqa: E402
from phoenyra_ems.devices.sensor_poller import ModbusSensorPoller, polled  # noqa: E402
from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig  # noqa: E402

TIMEOUT_S = 0.5
SENSORS = [
    ExplicitSensorConfig("rh", "humidity", "1", "modbus", register="humidity_outdoor", interval_s=0.05),
    ExplicitSensorConfig(
        "cab", "temperature", "1", "modbus", register="temperature_cabinet", interval_s=0.05
    ),
]


async def control_reads(driver: ModbusDevice, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        await driver.read()
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.005)
    return latencies


async def scenario(name: str, reads: int) -> list[float]:
    port = free_port()
    simulator = BatterySimulator(
        SimulatorConfig(port=port, capacity_kwh=200, charge_max_kw=100, discharge_max_kw=100), SystemClock()
    )
    await simulator.start()
    modbus = ModbusConfig(host="127.0.0.1", port=port, timeout_s=TIMEOUT_S)
    driver = ModbusDevice(modbus, BessConfig(200, 100, 100))
    await driver.start()
    assert await driver.wait_ready(3.0)
    poller = None
    hammer: asyncio.Task[None] | None = None
    if name.startswith("own connection"):
        sensors = [polled(s, s.id, "generic") for s in SENSORS]
        poller = ModbusSensorPoller(modbus, sensors, lambda *_: None)
        poller.start()
    if name.endswith("hung"):
        simulator.fail_register(20, "hang")
    if name == "shared client, hung":

        async def shared() -> None:  # the sensor read on the control driver's own client
            client = driver._client  # the comparison needs the driver's own connection
            while True:
                with contextlib.suppress(Exception):
                    await client.read_input_registers(20, count=1, device_id=1)
                await asyncio.sleep(0.05)

        hammer = asyncio.create_task(shared())
    try:
        return await control_reads(driver, reads)
    except Exception as err:  # the shared client's late answers break control reads: say so
        print(f"  {name}: control read failed: {type(err).__name__}: {err}")
        return []
    finally:
        if hammer is not None:
            hammer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hammer
        if poller is not None:
            await poller.stop()
        simulator.heal_register(20)
        await driver.stop()
        await simulator.stop()


async def main(reads: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the shared client's late answers
    print(f"control read latency, {reads} reads each, sensor interval 50 ms, timeout {TIMEOUT_S} s")
    print(f"{'scenario':28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'failed':>7}")
    for name in ("no sensors", "own connection", "own connection, hung", "shared client, hung"):
        latencies = await scenario(name, reads)
        ms = [v * 1000 for v in latencies]
        print(
            f"{name:28} {percentile(ms, 50):8.2f} {percentile(ms, 99):8.2f} "
            f"{max(ms, default=float('nan')):8.2f} {reads - len(ms):7d}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=200)
    asyncio.run(main(parser.parse_args().reads))
