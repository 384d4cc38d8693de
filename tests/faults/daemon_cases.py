"""Faults of the daemon's own world: signals, a full disk, the MQTT broker. Each case runs its own daemon."""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from pathlib import Path
from typing import Any

from tests.faults.cases import MANUAL_KW, CannotRun, SiteRig, case, freeze_in_cycle, start_manual
from tests.faults.harness import (
    CYCLE_S,
    MAX_GAP_S,
    RECOVERY_BOUND_S,
    SAFE_BOUND_S,
    Auth,
    ConnectWatcher,
    FaultDevice,
    Outcome,
    Simulator,
    TinyFs,
    alarm_codes,
    check,
    db_rows,
    log_tail,
    max_gap,
    rows_lost,
    summary,
    wait_until,
)

HISTORY_FLUSH_BOUND_S = 5.0  # rows lost on a crash: at most this (so a write is tried this often)
DISK_ALARM_BOUND_S = HISTORY_FLUSH_BOUND_S + 2 * CYCLE_S + 0.5  # the first write that fails
DISK_RETRY_S = 5.0  # a failing history file is retried this often (docs/safety.md)
DISK_CLEAR_BOUND_S = DISK_RETRY_S + HISTORY_FLUSH_BOUND_S  # space freed -> alarm cleared
SIGTERM_EXIT_BOUND_S = 10.0


@case(
    "sigterm_hang",
    "SIGTERM to the daemon while the device hangs",
    f"exit <= {SIGTERM_EXIT_BOUND_S:g} s; newest row <= {SAFE_BOUND_S:g} s before SIGTERM",
    kind="daemon",
)
def sigterm_while_hanging(workdir: Path, auth: Auth, out: Outcome) -> None:
    rig = SiteRig(workdir, auth, Simulator(workdir, "sim"), workdir / "history")
    try:
        rig.start()
        start_manual(rig.daemon, rig.SITE, MANUAL_KW)
        time.sleep(4 * CYCLE_S)  # a few rows to keep
        fault_start = time.time()
        freeze_in_cycle(rig.daemon, rig.SITE, rig.device)  # SIGTERM while a read hangs
        term_at, t1 = time.time(), time.monotonic()
        rig.daemon.signal(signal.SIGTERM)
        code = rig.daemon.wait_exit(SIGTERM_EXIT_BOUND_S)
        check(
            code is not None,
            f"the daemon still runs {SIGTERM_EXIT_BOUND_S:g} s after SIGTERM while its device hangs; "
            f"log: {log_tail(rig.daemon.log, 1500)}",
        )
        out.recovery_s = time.monotonic() - t1  # time to exit
        out.notes.append(f"exit status {code}")
        path = rig.daemon.history_db(rig.SITE)
        check(path.exists(), f"no history database at {path}")
        _, times = db_rows(path)
        check(times, "the history database has no rows at all")
        out.rows_lost = rows_lost(times, fault_start, term_at)
        lag = term_at - max(times)
        check(
            lag <= SAFE_BOUND_S,
            f"the newest row on disk is {lag:.1f} s older than the SIGTERM: rows were not flushed on exit",
        )
    finally:
        rig.device.thaw()
        if rig.daemon.alive:
            rig.daemon.signal(signal.SIGKILL)
        rig.close()


@case(
    "sigkill_writing",
    "SIGKILL to the daemon after 10 s of writing",
    f"integrity ok; newest row <= {HISTORY_FLUSH_BOUND_S:g} s before the kill",
    kind="daemon",
)
def sigkill_while_writing(workdir: Path, auth: Auth, out: Outcome) -> None:
    rig = SiteRig(workdir, auth, Simulator(workdir, "sim"), workdir / "history")
    try:
        rig.start()
        running_since = time.monotonic()
        while time.monotonic() - running_since < 10.5:  # the contract: at least 10 s of writing
            check(rig.daemon.alive, f"the daemon died on its own: {log_tail(rig.daemon.log)}")
            time.sleep(0.5)
        killed_at = time.time()
        rig.daemon.signal(signal.SIGKILL)
        rig.daemon.wait_exit(5.0)
        path = rig.daemon.history_db(rig.SITE)
        check(path.exists(), f"no history database at {path} after 10 s of running")
        integrity, times = db_rows(path)
        check(integrity == "ok", f"PRAGMA integrity_check after SIGKILL: {integrity}")
        check(times, "no history row on disk after 10 s of running (all were still buffered)")
        lag = killed_at - max(times)
        out.rows_lost = round(lag / CYCLE_S)
        check(
            lag <= HISTORY_FLUSH_BOUND_S,
            f"the newest row on disk is {lag:.1f} s older than the SIGKILL "
            f"(at most {HISTORY_FLUSH_BOUND_S:g} s may be lost)",
        )
    finally:
        rig.close()


def _tiny_fs(workdir: Path) -> TinyFs:
    fs = TinyFs(workdir / "tinyfs", size="4m")
    reason = fs.mount()
    if reason is not None:
        raise CannotRun(f"disk-full cases need a tmpfs: {reason}")
    return fs


@case(
    "disk_full_running",
    "disk full while running",
    f"history_unavailable <= {DISK_ALARM_BOUND_S:g} s, always running, setpoints followed, "
    f"no 500; cleared <= {DISK_CLEAR_BOUND_S:g} s, backlog written",
    kind="daemon",
)
def disk_full_while_running(workdir: Path, auth: Auth, out: Outcome) -> None:
    fs = _tiny_fs(workdir)
    device = FaultDevice(workdir, "dev")
    rig = SiteRig(workdir, auth, device, fs.path)
    try:
        rig.start()
        daemon, site = rig.daemon, rig.SITE
        start_manual(daemon, site, MANUAL_KW, device)
        time.sleep(4 * CYCLE_S)  # some rows on disk
        states: list[dict[str, Any]] = []

        def probe() -> dict[str, Any]:
            states.append(rig.state())
            return states[-1]

        full_at, t0 = time.time(), time.monotonic()
        fs.fill()
        check(fs.available() < 64 * 1024, f"could not fill the tmpfs: {fs.available()} bytes free")
        out.time_to_safe_s = wait_until(  # here: time to the alarm
            probe,
            lambda s: "history_unavailable" in alarm_codes(s),
            DISK_ALARM_BOUND_S,
            "disk full: alarm history_unavailable",
            since=t0,
        )
        daemon.manual(site, -40.0)
        wait_until(
            lambda: (probe(), device.status()),
            lambda p: p[0]["status"] == "running" and abs(p[1]["setpoint_kw"] + 40.0) < 0.01,
            RECOVERY_BOUND_S,
            "disk full: a new manual setpoint still reaches the battery",
        )
        status, body = daemon.history(site, full_at - 60.0, time.time())
        check(status != 500, f"GET history on a full disk answered 500: {body}")
        check(isinstance(body, dict), f"GET history on a full disk: not JSON: {body!r}")
        not_running = [s for s in states if s["status"] != "running"]
        check(not not_running, f"disk full stopped control: {summary(not_running[:1])}")

        freed_at, t1 = time.time(), time.monotonic()
        fs.free()
        out.recovery_s = wait_until(
            probe,
            lambda s: "history_unavailable" not in alarm_codes(s) and s["status"] == "running",
            DISK_CLEAR_BOUND_S,
            "space freed: history_unavailable cleared",
            since=t1,
        )
        not_running = [s for s in states if s["status"] != "running"]
        check(not not_running, f"disk full stopped control: {summary(not_running[:1])}")
        times = daemon.history_times(site, full_at - 1.0, time.time())
        out.rows_lost = rows_lost(times, full_at, freed_at)
        gap = max_gap(times, full_at, freed_at)
        check(
            gap <= MAX_GAP_S,
            f"the backlog of the full-disk period was not written: gap of {gap:.1f} s, "
            f"{out.rows_lost} of {round((freed_at - full_at) / CYCLE_S)} cycles missing",
        )
    finally:
        rig.close()
        fs.unmount()


@case(
    "disk_full_start",
    "disk full at start",
    "site running with history_unavailable (not failed); 0 kW reaches the battery on stop",
    kind="daemon",
)
def disk_full_at_start(workdir: Path, auth: Auth, out: Outcome) -> None:
    fs = _tiny_fs(workdir)
    device = FaultDevice(workdir, "dev")
    rig = SiteRig(workdir, auth, device, fs.path)
    try:
        fs.fill()
        check(fs.available() < 64 * 1024, f"could not fill the tmpfs: {fs.available()} bytes free")
        t0 = time.monotonic()
        rig.start(running=False)
        out.recovery_s = wait_until(  # here: time from start to running
            rig.state,
            lambda s: s["status"] == "running" and "history_unavailable" in alarm_codes(s),
            20.0,
            "disk full at start: site running with history_unavailable",
            since=t0,
        )
        start_manual(rig.daemon, rig.SITE, MANUAL_KW, device)
        t1 = time.monotonic()
        rig.daemon.signal(signal.SIGTERM)
        code = rig.daemon.wait_exit(SIGTERM_EXIT_BOUND_S)
        check(code is not None, f"the daemon did not exit within {SIGTERM_EXIT_BOUND_S:g} s of SIGTERM")
        out.notes.append(f"exit status {code} after {time.monotonic() - t1:.1f} s")
        battery = device.status()
        check(
            battery["setpoint_kw"] == 0,
            f"stopping with a full disk left the battery at {battery['setpoint_kw']:g} kW (0 kW expected)",
        )
    finally:
        rig.close()
        fs.unmount()


class TelemetrySubscriber:
    """paho-mqtt on a background thread; reconnects by itself (every 0.1-0.5 s)."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.received: list[float] = []  # time.monotonic() of every message
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"faults-{time.time_ns()}")
        # fractions of a second work (paho sleeps on them); its annotations say int
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self.client.on_connect = lambda client, *_: client.subscribe(topic)
        self.client.on_message = lambda *_: self.received.append(time.monotonic())
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def after(self, since: float) -> int:
        return sum(1 for t in self.received if t >= since)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


BROKER_LONG_OUTAGE_S = 12.0
MAX_MQTT_PAUSE_S = RECOVERY_BOUND_S - 1.0  # after a connect: the next telemetry within a cycle or two


@case(
    "broker_restart",
    "MQTT broker killed 2 s and restarted",
    f"running throughout; telemetry back <= {RECOVERY_BOUND_S:g} s after the broker",
    kind="daemon",
)
def broker_restart(workdir: Path, auth: Auth, out: Outcome) -> None:
    _broker_outage(workdir, auth, out, outage_s=2.0, watch_attempts=False)


@case(
    "broker_long",
    f"MQTT broker gone {BROKER_LONG_OUTAGE_S:g} s, restarted",
    f"running throughout; reconnect attempts <= {MAX_MQTT_PAUSE_S:g} s apart (so telemetry back <= "
    f"{RECOVERY_BOUND_S:g} s whenever it is back); telemetry back <= {RECOVERY_BOUND_S:g} s",
    kind="daemon",
)
def broker_long_outage(workdir: Path, auth: Auth, out: Outcome) -> None:
    _broker_outage(workdir, auth, out, outage_s=BROKER_LONG_OUTAGE_S, watch_attempts=True)


def _broker_outage(workdir: Path, auth: Auth, out: Outcome, outage_s: float, watch_attempts: bool) -> None:
    """Kill the site's broker for ``outage_s``; with ``watch_attempts`` the daemon's reconnect
    attempts are recorded (a pause over the bound fails at once, as for Modbus)."""
    from tests.mqtt_broker import Broker, mosquitto_binary

    if watch_attempts and (reason := ConnectWatcher.unavailable()) is not None:
        raise CannotRun(reason)
    binary = mosquitto_binary()
    if binary is None:
        raise CannotRun("mosquitto is not installed (make broker)")
    (workdir / "broker").mkdir(exist_ok=True)
    broker = Broker(binary, workdir / "broker")
    broker.start()
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": broker.port, "telemetry_interval_s": 0.5,
            "commands": False}  # fmt: skip
    rig = SiteRig(workdir, auth, Simulator(workdir, "sim"), workdir / "history", mqtt=mqtt)
    topic = f"phoenyra/site{rig.SITE}/telemetry"
    subscribers: list[TelemetrySubscriber] = []
    try:
        rig.start()
        subscribers.append(TelemetrySubscriber(broker.port, topic))
        first = subscribers[0]
        wait_until(lambda: first.after(0.0), lambda n: n > 0, 10.0, "telemetry on the broker")
        first.stop()  # our own reconnects must not show up as the daemon's
        states: list[dict[str, Any]] = []

        def probe() -> dict[str, Any]:
            states.append(rig.state())
            return states[-1]

        t0 = time.monotonic()
        broker.kill()
        watcher = ConnectWatcher(broker.port) if watch_attempts else None
        try:
            while (now := time.monotonic()) - t0 < outage_s:
                with contextlib.suppress(Exception):
                    probe()
                attempts = watcher.attempts if watcher else []
                if watcher and now - max([t0, *attempts]) > MAX_MQTT_PAUSE_S:
                    break
                time.sleep(0.1)
        finally:
            if watcher is not None:
                watcher.close()
        pause = 0.0
        if watcher is not None:
            points = [t0, *watcher.attempts, time.monotonic()]
            pause = max(b - a for a, b in itertools.pairwise(points))
            out.notes.append(f"MQTT reconnect attempts at {[round(t - t0, 1) for t in watcher.attempts]} s")
        broker.start()
        t1 = time.monotonic()
        subscribers.append(TelemetrySubscriber(broker.port, topic))
        sub = subscribers[-1]
        with contextlib.suppress(AssertionError):  # checked after the deterministic bound below
            out.recovery_s = wait_until(
                lambda: (probe(), sub.after(t1)),
                lambda p: p[1] > 0,
                RECOVERY_BOUND_S,
                "telemetry on the restarted broker",
                since=t1,
            )
        not_running = [s for s in states if s["status"] != "running"]
        check(not not_running, f"control stopped while the broker was away: {summary(not_running[:1])}")
        readings = {s["last_reading"] for s in states}
        check(len(readings) > 3, f"the site stopped reading its device while the broker was away: {readings}")
        check(
            pause <= MAX_MQTT_PAUSE_S,
            f"no MQTT reconnect attempt for over {MAX_MQTT_PAUSE_S:g} s while the broker was gone "
            f"({'; '.join(out.notes)}): a broker back just after an attempt gets no telemetry for "
            f"longer than {RECOVERY_BOUND_S:g} s",
        )
        check(
            out.recovery_s is not None,
            f"telemetry not back on the restarted broker within {RECOVERY_BOUND_S:g} s",
        )
    finally:
        for subscriber in subscribers:
            subscriber.stop()
        rig.close()
        broker.kill()
