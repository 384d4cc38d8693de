"""The plain-REST profile (protocol: custom) against a small aggregator server on loopback:
schedule followed, flexibility and actuals sent with the API key, a malformed schedule rejected
and never applied, the aggregator gone (schedule kept, backoff)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from phoenyra_ems.vpp.rest import RestAggregatorService, RestSettings
from tests.vpp.helpers import RecordingTarget, wait_for

KEY = "rest-api-key-77"


class Aggregator:
    def __init__(self) -> None:
        self.schedule: Any = None
        self.flexibility: list[dict[str, Any]] = []
        self.actuals: list[dict[str, Any]] = []
        self.unauthorised = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/sites/{site}/schedule", self.get_schedule)
        app.router.add_put("/v1/sites/{site}/flexibility", self.put_flexibility)
        app.router.add_post("/v1/sites/{site}/actuals", self.post_actuals)
        return app

    def _ok(self, request: web.Request) -> bool:
        good = request.headers.get("Authorization") == f"Bearer {KEY}"
        self.unauthorised += not good
        return good

    async def get_schedule(self, request: web.Request) -> web.Response:
        if not self._ok(request):
            return web.json_response({}, status=401)
        return web.Response(status=204) if self.schedule is None else web.json_response(self.schedule)

    async def put_flexibility(self, request: web.Request) -> web.Response:
        self._ok(request)
        self.flexibility.append(await request.json())
        return web.json_response({})

    async def post_actuals(self, request: web.Request) -> web.Response:
        self._ok(request)
        self.actuals.append(await request.json())
        return web.json_response({}, status=201)


async def test_rest_profile(caplog: pytest.LogCaptureFixture) -> None:
    aggregator = Aggregator()
    runner = web.AppRunner(aggregator.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    now = datetime.now(UTC)
    aggregator.schedule = {
        "schedule_id": "s1",
        "intervals": [
            {
                "start": (now - timedelta(seconds=5)).isoformat(),
                "end": (now + timedelta(minutes=5)).isoformat(),
                "setpoint_kw": 20.0,
                "export_limit_kw": 50,
            }
        ],
    }
    target = RecordingTarget(actual_kw=19.5)
    settings = RestSettings(
        url, KEY, {"wien": ("wien",)}, poll_interval_s=0.1, backoff_initial_s=0.05, backoff_max_s=0.2
    )
    service = RestAggregatorService(settings, target)
    task = asyncio.create_task(service.run())
    try:
        schedule = await wait_for(lambda: target.current("wien"))
        assert schedule.event_id == "s1" and schedule.intervals[0].setpoint_kw == 20.0
        await wait_for(lambda: aggregator.actuals)
        assert aggregator.actuals[0]["power_kw"] == 19.5 and aggregator.actuals[0]["schedule_id"] == "s1"
        assert aggregator.flexibility[0]["max_discharge_kw"] == 40.0 and aggregator.unauthorised == 0
        caplog.set_level(logging.ERROR)
        aggregator.schedule = {"schedule_id": "s2", "intervals": [{"start": "soon", "end": "later"}]}
        await wait_for(lambda: "aggregator answer rejected" in caplog.text)
        assert "schedule.intervals[0]" in caplog.text and target.current("wien").event_id == "s1"
        await runner.cleanup()  # the aggregator is gone
        await wait_for(lambda: service.failures >= 3)
        assert target.current("wien").event_id == "s1"  # kept
        assert KEY not in caplog.text and KEY not in repr(service) and KEY not in repr(settings)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await runner.cleanup()
