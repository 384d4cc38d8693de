"""A battery on Modbus TCP whose answers a test can corrupt at runtime (run as its own process).

It is the real simulator (``BatterySimulator``: same physics, same register map as the driver)
with a control file re-read on every request::

    {"measurements": {"p_pv_kw": 1200},    # replace a measurement before it is encoded (kW, %, °C)
     "registers": {"37760": 65535},         # then force raw register values (e.g. the SoC sentinel)
     "read_exception": 4,                   # answer every read with this Modbus exception code
     "write_exception": 4}                  # refuse every setpoint write with this exception code

and a status file rewritten after every request (what the battery really does)::

    {"pid", "setpoint_kw", "p_bess_kw", "reads", "writes", "refused_reads", "refused_writes",
     "last_write_kw", "updated"}

    python tests/faults/fault_device.py --profile huawei_luna2000 --port 5020 \
        --control ctl.json --status status.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes

from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig


class FaultDevice(BatterySimulator):
    def __init__(self, config: SimulatorConfig, control: Path, status: Path) -> None:
        super().__init__(config)
        self.control_path = control
        self.status_path = status
        self.counts = {"reads": 0, "writes": 0, "refused_reads": 0, "refused_writes": 0}
        self.last_write_kw: float | None = None

    def control(self) -> dict[str, Any]:
        try:
            data = json.loads(self.control_path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "setpoint_kw": self.model.setpoint_kw,
            "p_bess_kw": self.model.p_bess_kw,
            "last_write_kw": self.last_write_kw,
            "updated": time.time(),
            **self.counts,
        }
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, self.status_path)

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        await self._responsive.wait()
        try:
            return self._serve(self.control(), start_address, address, count, registers, set_values)
        finally:
            self.write_status()

    def _serve(
        self,
        control: dict[str, Any],
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        now = self.clock.now()
        if set_values is None:
            if control.get("read_exception"):
                self.counts["refused_reads"] += 1
                return ExcCodes(int(control["read_exception"]))
            self.counts["reads"] += 1
            measured = replace(self.model.measurements(now), **control.get("measurements", {}))
            image = self.register_image.image(measured, self.nameplate)
            image.update({int(reg): int(value) for reg, value in control.get("registers", {}).items()})
            for offset in range(count):
                reg = address + offset
                if reg in image:
                    registers[reg - start_address] = image[reg]
            return None
        current = {start_address + i: value for i, value in enumerate(registers)}
        kw = self.register_image.decode_setpoint_write(address, [int(v) for v in set_values], current)
        if kw is None:  # on-connect writes (mode, watchdog) are always taken
            return None
        if control.get("write_exception"):
            self.counts["refused_writes"] += 1
            return ExcCodes(int(control["write_exception"]))
        self.counts["writes"] += 1
        self.last_write_kw = kw
        self.model.command(kw, now)
        return None


async def serve(device: FaultDevice) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await device.start()
    device.write_status()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await device.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="generic")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--capacity-kwh", type=float, default=200.0)
    parser.add_argument("--power-kw", type=float, default=100.0)
    parser.add_argument("--soc", type=float, default=50.0)
    parser.add_argument("--pv-peak-kw", type=float, default=120.0)
    parser.add_argument("--load", default="commercial")
    parser.add_argument("--annual-load-mwh", type=float, default=280.0)
    args = parser.parse_args()
    config = SimulatorConfig(
        profile=args.profile,
        port=args.port,
        capacity_kwh=args.capacity_kwh,
        charge_max_kw=args.power_kw,
        discharge_max_kw=args.power_kw,
        soc_pct=args.soc,
        pv_peak_kw=args.pv_peak_kw,
        load_kind=args.load,
        annual_load_mwh=args.annual_load_mwh,
    )
    asyncio.run(serve(FaultDevice(config, args.control, args.status)))


if __name__ == "__main__":
    main()
