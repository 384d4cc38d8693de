"""The console scripts as a user runs them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from phoenyra_ems.config.model import BessConfig, ModbusConfig
from phoenyra_ems.devices.modbus_driver import ModbusDevice
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "phoenyra_ems.cli"]


def test_check_config_accepts_the_examples() -> None:
    for example in ("examples/ems.yaml", "examples/single-site.yaml"):
        out = subprocess.run([*CLI, "check-config", example], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_check_config_names_key_and_line_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "ems.yaml"
    bad.write_text(
        "bess:\n  energy_capacity_kwh: 10\n  power_charge_max_kw: -5\n  power_discharge_max_kw: 5\n"
    )
    out = subprocess.run([*CLI, "check-config", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"{bad}:3:" in out.stderr and "power_charge_max_kw" in out.stderr


def test_readme_config_example_is_valid(tmp_path: Path) -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Configuration.*?```yaml\n(.*?)```", readme, re.S)
    assert example is not None
    (tmp_path / "ems.yaml").write_text(example.group(1))
    (tmp_path / "secrets.yaml").write_text("mqtt_password: s3cret\n")
    out = subprocess.run([*CLI, "check-config", str(tmp_path / "ems.yaml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


async def test_simulate_serves_a_profile_that_the_driver_reads() -> None:
    port = free_port()
    cmd = [*CLI, "simulate", "--profile", "sungrow_sh", "--port", str(port), "--soc", "63"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    device = ModbusDevice(ModbusConfig(port=port, profile="sungrow_sh"), BessConfig(10, 5, 5))
    try:
        await device.start()
        assert await device.wait_ready(15), "simulator did not come up"
        reading = await device.read()
        assert reading.soc_pct is not None and abs(reading.soc_pct - 63) < 1
    finally:
        await device.stop()
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


def test_json_logs_are_one_object_per_line_with_extra_fields() -> None:
    import json
    import logging

    from phoenyra_ems.logs import JsonFormatter

    record = logging.makeLogRecord({"msg": "site %s: safe state", "args": ("wien",), "levelname": "WARNING"})
    record.site_id = "wien"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "site wien: safe state"
    assert (entry["site_id"], entry["level"]) == ("wien", "warning")
