"""The VPP part of ``phoenyra-ems demo --vpp``: the test VTN on loopback with one program, every
demo site a resource of the daemon's VEN (push to the daemon's webhook), and one dispatch event
created on the VTN once the VEN has subscribed, so the event is seen arriving and being followed.

Times in the event are the demo clock's (simulated time, like the sites' control), and the VEN runs
on the same clock (``Daemon`` hands it ``clock.now``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from phoenyra_ems.clock import Clock
from phoenyra_ems.config.model import EmsConfig
from phoenyra_ems.config.vpp_model import VppConfig
from phoenyra_ems.vpp.vtn.command import dispatch_event
from phoenyra_ems.vpp.vtn.server import TestVtn, VtnClient
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH

LOG = logging.getLogger(__name__)
PROGRAM = "phoenyra-demo"
VEN_CLIENT = "demo-ven"


@dataclass(frozen=True)
class DemoEvent:
    """The demo's dispatch: ``kw`` (positive = discharge) for ``minutes`` simulated minutes,
    created ``delay_s`` real seconds after the VEN subscribed."""

    kw: float = 40.0
    minutes: int = 60
    delay_s: float = 5.0


class DemoVtn:
    """The demo's VTN: ``start`` it, point the config at it (``configure``), then ``dispatch``."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(18)
        self.vtn = TestVtn([VtnClient(VEN_CLIENT, self.secret)])
        self.program: dict[str, Any] = {}
        self.event: dict[str, Any] | None = None

    async def start(self) -> str:
        url = await self.vtn.start("127.0.0.1", 0)
        self.program = self.vtn.add("programs", {"programName": PROGRAM})
        return url

    async def stop(self) -> None:
        await self.vtn.stop()

    def configure(self, config: EmsConfig, api_port: int) -> EmsConfig:
        """Every site a VPP resource of one VEN at this VTN, with push to the daemon's webhook."""
        vpp = VppConfig(
            enabled=True,
            vtn_url=self.vtn.url,
            client_id=VEN_CLIENT,
            client_secret=self.secret,
            webhook_url=f"http://{config.api.host}:{api_port}{WEBHOOK_PATH}",
        )
        sites = {i: replace(s, vpp=replace(vpp, site_id=s.vpp.site_id)) for i, s in config.sites.items()}
        return replace(config, sites=sites)

    async def dispatch(self, clock: Clock, event: DemoEvent = DemoEvent(), wait_s: float = 60.0) -> None:
        """Once the VEN has subscribed (at most ``wait_s``), wait ``event.delay_s`` and create the
        dispatch event (every resource, starting now on the demo clock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not self.vtn.objects["subscriptions"] and loop.time() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(event.delay_s)
        start = clock.now()
        body = dispatch_event(self.program["id"], event.kw, start, event.minutes, None)
        self.event = self.vtn.add("events", body)
        end = start + timedelta(minutes=event.minutes)
        print(
            f"VPP: the test VTN created event {self.event['id']}: {event.kw:+g} kW (discharge) for every "
            f"site, {start:%H:%M} to {end:%H:%M} (simulated)",
            flush=True,
        )
