"""What the fault cases share: the rigs they run on, the registry, the helpers they are written with.

A case takes a rig (device cases share one daemon with three sites) or a work directory (daemon
cases start their own daemon), fills an ``Outcome`` as it measures, and raises AssertionError at
the first broken promise (``CannotRun`` when this machine cannot stage the fault). The cases live
in ``device_cases.py`` and ``daemon_cases.py``; the tests and ``bench/faults.py`` run them.

Sites of the shared device rig:

* ``sim``: ``phoenyra-ems simulate`` (generic map): SIGSTOP / SIGKILL hit it;
* ``gen``: the fault device with the generic map: garbage readings, exception replies;
* ``hua``: the fault device with the Huawei LUNA2000 map: the SoC "not available" sentinel.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.faults.harness import (
    CYCLE_S,
    MAX_GAP_S,
    RECOVERY_BOUND_S,
    Auth,
    Daemon,
    DeviceProcess,
    FaultDevice,
    Outcome,
    Simulator,
    check,
    is_running_without,
    is_safe,
    max_gap,
    rows_lost,
    sample,
    site_config,
    summary,
    wait_until,
)

MANUAL_KW = -30.0  # the operator's command running when the fault hits (charging 30 kW)


class CannotRun(Exception):
    """This machine cannot stage the fault (the reason says why); the tests skip."""


# --- rigs ------------------------------------------------------------------------------------
class DeviceRig:
    """One daemon, three sites, three device processes; ``heal()`` before every case."""

    SITES = ("sim", "gen", "hua")

    def __init__(self, workdir: Path, auth: Auth) -> None:
        history = workdir / "history"
        self.sim = Simulator(workdir, "sim")
        self.gen = FaultDevice(workdir, "gen")
        self.hua = FaultDevice(workdir, "hua", profile="huawei_luna2000")
        self.daemon = Daemon(
            workdir,
            auth,
            {
                "sim": site_config("Sim", self.sim, history),
                "gen": site_config("Generic", self.gen, history),
                "hua": site_config("Huawei", self.hua, history),
            },
        )
        self.daemon_restarts = 0

    @property
    def devices(self) -> tuple[DeviceProcess, ...]:
        return (self.sim, self.gen, self.hua)

    def start(self) -> None:
        for device in self.devices:
            device.start()
        self.daemon.start()

    def heal(self) -> None:
        """Every device answering normally, every site running in auto mode.

        A site still stuck after the previous case is the previous case's failure: the daemon
        is restarted so that the next case starts clean (and counted in ``daemon_restarts``).
        """
        for device in self.devices:
            device.ensure_running()
        self.gen.clear()
        self.hua.clear()
        try:
            self._auto_and_running(timeout=10.0)
        except AssertionError:
            self.daemon_restarts += 1
            self.daemon.restart()
            self._auto_and_running(timeout=20.0)

    def _auto_and_running(self, timeout: float) -> None:
        if not self.daemon.alive:
            raise AssertionError("daemon not running")
        for site_id in self.SITES:
            with contextlib.suppress(Exception):  # a site not running yet: waited for below
                self.daemon.control(site_id, mode="auto")
        self.daemon.wait_all_running(timeout)

    def close(self) -> None:
        for device in self.devices:
            device.thaw()
        self.daemon.stop()
        for device in self.devices:
            device.stop()


class SiteRig:
    """A daemon with one site ``plant`` on its own device: for cases that kill the daemon."""

    SITE = "plant"

    def __init__(self, workdir: Path, auth: Auth, device: DeviceProcess, history: Path, **sections: Any):
        self.device = device
        self.daemon = Daemon(workdir, auth, {self.SITE: site_config("Plant", device, history, **sections)})

    def start(self, running: bool = True) -> None:
        self.device.start()
        self.daemon.start(running=running)

    def state(self) -> dict[str, Any]:
        return self.daemon.state(self.SITE)

    def close(self) -> None:
        self.device.thaw()
        self.daemon.stop()
        self.device.stop()


# --- the registry the tests and the benchmark share -------------------------------------------
@dataclass(frozen=True)
class Case:
    fault: str
    bound: str
    kind: str  # "device": run(rig, out) on the shared DeviceRig; "daemon": run(workdir, auth, out)
    run: Callable[..., None]

    def outcome(self) -> Outcome:
        return Outcome(self.fault, self.bound)

    def __call__(self, *args: Any) -> Outcome:
        out = self.outcome()
        self.run(*args, out)
        return out


CASES: dict[str, Case] = {}


def case(key: str, fault: str, bound: str, kind: str = "device") -> Callable[[Callable[..., None]], Case]:
    def register(run: Callable[..., None]) -> Case:
        CASES[key] = Case(fault, bound, kind, run)
        return CASES[key]

    return register


# --- helpers ---------------------------------------------------------------------------------
def start_manual(daemon: Daemon, site_id: str, kw: float, device: FaultDevice | None = None) -> None:
    """A manual setpoint the site runs (and, with a fault device, that the battery really got)."""
    daemon.manual(site_id, kw)
    wait_until(
        lambda: daemon.state(site_id),
        lambda s: s["status"] == "running" and abs(s["setpoint"] - kw) < 0.01,
        RECOVERY_BOUND_S,
        f"{site_id}: manual {kw:g} kW running before the fault",
    )
    if device is not None:
        wait_until(
            device.status,
            lambda st: abs(st["setpoint_kw"] - kw) < 0.01,
            RECOVERY_BOUND_S,
            f"{site_id}: the battery got {kw:g} kW before the fault",
        )


def freeze_in_cycle(daemon: Daemon, site_id: str, device: DeviceProcess, into_s: float = 0.1) -> None:
    """SIGSTOP the device, then return ``into_s`` after the next cycle started: its read is in flight.

    Cycle starts are read from the state's timestamps (wall clock, the daemon's cycle grid).
    """
    last = datetime.fromisoformat(daemon.state(site_id)["timestamp"]).timestamp()
    device.freeze()
    frozen = time.time()
    next_start = last + CYCLE_S * math.ceil((frozen + 0.02 - last) / CYCLE_S)
    time.sleep(max(0.0, next_start + into_s - time.time()))


def check_history(daemon: Daemon, site_id: str, start: float, end: float, out: Outcome) -> None:
    """A row for every cycle of [start, end] (UNIX times): no gap longer than 2 cycles."""
    times = daemon.history_times(site_id, start - 1.0, end)
    out.rows_lost = rows_lost(times, start, end)
    gap = max_gap(times, start, end)
    out.notes.append(f"longest history gap {gap:.2f} s")
    check(
        gap <= MAX_GAP_S,
        f"{site_id}: history has a gap of {gap:.2f} s during the fault (at most {MAX_GAP_S:.2f} s: "
        f"one row per cycle), {out.rows_lost} of {round((end - start) / CYCLE_S)} cycles missing",
    )


def wait_safe(daemon: Daemon, site_id: str, alarm: str, bound: float, since: float, what: str) -> float:
    return wait_until(
        lambda: daemon.state(site_id), is_safe(alarm), bound, f"{what}: safe, 0 kW, {alarm}", since=since
    )


def hold_safe(daemon: Daemon, site_id: str, alarm: str, seconds: float, what: str) -> None:
    """The safe state holds while the fault lasts (sampled every 100 ms)."""
    states = sample(lambda: daemon.state(site_id), seconds)
    bad = [s for s in states if not (isinstance(s, dict) and is_safe(alarm)(s))]
    check(not bad, f"{what}: left the safe state while the fault lasted: {summary(bad[0]) if bad else ''}")


def wait_running(daemon: Daemon, site_id: str, alarm: str, bound: float, since: float, what: str) -> float:
    return wait_until(
        lambda: daemon.state(site_id),
        is_running_without(alarm),
        bound,
        f"{what}: running again, {alarm} cleared",
        since=since,
    )


def all_cases() -> dict[str, Case]:
    """Every case, in the order the benchmark prints them (importing the modules registers them)."""
    from tests.faults import daemon_cases, device_cases  # noqa: F401

    return dict(sorted(CASES.items(), key=lambda item: item[1].kind != "device"))
