"""The VEN against our test VTN on loopback: token flow, poll and push, reports, flexibility,
invalid answers rejected, VTN gone (backoff, schedule kept). The VTN runs strict: every request
the VEN sends, every answer and push the VTN gives, is validated against the OpenADR 3.0.1
document (openapi-core); the VEN itself validates every answer before it accepts it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from phoenyra_ems.vpp.service import VenService, VenSettings
from phoenyra_ems.vpp.vtn import TestVtn
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH, WEBHOOKS
from tests.daemon_fixtures import RunningDaemon
from tests.vpp.helpers import VEN_SECRET, RecordingTarget, dispatch_event, make_vtn, wait_for


@dataclass
class Rig:
    vtn: TestVtn
    program: dict
    target: RecordingTarget
    service: VenService
    task: asyncio.Task


async def _start(vtn: TestVtn, webhook_url: str | None = None, webhooks=None, **kw) -> Rig:
    program = vtn.add("programs", {"programName": "afrr"})
    target = RecordingTarget()
    settings = VenSettings(
        vtn_url=vtn.url,
        client_id="ven1",
        client_secret=VEN_SECRET,
        resources={"wien": ("wien",)},
        poll_interval_s=kw.pop("poll_interval_s", 0.2),
        webhook_url=webhook_url,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        **kw,
    )
    service = VenService(settings, target, webhooks=webhooks)
    task = asyncio.create_task(service.run())
    return Rig(vtn, program, target, service, task)


@pytest.fixture
async def vtn() -> AsyncIterator[TestVtn]:
    server = make_vtn()
    await server.start()
    yield server
    await server.stop()


async def _stop(rig: Rig) -> None:
    rig.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rig.task


async def test_poll_cycle_token_schedule_report_and_flexibility(vtn: TestVtn) -> None:
    rig = await _start(vtn)
    try:
        await wait_for(lambda: rig.service.connected)
        event = vtn.add("events", dispatch_event(rig.program["id"], -25.0), notify=False)
        schedule = await wait_for(lambda: rig.target.current("wien"))
        assert schedule.event_id == event["id"]
        interval = schedule.intervals[0]
        assert interval.setpoint_kw == -25.0 and interval.export_limit_kw == 80.0
        report = await wait_for(lambda: next(iter(vtn.objects["reports"].values()), None))
        values = {p["type"]: p["values"][0] for p in report["resources"][0]["intervals"][0]["payloads"]}
        assert values == {"DEMAND": -0.0, "STORAGE_CHARGE_LEVEL": 55.0, "STORAGE_USABLE_CAPACITY": 30.0}
        assert report["eventID"] == event["id"] and report["resources"][0]["resourceName"] == "wien"
        resource = next(iter(vtn.objects["resources"].values()))
        attrs = {a["type"]: a["values"][0] for a in resource["attributes"]}
        assert attrs["MAX_POWER_EXPORT"] == 40.0 and attrs["PHOENYRA_RESPONSE_TIME_S"] == 5.0
        # the actual power changes: the report is updated in place (same id)
        rig.target.actual_kw = 12.0
        await wait_for(
            lambda: (
                next(iter(vtn.objects["reports"].values()))["resources"][0]["intervals"][0]["payloads"][0][
                    "values"
                ][0]
                == -12.0
            )
        )
        assert len(vtn.objects["reports"]) == 1
        # flexibility: a small change is not re-announced, a material one is
        puts = sum(1 for m, p in vtn.requests if m == "PUT" and "/resources/" in p)
        rig.target.offer_kw = 40.5
        await asyncio.sleep(0.5)
        assert sum(1 for m, p in vtn.requests if m == "PUT" and "/resources/" in p) == puts
        rig.target.offer_kw = 20.0
        await wait_for(
            lambda: next(iter(vtn.objects["resources"].values()))["attributes"][0]["values"][0] == 20.0
        )
        # the event is deleted on the VTN: the resource goes back to its own optimisation
        vtn.remove("events", event["id"])
        await wait_for(lambda: rig.target.applied[-1][2] is None)
        assert [p for m, p in vtn.requests if p == "/auth/token"] == ["/auth/token"]  # token cached
        assert vtn.violations == []
    finally:
        await _stop(rig)


async def test_push_through_the_daemons_api(vtn: TestVtn, running_daemon: RunningDaemon) -> None:
    app = running_daemon.daemon._runner.app  # type: ignore[union-attr]  # the daemon's own API
    hook = f"{running_daemon.daemon.url}{WEBHOOK_PATH}"
    rig = await _start(vtn, webhook_url=hook, webhooks=app[WEBHOOKS], poll_interval_s=30.0)  # polls rarely
    try:
        await wait_for(lambda: vtn.objects["subscriptions"])
        loop = asyncio.get_running_loop()
        created = loop.time()
        event = vtn.add("events", dispatch_event(rig.program["id"], 30.0, reports=False))
        schedule = await wait_for(lambda: rig.target.current("wien"), timeout=5.0)
        latency = loop.time() - created
        assert schedule.event_id == event["id"] and latency < 5.0, latency  # response_time_s default
        # an update and a cancellation arrive by push too
        vtn.replace("events", event["id"], dispatch_event(rig.program["id"], 10.0, reports=False))
        await wait_for(
            lambda: (s := rig.target.current("wien")) is not None and s.intervals[0].setpoint_kw == 10
        )
        vtn.remove("events", event["id"])
        await wait_for(lambda: rig.target.applied[-1][2] is None, timeout=5.0)  # response_time_s
        await wait_for(lambda: len(vtn.pushes) == 3)  # the VTN counts a push once its answer is in
        assert vtn.push_failures == 0
        # the webhook refuses a caller without the subscription's token (an API token is no use),
        # and invalid notifications; the rest of the API still wants an API token
        async with aiohttp.ClientSession() as http:
            admin = {"Authorization": f"Bearer {running_daemon.tokens['admin']}"}
            async with http.post(hook, json={"objectType": "EVENT"}, headers=admin) as resp:
                assert resp.status == 401
            token = rig.service._hook_token
            async with http.post(
                hook,
                json={"objectType": "EVENT", "operation": "POST"},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 400
            async with http.get(
                f"{running_daemon.url}/sites", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 401
        assert len(rig.target.applied) == 3
        assert vtn.violations == []
    finally:
        await _stop(rig)


async def test_invalid_answers_are_rejected_and_never_applied(
    vtn: TestVtn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    rig = await _start(vtn)
    try:
        await wait_for(lambda: rig.service.connected)
        good = vtn.add("events", dispatch_event(rig.program["id"], 20.0), notify=False)
        await wait_for(lambda: rig.target.current("wien"))
        # the VTN now lists an event that violates the document (interval without payloads)
        vtn.objects["events"]["bad"] = {"id": "bad", "programID": rig.program["id"], "intervals": [{"id": 0}]}
        await wait_for(lambda: "violates OpenADR 3.0.1" in caplog.text)
        assert "payloads" in caplog.text and rig.service.failures >= 1
        assert [s.event_id for _, _, s in rig.target.applied if s is not None] == [good["id"]]
        assert rig.target.current("wien").event_id == good["id"]  # kept, not cleared
        del vtn.objects["events"]["bad"]
        await wait_for(lambda: rig.service.failures == 0)
        assert rig.target.current("wien").event_id == good["id"]
    finally:
        await _stop(rig)


async def test_vtn_gone_schedule_kept_backoff_and_reconnect(vtn: TestVtn) -> None:
    rig = await _start(vtn)
    try:
        event = vtn.add("events", dispatch_event(rig.program["id"], 15.0), notify=False)
        await wait_for(lambda: rig.target.current("wien"))
        url = vtn.url
        await vtn.stop()
        await wait_for(lambda: rig.service.failures >= 3, timeout=5.0)
        assert not rig.service.connected
        assert rig.target.current("wien").event_id == event["id"]  # the VEN does not clear it
        assert all(s is not None for _, _, s in rig.target.applied)
        # back on the same port (a restarted VTN has lost its tokens): the VEN reconnects
        port = int(url.split(":")[2].split("/")[0])
        vtn.tokens.clear()
        await vtn.start(port=port)
        await wait_for(lambda: rig.service.connected and rig.service.failures == 0, timeout=5.0)
        assert sum(1 for _, p in vtn.requests if p == "/auth/token") >= 2
    finally:
        await _stop(rig)


async def test_secret_never_in_logs_repr_or_diagnostics(
    vtn: TestVtn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = await _start(vtn)
    try:
        await wait_for(lambda: rig.service.connected)
        vtn.clients["ven1"] = type(vtn.clients["ven1"])("ven1", "rotated")  # our secret is now wrong
        vtn.tokens.clear()
        await wait_for(lambda: rig.service.failures >= 2)
        assert "refused client ven1" in caplog.text
        texts = [caplog.text, repr(rig.service), repr(rig.service.settings), str(rig.service.diagnostics())]
        from phoenyra_ems.config.vpp_model import VppConfig

        texts.append(repr(VppConfig(enabled=True, client_secret=VEN_SECRET, api_key=VEN_SECRET)))
        assert all(VEN_SECRET not in text for text in texts)
    finally:
        await _stop(rig)


async def test_token_renewed_before_it_expires(vtn: TestVtn) -> None:
    vtn.token_lifetime_s = 1  # renewed 0.1 s before expiry: no request goes out with a dead token
    rig = await _start(vtn)
    try:
        await wait_for(lambda: sum(1 for _, p in vtn.requests if p == "/auth/token") >= 3, timeout=6.0)
        assert rig.service.failures == 0 and rig.service.connected
        assert vtn.refused == 0 and vtn.violations == []
    finally:
        await _stop(rig)
