"""The command line as someone new to it meets it: help that says what and which default, one-line
errors instead of tracebacks, busy ports named, and a demo whose data and users are reachable with
the documented commands (issue 15)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).parents[1]
CLI = [sys.executable, "-m", "phoenyra_ems.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}  # help on one line per option
PROFILES = "generic, huawei_luna2000, sungrow_sh, sunspec, victron_gx"


def cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


@contextmanager
def taken(port: int) -> Iterator[None]:
    """Something else listening on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


def demo_config(tmp_path: Path, api: int, wien: int, linz: int) -> Path:
    text = (ROOT / "examples" / "ems.yaml").read_text()
    text = text.replace("port: 8080", f"port: {api}").replace("port: 5020", f"port: {wien}")
    path = tmp_path / "ems.yaml"
    path.write_text(text.replace("port: 5021", f"port: {linz}"))
    return path


# --- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_user_help_works_and_documents_config_and_db(flag: str) -> None:
    out = cli("user", flag)
    assert out.returncode == 0, out.stderr
    for text in ("-c CONFIG", "--db DB", "data/auth.db", "data/demo/auth.db", "token", "revoke"):
        assert text in out.stdout, text


def test_subcommand_help_has_descriptions_defaults_and_profiles() -> None:
    simulate = cli("simulate", "--help").stdout
    assert "Modbus TCP" in simulate and "(default: 5020)" in simulate and PROFILES in simulate
    run = cli("run", "--help").stdout
    assert "api.host" in run and "SIGHUP" in run
    assert "exit code 1" in cli("check-config", "--help").stdout
    demo = cli("demo", "--help").stdout
    assert "(default: examples/ems.yaml)" in demo and "(default: 60.0)" in demo and "data/demo" in demo


# --- one-line errors ----------------------------------------------------------------------------
def test_unknown_profile_is_one_line_with_the_profiles() -> None:
    out = cli("simulate", "--profile", "nope", "--port", str(free_port()))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stderr.strip().count("\n") == 0, out.stderr
    assert "nope" in out.stderr and PROFILES in out.stderr


def test_simulate_offers_every_sunspec_layout_and_names_a_wrong_one() -> None:
    assert "713+704" in cli("simulate", "--help").stdout
    out = cli("simulate", "--profile", "sunspec", "--sunspec-models", "nope", "--port", str(free_port()))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "nope" in out.stderr and "124-only" in out.stderr


def test_demo_config_errors_go_to_stderr(tmp_path: Path) -> None:
    out = cli("demo", "--headless", "-c", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == "" and "missing.yaml" in out.stderr


def test_run_with_the_api_port_taken_exits_at_once_naming_the_address(tmp_path: Path) -> None:
    api = free_port()
    config = demo_config(tmp_path, api, free_port(), free_port())
    with taken(api):
        started = time.monotonic()
        out = cli("run", "-c", str(config), cwd=tmp_path, timeout=30)
        elapsed = time.monotonic() - started
    assert out.returncode == 1 and elapsed < 15, (out.returncode, elapsed)
    assert "Traceback" not in out.stderr and f"127.0.0.1:{api}" in out.stderr and "in use" in out.stderr


def test_simulate_with_the_modbus_port_taken_names_it(tmp_path: Path) -> None:
    port = free_port()
    with taken(port):
        out = cli("simulate", "--port", str(port), timeout=30)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and f"127.0.0.1:{port}" in out.stderr and "in use" in out.stderr


# --- the demo -----------------------------------------------------------------------------------
def test_demo_picks_free_ports_when_the_configured_ones_are_taken(tmp_path: Path) -> None:
    api, wien, linz = free_port(), free_port(), free_port()
    config = demo_config(tmp_path, api, wien, linz)
    with taken(api), taken(wien):
        out = cli("demo", "--headless", "--duration", "2", "-c", str(config), cwd=tmp_path, timeout=90)
    assert out.returncode == 0, out.stderr
    assert f"127.0.0.1:{api} is in use" in out.stdout and f"127.0.0.1:{wien} is in use" in out.stdout
    assert "Wien" in out.stdout.split("---")[-1]  # status lines: the sites ran


def history_times(path: Path) -> set[float]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT ts FROM samples")}


def test_a_second_demo_run_starts_from_a_clean_history_and_revokes_the_old_token(tmp_path: Path) -> None:
    config = demo_config(tmp_path, free_port(), free_port(), free_port())
    history = tmp_path / "data" / "demo" / "ems_history_site_wien.db"
    outputs, first_run = [], set()
    for _ in range(2):
        out = cli("demo", "--headless", "--duration", "3", "-c", str(config), cwd=tmp_path, timeout=90)
        assert out.returncode == 0, out.stderr
        outputs.append(out.stdout)
        first_run = first_run or history_times(history)
    assert first_run, "the first run recorded samples"
    assert not first_run & history_times(history), "samples of the first run are mixed into the second"
    users = cli("user", "--db", "data/demo/auth.db", "list", cwd=tmp_path)  # as docs/README say
    assert users.returncode == 0, users.stderr
    admin = next(line.split() for line in users.stdout.splitlines() if line.startswith("admin"))
    assert admin[2] == "1", users.stdout  # the first run's token was revoked: one active token
    assert "data/demo" in outputs[1]  # where the demo keeps its data is printed at start
