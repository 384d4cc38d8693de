"""A second independent OpenADR 3 client from PyPI against our test VTN: ``openadr3`` (python-oa3,
httpx, synchronous: run in a worker thread). As the business logic it creates a program and a
dispatch event; as a VEN it registers, subscribes with a webhook, reads the event through its own
models, receives the VTN's push (parsed by its notification model) and posts a report that it reads
back. The strict VTN validated every request and every answer and push: none violates the
document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from phoenyra_ems.vpp.vtn import TestVtn
from tests.vpp.helpers import BL_SECRET, VEN_SECRET, dispatch_event, make_vtn, wait_for

oa3 = pytest.importorskip("openadr3", reason="openadr3 (dev extra) is not installed")


@pytest.fixture
async def vtn() -> AsyncIterator[TestVtn]:
    server = make_vtn()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook for the peer's subscription: records what the VTN pushes."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    finally:
        await runner.cleanup()


def business_logic(url: str) -> tuple[str, str]:
    """As the aggregator: a program and a dispatch event; their ids."""
    token = oa3.fetch_token(url, "bl", BL_SECRET, token_url=f"{url}/auth/token")
    with oa3.create_bl_client(url, token) as bl:
        created = bl.create_program({"programName": "peer-afrr"})
        assert created.status_code == 201, created.text
        program = oa3.coerce(created.json())
        assert isinstance(program, oa3.Program) and program.program_name == "peer-afrr"
        return str(program.id), token


def ven_registers_and_subscribes(url: str, program_id: str, hook: str) -> str:
    token = oa3.fetch_token(url, "ven1", VEN_SECRET, token_url=f"{url}/auth/token")
    with oa3.create_ven_client(url, token) as ven:
        made = ven.create_ven({"venName": "peer-ven"})
        assert made.status_code == 201, made.text
        assert ven.find_ven_by_name("peer-ven") is not None
        sub = ven.create_subscription(
            {
                "clientName": "peer-ven",
                "programID": program_id,
                "objectOperations": [
                    {
                        "objects": ["EVENT"],
                        "operations": ["CREATE", "UPDATE"],
                        "callbackUrl": hook,
                        "bearerToken": "t",
                    }
                ],
            }
        )
        assert sub.status_code == 201, sub.text
        return token


def create_event(url: str, token: str, program_id: str) -> str:
    with oa3.create_bl_client(url, token) as bl:
        # no targets: openadr3 0.5 models them the 3.1 way (a list of strings), where 3.0.1 has
        # valuesMap objects; everything else of the event is 3.0.1 as our VEN reads it
        resp = bl.create_event(dispatch_event(program_id, 25.0, resource=None))
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])


def ven_reads_and_reports(url: str, token: str, event_id: str) -> Any:
    with oa3.create_ven_client(url, token) as ven:
        events = [e for e in ven.events() if e.id == event_id]
        assert len(events) == 1
        event = events[0]
        assert isinstance(event, oa3.Event)
        payloads = {p.type: p.values for p in event.intervals[0].payloads}
        assert payloads["DISPATCH_SETPOINT"] == [25.0]
        start = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        report = {
            "programID": event.program_id,
            "eventID": event_id,
            "clientName": "peer-ven",
            "resources": [
                {
                    "resourceName": "wien",
                    "intervalPeriod": {"start": start, "duration": "PT15M"},
                    "intervals": [{"id": 0, "payloads": [{"type": "DEMAND", "values": [-25.0]}]}],
                }
            ],
        }
        posted = ven.create_report(report)
        assert posted.status_code == 201, posted.text
        return oa3.coerce(ven.get_report_by_id(posted.json()["id"]).json())


async def test_openadr3_client_talks_to_our_vtn(
    vtn: TestVtn, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    hook, received = receiver
    program_id, bl_token = await asyncio.to_thread(business_logic, vtn.url)
    ven_token = await asyncio.to_thread(ven_registers_and_subscribes, vtn.url, program_id, hook)
    event_id = await asyncio.to_thread(create_event, vtn.url, bl_token, program_id)
    # the VTN pushes the new event to the peer's webhook; the peer's model parses it
    await wait_for(lambda: received, timeout=5.0)
    note = oa3.coerce_notification(received[0])
    assert note.operation == "POST" and getattr(note.object, "id", None) == event_id
    report = await asyncio.to_thread(ven_reads_and_reports, vtn.url, ven_token, event_id)
    assert isinstance(report, oa3.Report) and report.event_id == event_id
    assert report.resources[0].intervals[0].payloads[0].values == [-25.0]
    assert vtn.violations == [] and vtn.refused == 0  # every request, answer and push valid
