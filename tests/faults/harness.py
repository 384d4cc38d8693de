"""Real processes for fault injection: simulators, fault devices, the daemon, and a tiny API client.

Everything here is synchronous and talks to processes only through their public surfaces
(Modbus TCP, the REST API, files, signals), so the same code drives the pytest suite
(``tests/faults``) and the benchmark (``bench/faults.py``).

Every process started here is registered and killed by ``kill_all()`` (called by the test
fixtures' teardown and at interpreter exit), also when a test fails half-way.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
FAULT_DEVICE_SCRIPT = Path(__file__).with_name("fault_device.py")

# --- the timing contract (docs/safety.md plus the fixes under test) ----------------------------
CYCLE_S = 0.5
MODBUS_TIMEOUT_S = 0.5
SLACK_S = 0.5  # process start-up, scheduling on a shared machine, our 50 ms polling, HTTP
SAFE_BOUND_S = 2 * CYCLE_S + MODBUS_TIMEOUT_S + SLACK_S  # device silent/refusing -> "safe"
WRITE_FAIL_BOUND_S = 2 * CYCLE_S + SLACK_S  # refused setpoint write -> "safe" + write_failed
SOC_MISSING_CYCLES = 3  # ems.soc_missing_cycles default
SOC_BOUND_S = SOC_MISSING_CYCLES * CYCLE_S + MODBUS_TIMEOUT_S + SLACK_S
RECOVERY_BOUND_S = 5.0  # device back -> "running"
MAX_GAP_S = 2 * CYCLE_S + 0.4  # history: no gap > 2 cycles (+ jitter; 3 cycles = 1.5 s fails)
POLL_S = 0.05

# The site every fault case runs: a Wien-like commercial battery.
BESS = {"energy_capacity_kwh": 200, "power_charge_max_kw": 100, "power_discharge_max_kw": 100}
PV_PEAK_KW = 120
GRID_MAX_KW = 150
DEVICE_ARGS = [
    "--capacity-kwh", "200", "--power-kw", "100", "--pv-peak-kw", str(PV_PEAK_KW),
    "--load", "commercial", "--annual-load-mwh", "280",
]  # fmt: skip

T = TypeVar("T")


def ems_command() -> list[str]:
    """``phoenyra-ems`` of the running interpreter's venv (the module when no script is there)."""
    script = Path(sys.executable).with_name("phoenyra-ems")
    return [str(script)] if script.exists() else [sys.executable, "-m", "phoenyra_ems.cli"]


def port_accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- waiting ---------------------------------------------------------------------------------
class Timeout(AssertionError):
    pass


def wait_until(
    probe: Callable[[], T],
    condition: Callable[[T], bool],
    timeout: float,
    what: str,
    since: float | None = None,
    interval: float = POLL_S,
) -> float:
    """Poll ``probe()`` every ``interval`` until ``condition`` holds; seconds since ``since`` (or now).

    ``timeout`` counts from ``since`` too. A probe that raises counts as "not yet" (the daemon may
    be restarting). On timeout: AssertionError naming ``what`` and the last observation.
    """
    start = time.monotonic() if since is None else since
    deadline = start + timeout
    last: object = None
    while True:
        try:
            last = probe()
            if condition(last):
                return time.monotonic() - start
        except (ApiError, OSError, ValueError, KeyError, TypeError) as err:
            last = f"{type(err).__name__}: {err}"
        if time.monotonic() >= deadline:
            raise Timeout(f"{what}: not within {timeout:.1f} s; last seen: {summary(last)}")
        time.sleep(interval)


def sample(probe: Callable[[], T], seconds: float, interval: float = 0.1) -> list[T]:
    """``probe()`` every ``interval`` for ``seconds`` (exceptions recorded as strings)."""
    values: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            values.append(probe())
        except (ApiError, OSError, ValueError, KeyError) as err:
            values.append(f"{type(err).__name__}: {err}")
        time.sleep(interval)
    return values


def summary(value: object) -> str:
    """A state as one readable line (the fields the fault cases are about)."""
    if isinstance(value, dict) and "status" in value and "setpoint" in value:
        return (
            f"status={value['status']} setpoint={value['setpoint']} p_bess={value.get('p_bess')} "
            f"alarms={sorted(alarm_codes(value))} reason={value.get('strategy_reason')!r}"
        )
    if isinstance(value, tuple):
        return " | ".join(summary(v) for v in value)
    if isinstance(value, dict) and "setpoint_kw" in value:  # a fault device's status
        return f"battery setpoint_kw={value['setpoint_kw']} p_bess_kw={value.get('p_bess_kw')}"
    text = repr(value)
    return text if len(text) < 400 else text[:400] + "…"


def alarm_codes(state: dict[str, Any]) -> set[str]:
    return {alarm["code"] for alarm in state.get("alarms") or []}


def is_safe(alarm: str) -> Callable[[dict[str, Any]], bool]:
    """status "safe", setpoint 0 kW and ``alarm`` active."""
    return lambda s: s["status"] == "safe" and s["setpoint"] == 0 and alarm in alarm_codes(s)


def is_running_without(*alarms: str) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s["status"] == "running" and not (alarm_codes(s) & set(alarms))


# --- processes -------------------------------------------------------------------------------
_PROCESSES: list[subprocess.Popen[bytes]] = []


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, preexec_fn=preexec)
    _PROCESSES.append(proc)
    return proc


def terminate(proc: subprocess.Popen[bytes] | None, grace_s: float = 5.0) -> None:
    """SIGCONT (a stopped process cannot act on SIGTERM), SIGTERM, then SIGKILL after ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def kill_all() -> None:
    """Kill every process this module started that is still alive (teardown, also on failure)."""
    for proc in _PROCESSES:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
    _PROCESSES.clear()


atexit.register(kill_all)


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class DeviceProcess:
    """A Modbus TCP device in its own process: SIGSTOP/SIGCONT/SIGKILL hit the real thing."""

    def __init__(self, workdir: Path, name: str, port: int | None = None) -> None:
        self.workdir = workdir
        self.name = name
        self.port = port or free_port()
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> float:
        """Start and wait until the port accepts connections; the seconds that took."""
        self.proc = spawn(self.args(), self.log)
        return wait_until(
            lambda: (self.proc.poll() if self.proc else None, port_accepting(self.port)),
            lambda r: r[0] is None and r[1],
            timeout,
            f"{self.name} listening on {self.port} (log: {log_tail(self.log, 500)})",
        )

    def freeze(self) -> None:
        """SIGSTOP: the TCP connection stays open, nothing answers (a hung device)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.alive:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the device is gone (the kernel closes its connections)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def ensure_running(self) -> None:
        self.thaw()
        if not self.alive:
            self.start()

    def stop(self) -> None:
        terminate(self.proc)


class Simulator(DeviceProcess):
    """``phoenyra-ems simulate``: the shipped battery simulator."""

    def __init__(self, workdir: Path, name: str, profile: str = "generic", port: int | None = None) -> None:
        super().__init__(workdir, name, port)
        self.profile = profile

    def args(self) -> list[str]:
        return [*ems_command(), "simulate", "--profile", self.profile, "--port", str(self.port), *DEVICE_ARGS]


class FaultDevice(DeviceProcess):
    """``tests/faults/fault_device.py``: the simulator with answers a test corrupts at runtime."""

    def __init__(self, workdir: Path, name: str, profile: str = "generic", port: int | None = None) -> None:
        super().__init__(workdir, name, port)
        self.profile = profile
        self.control_file = workdir / f"{name}.control.json"
        self.status_file = workdir / f"{name}.status.json"
        self.clear()

    def args(self) -> list[str]:
        return [
            sys.executable, str(FAULT_DEVICE_SCRIPT), "--profile", self.profile, "--port", str(self.port),
            "--control", str(self.control_file), "--status", str(self.status_file), *DEVICE_ARGS,
        ]  # fmt: skip

    def set(self, **control: Any) -> None:
        """Replace the faults: measurements={...}, registers={...}, read_exception=, write_exception=."""
        tmp = self.control_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(control))
        os.replace(tmp, self.control_file)

    def clear(self) -> None:
        self.set()

    def status(self) -> dict[str, Any]:
        """What the battery really does (setpoint_kw, p_bess_kw, counters), as of its last request."""
        data: dict[str, Any] = json.loads(self.status_file.read_text())
        return data


class ConnectWatcher:
    """Records every TCP connection attempt (SYN) to a loopback port, without answering any.

    A pure observer (a raw packet socket on ``lo``; needs CAP_NET_RAW, as root has): the device or
    broker really is gone and every attempt is refused, yet we see when the EMS tries. The longest
    pause between attempts is how long something that comes back at the worst moment waits.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.attempts: list[float] = []  # time.monotonic() of each SYN
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))  # IPv4
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.05)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"connect watcher {port}", daemon=True)
        self._thread.start()

    @staticmethod
    def unavailable() -> str | None:
        """Why attempts cannot be watched here, or None."""
        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800)).close()
        except (OSError, AttributeError) as err:
            return f"watching connection attempts needs a raw socket (CAP_NET_RAW): {err}"
        return None

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                frame, address = self._sock.recvfrom(65535)
            except OSError:
                continue
            if address[2] == socket.PACKET_OUTGOING:  # loopback shows each packet twice
                continue
            ip = frame[14:]  # lo frames carry an (all-zero) Ethernet header
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:  # IPv4, TCP
                continue
            tcp = ip[(ip[0] & 0x0F) * 4 :]
            syn, ack = tcp[13] & 0x02, tcp[13] & 0x10
            if int.from_bytes(tcp[2:4], "big") == self.port and syn and not ack:
                self.attempts.append(time.monotonic())

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self._sock.close()


# --- the daemon and its API ------------------------------------------------------------------
def create_admin_token(auth_db: Path) -> str:
    """An admin user and API token, made the way an operator does (``phoenyra-ems user``)."""
    user = [*ems_command(), "user", "--db", str(auth_db)]
    subprocess.run([*user, "add", "admin", "--role", "admin"], check=True, capture_output=True, cwd=REPO)
    out = subprocess.run([*user, "token", "admin"], check=True, capture_output=True, text=True, cwd=REPO)
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Auth:
    db: Path
    token: str

    @classmethod
    def create(cls, workdir: Path) -> Auth:
        db = workdir / "auth.db"
        return cls(db, create_admin_token(db))


def site_config(name: str, device: DeviceProcess, history_dir: Path, **sections: Any) -> dict[str, Any]:
    """One site in the YAML's shape: 200 kWh / 100 kW, 120 kWp, 150 kW connection, cycle 0.5 s."""
    profile = getattr(device, "profile", "generic")
    site: dict[str, Any] = {
        "name": name,
        "bess": dict(BESS),
        "modbus": {"host": "127.0.0.1", "port": device.port, "profile": profile,
                   "timeout_s": MODBUS_TIMEOUT_S, "retries": 0},
        "forecast": {"pv_peak_power_kw": PV_PEAK_KW},
        "grid_connection": {"max_power_kw": GRID_MAX_KW},
        "ems": {"cycle_s": CYCLE_S, "history_dir": str(history_dir), "price_source": "none",
                "strategies": ["self_consumption", "peak_shaving"]},
    }  # fmt: skip
    for key, value in sections.items():
        site[key] = {**site.get(key, {}), **value}
    return site


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Daemon:
    """``phoenyra-ems run -c <workdir>/ems.yaml`` with its API on a free loopback port."""

    def __init__(self, workdir: Path, auth: Auth, sites: dict[str, dict[str, Any]]) -> None:
        self.workdir = workdir
        self.auth = auth
        self.port = free_port()
        self.config_path = workdir / "ems.yaml"
        self.log = workdir / "daemon.log"
        self.config: dict[str, Any] = {
            "sites": {"sites": copy.deepcopy(sites)},
            "api": {"host": "127.0.0.1", "port": self.port, "auth_db": str(auth.db)},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_config()

    @property
    def sites(self) -> dict[str, dict[str, Any]]:
        sites: dict[str, dict[str, Any]] = self.config["sites"]["sites"]
        return sites

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def history_db(self, site_id: str) -> Path:
        return Path(self.sites[site_id]["ems"]["history_dir"]) / f"ems_history_site_{site_id}.db"

    # lifecycle
    def start(self, timeout: float = 30.0, running: bool = True) -> None:
        """Start; wait for the API, and (``running``) for every site to be "running"."""
        self.proc = spawn([*ems_command(), "run", "-c", str(self.config_path)], self.log)
        wait_until(
            self._health, bool, timeout, f"daemon API up (log: {log_tail(self.log, 1500)})", interval=0.1
        )
        if running:
            self.wait_all_running(timeout)

    def _health(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(
                f"daemon exited with {self.proc and self.proc.returncode}: {log_tail(self.log)}"
            )
        status, _ = self.request("GET", "/health", timeout=1.0)
        return status == 200

    def wait_all_running(self, timeout: float) -> None:
        wait_until(
            lambda: {s["id"]: s["status"] for s in self.get("/sites")["sites"]},
            lambda st: set(st) == set(self.sites) and all(v == "running" for v in st.values()),
            timeout,
            "every site running",
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float) -> int | None:
        """The exit status, or None if still running after ``timeout``."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        terminate(self.proc, grace_s=10.0)

    def restart(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.start()

    # HTTP
    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.auth.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        if status != 200:
            raise ApiError(status, body)
        return body

    def state(self, site_id: str) -> dict[str, Any]:
        state: dict[str, Any] = self.get(f"/sites/{site_id}/state")
        return state

    def control(self, site_id: str, **body: Any) -> dict[str, Any]:
        status, answer = self.request("POST", f"/sites/{site_id}/control", body)
        if status != 200:
            raise ApiError(status, answer)
        return dict(answer)

    def manual(self, site_id: str, kw: float, duration_s: int = 3600) -> None:
        self.control(site_id, mode="manual", setpoint_kw=kw, duration_s=duration_s)

    def limits(self, site_id: str, **body: Any) -> dict[str, Any]:
        status, answer = self.request("PUT", f"/sites/{site_id}/limits", body)
        if status != 200:
            raise ApiError(status, answer)
        return dict(answer)

    def reload(self, timeout: float = 30.0) -> tuple[int, Any]:
        return self.request("POST", "/reload", {}, timeout=timeout)

    def history(self, site_id: str, start: float, end: float) -> tuple[int, Any]:
        """GET the raw history between two UNIX times (every recorded cycle)."""
        query = f"from={iso_z(start)}&to={iso_z(end)}"
        return self.request("GET", f"/sites/{site_id}/history?{query}", timeout=10.0)

    def history_times(self, site_id: str, start: float, end: float) -> list[float]:
        status, body = self.history(site_id, start, end)
        if status != 200:
            raise ApiError(status, body)
        return [datetime.fromisoformat(s["timestamp"]).timestamp() for s in body["samples"]]


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def iso_z(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- history checks --------------------------------------------------------------------------
def max_gap(times: Iterable[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without a recorded cycle."""
    points = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(points))


def rows_lost(times: Iterable[float], start: float, end: float) -> int:
    """Cycles of [start, end] that have no row (expected one per cycle)."""
    got = sum(1 for t in times if start <= t <= end)
    return max(0, round((end - start) / CYCLE_S) - got)


def db_rows(path: Path) -> tuple[str, list[float]]:
    """``PRAGMA integrity_check`` and every row's time, read after the daemon is gone."""
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        times = [row[0] for row in db.execute("SELECT ts FROM samples ORDER BY ts")]
    return str(check), times


# --- a tiny filesystem for disk-full cases ---------------------------------------------------
class TinyFs:
    """A tmpfs of ``size`` mounted on ``path`` (needs root / CAP_SYS_ADMIN, as on CI)."""

    def __init__(self, path: Path, size: str = "4m") -> None:
        self.path = path
        self.size = size
        self.mounted = False
        self.filler = path / "filler.bin"

    def mount(self) -> str | None:
        """Mount; None on success, else why it cannot be done here."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            out = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.path)],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"cannot run mount: {err}"
        if out.returncode != 0:
            return f"mount -t tmpfs failed (uid {os.getuid()}): {out.stderr.strip()}"
        self.mounted = True
        return None

    def fill(self) -> int:
        """Write until ENOSPC (down to single 512-byte blocks); the bytes written."""
        written = 0
        with self.filler.open("ab", buffering=0) as out:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 512):
                block = b"\0" * chunk
                while True:
                    try:
                        written += out.write(block) or 0
                    except OSError:
                        break
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def available(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=10, check=False)
            self.mounted = False


# --- results shared by the tests and the benchmark -------------------------------------------
@dataclass
class Outcome:
    """What one fault case measured; the benchmark prints these, the tests assert the checks."""

    fault: str
    bound: str
    time_to_safe_s: float | None = None
    recovery_s: float | None = None
    rows_lost: int | None = None
    notes: list[str] = field(default_factory=list)


def check(condition: object, message: str) -> None:
    """An assertion that survives ``python -O`` (the benchmark runs the same checks)."""
    if not condition:
        raise AssertionError(message)
