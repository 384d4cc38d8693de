"""Load the OpenADR 3 document once per test process (openapi-core import + parse: a few seconds);
``start_rig``: the test VTN, the daemon and its simulators on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.vpp_model import VppConfig
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import SiteStatus
from phoenyra_ems.simulator.server import BatterySimulator
from phoenyra_ems.vpp.openapi import warm_up
from phoenyra_ems.vpp.vtn import TestVtn
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH
from tests.conftest import free_port
from tests.daemon_fixtures import RunningDaemon, started_simulators, two_site_config
from tests.vpp.helpers import VEN_SECRET, make_vtn, wait_for


@pytest.fixture(autouse=True, scope="session")
def _openadr_document() -> None:
    warm_up()


Rig = tuple[TestVtn, RunningDaemon]
Start = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def start_rig(tmp_path: Path) -> AsyncIterator[Start]:
    """``await start_rig(push=..., resource=..., poll_interval_s=...)``: VTN + daemon + simulators
    (two 200 kWh / 100 kW sites without PV or load: every kW at the meter is the battery's)."""
    started: list[tuple[TestVtn, Daemon, dict[str, BatterySimulator]]] = []

    async def start(*, push: bool, resource: str = "", poll_interval_s: float = 1.0) -> Rig:
        vtn = make_vtn()
        await vtn.start()
        vtn.add("programs", {"programName": "afrr"})
        port = free_port()
        config = two_site_config(tmp_path)
        vpp = VppConfig(
            enabled=True,
            site_id=resource,  # "" -> each site its own resource; shared -> the aggregated one
            vtn_url=vtn.url,
            client_id="ven1",
            client_secret=VEN_SECRET,
            poll_interval_s=poll_interval_s,
            webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}" if push else None,
        )
        config = replace(
            config,
            api=replace(config.api, port=port),
            sites={i: replace(s, vpp=vpp) for i, s in config.sites.items()},
        )
        simulators = await started_simulators(config, pv_peak_kw=0.0, load_kind="none")
        daemon = Daemon(config, SystemClock())
        started.append((vtn, daemon, simulators))
        await daemon.start()
        await wait_for(lambda: all(s.state.status is SiteStatus.RUNNING for s in daemon.fleet.slots.values()))
        # the VEN registered and announced its resources (and subscribed, with push)
        await wait_for(lambda: vtn.objects["resources"] and (vtn.objects["subscriptions"] or not push), 15.0)
        return vtn, RunningDaemon(daemon, simulators, {})

    try:
        yield start
    finally:
        for vtn, daemon, simulators in started:
            await daemon.stop()
            for simulator in simulators.values():
                await simulator.stop()
            await vtn.stop()
