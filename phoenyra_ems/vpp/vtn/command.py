"""``phoenyra-ems vtn``: run the test VTN on this machine (docs/vpp.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from phoenyra_ems.vpp.vtn.server import TestVtn, VtnClient


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser(
        "vtn",
        help="a small OpenADR 3.0.1 VTN for tests and demos (programs, events, reports, push)",
        description="Serves the OpenADR 3.0.1 subset the VEN uses at http://HOST:PORT/openadr3/3.0.1, "
        "every request validated against the specification. Client secrets come from "
        "PHOENYRA_VTN_VEN_SECRET / PHOENYRA_VTN_BL_SECRET or are generated and printed once.",
        formatter_class=formatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8081, help="port (0: a free one)")
    p.add_argument("--ven-client", default="ven1", help="client id of the VEN (role ven)")
    p.add_argument("--bl-client", default="bl", help="client id of the business logic (writes events)")
    p.add_argument("--program", default="phoenyra-demo", help="name of the program created at start")
    p.add_argument("--dispatch-kw", type=float, help="create a DISPATCH_SETPOINT event of this power")
    p.add_argument("--dispatch-delay-s", type=float, default=10.0, help="the event starts after this delay")
    p.add_argument("--dispatch-minutes", type=int, default=15, help="the event's duration")
    p.add_argument("--resource", help="address the event to this resource name (default: every resource)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after N seconds (0: never)")


def dispatch_event(
    program_id: str, kw: float, start: datetime, minutes: int, resource: str | None
) -> dict[str, Any]:
    """A DISPATCH_SETPOINT event asking for actual power, SoC and available energy reports."""
    event: dict[str, Any] = {
        "programID": program_id,
        "eventName": f"dispatch {kw:g} kW",
        "payloadDescriptors": [
            {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "DISPATCH_SETPOINT", "units": "KW"}
        ],
        "reportDescriptors": [
            {"payloadType": "DEMAND", "units": "KW"},
            {"payloadType": "STORAGE_CHARGE_LEVEL", "units": "PERCENT"},
            {"payloadType": "STORAGE_USABLE_CAPACITY", "units": "KWH"},
        ],
        "intervalPeriod": {"start": start.isoformat().replace("+00:00", "Z"), "duration": f"PT{minutes}M"},
        "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [kw]}]}],
    }
    if resource:
        event["targets"] = [{"type": "RESOURCE_NAME", "values": [resource]}]
    return event


async def serve(args: argparse.Namespace) -> None:
    ven_secret = os.environ.get("PHOENYRA_VTN_VEN_SECRET") or secrets.token_urlsafe(18)
    bl_secret = os.environ.get("PHOENYRA_VTN_BL_SECRET") or secrets.token_urlsafe(18)
    vtn = TestVtn([VtnClient(args.ven_client, ven_secret), VtnClient(args.bl_client, bl_secret, role="bl")])
    url = await vtn.start(args.host, args.port)
    program = vtn.add("programs", {"programName": args.program})
    print(f"VTN listening on {url}  (token endpoint {url}/auth/token)", flush=True)
    if "PHOENYRA_VTN_VEN_SECRET" not in os.environ:
        print(f"VEN client {args.ven_client!r}, secret (generated): {ven_secret}", flush=True)
    if "PHOENYRA_VTN_BL_SECRET" not in os.environ:
        print(f"business-logic client {args.bl_client!r}, secret (generated): {bl_secret}", flush=True)
    print(f"program {args.program!r} is {program['id']}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.dispatch_kw is not None:
            start = datetime.now(UTC) + timedelta(seconds=args.dispatch_delay_s)
            event = vtn.add(
                "events",
                dispatch_event(program["id"], args.dispatch_kw, start, args.dispatch_minutes, args.resource),
            )
            print(f"event {event['id']}: {args.dispatch_kw:g} kW from {start:%H:%M:%S} UTC", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration or None)
    finally:
        await vtn.stop()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
