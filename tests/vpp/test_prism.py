"""An independent peer: Prism (``prism mock``) serves the OpenADR 3.0.1 document and validates every
request; the VEN runs a full cycle against it (token, programs, VEN and resource registration with
flexibility, subscription with a loopback webhook, events, a report created and updated) and
Prism logs no ``[VALIDATOR]`` violation. The VEN in turn accepts every Prism answer (its own
validation against the same document). Prism comes from ``make prism`` (npm, into .prism/)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from phoenyra_ems.vpp.auth import Credentials, TokenSource
from phoenyra_ems.vpp.client import VenClient
from phoenyra_ems.vpp.events import to_schedule
from phoenyra_ems.vpp.openapi import SPEC_PATH
from phoenyra_ems.vpp.reports import Sample, build_report
from phoenyra_ems.vpp.service import VenService, VenSettings
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH, add_routes
from tests.conftest import free_port
from tests.vpp.helpers import RecordingTarget, dispatch_event, wait_for

ROOT = Path(__file__).resolve().parents[2]
PRISM = ROOT / ".prism" / "node_modules" / ".bin" / "prism"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed: no Prism run")


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    assert PRISM.exists(), "Prism is missing: run `make prism` (npm install @stoplight/prism-cli@5)"
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC_PATH)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _ready(url: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            try:
                async with http.get(f"{url}/programs", headers={"Authorization": "Bearer x"}) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("prism mock did not start")


async def test_ven_full_cycle_against_prism_has_no_violation(prism: tuple[str, Path]) -> None:
    url, log = prism
    await _ready(url)
    app = web.Application()
    registry = add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
    target = RecordingTarget()
    settings = VenSettings(
        vtn_url=url,
        client_id="ven1",
        client_secret="ven-secret",
        resources={"wien": ("wien",)},
        poll_interval_s=0.2,
        webhook_url=hook,
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
    )
    service = VenService(settings, target, webhooks=registry)
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.connected and service.failures == 0, timeout=20.0)
        await asyncio.sleep(0.5)  # a few more cycles
        assert service.failures == 0 and service.last_error is None
        assert service.programs and service.events  # Prism's examples, accepted after validation
        # a report as an event's descriptors ask for it: created, then updated
        async with aiohttp.ClientSession() as http:
            tokens = TokenSource(http, f"{url}/auth/token", Credentials("ven1", "ven-secret"))
            client = VenClient(http, url, tokens)
            event = {**dispatch_event("object-999", 10.0), "id": "object-999"}
            start = datetime.now(UTC) - timedelta(seconds=1)
            event["intervalPeriod"]["start"] = start.isoformat().replace("+00:00", "Z")
            schedules = {"wien": to_schedule(event, "wien")}
            samples = {"wien": {0: Sample(-4.0, 51.0, 30.0, 40.0, 40.0)}}
            body = build_report(event, "phoenyra-ems", schedules, samples)
            saved = await client.send_report(body)
            again = build_report(event, "phoenyra-ems", schedules, samples, str(saved["id"]))
            await client.send_report(again)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await runner.cleanup()
    text = log.read_text()
    paths = ("/auth/token", "/programs", "/vens", "/resources", "/subscriptions", "/events", "/reports")
    for needed in paths:
        assert needed in text, f"the VEN never called {needed}"
    violations = [line for line in text.splitlines() if "[VALIDATOR]" in line and "success" not in line]
    assert violations == []
    assert text.count("[VALIDATOR]") >= 10  # Prism did validate the requests
