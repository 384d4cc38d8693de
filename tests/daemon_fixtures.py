"""A real daemon with two simulated sites on loopback, and users of every role (shared by API tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import ApiConfig, EmsConfig, EmsSettings
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config


@dataclass
class RunningDaemon:
    daemon: Daemon
    simulators: dict[str, BatterySimulator]
    tokens: dict[str, str]  # user -> token

    @property
    def url(self) -> str:
        return f"{self.daemon.url}/api/v1"


def two_site_config(tmp_path: Path, cycle_s: float = 0.2) -> EmsConfig:
    wien = make_site(free_port(), ems=EmsSettings(cycle_s=cycle_s, history_dir=str(tmp_path)))
    linz = replace(
        make_site(free_port(), ems=EmsSettings(cycle_s=cycle_s, history_dir=str(tmp_path))),
        site_id="linz",
        name="Linz",
    )
    return EmsConfig(
        sites={"wien": wien, "linz": linz},
        default_site_id="wien",
        api=ApiConfig(port=0, auth_db=str(tmp_path / "auth.db"), zeroconf=False),  # tests/test_zeroconf.py
    )


USERS = {
    "admin": ("admin", []),
    "op_wien": ("operator", ["wien"]),
    "view_wien": ("viewer", ["wien"]),
    "op_linz": ("operator", ["linz"]),
}


async def started_simulators(config: EmsConfig, **overrides: object) -> dict[str, BatterySimulator]:
    """A running Modbus simulator for every site of ``config`` (``overrides``: simulator_config's)."""
    simulators = {
        site_id: BatterySimulator(simulator_config(site, **overrides), SystemClock())
        for site_id, site in config.sites.items()
    }
    for simulator in simulators.values():
        await simulator.start()
    return simulators


@pytest.fixture
async def running_daemon(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    config = two_site_config(tmp_path)
    simulators = await started_simulators(config)
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    tokens = {}
    for name, (role, sites) in USERS.items():
        await daemon.auth.add_user(name, role)
        for site in sites:
            await daemon.auth.grant(name, site)
        tokens[name] = await daemon.auth.create_token(name)
    running = RunningDaemon(daemon, simulators, tokens)
    try:
        yield running
    finally:
        await daemon.stop()
        if running.daemon is not daemon:  # a test replaced it (restart tests)
            await running.daemon.stop()
        for simulator in simulators.values():
            await simulator.stop()
