"""End to end with real processes on loopback: test VTN -> the daemon's VEN (push) -> fleet ->
Modbus TCP simulator. An event created on the VTN moves the battery within ``response_time_s``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.vpp_model import VppConfig
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import SiteStatus
from phoenyra_ems.simulator.server import BatterySimulator
from phoenyra_ems.vpp.vtn import TestVtn
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH
from tests.conftest import free_port, simulator_config
from tests.daemon_fixtures import RunningDaemon, two_site_config
from tests.vpp.helpers import VEN_SECRET, dispatch_event, make_vtn, wait_for


@pytest.fixture
async def vtn_and_daemon(tmp_path: Path) -> AsyncIterator[tuple[TestVtn, RunningDaemon]]:
    vtn = make_vtn()
    await vtn.start()
    vtn.add("programs", {"programName": "afrr"})  # before the VEN starts: it subscribes at once
    port = free_port()
    config = two_site_config(tmp_path)
    vpp = VppConfig(
        enabled=True,
        vtn_url=vtn.url,
        client_id="ven1",
        client_secret=VEN_SECRET,
        poll_interval_s=2.0,  # push carries the event at once; each poll cycle also sends the reports
        webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
    )
    config = replace(
        config,
        api=replace(config.api, port=port),
        sites={i: replace(s, vpp=vpp) for i, s in config.sites.items()},
    )
    simulators = {
        i: BatterySimulator(simulator_config(s, pv_peak_kw=0.0, load_kind="none"), SystemClock())
        for i, s in config.sites.items()
    }
    for simulator in simulators.values():
        await simulator.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        await wait_for(lambda: all(s.state.status is SiteStatus.RUNNING for s in daemon.fleet.slots.values()))
        yield vtn, RunningDaemon(daemon, simulators, {})
    finally:
        await daemon.stop()
        for simulator in simulators.values():
            await simulator.stop()
        await vtn.stop()


async def test_an_event_on_the_vtn_moves_the_battery_within_the_response_time(
    vtn_and_daemon: tuple[TestVtn, RunningDaemon],
) -> None:
    vtn, rd = vtn_and_daemon
    program = next(iter(vtn.objects["programs"].values()))
    await wait_for(lambda: vtn.objects["subscriptions"], timeout=10.0)  # the VEN subscribed (push)
    loop = asyncio.get_running_loop()
    created = loop.time()
    vtn.add("events", dispatch_event(program["id"], -25.0, resource="wien"))
    await wait_for(lambda: abs(rd.simulators["wien"].model.setpoint_kw + 25.0) < 0.1, timeout=5.0)
    latency = loop.time() - created
    assert latency < 5.0, latency  # vpp.flexibility.response_time_s (default 5 s), end to end
    assert rd.simulators["linz"].model.setpoint_kw == pytest.approx(0.0, abs=0.1)  # not addressed
    state = rd.daemon.fleet.slots["wien"].state
    assert state.strategy == "vpp" and state.vpp is not None and state.vpp.committed_kw == -25.0
    # the VEN reports the actuals the event's descriptors ask for
    await wait_for(lambda: vtn.objects["reports"], timeout=10.0)


async def test_an_afrr_like_setpoint_changing_every_4_s_is_followed_within_two_cycles(
    vtn_and_daemon: tuple[TestVtn, RunningDaemon],
) -> None:
    vtn, rd = vtn_and_daemon
    program = next(iter(vtn.objects["programs"].values()))
    await wait_for(lambda: vtn.objects["subscriptions"], timeout=10.0)
    setpoints = [-20.0, 30.0, -10.0, 40.0]
    start = datetime.now(UTC) + timedelta(seconds=1.5)  # pushed before its first interval begins
    event = dispatch_event(program["id"], 0.0, start=start, resource="wien", reports=False)
    event["intervalPeriod"]["duration"] = "PT4S"
    event["intervals"] = [
        {"id": i, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [kw]}]}
        for i, kw in enumerate(setpoints)
    ]
    vtn.add("events", event)
    cycle_s = rd.daemon.config.sites["wien"].ems.cycle_s
    reached: list[float] = []
    for i, kw in enumerate(setpoints):
        begins = start + timedelta(seconds=4 * i)
        await wait_for(lambda kw=kw: abs(rd.simulators["wien"].model.setpoint_kw - kw) < 0.1, timeout=8.0)
        reached.append((datetime.now(UTC) - begins).total_seconds())
    # each step on the device within two control cycles of its start (plus the Modbus round trip)
    assert max(reached) < 2 * cycle_s + 0.3, reached
