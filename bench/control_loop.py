"""Control-loop latency of one site over real Modbus TCP (loopback), simulator in its own process.

Prints the read→decide→write cycle latency (p50 / p99 / max), Modbus round trips per cycle, and
the baseline: one bare pymodbus register read on the same connection (the floor of any cycle).

    .venv/bin/python bench/control_loop.py [--cycles 2000] [--profile generic]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from _common import free_port, percentile  # bench/ is the script's directory

from phoenyra_ems.config.model import BessConfig, EmsSettings, GridConnectionConfig, ModbusConfig, SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from phoenyra_ems.history.store import HistoryStore
from phoenyra_ems.models import SiteMode
from phoenyra_ems.prices import ReplayPriceProvider


async def measure(port: int, profile: str, cycles: int, db: Path) -> None:
    site = SiteConfig(
        site_id="bench",
        name="bench",
        bess=BessConfig(200, 100, 100),
        modbus=ModbusConfig(port=port, profile=profile, timeout_s=1.0),
        grid_connection=GridConnectionConfig(max_power_kw=150),
        ems=EmsSettings(cycle_s=1.0),
    )
    device = ModbusDevice(site.modbus, site.bess)
    controller = SiteController(site, device, prices=ReplayPriceProvider("at"), history=HistoryStore(db))
    assert controller.history is not None
    await controller.history.open()
    await device.start()
    if not await device.wait_ready(10):
        raise SystemExit("simulator did not come up")
    for _ in range(50):  # warm-up
        await controller.cycle()

    async def run(cycles: int, change_setpoint: bool) -> tuple[list[float], float, int]:
        trips_before, cycles_before = device.stats.round_trips, controller.stats.cycles
        writes_before = device.stats.setpoint_writes
        latencies = []
        for i in range(cycles):
            if change_setpoint:  # a new setpoint every cycle: read + decide + write every time
                controller.set_intent(
                    ControlIntent(SiteMode.MANUAL, manual_setpoint_kw=10.0 if i % 2 else -10.0)
                )
            started = time.perf_counter()
            await controller.cycle()
            latencies.append(time.perf_counter() - started)
        trips = (device.stats.round_trips - trips_before) / (controller.stats.cycles - cycles_before)
        return latencies, trips, device.stats.setpoint_writes - writes_before

    steady, steady_trips, steady_writes = await run(cycles, change_setpoint=False)
    changing, changing_trips, changing_writes = await run(cycles, change_setpoint=True)

    # Baseline: a bare one-register read on the same client.
    client = device._client
    bare = []
    for _ in range(cycles):
        started = time.perf_counter()
        await client.read_holding_registers(device.register_map.read_plan()[0].address, count=1)  # type: ignore[union-attr]
        bare.append(time.perf_counter() - started)

    print(f"profile {profile}: {cycles} cycles each, simulator in a separate process, loopback TCP")
    for label, latencies, trips, writes in (
        ("auto, steady setpoint (read→decide→record)", steady, steady_trips, steady_writes),
        ("new setpoint every cycle (read→decide→write→record)", changing, changing_trips, changing_writes),
    ):
        print(f"  {label}")
        p50, p99 = percentile(latencies, 50) * 1e3, percentile(latencies, 99) * 1e3
        print(
            f"    p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {max(latencies) * 1e3:.3f} ms   "
            f"Modbus round trips/cycle {trips:.2f}  writes {writes}"
        )
    print(
        f"  baseline: bare 1-register read  p50 {percentile(bare, 50) * 1e3:.3f} ms  "
        f"p99 {percentile(bare, 99) * 1e3:.3f} ms"
    )
    overhead = percentile(steady, 50) - steady_trips * percentile(bare, 50)
    print(f"  our overhead per cycle beyond the Modbus round trips (p50) ≈ {overhead * 1e3:.3f} ms")
    await controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--profile", default="generic")
    args = parser.parse_args()
    port = free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "phoenyra_ems.cli",
            "simulate",
            "--profile",
            args.profile,
            "--port",
            str(port),
            "--capacity-kwh",
            "200",
            "--power-kw",
            "100",
            "--pv-peak-kw",
            "120",
            "--load",
            "commercial",
            "--annual-load-mwh",
            "400",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(measure(port, args.profile, args.cycles, Path(tmp) / "bench.db"))
    finally:
        simulator.terminate()
        simulator.wait(5)


if __name__ == "__main__":
    main()
