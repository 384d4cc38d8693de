"""How many sites one daemon process holds at a 1 s cycle: N simulated sites over real Modbus TCP.

For each N the simulators run in a SEPARATE process (N ``BatterySimulator``s on N loopback ports in
one asyncio loop, started as ``fleet_scale.py --serve-simulators N BASEPORT``); this process runs one
``Fleet`` of N sites (Modbus driver, replayed prices, SQLite history in a temp dir, cycle_s = 1.0),
exactly what the daemon runs minus the API. After all sites run and a warm-up, it measures for
``--seconds`` and prints, per N: p50 / p99 / max of the controller cycle latency
(``controller.stats.latencies_s``), missed cycles and failed reads in the window, CPU % of this
process (process_time / wall; 100 % = one core) and of the simulator process, event-loop lag, and RSS
per site. Then the largest N whose p99 stays under 1 s, and a short cProfile of the largest N run with
a one-line conclusion on what limits it. N = 1 is the baseline.

    .venv/bin/python bench/fleet_scale.py [--sizes 10,100,500,1000] [--seconds 20] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import os
import pstats
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from _common import percentile  # bench/ is the script's directory

from phoenyra_ems.clock import Clock, SystemClock
from phoenyra_ems.config.model import (
    BessConfig,
    EmsConfig,
    EmsSettings,
    FeedinLimitationConfig,
    ForecastConfig,
    GridConnectionConfig,
    GridTariffConfig,
    ModbusConfig,
    SiteConfig,
)
from phoenyra_ems.controller import SiteController
from phoenyra_ems.fleet import Fleet
from phoenyra_ems.models import SiteStatus

CYCLE_S = 1.0
FDS_PER_SITE = 6  # daemon side: socket, SQLite db + WAL + shm, thread wake-ups; simulator side: 2
READY = "simulators ready"


# --- helpers shared by both processes ----------------------------------------------------------
def raise_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit towards ``needed`` (up to the hard limit); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def site_config(index: int, port: int, history_dir: str, ems: EmsSettings | None = None) -> SiteConfig:
    """A Wien-like commercial site (200 kWh / 100 kW, 120 kWp PV, 150 kW connection).

    ``ems``: other EMS settings (bench/fleet_optimiser.py); ``history_dir`` is set here.
    """
    settings = replace(ems or EmsSettings(cycle_s=CYCLE_S), history_dir=history_dir)
    return SiteConfig(
        site_id=f"site{index:04d}",
        name=f"Site {index}",
        bess=BessConfig(200, 100, 100, 0.95, 0.95, 10, 90),
        modbus=ModbusConfig(host="127.0.0.1", port=port, profile="generic", timeout_s=1.0),
        forecast=ForecastConfig(pv_peak_power_kw=120),
        grid_connection=GridConnectionConfig(max_power_kw=150),
        feedin_limitation=FeedinLimitationConfig(enabled=True, mode="fixed", fixed_limit_pct=50),
        grid_tariffs=GridTariffConfig(
            energy_price_markup_eur_mwh=60, feedin_tariff_eur_mwh=50, peak_import_cap_kw=80
        ),
        ems=settings,
    )


# --- the simulator process -------------------------------------------------------------------
async def serve_simulators(count: int, base_port: int, clock: Clock | None = None) -> None:
    from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # The parent keeps our stdin open: EOF means it is gone, so we never outlive it.
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
    ).start()
    simulators = []
    try:
        for i in range(count):
            simulator = BatterySimulator(
                SimulatorConfig(
                    port=base_port + i,
                    capacity_kwh=200,
                    charge_max_kw=100,
                    discharge_max_kw=100,
                    soc_pct=30 + (i * 7) % 50,
                    pv_peak_kw=120,
                    load_kind="commercial",
                    annual_load_mwh=280,
                ),
                clock or SystemClock(),
            )
            await simulator.start()
            simulators.append(simulator)
        print(READY, flush=True)
        await stop.wait()
    finally:
        for simulator in simulators:
            with contextlib.suppress(Exception):
                await simulator.stop()


class AnchoredClock:
    """Accelerated time shared by processes: ``sim_epoch`` at wall time ``wall_epoch``, ``speed`` x faster.

    Unlike ``AcceleratedClock`` (anchored at its construction), two processes given the same
    anchors see the same simulated instant (the bench's daemon side and its simulator process).
    """

    def __init__(self, wall_epoch: float, sim_epoch: float, speed: float) -> None:
        self.wall_epoch, self.sim_epoch, self._speed = wall_epoch, sim_epoch, speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim_epoch + (time.time() - self.wall_epoch) * self._speed, UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self._speed)

    def argv(self) -> list[str]:
        return [repr(self.wall_epoch), repr(self.sim_epoch), repr(self._speed)]


def simulator_main(count: int, base_port: int, clock_args: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.ERROR)
    raise_fd_limit(count * 3 + 256)
    clock = AnchoredClock(*(float(a) for a in clock_args)) if clock_args else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_simulators(count, base_port, clock))


# --- the daemon side: measurement ------------------------------------------------------------
def free_port_range(count: int) -> int:
    """A base port with ``count`` consecutive free loopback ports after it."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports")


class SimulatorProcess:
    def __init__(self, count: int, timeout_s: float, clock: AnchoredClock | None = None) -> None:
        self.count = count
        self.base_port = free_port_range(count)
        # stderr to a file, not a pipe: a chatty child never blocks on a full pipe
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-simulators",
                str(count),
                str(self.base_port),
                *(clock.argv() if clock else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout_s)
        if not line or line[0].strip() != READY:
            self.stderr.seek(0)  # read before stop() closes it
            stderr = self.stderr.read().strip()
            self.stop()
            last = stderr.splitlines()[-1] if stderr else "no output"
            raise RuntimeError(f"simulator process did not come up in {timeout_s:.0f} s: {last}")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the simulator process (from /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, not current: a fallback


@dataclass
class Result:
    n: int
    running: int = 0
    cycles: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    missed: int = 0
    failed_reads: int = 0
    cpu_pct: float = float("nan")
    cpu_ms_per_cycle: float = float("nan")
    sim_ms_per_cycle: float = float("nan")
    sim_cpu_pct: float = float("nan")
    lag_p99_ms: float = float("nan")
    gc_pct: float = float("nan")
    gc_full: int = 0
    rss_per_site_kb: float = float("nan")
    rss_total_mb: float = float("nan")
    startup_s: float = float("nan")
    error: str | None = None
    profile: list[str] = field(default_factory=list)
    profile_split: dict[str, float] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.error is None and self.running == self.n and self.p99_ms < CYCLE_S * 1000


class LoopLag:
    """How late a 100 ms sleep wakes up: the event loop's own queueing delay."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.1)
            self.samples.append(time.perf_counter() - started - 0.1)

    def start(self) -> None:
        self.samples.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class GcTimer:
    """Time spent in the cyclic garbage collector (gc.callbacks), and how many full collections."""

    def __init__(self) -> None:
        self.seconds, self.full = 0.0, 0
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.full += info.get("generation") == 2
            self._started = None

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def controllers(fleet: Fleet) -> dict[str, SiteController]:
    return {i: c for i in fleet.site_ids() if (c := fleet.controller(i)) is not None}


async def measure(n: int, seconds: float, warmup: float, profile_s: float) -> Result:
    result = Result(n)
    sims = SimulatorProcess(n, timeout_s=30 + n * 0.1)
    try:
        with tempfile.TemporaryDirectory(prefix="fleet_scale_") as tmp:
            gc.collect()
            rss_before = rss_bytes()
            sites = {(s := site_config(i, sims.base_port + i, tmp)).site_id: s for i in range(n)}
            fleet = Fleet(EmsConfig(sites=sites, default_site_id=next(iter(sites))), SystemClock())
            started = time.perf_counter()
            await fleet.start()
            try:
                deadline = started + 30 + n * 0.1
                while time.perf_counter() < deadline:
                    slots = fleet.slots.values()
                    if all(s.state.status is SiteStatus.RUNNING for s in slots):
                        break
                    await asyncio.sleep(0.2)
                result.startup_s = time.perf_counter() - started
                await asyncio.sleep(warmup)

                before = {
                    i: (c, c.stats.cycles, c.stats.missed, c.stats.failed_reads)
                    for i, c in controllers(fleet).items()
                }
                lag = LoopLag()
                lag.start()
                with GcTimer() as gc_timer:
                    cpu0, sim0, wall0 = time.process_time(), sims.cpu_s(), time.perf_counter()
                    await asyncio.sleep(seconds)
                    cpu1, sim1, wall1 = time.process_time(), sims.cpu_s(), time.perf_counter()
                result.gc_pct, result.gc_full = 100 * gc_timer.seconds / (wall1 - wall0), gc_timer.full
                await lag.stop()
                result.rss_total_mb = rss_bytes() / 2**20
                result.rss_per_site_kb = (rss_bytes() - rss_before) / n / 1024

                latencies: list[float] = []
                for site_id, controller in controllers(fleet).items():
                    if site_id not in before or before[site_id][0] is not controller:
                        continue  # (re)started during the window: not comparable
                    _, cycles0, missed0, failed0 = before[site_id]
                    new = controller.stats.cycles - cycles0
                    latencies.extend(list(controller.stats.latencies_s)[-new:] if new else [])
                    result.missed += controller.stats.missed - missed0
                    result.failed_reads += controller.stats.failed_reads - failed0
                result.running = sum(1 for s in fleet.slots.values() if s.state.status is SiteStatus.RUNNING)
                result.cycles = len(latencies)
                result.p50_ms = percentile(latencies, 50) * 1e3
                result.p99_ms = percentile(latencies, 99) * 1e3
                result.max_ms = max(latencies, default=float("nan")) * 1e3
                result.cpu_pct = 100 * (cpu1 - cpu0) / (wall1 - wall0)
                result.cpu_ms_per_cycle = 1e3 * (cpu1 - cpu0) / max(1, len(latencies))
                result.sim_ms_per_cycle = 1e3 * (sim1 - sim0) / max(1, len(latencies))
                result.sim_cpu_pct = 100 * (sim1 - sim0) / (wall1 - wall0)
                result.lag_p99_ms = percentile(lag.samples, 99) * 1e3
                if profile_s > 0:
                    result.profile, result.profile_split = await profile(profile_s)
            finally:
                await fleet.stop()
    finally:
        sims.stop()
    return result


IDLE = "'poll' of 'select.epoll'"
CATEGORIES = (  # (label, substrings of "file:function"), first match wins
    ("pymodbus (framing, transactions)", ("pymodbus",)),
    ("decision core (phoenyra_ems.core)", ("phoenyra_ems/core",)),
    ("driver/codec (phoenyra_ems.devices)", ("phoenyra_ems/devices",)),
    ("controller/history/prices", ("phoenyra_ems/",)),
    ("aiosqlite + threads", ("aiosqlite", "threading.py", "queue.py")),
    ("asyncio event loop + sockets", ("asyncio", "selectors.py", "socket", "_contextvars", "epoll")),
)


async def profile(seconds: float) -> tuple[list[str], dict[str, float]]:
    """cProfile of the event-loop thread for ``seconds``: top functions and busy time per area."""
    profiler = cProfile.Profile()
    profiler.enable()
    await asyncio.sleep(seconds)
    profiler.disable()
    raw = pstats.Stats(profiler, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    idle = sum(v[2] for k, v in raw.items() if IDLE in k[2])  # waiting in epoll: nothing to do
    busy = {k: v for k, v in raw.items() if IDLE not in k[2]}
    total = sum(v[2] for v in busy.values()) or 1.0
    split: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in busy.items():
        where = f"{filename}:{name}"
        label = next((lbl for lbl, keys in CATEGORIES if any(k in where for k in keys)), "other (stdlib, C)")
        split[label] = split.get(label, 0.0) + tottime
    top = sorted(busy.items(), key=lambda kv: kv[1][2], reverse=True)[:8]
    lines = [f"idle in epoll {100 * idle / seconds:.0f} % of the wall time; busy time by function:"]
    lines += [f"{100 * v[2] / total:5.1f} %  {v[2]:6.3f} s  {Path(k[0]).name}:{k[1]}({k[2]})" for k, v in top]
    return lines, {k: 100 * v / total for k, v in sorted(split.items(), key=lambda kv: -kv[1])}


# --- report ----------------------------------------------------------------------------------
HEADER = (
    f"{'N':>5} {'running':>7} {'cycles':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'missed':>7} "
    f"{'failed':>6} {'CPU %':>6} {'ms/cyc':>6} {'sim CPU %':>9} {'lag p99':>8} {'GC %':>5} {'RSS/site':>9} "
    f"{'RSS':>7} {'start':>6}"
)


def row(r: Result) -> str:
    if r.error:
        return f"{r.n:>5}  not run: {r.error}"
    return (
        f"{r.n:>5} {r.running:>7} {r.cycles:>7} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.max_ms:>8.1f} "
        f"{r.missed:>7} {r.failed_reads:>6} {r.cpu_pct:>6.1f} {r.cpu_ms_per_cycle:>6.2f} "
        f"{r.sim_cpu_pct:>9.1f} {r.lag_p99_ms:>7.1f}  {r.gc_pct:>5.1f} "
        f"{r.rss_per_site_kb:>6.0f} kB {r.rss_total_mb:>4.0f} MB {r.startup_s:>5.1f}s"
    )


def conclusion(r: Result) -> str:
    top = ", ".join(f"{k} {v:.0f} %" for k, v in list(r.profile_split.items())[:3])
    areas = f"Daemon busy time by area: {top}; GC {r.gc_pct:.0f} % of the wall time ({r.gc_full} full)."
    if r.sim_cpu_pct > 85 and r.sim_cpu_pct >= r.cpu_pct:
        return (
            f"N={r.n}: the simulator process is saturated ({r.sim_cpu_pct:.0f} % of a core): the bench's "
            f"device side, not the daemon, is the limit here. {areas}"
        )
    queueing = (
        "the fleet staggers the sites over the 1 s cycle (fleet.cycle_phase), so a cycle waits only behind "
        f"the cycles that land near it; the budget is N x {r.cpu_ms_per_cycle:.2f} ms of CPU per site-cycle, "
        "all on the daemon's one event-loop thread (asyncio, GIL-bound)"
    )
    if r.p99_ms >= CYCLE_S * 1000 or r.missed:
        return (
            f"N={r.n}: the event loop is saturated (daemon {r.cpu_pct:.0f} % of a core, simulators "
            f"{r.sim_cpu_pct:.0f} %, {os.cpu_count()} cores): {queueing}; cycles are missed. {areas}"
        )
    saturates = 1000 * CYCLE_S / r.cpu_ms_per_cycle if r.cpu_ms_per_cycle > 0 else float("nan")
    return (
        f"N={r.n}: no core saturated yet (daemon {r.cpu_pct:.0f} %, simulators {r.sim_cpu_pct:.0f} %); "
        f"{queueing}; that thread saturates one core (and p99 heads for 1 s) near N ≈ {saturates:.0f}, "
        f"if nothing else shared the core. {areas}"
    )


async def run_all(sizes: list[int], seconds: float, warmup: float, profile_s: float) -> None:
    soft = raise_fd_limit(max(sizes) * FDS_PER_SITE + 512)
    print(
        f"fleet scale: cycle {CYCLE_S:g} s, {seconds:g} s measured per N after all sites run + {warmup:g} s"
    )
    print(f"  {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, RLIMIT_NOFILE {soft}")
    print(
        "  simulators in a separate process; cycle latency = controller.stats.latencies_s (read→decide→write)"
    )
    print("  CPU % = process CPU time / wall (100 % = one core); ms/cyc = process CPU time per site-cycle")
    print("  (fixed overhead dominates at small N); RSS/site = growth of this process's RSS with the fleet")
    print("  running / N (N=1 includes one-time loading of the price/PV/load series); lag p99 = how late a")
    print("  100 ms sleep wakes up (event-loop queueing); GC % = wall time in the cyclic garbage collector;")
    print("  start = until every site runs")
    print()
    print(HEADER, flush=True)
    results: list[Result] = []
    largest = max(sizes)
    for n in sizes:
        needed = n * FDS_PER_SITE + 256
        if needed > soft:
            result = Result(n, error=f"needs ~{needed} file descriptors, RLIMIT_NOFILE is {soft}")
        else:
            try:
                result = await measure(n, seconds, warmup, profile_s if n == largest else 0.0)
            except Exception as err:  # report, never crash: the other sizes still count
                result = Result(n, error=f"{type(err).__name__}: {err}")
        results.append(result)
        print(row(result), flush=True)
    print()
    measured = [r for r in results if r.error is None and r.n > 1]
    holding = [r.n for r in measured if r.holds]
    best = max(holding) if holding else "none"
    print(f"largest N with p99 < {CYCLE_S * 1000:.0f} ms (all sites running): {best}")
    profiled = next((r for r in results if r.profile), None)
    if profiled is not None:
        print(f"\ncProfile of the event-loop thread at N={profiled.n} ({profile_s:g} s; the profiler")
        print("itself slows the loop, so the idle share is lower than without it), top by own time:")
        for line in profiled.profile:
            print(f"  {line}")
        print(f"conclusion: {conclusion(profiled)}")


def main() -> None:
    if len(sys.argv) in (4, 7) and sys.argv[1] == "--serve-simulators":
        simulator_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] or None)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10,100,500,1000", help="comma-separated N (N=1 baseline is added)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument("--warmup", type=float, default=5.0, help="after every site runs, before measuring")
    parser.add_argument(
        "--profile-seconds", type=float, default=5.0, help="cProfile of the largest N (0: off)"
    )
    args = parser.parse_args()
    sizes = sorted({1, *(int(s) for s in args.sizes.split(",") if s.strip())})
    logging.basicConfig(level=logging.CRITICAL)  # start-up "safe state" warnings would drown the table
    asyncio.run(run_all(sizes, args.seconds, args.warmup, args.profile_seconds))


if __name__ == "__main__":
    main()
