"""A real daemon with the optimiser against the real Modbus simulator: a site with forecasts disabled
plans from the history baselines, serves its plan over the API, and the safety layer clamps every
command, also when the plan (made before an operator limit) asks for more."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.config.model import ApiConfig, EmsConfig, EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config

EVENING = datetime(2024, 6, 3, 17, 0, tzinfo=UTC)  # 19:00 in Vienna: dear, the plan discharges
LIMIT_KW = 2.0


@dataclass
class Running:
    daemon: Daemon
    controller: SiteController
    commands: list[float]  # every setpoint the simulator received over Modbus TCP (changes only)
    headers: dict[str, str]


async def until(condition: Any, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    ems = EmsSettings(
        cycle_s=0.1, history_dir=str(tmp_path), strategies=("optimiser",), default_strategy="optimiser"
    )
    site = make_site(free_port(), ems=ems)  # forecast.enabled is false
    config = EmsConfig(
        sites={"wien": site}, default_site_id="wien", api=ApiConfig(port=0, auth_db=str(tmp_path / "a.db"))
    )
    clock = AcceleratedClock(EVENING)
    simulator = BatterySimulator(simulator_config(site), clock)
    commands: list[float] = []
    real = simulator.model.command

    def command(kw: float, *args: Any) -> Any:
        commands.append(kw)
        return real(kw, *args)

    simulator.model.command = command  # type: ignore[method-assign]
    await simulator.start()
    daemon = Daemon(config, clock)
    await daemon.start()
    await daemon.auth.add_user("admin", "admin")
    token = await daemon.auth.create_token("admin")
    controller = daemon.fleet.controller("wien")
    assert controller is not None
    try:
        yield Running(daemon, controller, commands, {"Authorization": f"Bearer {token}"})
    finally:
        await daemon.stop()
        await simulator.stop()


async def test_a_site_without_forecasts_optimises_serves_its_plan_and_stays_clamped(running: Running) -> None:
    optimiser = running.controller.optimiser
    assert optimiser is not None
    # the plan is there as soon as the solve returns; the cycle that asked for it writes its state after
    await until(lambda: optimiser.plan is not None and running.controller.state.strategy_reason != "")
    url = f"{running.daemon.url}/api/v1/sites/wien"
    async with aiohttp.ClientSession(headers=running.headers) as http:
        async with http.get(f"{url}/plan") as response:
            assert response.status == 200
            body = await response.json()
        plan = body["plan"]
        assert body["enabled"] and plan["status"] == "optimal" and plan["source"] == "history baselines"
        assert plan["steps"][0]["battery_kw"] > LIMIT_KW  # covering the evening load from the battery
        assert running.controller.state.strategy_reason.startswith("plan: discharging")

        # The next solve is held back (a slow solver): the site follows the plan it has, which was
        # made without the operator's limit; the safety layer clamps what reaches the device.
        release = threading.Event()
        real = optimiser.plan_for

        def held(ctx: Any) -> Any:
            release.wait(10.0)
            return real(ctx)

        optimiser.plan_for = held  # type: ignore[method-assign]
        replans = optimiser.replans
        try:
            async with http.put(f"{url}/limits", json={"power_discharge_max_kw": LIMIT_KW}) as response:
                assert response.status == 200
            since, cycles = len(running.commands), running.controller.stats.cycles
            published: list[float] = []  # every cycle's setpoint from here on
            running.controller.listeners.append(lambda state: published.append(state.setpoint))
            await until(lambda: running.controller.stats.cycles >= cycles + 5)
            state = running.controller.state
            assert "limited by" in state.strategy_reason and state.setpoint == pytest.approx(LIMIT_KW)
            assert optimiser.replans == replans  # still the old plan, still more than the limit
            assert optimiser.plan is not None and optimiser.plan.battery_kw[0] > LIMIT_KW
        finally:
            release.set()
        await until(lambda: optimiser.replans > replans)  # the new plan lands and is adopted
        assert optimiser.plan is not None and optimiser.plan.battery_kw[0] <= LIMIT_KW + 1e-6
        cycles = running.controller.stats.cycles
        await until(lambda: running.controller.stats.cycles >= cycles + 5)
    # every command after the limit, and what reached the device over Modbus, is clamped to it
    # (a write on its way when the limit came in may precede it)
    assert len(published) >= 10 and all(kw <= LIMIT_KW + 1e-6 for kw in published[1:])
    assert LIMIT_KW in running.commands[since:]
    assert all(kw <= LIMIT_KW + 1e-6 for kw in running.commands[since + 1 :])
    assert running.controller.state.status.value == "running"
