"""A fleet with every site optimising: cycle latency and solve times around the planning-step boundary.

N simulated sites over real Modbus TCP (the simulators in a separate process, as in
``fleet_scale.py``), one ``Fleet`` in this process, first without the optimiser, then with
``optimiser`` in every site's strategies (its default strategy) and 15-min replans
(``ems.planning_step_s`` 900). Both processes share an accelerated clock (``--speed``, default 15):
the cycle is ``speed`` x ``--cycle`` (1 s) of simulated time, so each site still runs one cycle per
real second (the same load per second as a 1 s cycle live), and a planning step of 900 s passes in 900 / speed
real seconds. Every site's planning steps start at the same instants (multiples of 900 s), as live.

It prints, per run: p50 / p99 / max cycle latency of all cycles in the window and of the cycles in
the first two cycles after each step boundary (the burst of replans), missed cycles, event-loop lag,
CPU, plans made and the distribution of their build + solve time (``Plan.solve_ms``), and how long
after the boundary the plans were in place.

The fleet staggers the step-boundary replans (``fleet.replan_phase``: a stable per-site offset in
the first third of the step, at most 300 s; the site follows its previous plan until then).
``--stagger S`` adds a run with that spread overridden to [0, S) simulated seconds; ``--stagger 0``
a run with every site replanning at the boundary (the behaviour before the stagger).

    .venv/bin/python bench/fleet_optimiser.py [--sites 1000] [--steps 2] [--speed 15] [--stagger 0]

The accelerated clock makes the planning steps, and so the plans, ``speed`` times as frequent per
real second as live; ``--speed 1 --cycle 5 --lead 240 --after 330`` measures one boundary at the
live rate in ~10 minutes (``--lead``: simulated s from the start to the first boundary; ``--after``:
the window ends this many simulated s after it, past the 300-s replan stagger).
``--autogroup-nice -10`` under ``setsid`` gives the bench and its simulators priority over other
sessions' jobs (with ``sched_autogroup`` a plain ``nice`` only counts within one's own session).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from _common import percentile  # bench/ is the script's directory
from fleet_scale import (
    FDS_PER_SITE,
    AnchoredClock,
    LoopLag,
    SimulatorProcess,
    controllers,
    raise_fd_limit,
    site_config,
)

from phoenyra_ems.config.model import EmsConfig, EmsSettings
from phoenyra_ems.controller import SiteController
from phoenyra_ems.fleet import Fleet, replan_phase
from phoenyra_ems.models import PlantState, SiteStatus

STEP_S = 900.0
FIRST_BOUNDARY = datetime(2024, 6, 12, 6, 0, tzinfo=UTC)  # a June morning: PV rising, prices moving
WINDOW: dict[str, float | None] = {"lead_s": 600.0, "after_s": None}  # --lead, --after


@dataclass
class Run:
    label: str
    n: int
    running: int = 0
    cycles: list[float] = field(default_factory=list)  # latencies (s) in the window
    burst: list[float] = field(default_factory=list)  # ... of cycles within 2 cycles after a boundary
    missed: int = 0
    lag: list[float] = field(default_factory=list)
    cpu_pct: float = float("nan")
    burst_cpu_s: float = float("nan")  # extra CPU s of this process in the quarter step after a boundary
    solve_ms: list[float] = field(default_factory=list)
    boundary_solve_ms: list[float] = field(default_factory=list)  # plans made at the boundary (thread)
    later_solve_ms: list[float] = field(default_factory=list)  # later in the step (inline: SoC strayed...)
    plan_delay_s: list[float] = field(default_factory=list)  # simulated s after the boundary
    statuses: dict[str, int] = field(default_factory=dict)
    triggers: dict[str, int] = field(default_factory=dict)
    boundaries: int = 0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    error: str | None = None


def optimiser_of(controller: SiteController) -> Any:
    return next((s for s in controller.strategies if s.name == "optimiser"), None)


class CpuSampler:
    """This process's CPU time against simulated time, sampled from a thread (the loop may be busy)."""

    def __init__(self, clock: AnchoredClock) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(clock,), daemon=True)
        self._thread.start()

    def _run(self, clock: AnchoredClock) -> None:
        while not self._stop.wait(0.1):
            self.samples.append((clock.now().timestamp(), time.process_time()))

    def stop(self, start: float, end: float) -> float:
        """Mean CPU s per boundary spent in the first quarter step after it, beyond the rest's rate."""
        self._stop.set()
        self._thread.join()
        burst = rest = burst_t = rest_t = 0.0
        for (t0, c0), (t1, c1) in itertools.pairwise(self.samples):
            if not start <= t0 < end:
                continue
            if t0 % STEP_S < STEP_S / 4:
                burst, burst_t = burst + c1 - c0, burst_t + t1 - t0
            else:
                rest, rest_t = rest + c1 - c0, rest_t + t1 - t0
        if not burst_t or not rest_t:
            return float("nan")
        boundaries = max(1, round((end - start) / STEP_S))
        return (burst - rest / rest_t * burst_t) / boundaries


KEY_PARTS = ("new step", "prices published", "forecast source", "limits", "tariff", "derate")


def trigger(previous: Any, plan: Any) -> str:
    """Why the strategy replanned (its plan key: docs/optimiser.md "When it plans")."""
    if previous is None:
        return "first in window"
    changed = [name for name, a, b in zip(KEY_PARTS, previous.key, plan.key, strict=False) if a != b]
    if changed:
        return changed[0]
    return "SoC off the plan" if plan.start == previous.start else "plan older than a step"


def stagger(controller: SiteController, spread_s: float | None) -> None:
    """Override the fleet's replan phase (``fleet.replan_phase``, live since the stagger landed):
    a stable per-site phase in [0, spread_s); 0: every site replans at the boundary (as before)."""
    if spread_s is None:
        return
    phase = replan_phase(controller.site.site_id, 3 * spread_s) if spread_s > 0 else 0.0
    controller.set_replan_phase(phase)


async def measure(
    n: int,
    optimise: bool,
    speed: float,
    steps: int,
    warmup_s: float,
    spread_s: float | None,
    cycle_real_s: float,
) -> Run:
    override = "" if spread_s is None else (f", stagger {spread_s:g} s" if spread_s else ", no stagger")
    label = ("optimiser" + override) if optimise else "no optimiser"
    run = Run(label, n)
    lead_s = WINDOW["lead_s"] or 600.0
    clock = AnchoredClock(time.time(), FIRST_BOUNDARY.timestamp() - lead_s, speed)
    sims = SimulatorProcess(n, timeout_s=max(30 + n * 0.1, SIM_TIMEOUT_S[0]), clock=clock)
    cycle_s = speed * cycle_real_s
    base = EmsSettings(cycle_s=cycle_s, planning_step_s=STEP_S)
    if optimise:
        base = replace(base, strategies=(*base.strategies, "optimiser"), default_strategy="optimiser")
    try:
        with tempfile.TemporaryDirectory(prefix="fleet_optimiser_") as tmp:
            sites = {(s := site_config(i, sims.base_port + i, tmp, base)).site_id: s for i in range(n)}
            fleet = Fleet(EmsConfig(sites=sites, default_site_id=next(iter(sites))), clock)
            window: list[float] = []  # [start, end] in simulated epoch seconds once measuring
            seen: dict[str, object] = {}

            def listen(state: PlantState) -> None:
                controller = fleet.controller(state.site_id)
                if controller is None or not window or not controller.stats.latencies_s:
                    return
                at = state.timestamp.timestamp()
                if not window[0] <= at < window[1]:
                    return
                latency = controller.stats.latencies_s[-1]
                run.cycles.append(latency)
                since = at % STEP_S  # simulated seconds since the last step boundary
                if since < 2 * cycle_s:
                    run.burst.append(latency)
                strategy = optimiser_of(controller)
                plan = None if strategy is None else strategy.plan
                if plan is not None and seen.get(state.site_id) is not plan:
                    why = trigger(seen.get(state.site_id), plan)
                    run.triggers[why] = run.triggers.get(why, 0) + 1
                    seen[state.site_id] = plan
                    run.solve_ms.append(plan.solve_ms)
                    run.statuses[plan.status] = run.statuses.get(plan.status, 0) + 1
                    run.plan_delay_s.append(since)
                    (run.boundary_solve_ms if since < 2 * cycle_s else run.later_solve_ms).append(
                        plan.solve_ms
                    )

            fleet.listeners.append(listen)
            await fleet.start()
            try:
                deadline = time.perf_counter() + 60 + n * 0.2
                while time.perf_counter() < deadline:
                    if all(s.state.status is SiteStatus.RUNNING for s in fleet.slots.values()):
                        break
                    await asyncio.sleep(0.2)
                for c in controllers(fleet).values():
                    stagger(c, spread_s)
                await asyncio.sleep(warmup_s)
                # The window: from just before the next boundary over ``steps`` planning steps.
                now = clock.now().timestamp()
                first = (now // STEP_S + 1) * STEP_S
                await asyncio.sleep(max(0.0, (first - cycle_s - now) / speed))
                for site_id, c in controllers(fleet).items():
                    if (strategy := optimiser_of(c)) is not None:
                        seen[site_id] = strategy.plan
                start_sim = clock.now().timestamp()
                after_s = WINDOW["after_s"]
                length_s = steps * STEP_S if after_s is None else cycle_s + after_s
                window[:] = [start_sim, start_sim + length_s]
                print(
                    f"{time.strftime('%H:%M:%S')} {label}: window opens (pid {os.getpid()})",
                    file=sys.stderr,
                    flush=True,
                )
                run.boundaries = steps if after_s is None else 1
                missed0 = {i: (c, c.stats.missed) for i, c in controllers(fleet).items()}
                lag = LoopLag()
                lag.start()
                sampler = CpuSampler(clock)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                await asyncio.sleep(length_s / speed)
                cpu1, wall1 = time.process_time(), time.perf_counter()
                run.burst_cpu_s = sampler.stop(window[0], window[1])
                print(f"{time.strftime('%H:%M:%S')} {label}: window closes", file=sys.stderr, flush=True)
                await lag.stop()
                run.load = os.getloadavg()
                run.lag = lag.samples
                run.cpu_pct = 100 * (cpu1 - cpu0) / (wall1 - wall0)
                for site_id, controller in controllers(fleet).items():
                    if site_id in missed0 and missed0[site_id][0] is controller:
                        run.missed += controller.stats.missed - missed0[site_id][1]
                run.running = sum(1 for s in fleet.slots.values() if s.state.status is SiteStatus.RUNNING)
                window.clear()
            finally:
                await fleet.stop()
    finally:
        sims.stop()
    return run


SIM_TIMEOUT_S = [0.0]  # --sim-timeout (default: 30 s + 0.1 s per site)


def ms(values: list[float], pct: float) -> float:
    return percentile(values, pct) * 1e3


def report(run: Run) -> list[str]:
    if run.error:
        return [f"{run.label}: not run: {run.error}"]
    lines = [
        f"{run.label}: {run.running}/{run.n} sites running, {len(run.cycles)} cycles over "
        f"{run.boundaries} step boundaries, missed {run.missed}, daemon CPU {run.cpu_pct:.0f} % of a core, "
        f"load average {run.load[0]:.1f}",
        f"  cycle latency ms   all: p50 {ms(run.cycles, 50):.1f}  p99 {ms(run.cycles, 99):.1f}  "
        f"max {ms(run.cycles, 100):.0f}   | first 2 cycles after a boundary ({len(run.burst)}): "
        f"p50 {ms(run.burst, 50):.1f}  p99 {ms(run.burst, 99):.1f}  max {ms(run.burst, 100):.0f}",
        f"  CPU of this process in the quarter step after a boundary, beyond its rate in the rest: "
        f"{run.burst_cpu_s:.2f} s per boundary ({1e3 * run.burst_cpu_s / max(run.n, 1):.1f} ms per site)",
        f"  event-loop lag ms  p50 {ms(run.lag, 50):.1f}  p99 {ms(run.lag, 99):.1f}  "
        f"max {ms(run.lag, 100):.0f}",
    ]
    if run.solve_ms:
        solve = [v / 1e3 for v in run.solve_ms]
        status = ", ".join(f"{k} {v}" for k, v in sorted(run.statuses.items()))
        lines += [
            f"  plans {len(solve)} ({status}); build + solve ms p50 {ms(solve, 50):.1f}  p90 "
            f"{ms(solve, 90):.1f}  p99 {ms(solve, 99):.1f}  max {ms(solve, 100):.0f}",
            f"  of them within 2 cycles of the boundary {len(run.boundary_solve_ms)} (p50 "
            f"{percentile(run.boundary_solve_ms, 50):.1f} ms, p99 "
            f"{percentile(run.boundary_solve_ms, 99):.1f}), later "
            f"in the step {len(run.later_solve_ms)} (p50 {percentile(run.later_solve_ms, 50):.1f} ms, p99 "
            f"{percentile(run.later_solve_ms, 99):.1f}: SoC off the plan, changed inputs, staggered steps)",
            "  replans by trigger: " + ", ".join(f"{k} {v}" for k, v in sorted(run.triggers.items())),
            f"  plan in place after the boundary (simulated s): p50 {percentile(run.plan_delay_s, 50):.0f}  "
            f"p99 {percentile(run.plan_delay_s, 99):.0f}  max {max(run.plan_delay_s):.0f}",
        ]
    return lines


async def main_async(args: argparse.Namespace) -> None:
    soft = raise_fd_limit(args.sites * FDS_PER_SITE + 512)
    print(
        f"fleet optimiser: {args.sites} sites, clock x{args.speed:g} (cycle {args.speed * args.cycle:g} s "
        f"simulated = {args.cycle:g} s real; planning step {STEP_S:.0f} s = {STEP_S / args.speed:.0f} s "
        f"real), "
        + (
            f"{args.steps} step boundaries"
            if args.after is None
            else f"one step boundary and {args.after:g} s simulated after it"
        )
        + f" measured after {args.warmup:g} s warm-up"
    )
    print(
        f"  {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, RLIMIT_NOFILE {soft}, "
        f"load average before {os.getloadavg()[0]:.1f}"
    )
    configs: list[tuple[bool, float | None]] = [(False, None), (True, None)]
    if args.stagger is not None:
        configs.append((True, args.stagger))
    if args.only_optimiser:
        configs = [c for c in configs if c[0]]
    if args.only_baseline:
        configs = [c for c in configs if not c[0]]
    for optimise, spread in configs:
        try:
            run = await measure(args.sites, optimise, args.speed, args.steps, args.warmup, spread, args.cycle)
        except Exception as err:  # report, never crash: the other runs still count
            run = Run(
                "optimiser" if optimise else "no optimiser", args.sites, error=f"{type(err).__name__}: {err}"
            )
        print("\n".join(report(run)), flush=True)


def prioritise(nice: int) -> None:
    """Give this session's autogroup (and the simulators, its children) the nice ``nice``.

    With ``kernel.sched_autogroup_enabled`` (the default of most kernels) CPU is shared fairly
    between sessions first and a process's own nice counts only within its session: ``nice -n -10``
    alone gains nothing against other sessions' jobs. Start the bench under ``setsid`` so that its
    autogroup holds only it and its simulators (root needed for a negative nice).
    """
    path = "/proc/self/autogroup"
    try:
        with open(path, "w") as f:
            f.write(str(nice))
        with open(path) as f:
            print(f"  scheduler {f.read().strip()} (sid {os.getsid(0)})", flush=True)
    except OSError as err:
        print(f"  autogroup nice not set: {err}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=2, help="planning-step boundaries in the window")
    parser.add_argument("--speed", type=float, default=15.0, help="clock acceleration (cycle = speed x 1 s)")
    parser.add_argument("--cycle", type=float, default=1.0, help="real s per cycle (live: 1 s cycles)")
    parser.add_argument("--warmup", type=float, default=20.0, help="real s after every site runs")
    parser.add_argument(
        "--stagger", type=float, default=None, help="also run with this replan spread (sim s; 0: none)"
    )
    parser.add_argument("--only-optimiser", action="store_true", help="skip the run without the optimiser")
    parser.add_argument("--only-baseline", action="store_true", help="only the run without the optimiser")
    parser.add_argument(
        "--sim-timeout", type=float, default=0.0, help="s the simulators may take to come up (loaded machine)"
    )
    parser.add_argument(
        "--autogroup-nice",
        type=int,
        default=None,
        help="set this session's scheduler autogroup to this nice (run under setsid; see docs)",
    )
    parser.add_argument(
        "--lead", type=float, default=600.0, help="simulated s from the start to the first boundary"
    )
    parser.add_argument(
        "--after",
        type=float,
        default=None,
        help="measure only to this many simulated s after the first boundary (speed 1: a short run)",
    )
    args = parser.parse_args()
    SIM_TIMEOUT_S[0] = args.sim_timeout
    WINDOW.update(lead_s=args.lead, after_s=args.after)
    if args.autogroup_nice is not None:
        prioritise(args.autogroup_nice)
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
