"""End to end with real processes on loopback: test VTN -> the daemon's VEN (push) -> fleet ->
Modbus TCP simulator. An event created on the VTN moves the battery within ``response_time_s``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from phoenyra_ems.vpp.vtn import TestVtn
from tests.daemon_fixtures import RunningDaemon
from tests.vpp.conftest import Start
from tests.vpp.helpers import dispatch_event, wait_for


@pytest.fixture
async def vtn_and_daemon(start_rig: Start) -> tuple[TestVtn, RunningDaemon]:
    # push carries the event at once; each poll cycle (2 s) also sends the reports
    return await start_rig(push=True, poll_interval_s=2.0)


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
    controller = rd.daemon.fleet.controller("wien")
    assert controller is not None
    seen: list[tuple[int, datetime, float]] = []  # (cycle number, cycle time, setpoint) of each cycle
    controller.listeners.append(
        lambda state: seen.append((controller.stats.cycles, state.timestamp, state.setpoint))
    )
    start = datetime.now(UTC) + timedelta(seconds=3.0)  # pushed before its first interval begins
    event = dispatch_event(program["id"], 0.0, start=start, resource="wien", reports=False)
    event["intervalPeriod"]["duration"] = "PT4S"
    event["intervals"] = [
        {"id": i, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [kw]}]}
        for i, kw in enumerate(setpoints)
    ]
    vtn.add("events", event)
    for i, kw in enumerate(setpoints):  # each step reaches the device, and its cycle is published
        begins = start + timedelta(seconds=4 * i)  # (after the write and the history record)
        await wait_for(lambda kw=kw: abs(rd.simulators["wien"].model.setpoint_kw - kw) < 0.1, timeout=8.0)
        await wait_for(lambda b=begins, kw=kw: any(at >= b and abs(sp - kw) < 0.1 for _, at, sp in seen))
    # ... within two control cycles of its start, counted in cycles (a loaded machine stretches them,
    # it does not add any): the first cycle at or after the start follows it, at the latest the next
    for i, kw in enumerate(setpoints):
        begins = start + timedelta(seconds=4 * i)
        first = next(n for n, at, _ in seen if at >= begins)
        followed = next(n for n, at, setpoint in seen if at >= begins and abs(setpoint - kw) < 0.1)
        assert followed - first <= 1, (kw, [(n, f"{at:%S.%f}", sp) for n, at, sp in seen if at >= begins][:5])
