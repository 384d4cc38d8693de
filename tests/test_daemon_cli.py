"""`phoenyra-ems run` as an operator runs it: users from the CLI, SIGHUP reload, SIGTERM → safe state."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config

CLI = [sys.executable, "-m", "phoenyra_ems.cli"]


def site_yaml(site_id: str, port: int) -> str:
    return f"""
    {site_id}:
      name: {site_id.title()}
      bess: {{energy_capacity_kwh: 200, power_charge_max_kw: 100, power_discharge_max_kw: 100}}
      modbus: {{host: 127.0.0.1, port: {port}, profile: generic, timeout_s: 0.5}}
      ems: {{cycle_s: 0.2, history_dir: HISTORY}}
"""


def write_config(path: Path, api_port: int, sites: dict[str, int]) -> None:
    body = "".join(site_yaml(i, p) for i, p in sites.items()).replace("HISTORY", str(path.parent / "history"))
    api = f"api:\n  host: 127.0.0.1\n  port: {api_port}\n  auth_db: {path.parent / 'auth.db'}\n"
    path.write_text(f"sites:\n  sites:{body}\n{api}")


@pytest.fixture
async def sims() -> AsyncIterator[dict[str, BatterySimulator]]:
    started: dict[str, BatterySimulator] = {}
    for site_id in ("wien", "linz"):
        sim = BatterySimulator(simulator_config(make_site(free_port())), SystemClock())
        await sim.start()
        started[site_id] = sim
    yield started
    for sim in started.values():
        await sim.stop()


async def get(url: str, token: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status, await response.json()


async def test_run_reload_on_sighup_and_safe_shutdown(
    tmp_path: Path, sims: dict[str, BatterySimulator]
) -> None:
    config, api_port = tmp_path / "ems.yaml", free_port()
    write_config(config, api_port, {"wien": sims["wien"].config.port})
    user = [*CLI, "user", "-c", str(config)]
    assert subprocess.run([*user, "add", "alice", "--role", "operator"], check=False).returncode == 0
    assert subprocess.run([*user, "grant", "alice", "wien"], check=False).returncode == 0
    assert subprocess.run([*user, "grant", "alice", "linz"], check=False).returncode == 0
    out = subprocess.run([*user, "token", "alice"], capture_output=True, text=True, check=True)
    token = out.stdout.strip().splitlines()[-1]

    daemon = subprocess.Popen([*CLI, "run", "-c", str(config)], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{api_port}/api/v1"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                status, body = await get(f"{base}/sites", token)
                if status == 200 and body["sites"] and body["sites"][0]["status"] == "running":
                    break
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, "daemon did not come up"
            await asyncio.sleep(0.2)
        assert [s["id"] for s in body["sites"]] == ["wien"]

        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base}/sites/wien/control",
                json={"mode": "manual", "setpoint_kw": 30},
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status == 200
        while sims["wien"].model.setpoint_kw != 30:
            assert time.monotonic() < deadline + 5
            await asyncio.sleep(0.05)

        write_config(config, api_port, {"wien": sims["wien"].config.port, "linz": sims["linz"].config.port})
        daemon.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            status, body = await get(f"{base}/sites", token)
            if {s["id"] for s in body["sites"]} == {"wien", "linz"}:
                break
            assert time.monotonic() < deadline, "SIGHUP did not add the new site"
            await asyncio.sleep(0.2)
        assert sims["wien"].model.setpoint_kw == 30, "an unchanged site must not be touched by a reload"
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(daemon.communicate, timeout=15)
    assert daemon.returncode == 0, stderr[-2000:]
    assert sims["wien"].model.setpoint_kw == 0.0, "shutdown must leave every battery at 0 kW"
    for private in (tmp_path / "history" / "ems_history_site_wien.db", tmp_path / "instance_id"):
        assert private.stat().st_mode & 0o777 == 0o600, f"{private.name} is readable by others"


async def test_a_reload_says_what_it_did_not_apply_and_keeps_the_operators_controls(
    tmp_path: Path, sims: dict[str, BatterySimulator]
) -> None:
    from phoenyra_ems.config import load_config
    from phoenyra_ems.core.decision import ControlIntent
    from phoenyra_ems.core.overrides import LimitOverrides
    from phoenyra_ems.daemon import Daemon
    from phoenyra_ems.models import SiteMode

    config_path = tmp_path / "ems.yaml"
    write_config(config_path, free_port(), {"wien": sims["wien"].config.port})
    daemon = Daemon(load_config(config_path), SystemClock(), str(config_path))
    await daemon.start()
    try:
        controller = daemon.fleet.controller("wien")
        assert controller is not None
        controller.set_intent(ControlIntent(mode=SiteMode.MANUAL, manual_setpoint_kw=20.0))
        controller.set_limits(LimitOverrides(power_charge_max_kw=50.0))
        text = config_path.read_text().replace("name: Wien", "name: Wien Ost")
        config_path.write_text(text.replace(f"port: {daemon.port}", f"port: {free_port()}"))
        answer = await daemon.reload()
        assert answer["reloaded_sites"] == ["wien"] and answer["kept_controls"] == ["wien"]
        assert answer["restart_required"] == ["api"]  # the port is not changed under a running API
        await asyncio.wait_for(daemon.fleet.slots["wien"].started.wait(), 10)
        replacement = daemon.fleet.controller("wien")
        assert replacement is not None and replacement is not controller
        assert replacement.intent.manual_setpoint_kw == 20.0
        assert replacement.overrides.power_charge_max_kw == 50.0
        assert replacement.site.name == "Wien Ost"
    finally:
        await daemon.stop()


def test_run_refuses_a_bad_config_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "ems.yaml"
    bad.write_text("bess:\n  energy_capacity_kwh: ten\n")
    out = subprocess.run([*CLI, "run", "-c", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "energy_capacity_kwh" in out.stderr
