"""Run every configured site's controller in one process (the daemon's API comes on top of this)."""

from __future__ import annotations

import asyncio
import logging

from phoenyra_ems.clock import Clock
from phoenyra_ems.config.model import EmsConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.runtime import build_controller

LOG = logging.getLogger(__name__)


def status_line(controller: SiteController) -> str:
    s = controller.state
    alarms = ",".join(a.code for a in s.alarms) or "-"
    return (
        f"{controller.site.name:<8} {s.status:<8} SoC {s.soc:5.1f}%  bess {s.p_bess:+8.1f} kW  "
        f"pv {s.p_pv:7.1f}  load {s.p_load:7.1f}  grid {s.p_grid:+8.1f}  set {s.setpoint:+8.1f}  "
        f"{s.strategy or '-':<16} alarms {alarms}"
    )


async def run_sites(config: EmsConfig, clock: Clock, status_every_s: float = 0.0) -> None:
    """Start one controller per site; on cancellation put every battery in its safe state."""
    controllers = [build_controller(site, clock) for site in config.sites.values()]
    for controller in controllers:
        await controller.start()
    try:
        while True:
            await asyncio.sleep(status_every_s or 3600)
            if status_every_s:
                for controller in controllers:
                    print(f"{clock.now():%Y-%m-%d %H:%M:%S} {status_line(controller)}", flush=True)
    finally:
        LOG.info("shutting down: every battery to its safe state")
        await asyncio.gather(*(c.stop() for c in controllers), return_exceptions=True)
