"""``phoenyra-ems demo --vpp``: the test VTN creates a dispatch event after the daemon's VEN has
subscribed, and the demo sites follow it (the console's banner and panel read the same state;
tests/tui/test_vpp.py drives them)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from phoenyra_ems.cli import build_parser
from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.config import load_config
from phoenyra_ems.demo import demo, demo_config
from tests.conftest import free_port

ROOT = Path(__file__).parents[2]


def test_the_demo_has_a_vpp_switch() -> None:
    args = build_parser().parse_args(["demo", "--vpp", "--headless"])
    assert args.vpp and args.speed == 60.0


async def test_demo_vpp_event_arrives_and_the_sites_follow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo keeps its data in ./data/demo
    config = demo_config(load_config(str(ROOT / "examples" / "ems.yaml")))
    sites = {i: replace(s, modbus=replace(s.modbus, port=free_port())) for i, s in config.sites.items()}
    config = replace(config, sites=sites, api=replace(config.api, port=free_port(), zeroconf=False))
    clock = AcceleratedClock(datetime.now(UTC), 60.0)  # the demo's default speed
    task = asyncio.create_task(demo(config, clock, duration_s=120.0, headless=True, vpp=True))
    out = ""
    try:
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.5)
            out += capsys.readouterr().out
            followed = [
                line
                for line in out.splitlines()
                if "VPP event" in line and "committed +40.0 kW" in line and "bess    +40.0 kW" in line
            ]
            if {line.split()[0] for line in followed} == {"Wien", "Linz"}:
                break
        else:
            pytest.fail(f"the demo sites did not follow the VPP event:\n{out[-3000:]}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert "VPP: test VTN (OpenADR 3.0.1) on http://127.0.0.1:" in out
    created = next(line for line in out.splitlines() if "created event" in line)
    event_id = created.split("created event ")[1].split(":")[0]
    # the status line names the event the VTN created, and the sites run the vpp strategy
    assert all(f"VPP event {event_id}:" in line and " vpp " in line for line in followed), followed
