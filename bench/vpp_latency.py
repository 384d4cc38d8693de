"""VPP response time end to end: event CREATED on the VTN → battery setpoint WRITTEN on the device.

Real processes on loopback, the daemon's full VPP path:

* the test VTN as its own process (``phoenyra-ems vtn``), every request validated against the
  OpenADR 3.0.1 document;
* N battery simulators (pymodbus Modbus TCP servers) in a second process; it timestamps every
  setpoint write the moment the device decodes it (``time.monotonic``, CLOCK_MONOTONIC: one clock
  for every process on the machine) and streams the changes to this process;
* the daemon in this process (``phoenyra_ems.daemon.Daemon``: API with the webhook, fleet of N
  sites over Modbus TCP at the default ``cycle_s`` = 1 s, the VEN), as tests/vpp/test_daemon_vtn.py
  runs it.

Each round this process (as the aggregator's business logic, its own OAuth2 client) POSTs a new
``DISPATCH_SETPOINT`` event to the VTN; the clock starts just before the POST is sent (so the POST
round trip counts). The setpoint alternates in sign every round; a site's latency is from that
instant to the first write of the new setpoint on its device. Rows:

* ``1 site``: one resource;
* ``100 resources``: 100 sites, each its own VEN resource, one event addressing all of them;
* ``100 aggregated``: 100 sites sharing one ``vpp.site_id``: one aggregated resource whose setpoint
  (100 × the per-site value) the fleet splits across the sites;

each with push (webhook on the daemon's API; ``poll_interval_s`` 10 s as the fallback) and with
poll only (``--poll-interval-s``, default 10 s = the config default). Rounds start at a random
phase of the control and poll cycles.

    .venv/bin/python bench/vpp_latency.py [--rounds 30] [--poll-rounds 10] [--poll-interval-s 10]
        [--sites 100] [--ven-log]

``--rounds 0`` / ``--poll-rounds 0`` leave the push / poll rows out. Figures and the commands that
produced them: docs/vpp.md, "End to end". Measure under ``nice -n -10`` on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from _common import free_port, percentile  # bench/ is the script's directory
from fleet_scale import free_port_range, raise_fd_limit, site_config

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import (
    ApiConfig,
    EmsConfig,
    EmsSettings,
    FeedinLimitationConfig,
    ForecastConfig,
    GridTariffConfig,
)
from phoenyra_ems.config.vpp_model import VppConfig, VppFlexibilityConfig
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import SiteStatus
from phoenyra_ems.vpp.vtn.command import dispatch_event
from phoenyra_ems.vpp.webhook import WEBHOOK_PATH

READY = "simulators ready"
VEN_SECRET, BL_SECRET = "bench-ven-secret", "bench-bl-secret"
PER_SITE_KW = 15.0  # |setpoint| per site; the sign alternates each round
RESPONSE_TIME_S = VppFlexibilityConfig().response_time_s


# --- the simulator process ---------------------------------------------------------------------
async def serve_simulators(count: int, base_port: int) -> None:
    from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    threading.Thread(  # the parent keeps our stdin open: EOF means it is gone
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
    ).start()
    simulators = []
    last: dict[int, float] = {}

    def recording(index: int, command: Any) -> Any:
        def wrapped(kw: float, *args: Any, **kwargs: Any) -> Any:
            if last.get(index) != kw:  # a changed setpoint written on the device
                last[index] = kw
                print(f"W {index} {time.monotonic():.6f} {kw:.3f}", flush=True)
            return command(kw, *args, **kwargs)

        return wrapped

    try:
        for i in range(count):
            simulator = BatterySimulator(
                SimulatorConfig(
                    port=base_port + i,
                    capacity_kwh=200,
                    charge_max_kw=100,
                    discharge_max_kw=100,
                    soc_pct=50,
                    pv_peak_kw=0,
                    load_kind="none",
                ),
                SystemClock(),
            )
            simulator.model.command = recording(i, simulator.model.command)  # type: ignore[method-assign]
            await simulator.start()
            simulators.append(simulator)
        print(READY, flush=True)
        await stop.wait()
    finally:
        for simulator in simulators:
            with contextlib.suppress(Exception):
                await simulator.stop()


class Simulators:
    """The simulator process; ``writes[i]`` are (monotonic time, kW) of site i's setpoint changes."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.base_port = free_port_range(count)
        self.writes: dict[int, list[tuple[float, float]]] = {i: [] for i in range(count)}
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-simulators", str(count), str(self.base_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(60 + count * 0.2):
            self.stop()
            raise RuntimeError("simulator process did not come up")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("W "):
                _, i, t, kw = line.split()
                self.writes[int(i)].append((float(t), float(kw)))
            elif line.strip() == READY:
                self._ready.set()

    def first_write(self, index: int, after: float, kw: float, tolerance: float) -> float | None:
        for t, value in list(self.writes[index]):
            if t >= after and abs(value - kw) <= tolerance:
                return t
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --- the VTN process and the aggregator's side ------------------------------------------------
class Vtn:
    def __init__(self) -> None:
        self.port = free_port()
        env = {**os.environ, "PHOENYRA_VTN_VEN_SECRET": VEN_SECRET, "PHOENYRA_VTN_BL_SECRET": BL_SECRET}
        code = "import sys; from phoenyra_ems.cli import main; sys.exit(main(sys.argv[1:]))"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, "vtn", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # "VTN listening on URL ...", then the program's id
            if line.startswith("VTN listening on "):
                self.url = line.split()[3]
            if line.startswith("program "):
                self.program_id = line.split()[-1]
                break
        else:
            raise RuntimeError("the VTN process did not start")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class BusinessLogic:
    """The aggregator's side: its own OAuth2 client (role ``bl``) creating events over HTTP."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url, self.token = session, url, ""

    async def login(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": "bl", "client_secret": BL_SECRET}
        async with self.session.post(f"{self.url}/auth/token", data=form) as resp:
            resp.raise_for_status()
            self.token = (await resp.json())["access_token"]

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(method, f"{self.url}{path}", json=body, headers=headers) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json()


# --- one row -----------------------------------------------------------------------------------
@dataclass
class Row:
    label: str
    sites: int
    push: bool
    aggregated: bool = False
    latencies: list[float] = field(default_factory=list)  # per site and event, seconds
    slowest: list[float] = field(default_factory=list)  # per event: the last site's latency
    missed: int = 0  # site-events without the setpoint written within the timeout


def daemon_config(row: Row, sims: Simulators, vtn: Vtn, tmp: str, poll_s: float) -> EmsConfig:
    port = free_port()
    vpp = VppConfig(
        enabled=True,
        site_id="fleet-bench" if row.aggregated else "",
        vtn_url=vtn.url,
        client_id="ven1",
        client_secret=VEN_SECRET,
        poll_interval_s=10.0 if row.push else poll_s,
        webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}" if row.push else None,
        flexibility=VppFlexibilityConfig(max_power_kw=100, min_power_kw=-100),
    )
    sites = {}
    for i in range(row.sites):
        site = site_config(i, sims.base_port + i, tmp, EmsSettings(cycle_s=1.0))
        site = replace(
            site,
            forecast=ForecastConfig(pv_peak_power_kw=0.0),
            feedin_limitation=FeedinLimitationConfig(enabled=False),
            grid_tariffs=GridTariffConfig(),
            vpp=vpp,
        )
        sites[site.site_id] = site
    api = ApiConfig(port=port, auth_db=f"{tmp}/auth.db", zeroconf=False)
    return EmsConfig(sites=sites, default_site_id=next(iter(sites)), api=api)


async def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def measure(row: Row, sims: Simulators, rounds: int, poll_s: float) -> Row:
    vtn = Vtn()
    try:
        with tempfile.TemporaryDirectory(prefix="vpp_latency_") as tmp:
            config = daemon_config(row, sims, vtn, tmp, poll_s)
            daemon = Daemon(config, SystemClock())
            await daemon.start()
            try:
                async with aiohttp.ClientSession() as session:
                    await run_rounds(row, sims, vtn, daemon, BusinessLogic(session, vtn.url), rounds, poll_s)
            finally:
                await daemon.stop()
    finally:
        vtn.stop()
    return row


async def run_rounds(
    row: Row, sims: Simulators, vtn: Vtn, daemon: Daemon, bl: BusinessLogic, rounds: int, poll_s: float
) -> None:
    await bl.login()

    async def running() -> bool:
        return all(s.state.status is SiteStatus.RUNNING for s in daemon.fleet.slots.values())

    async def ven_ready() -> bool:  # registered, offer announced, subscribed (push)
        vens = await bl.call("GET", "/vens")
        if not vens or not await bl.call("GET", f"/vens/{vens[0]['id']}/resources"):
            return False
        return not row.push or bool(await bl.call("GET", "/subscriptions"))

    await wait(running, 60 + row.sites * 0.3, "every site running")
    await wait(ven_ready, 60, "the VEN registered (and subscribed)")
    await asyncio.sleep(2.0)
    previous: str | None = None
    timeout = 15.0 if row.push else poll_s + 15.0
    for k in range(rounds):
        # a random phase of the control cycle (1 s) and, polling, of the poll period
        await asyncio.sleep(random.uniform(0.5, 1.5) + (random.uniform(0, poll_s) if not row.push else 0))
        kw = PER_SITE_KW * (1 if k % 2 == 0 else -1)
        total = kw * row.sites if row.aggregated else kw
        start = datetime.now(UTC) - timedelta(seconds=1)
        body = dispatch_event(vtn.program_id, total, start, 30, None)
        created = time.monotonic()
        event = await bl.call("POST", "/events", body)
        # aggregated: each site's share follows its available energy (all start equal): near kw
        tolerance = 3.0 if row.aggregated else 0.05
        deadline = created + timeout
        seen: dict[int, float] = {}
        while len(seen) < row.sites and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            for i in range(row.sites):
                if i not in seen and (t := sims.first_write(i, created, kw, tolerance)) is not None:
                    seen[i] = t - created
        row.missed += row.sites - len(seen)
        row.latencies += seen.values()
        if len(seen) == row.sites:
            row.slowest.append(max(seen.values()))
        if previous is not None:
            await bl.call("DELETE", f"/events/{previous}")
        previous = event["id"]


# --- report ------------------------------------------------------------------------------------
def line(row: Row, rounds: int) -> str:
    ms = [v * 1000 for v in row.latencies]
    slow = [v * 1000 for v in row.slowest]
    within = sum(v <= RESPONSE_TIME_S for v in row.latencies)
    share = 100 * within / max(1, len(row.latencies) + row.missed)
    return (
        f"{row.label:<24} {rounds:>6} {len(ms):>7} {percentile(ms, 50):>8.0f} {percentile(ms, 99):>8.0f} "
        f"{max(ms, default=float('nan')):>8.0f} {percentile(slow, 50):>10.0f} {row.missed:>6} {share:>9.1f} %"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30, help="events per push row (0: no push rows)")
    parser.add_argument("--poll-rounds", type=int, default=10, help="events per poll row (0: no poll rows)")
    parser.add_argument("--poll-interval-s", type=float, default=10.0, help="poll rows' poll_interval_s")
    parser.add_argument("--sites", type=int, default=100, help="the large fleet's size")
    parser.add_argument("--ven-log", action="store_true", help="log the VEN's warnings (stderr)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    if args.ven_log:
        logging.getLogger("phoenyra_ems.vpp").setLevel(logging.INFO)
        logging.getLogger().handlers[0].setLevel(logging.INFO)
    raise_fd_limit(args.sites * 8 + 512)
    n = args.sites
    rows: list[Row] = []
    if args.rounds:
        rows += [
            Row("1 site, push", 1, True),
            Row(f"{n} resources, push", n, True),
            Row(f"{n} aggregated, push", n, True, aggregated=True),
        ]
    if args.poll_rounds:
        rows += [
            Row(f"1 site, poll {args.poll_interval_s:g} s", 1, False),
            Row(f"{n} resources, poll {args.poll_interval_s:g} s", n, False),
            Row(f"{n} aggregated, poll {args.poll_interval_s:g} s", n, False, aggregated=True),
        ]
    print("VPP response time: event POSTed to the VTN -> the new setpoint written on the device (Modbus TCP)")
    print(
        f"  VTN, simulators and daemon in separate processes; cycle_s 1 s; {os.cpu_count()} cores, "
        f"nice {os.nice(0)}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  target: vpp.flexibility.response_time_s = {RESPONSE_TIME_S:g} s")
    print(
        f"{'row':<24} {'events':>6} {'samples':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'last p50 ms':>10} {'missed':>6} {'<= target':>11}"
    )
    sims_by_size: dict[int, Simulators] = {}
    try:
        for row in rows:
            sims = sims_by_size.get(row.sites) or sims_by_size.setdefault(row.sites, Simulators(row.sites))
            rounds = args.rounds if row.push else args.poll_rounds
            try:
                await measure(row, sims, rounds, args.poll_interval_s)
            except Exception as err:  # report, never crash: the other rows still count
                print(f"{row.label:<24} not run: {type(err).__name__}: {err}", flush=True)
                continue
            print(line(row, rounds), flush=True)
    finally:
        for sims in sims_by_size.values():
            sims.stop()
    print("samples: one per site and event; last p50: median over events of the slowest site's latency")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-simulators":
        logging.basicConfig(level=logging.ERROR)
        raise_fd_limit(int(sys.argv[2]) * 3 + 256)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_simulators(int(sys.argv[2]), int(sys.argv[3])))
    else:
        asyncio.run(main())
