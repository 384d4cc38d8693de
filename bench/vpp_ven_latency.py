"""VPP protocol latency: event created on the VTN → schedule handed to the control side.

Our test VTN and the VEN service on loopback, push through the webhook route (the daemon's API
middleware in front), every VTN answer validated against the OpenADR 3.0.1 document as in
production. For 1 and 100 resources on one VEN, ``--rounds`` dispatch events (each addressing
every resource, the setpoint changing every round) are created on the VTN; the latency is from the
VTN storing the event to ``VppTarget.apply_schedule`` for each resource. The control side's part
(schedule → Modbus setpoint) is the control loop's (bench/control_loop.py).

    .venv/bin/python bench/vpp_ven_latency.py [--rounds 20]
    .venv/bin/python bench/vpp_ven_latency.py --cycle   # the cost of one poll cycle instead
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from _common import percentile  # bench/ is the script's directory
from aiohttp import web

from phoenyra_ems.api.app import PUBLIC, middleware
from phoenyra_ems.core.vpp import Flexibility, VppSchedule, VppSiteStatus
from phoenyra_ems.vpp.service import VenService, VenSettings
from phoenyra_ems.vpp.vtn import TestVtn, VtnClient
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH, add_routes


class Target:
    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}

    def apply_schedule(self, resource: str, schedule: VppSchedule | None) -> None:
        if schedule is not None:
            self.seen.setdefault((resource, schedule.event_id), time.perf_counter())

    def flexibility(self, resource: str, duration_s: float) -> Flexibility:
        return Flexibility(resource, 50.0, 50.0, duration_s, 100.0, 100.0)

    def status(self) -> list[VppSiteStatus]:
        return []


async def measure(resources: int, rounds: int) -> list[float]:
    vtn = TestVtn([VtnClient("ven", "s"), VtnClient("bl", "b", role="bl")])
    await vtn.start()
    app = web.Application(middlewares=[middleware])
    PUBLIC.add(WEBHOOK_PATH)  # as the daemon's app does: the subscription's token, not an API key
    registry = add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
    program = vtn.add("programs", {"programName": "afrr"})
    target = Target()
    names = {f"site{i:03d}": (f"site{i:03d}",) for i in range(resources)}
    settings = VenSettings(
        vtn_url=vtn.url,
        client_id="ven",
        client_secret="s",
        resources=names,
        poll_interval_s=60.0,
        webhook_url=hook,
    )
    service = VenService(settings, target, webhooks=registry)
    task = asyncio.create_task(service.run())
    while not vtn.objects["subscriptions"]:
        await asyncio.sleep(0.05)
    latencies: list[float] = []
    try:
        for k in range(rounds):
            start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
            created = time.perf_counter()
            event = vtn.add(
                "events",
                {
                    "programID": program["id"],
                    "intervalPeriod": {"start": start, "duration": "PT4S"},
                    "intervals": [
                        {"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [10.0 + k]}]}
                    ],
                },
            )
            deadline = time.monotonic() + 10
            while sum((r, event["id"]) in target.seen for r in names) < resources:
                if time.monotonic() > deadline:
                    raise SystemExit(f"round {k}: not every resource got event {event['id']}")
                await asyncio.sleep(0.001)
            latencies += [(target.seen[(r, event["id"])] - created) * 1000 for r in names]
            vtn.remove("events", event["id"])
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()
        await vtn.stop()
    return latencies


async def cycle_cost(resources: int, reports: bool, cycles: int = 5) -> list[float]:
    """Milliseconds of ``VenService.cycle()`` (one poll: programs, events, offers, reports) for
    ``resources`` resources and two running events, asking for reports or not; after the first
    cycle (registration, every offer announced)."""
    vtn = TestVtn([VtnClient("ven", "s"), VtnClient("bl", "b", role="bl")])
    await vtn.start()
    program = vtn.add("programs", {"programName": "afrr"})
    names = {f"site{i:03d}": (f"site{i:03d}",) for i in range(resources)}
    settings = VenSettings(vtn_url=vtn.url, client_id="ven", client_secret="s", resources=names)
    target = Target()
    target.status = lambda: [VppSiteStatus(r, actual_kw=time.time() % 10) for r in names]  # type: ignore[method-assign]
    service = VenService(settings, target)
    task = asyncio.create_task(service.run())  # sets the client up, then cycles every 10 s
    try:
        while not service.connected:
            await asyncio.sleep(0.05)
        for _ in range(2):
            start = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
            event = {
                "programID": program["id"],
                "intervalPeriod": {"start": start, "duration": "PT30M"},
                "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [10.0]}]}],
            }
            if reports:
                event["reportDescriptors"] = [
                    {"payloadType": "DEMAND", "units": "KW"},
                    {"payloadType": "STORAGE_USABLE_CAPACITY", "units": "KWH"},
                ]
            vtn.add("events", event, notify=False)
        await service.cycle()  # the events' first reports are created
        out = []
        for _ in range(cycles):
            started = time.perf_counter()
            await service.cycle()
            out.append((time.perf_counter() - started) * 1000)
        return out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await vtn.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--cycle", action="store_true", help="instead: the cost of one poll cycle, 100 resources"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.cycle:
        print("one VEN poll cycle (programs, events, offers, reports), 100 resources, 2 running events")
        for reports in (False, True):
            values = await cycle_cost(100, reports)
            print(
                f"  reports asked: {reports!s:<5}  median {percentile(values, 50):6.0f} ms"
                f"  max {max(values):6.0f} ms"
            )
        return
    print(f"event created on the VTN -> VppTarget.apply_schedule, push, {args.rounds} events per row")
    print(f"{'resources':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for resources in (1, 100):
        values = await measure(resources, args.rounds)
        print(
            f"{resources:>9} {percentile(values, 50):8.1f} {percentile(values, 99):8.1f} {max(values):8.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
