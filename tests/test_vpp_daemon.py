"""VPP control end to end: a real daemon, Modbus TCP simulators on loopback, the target protocol.

The VEN (phoenyra_ems.vpp) calls ``Fleet.apply_schedule`` / ``flexibility`` / ``status``; here the
test calls them the same way and watches the setpoint arrive on the simulated device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest

from phoenyra_ems.api.openapi import SCHEMAS, openapi_document
from phoenyra_ems.client import PhoenyraClient
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.vpp_model import VppConfig
from phoenyra_ems.core.vpp import VppInterval, VppSchedule
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.fleet_vpp import FLEET_RESOURCE, UnknownResource
from phoenyra_ems.models import SiteStatus
from tests.daemon_fixtures import RunningDaemon, started_simulators, two_site_config


@pytest.fixture
async def vpp_daemon(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    """Two 200 kWh / 100 kW sites without PV or load, so every kW at the meter is the battery's."""
    config = two_site_config(tmp_path)
    taking_part = VppConfig(enabled=True)  # no VTN here: the test is the VEN (calls the target)
    config = replace(config, sites={i: replace(s, vpp=taking_part) for i, s in config.sites.items()})
    simulators = await started_simulators(config, pv_peak_kw=0.0, load_kind="none")
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    await daemon.auth.add_user("admin", "admin")
    await daemon.auth.add_user("view_wien", "viewer")
    await daemon.auth.grant("view_wien", "wien")
    tokens = {u: await daemon.auth.create_token(u) for u in ("admin", "view_wien")}
    try:
        rd = RunningDaemon(daemon, simulators, tokens)
        await until(lambda: all(s.state.status is SiteStatus.RUNNING for s in daemon.fleet.slots.values()))
        yield rd
    finally:
        await daemon.stop()
        for simulator in simulators.values():
            await simulator.stop()


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def event(seconds: float, *, start_in: float = 0.0, event_id: str = "ev1", **payload: float) -> VppSchedule:
    start = datetime.now().astimezone() + timedelta(seconds=start_in)
    return VppSchedule(
        event_id, "prog1", (VppInterval(start, start + timedelta(seconds=seconds), **payload),)
    )


def json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema (``nullable``) as JSON Schema (jsonschema-rs comes with schemathesis)."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") else out


def served_schema(path: str) -> dict[str, object]:
    get = openapi_document()["paths"][path]["get"]
    schema: dict[str, object] = get["responses"]["200"]["content"]["application/json"]["schema"]
    return schema


def device_kw(rd: RunningDaemon, site_id: str) -> float:
    return rd.simulators[site_id].model.setpoint_kw


def deviation(rd: RunningDaemon, site_id: str) -> float | None:
    vpp = rd.daemon.fleet.slots[site_id].state.vpp
    return None if vpp is None else vpp.deviation_kw


async def test_a_schedule_drives_the_modbus_setpoint_and_ends_in_own_optimisation(
    vpp_daemon: RunningDaemon,
) -> None:
    rd, fleet = vpp_daemon, vpp_daemon.daemon.fleet
    # 3 s: long enough that a loaded machine still sees the event on the device before it ends
    fleet.apply_schedule("wien", event(3.0, setpoint_kw=-20.0))
    await until(lambda: abs(device_kw(rd, "wien") + 20.0) < 0.1)
    wien = fleet.slots["wien"].state
    assert wien.strategy == "vpp" and wien.vpp is not None and wien.vpp.event_id == "ev1"
    assert wien.vpp.committed_kw == -20.0 and abs(wien.vpp.deviation_kw or 0.0) < 0.1
    assert device_kw(rd, "linz") == pytest.approx(0.0, abs=0.1)  # the other site is not part of it
    statuses = {s.site_id: s for s in fleet.status()}
    assert statuses["wien"].event_id == "ev1" and statuses["linz"].event_id is None
    # the end of the schedule: back to the site's own optimisation (no load, no PV: idle)
    await until(lambda: fleet.slots["wien"].state.strategy != "vpp", timeout=10.0)
    await until(lambda: abs(device_kw(rd, "wien")) < 0.1)
    wien = fleet.slots["wien"].state
    assert wien.vpp is not None and wien.vpp.event_id is None
    controller = fleet.controller("wien")
    assert controller is not None and controller.vpp.ended == ("ev1",)
    with pytest.raises(UnknownResource):
        fleet.apply_schedule("nowhere", None)


async def test_capacity_limits_hold_at_the_meter_and_the_gap_is_a_deviation(
    vpp_daemon: RunningDaemon,
) -> None:
    rd, fleet = vpp_daemon, vpp_daemon.daemon.fleet
    # 40 kW asked, but at most 5 kW may leave the site: the battery stops at 5 kW, the rest is reported
    fleet.apply_schedule("wien", event(30.0, setpoint_kw=40.0, export_limit_kw=5.0))
    await until(lambda: abs(device_kw(rd, "wien") - 5.0) < 0.1)
    await until(lambda: deviation(rd, "wien") is not None)
    vpp = fleet.slots["wien"].state.vpp
    assert vpp is not None and vpp.deviation_kw == pytest.approx(-35.0, abs=0.1)
    assert any("grid_export_max" in n for n in vpp.notes)
    await asyncio.sleep(0.5)  # several cycles: the limit holds at the meter
    assert rd.simulators["wien"].model.p_bess_kw <= 5.0 + 0.1
    # the offer knows it: nothing but the connection limits discharge at 50 % SoC for 15 min
    offer = fleet.flexibility("wien", 900.0)
    assert offer.max_discharge_kw == pytest.approx(60.0)  # the feed-in limit (50 % of 120 kWp)
    assert offer.available_energy_kwh == pytest.approx((50 - 10) / 100 * 200 * 0.95, rel=0.02)
    fleet.apply_schedule("wien", None)  # withdrawn: own optimisation at once
    await until(lambda: abs(device_kw(rd, "wien")) < 0.1)


async def test_fleet_split_rebalances_when_a_site_fails_mid_event(vpp_daemon: RunningDaemon) -> None:
    rd, fleet = vpp_daemon, vpp_daemon.daemon.fleet
    fleet.apply_schedule(FLEET_RESOURCE, event(60.0, setpoint_kw=50.0))
    await until(lambda: abs(device_kw(rd, "wien") - 25.0) < 0.1 and abs(device_kw(rd, "linz") - 25.0) < 0.1)
    rd.simulators["wien"].hang()  # wien stops answering: safe state, its share goes to linz
    try:
        await until(lambda: fleet.slots["wien"].state.status is SiteStatus.SAFE)
        await until(lambda: abs(device_kw(rd, "linz") - 50.0) < 0.1)
        assert fleet.vpp.members == frozenset({"linz"}) and fleet.vpp.rebalances >= 1
    finally:
        rd.simulators["wien"].unhang()
    await until(lambda: fleet.vpp.members == frozenset({"wien", "linz"}))  # back: split again
    await until(lambda: abs(device_kw(rd, "wien") - 25.0) < 0.1 and abs(device_kw(rd, "linz") - 25.0) < 0.1)
    total = fleet.flexibility(FLEET_RESOURCE, 900.0)
    assert total.max_discharge_kw == pytest.approx(120.0)  # two sites, each bound by its feed-in limit

    # the overview over HTTP: admins see the aggregated resource, a viewer only their site
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {rd.tokens['admin']}"}
        async with session.get(f"{rd.url}/vpp", headers=headers) as response:
            assert response.status == 200
            body = await response.json()
        headers = {"Authorization": f"Bearer {rd.tokens['view_wien']}"}
        async with session.get(f"{rd.url}/vpp", headers=headers) as response:
            viewer = await response.json()
        async with session.get(f"{rd.url}/sites/wien/state", headers=headers) as response:
            state = await response.json()
    for document in (body, viewer):  # as the OpenAPI document says (the fuzzer leaves this route out)
        jsonschema_rs.validate(json_schema(served_schema("/api/v1/vpp")), document)
    jsonschema_rs.validate(json_schema(SCHEMAS["State"]["properties"]["vpp"]), state["vpp"])
    assert body["aggregated"]["schedule"]["event_id"] == "ev1"
    assert sorted(body["aggregated"]["members"]) == ["linz", "wien"]
    sites = {s["site_id"]: s for s in body["sites"]}
    assert sites["wien"]["schedule"]["state"] == "active" and sites["wien"]["schedule"]["resource"] == "fleet"
    assert sites["linz"]["state"]["committed_kw"] == pytest.approx(25.0)
    assert [s["site_id"] for s in viewer["sites"]] == ["wien"] and viewer["aggregated"] is None
    assert state["vpp"]["active"] is True and state["vpp"]["committed_kw"] == pytest.approx(25.0)
    assert state["vpp"]["offered"]["max_discharge_kw"] > 0

    # the typed client parses both
    async with PhoenyraClient("127.0.0.1", rd.daemon.port or 0, token=rd.tokens["admin"]) as client:
        overview = await client.vpp()
        site_state = await client.state("linz")
    assert overview.aggregated is not None and overview.aggregated.schedule is not None
    assert overview.aggregated.schedule.intervals[0].setpoint_kw == 50.0
    linz = next(s for s in overview.sites if s.site_id == "linz")
    assert linz.schedule is not None and linz.schedule.state == "active" and linz.state is not None
    assert site_state.vpp is not None and site_state.vpp.active and site_state.vpp.committed_kw == 25.0
    assert site_state.vpp.offered is not None and site_state.vpp.offered.duration_s == 3600.0
