"""Device faults against a running daemon (the shared ``DeviceRig``): what the API shows, what the
battery does.

Bounds (``tests/faults/harness.py``): safe within 2 cycles + Modbus timeout + 0.5 s, running again
within 5 s of the device being healthy; cycle 0.5 s, timeout 0.5 s, no retries.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from typing import Any

from tests.faults.cases import (
    MANUAL_KW,
    CannotRun,
    Case,
    DeviceRig,
    case,
    check_history,
    freeze_in_cycle,
    hold_safe,
    start_manual,
    wait_running,
    wait_safe,
)
from tests.faults.harness import (
    CYCLE_S,
    MAX_GAP_S,
    POLL_S,
    RECOVERY_BOUND_S,
    SAFE_BOUND_S,
    SOC_BOUND_S,
    WRITE_FAIL_BOUND_S,
    ConnectWatcher,
    Outcome,
    check,
    is_running_without,
    is_safe,
    rows_lost,
    sample,
    wait_until,
)

HUAWEI_SOC_REGISTER = "37760"  # storage_state_of_capacity; 0xFFFF = not available


@case(
    "silent",
    "device silent (SIGSTOP)",
    f"safe <= {SAFE_BOUND_S:g} s; running <= {RECOVERY_BOUND_S:g} s; gap <= {MAX_GAP_S:g} s",
)
def device_silent(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    start_manual(daemon, "sim", MANUAL_KW)
    fault_start, t0 = time.time(), time.monotonic()
    rig.sim.freeze()
    out.time_to_safe_s = wait_safe(daemon, "sim", "comm_lost", SAFE_BOUND_S, t0, "SIGSTOP")
    hold_safe(daemon, "sim", "comm_lost", 1.0, "SIGSTOP")
    t1 = time.monotonic()
    rig.sim.thaw()
    out.recovery_s = wait_running(daemon, "sim", "comm_lost", RECOVERY_BOUND_S, t1, "SIGCONT")
    check_history(daemon, "sim", fault_start, time.time(), out)


@case(
    "gone",
    "device killed 2 s, restarted on its port",
    f"safe <= {SAFE_BOUND_S:g} s; running <= {RECOVERY_BOUND_S:g} s after it is back",
)
def device_gone_and_back(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    start_manual(daemon, "sim", MANUAL_KW)
    fault_start, t0 = time.time(), time.monotonic()
    rig.sim.kill()
    out.time_to_safe_s = wait_safe(daemon, "sim", "comm_lost", SAFE_BOUND_S, t0, "SIGKILL")
    hold_safe(daemon, "sim", "comm_lost", 1.5, "device gone")
    rig.sim.start()
    t1 = time.monotonic()  # the new simulator accepts connections
    out.recovery_s = wait_running(daemon, "sim", "comm_lost", RECOVERY_BOUND_S, t1, "device back")
    times = daemon.history_times("sim", fault_start - 1.0, time.time())
    out.rows_lost = rows_lost(times, fault_start, time.time())


LONG_OUTAGE_S = 14.0
CONNECT_TO_RUNNING_S = 1.0  # from a successful connect to "running": on-connect writes, a cycle
MAX_RECONNECT_PAUSE_S = RECOVERY_BOUND_S - CONNECT_TO_RUNNING_S


@case(
    "gone_long",
    f"device gone {LONG_OUTAGE_S:g} s (power cycle), restarted",
    f"reconnect attempts <= {MAX_RECONNECT_PAUSE_S:g} s apart (so running <= {RECOVERY_BOUND_S:g} s "
    f"whenever it is back); running <= {RECOVERY_BOUND_S:g} s",
)
def device_gone_long(rig: DeviceRig, out: Outcome) -> None:
    """When a device comes back is chance: bound the worst case by the pauses between attempts.

    While the device is gone (connections refused) a watcher records each reconnect attempt; a
    pause longer than the bound fails at once (a device back just after an attempt would wait).
    """
    if (reason := ConnectWatcher.unavailable()) is not None:
        raise CannotRun(reason)
    daemon = rig.daemon
    start_manual(daemon, "sim", MANUAL_KW)
    t0 = time.monotonic()
    rig.sim.kill()
    watcher = ConnectWatcher(rig.sim.port)
    states: list[Any] = []
    try:
        out.time_to_safe_s = wait_safe(daemon, "sim", "comm_lost", SAFE_BOUND_S, t0, "SIGKILL")
        while (now := time.monotonic()) - t0 < LONG_OUTAGE_S:
            pause = now - max([t0, *watcher.attempts])
            if pause > MAX_RECONNECT_PAUSE_S:
                break
            states.extend(sample(lambda: daemon.state("sim"), POLL_S, POLL_S))
    finally:
        watcher.close()
    left = [s for s in states if not (isinstance(s, dict) and is_safe("comm_lost")(s))]
    check(not left, f"device gone: left the safe state during the outage: {left[:1]}")
    points = [t0, *watcher.attempts, time.monotonic()]
    pause = max(b - a for a, b in itertools.pairwise(points))
    attempts = [round(t - t0, 1) for t in watcher.attempts]
    out.notes.append(f"reconnect attempts at {attempts} s after the kill")
    rig.sim.start()
    t1 = time.monotonic()
    with contextlib.suppress(AssertionError):  # checked after the deterministic bound below
        out.recovery_s = wait_running(daemon, "sim", "comm_lost", RECOVERY_BOUND_S, t1, "device back")
    check(
        pause <= MAX_RECONNECT_PAUSE_S,
        f"no reconnect attempt for over {MAX_RECONNECT_PAUSE_S:g} s while the device was gone (attempts "
        f"at {attempts} s after the kill, watched for {points[-1] - t0:.1f} s): a device back just "
        f"after an attempt stays unused for longer than {RECOVERY_BOUND_S:g} s",
    )
    check(out.recovery_s is not None, f"device back: not running within {RECOVERY_BOUND_S:g} s")


@case(
    "read_exception",
    "Modbus exception on every read",
    f"safe <= {SAFE_BOUND_S:g} s; running <= {RECOVERY_BOUND_S:g} s",
)
def read_exceptions(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    start_manual(daemon, "gen", MANUAL_KW, rig.gen)
    fault_start, t0 = time.time(), time.monotonic()
    rig.gen.set(read_exception=4)  # SLAVE_DEVICE_FAILURE
    out.time_to_safe_s = wait_safe(daemon, "gen", "comm_lost", SAFE_BOUND_S, t0, "read exceptions")
    hold_safe(daemon, "gen", "comm_lost", 1.0, "read exceptions")
    t1 = time.monotonic()
    rig.gen.clear()
    out.recovery_s = wait_running(daemon, "gen", "comm_lost", RECOVERY_BOUND_S, t1, "reads answered")
    times = daemon.history_times("gen", fault_start - 1.0, time.time())
    out.rows_lost = rows_lost(times, fault_start, time.time())


@case(
    "write_refused",
    "setpoint writes refused (exception)",
    f"safe+write_failed <= {WRITE_FAIL_BOUND_S:g} s; never running for 3 s; "
    f"running <= {RECOVERY_BOUND_S:g} s",
)
def refused_writes(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    start_manual(daemon, "gen", MANUAL_KW, rig.gen)
    rig.gen.set(write_exception=4)
    t0 = time.monotonic()
    daemon.manual("gen", -20.0)  # a new command: the device refuses to take it
    out.time_to_safe_s = wait_safe(daemon, "gen", "write_failed", WRITE_FAIL_BOUND_S, t0, "refused write")
    statuses = sample(lambda: daemon.state("gen")["status"], 3.0, 0.1)
    flaps = statuses.count("running")
    check(
        flaps == 0,
        f"refused writes: status flapped back to running {flaps} times in 3 s (of {len(statuses)} "
        f"samples: {statuses})",
    )
    t1 = time.monotonic()
    rig.gen.clear()
    out.recovery_s = wait_until(
        lambda: (daemon.state("gen"), rig.gen.status()),
        lambda p: is_running_without("write_failed")(p[0]) and abs(p[1]["setpoint_kw"] + 20.0) < 0.01,
        RECOVERY_BOUND_S,
        "writes accepted again: running, write_failed cleared, the battery got -20 kW",
        since=t1,
    )


@case(
    "soc_sentinel",
    "SoC 0xFFFF (Huawei not-available)",
    f"safe+soc_unavailable, battery 0 kW <= {SOC_BOUND_S:g} s; running <= {RECOVERY_BOUND_S:g} s",
)
def soc_sentinel(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    start_manual(daemon, "hua", MANUAL_KW, rig.hua)
    t0 = time.monotonic()
    rig.hua.set(registers={HUAWEI_SOC_REGISTER: 0xFFFF})
    out.time_to_safe_s = wait_safe(daemon, "hua", "soc_unavailable", SOC_BOUND_S, t0, "SoC sentinel")
    wait_until(
        rig.hua.status,
        lambda st: st["setpoint_kw"] == 0 and abs(st["p_bess_kw"]) < 0.01,
        SOC_BOUND_S + CYCLE_S,
        "SoC sentinel: the battery itself at 0 kW",
        since=t0,
    )
    t1 = time.monotonic()
    rig.hua.clear()
    out.recovery_s = wait_running(daemon, "hua", "soc_unavailable", RECOVERY_BOUND_S, t1, "SoC back")


IMPLAUSIBLE = {
    "pv_10x_peak": ("p_pv_kw", 1200.0),  # 10 x the 120 kWp array
    "pv_negative": ("p_pv_kw", -500.0),
    "load_3000kw": ("p_load_kw", 3000.0),
    "grid_beyond_connection": ("p_grid_kw", 1500.0),  # 10 x the 150 kW connection
}


def _implausible(key: str, field: str, value: float) -> Case:
    @case(
        f"implausible_{key}",
        f"implausible {field} = {value:g}",
        f"safe+implausible_reading <= {SAFE_BOUND_S:g} s, never > |{MANUAL_KW:g}| kW; "
        f"running <= {RECOVERY_BOUND_S:g} s",
    )
    def implausible(rig: DeviceRig, out: Outcome) -> None:
        daemon = rig.daemon
        start_manual(daemon, "gen", MANUAL_KW, rig.gen)
        seen: list[tuple[float, float]] = []  # (setpoint the API shows, setpoint the battery has)

        def probe() -> tuple[dict[str, Any], dict[str, Any]]:
            state, battery = daemon.state("gen"), rig.gen.status()
            seen.append((state["setpoint"], battery["setpoint_kw"]))
            return state, battery

        t0 = time.monotonic()
        rig.gen.set(measurements={field: value})
        out.time_to_safe_s = wait_until(
            probe,
            lambda p: is_safe("implausible_reading")(p[0]) and p[1]["setpoint_kw"] == 0,
            SAFE_BOUND_S,
            f"{field} = {value:g}: safe, 0 kW at the battery, implausible_reading",
            since=t0,
        )
        held = sample(probe, 1.0)
        bad = [p for p in held if not (isinstance(p, tuple) and is_safe("implausible_reading")(p[0]))]
        check(not bad, f"{field} = {value:g}: left the safe state: {bad[:1]}")
        worst = max(max(abs(a), abs(b)) for a, b in seen)
        check(
            worst <= abs(MANUAL_KW) + 0.01,
            f"{field} = {value:g}: the manual {MANUAL_KW:g} kW was overridden to {worst:g} kW on garbage",
        )
        t1 = time.monotonic()
        rig.gen.clear()
        out.recovery_s = wait_running(
            daemon, "gen", "implausible_reading", RECOVERY_BOUND_S, t1, f"{field} sane again"
        )

    return implausible


IMPLAUSIBLE_CASES = {key: _implausible(key, field, value) for key, (field, value) in IMPLAUSIBLE.items()}


@case(
    "reload_hang",
    "reload (name change) while the device hangs",
    "answer 200 reloaded, GET site never 404, runs after SIGCONT <= 10 s, 2nd reload unchanged",
)
def reload_while_hanging(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    new_name = f"Sim renamed {time.time():.0f}"
    daemon.sites["sim"]["name"] = new_name
    daemon.write_config()
    freeze_in_cycle(daemon, "sim", rig.sim)  # the site's read now hangs on the frozen device

    answers: list[tuple[float, int]] = []  # (time.monotonic(), HTTP status) of GET /sites/sim
    done = threading.Event()

    def poll_site() -> None:
        while not done.is_set():
            try:
                answers.append((time.monotonic(), daemon.request("GET", "/sites/sim", timeout=5.0)[0]))
            except OSError:
                answers.append((time.monotonic(), -1))
            time.sleep(0.01)  # a site missing for even a few ms is a 404 some client will see

    poller = threading.Thread(target=poll_site, daemon=True)
    poller.start()
    started = time.monotonic()
    try:
        status, answer = daemon.reload(timeout=30.0)
    finally:
        reload_s = time.monotonic() - started
        done.set()
        poller.join(10)
    out.notes.append(f"reload answered in {1000 * reload_s:.0f} ms")
    check(status != 500, f"reload while the device hangs answered 500: {answer}")
    check(
        status == 200 and isinstance(answer, dict) and answer.get("reloaded") is True,
        f"reload: HTTP {status} {answer}",
    )
    check("sim" in answer.get("reloaded_sites", []), f"reload does not say the site was reloaded: {answer}")
    missing = [t for t, code in answers if code == 404]
    window_ms = 1000 * (max(missing) - min(missing)) if missing else 0.0
    check(
        not missing,
        f"GET /sites/sim answered 404 during the reload for {window_ms:.0f} ms ({len(missing)} of "
        f"{len(answers)} requests): the site disappears while its old controller stops",
    )
    codes = sorted({code for _, code in answers})
    check(codes == [200], f"GET /sites/sim during the reload answered {codes}")
    status, site = daemon.request("GET", "/sites/sim")
    check(status == 200, f"GET /sites/sim after the reload: HTTP {status} {site}")
    check(site["name"] == new_name, f"the new name is not shown: {site['name']!r}")

    t1 = time.monotonic()
    rig.sim.thaw()
    out.recovery_s = wait_until(
        lambda: daemon.state("sim"), lambda s: s["status"] == "running", 10.0, "SIGCONT: running", since=t1
    )
    status, again = daemon.reload()
    check(
        status == 200 and "sim" in again.get("unchanged", []) and not again.get("reloaded_sites"),
        f"a second reload without changes must say unchanged: HTTP {status} {again}",
    )


@case(
    "reload_controls",
    "reload (name only) with manual setpoint + limits",
    "controls kept and listed in kept_controls, or listed in reset_controls",
)
def reload_keeps_controls(rig: DeviceRig, out: Outcome) -> None:
    daemon = rig.daemon
    start_manual(daemon, "gen", MANUAL_KW, rig.gen)
    daemon.limits("gen", power_discharge_max_kw=50, soc_reserve_pct=20)
    before = daemon.get("/sites/gen")
    daemon.sites["gen"]["name"] = f"Generic renamed {time.time():.0f}"
    daemon.write_config()
    status, answer = daemon.reload()
    check(status == 200 and isinstance(answer, dict) and answer.get("reloaded") is True, f"reload: {answer}")
    check("gen" in answer.get("reloaded_sites", []), f"the renamed site is not reported reloaded: {answer}")
    out.recovery_s = wait_until(
        lambda: daemon.get("/sites/gen"),
        lambda s: s["status"] == "running" and "control" in s,
        10.0,
        "renamed site running again",
    )
    after_site = daemon.get("/sites/gen")
    control_keys = ("mode", "strategy", "setpoint_kw")
    kept = {k: after_site["control"][k] for k in control_keys} == {
        k: before["control"][k] for k in control_keys
    } and after_site["limits"] == before["limits"]
    reset = answer.get("reset_controls") or {}
    if kept:
        check(
            "gen" in (answer.get("kept_controls") or []) and "gen" not in reset,
            f"controls were kept but the answer does not say so (kept_controls): {answer}",
        )
        wait_until(
            rig.gen.status,
            lambda st: abs(st["setpoint_kw"] - MANUAL_KW) < 0.01,
            RECOVERY_BOUND_S,
            "kept manual setpoint reaches the battery after the reload",
        )
        out.notes.append("controls kept")
    else:
        check(
            "gen" in reset,
            "a name-only reload reset the manual setpoint/limits without saying so (no 'gen' in "
            f"reset_controls): answer {answer}; before control={before['control']} "
            f"limits={before['limits']}; after control={after_site['control']} limits={after_site['limits']}",
        )
        out.notes.append("controls reset and reported")
