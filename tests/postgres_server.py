"""A real PostgreSQL server for tests: ``initdb`` in a temporary folder, ``postgres`` on a free
loopback port with its socket in that folder; stopped and removed at the end of the session.

Use the ``postgres_server`` fixture (session scope: one server per xdist worker). Without any
PostgreSQL binary on the machine the tests that need it are skipped, naming the reason; when the
binaries are there but the server does not start, they FAIL with its log (``make postgres``
installs Debian's server). PostgreSQL refuses to run as root: as root, the server runs as the
``postgres`` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

SUPERUSER = "postgres"


def binaries() -> Path | None:
    """The folder with ``initdb`` and ``postgres``: on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and Path(found).with_name("postgres").exists():
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0])
    )
    return Path(versions[-1]).parent if versions else None


class PostgresServer:
    """One throwaway cluster: the superuser ``postgres`` without a password, every other role with
    its password (SCRAM), on loopback; fsync off unless ``durable``."""

    host = "127.0.0.1"

    def __init__(self, bindir: Path, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        # as root the server runs as 'postgres', which must reach the folder: /tmp, not a private TMPDIR
        shared = "/tmp" if os.geteuid() == 0 and Path("/tmp").is_dir() else None
        self.folder = Path(tempfile.mkdtemp(prefix="phoenyra-pg-", dir=shared))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as "
                    "(make postgres installs Debian's package, which creates it)"
                ) from None
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, check=False, **self.run_as)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-800:]}")

    def start(self, timeout_s: float = 60.0) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER,
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        (self.data / "pg_hba.conf").write_text(  # the superuser trusted; other roles need their password
            "local all all trust\n"
            f"host all {SUPERUSER} {self.host}/32 trust\n"
            f"host all all {self.host}/32 scram-sha-256\n"
        )
        settings = [] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off"]
        deadline = time.monotonic() + timeout_s
        for _attempt in range(5):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [
                        str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                        "-k", str(self.folder), "-c", f"listen_addresses={self.host}", *settings,
                    ],
                    stdout=log, stderr=subprocess.STDOUT, **self.run_as,
                )  # fmt: skip
            if self._wait_ready(deadline):
                return
            self.stop()
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"PostgreSQL did not start: {self.log.read_text()[-1500:]}")

    def _wait_ready(self, deadline: float) -> bool:
        import psycopg

        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def dsn(self, database: str, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def admin(self, database: str = "postgres") -> Any:
        """A superuser connection (autocommit)."""
        import psycopg

        return psycopg.connect(self.dsn(database), autocommit=True)

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``: nobody may be connected to it)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def running_server(durable: bool = False) -> Iterator[PostgresServer]:
    """A started server (RuntimeError if it cannot start; LookupError if PostgreSQL is absent)."""
    bindir = binaries()
    if bindir is None:
        raise LookupError("PostgreSQL is not installed (make postgres: apt-get install postgresql)")
    server = PostgresServer(bindir, durable)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if binaries() is None:
        pytest.skip(
            "PostgreSQL is not installed: no initdb on PATH or in /usr/lib/postgresql (make postgres)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg 3 is not installed: pip install -e '.[postgres]' (make install does)")
    try:
        with running_server() as server:
            yield server
    except (RuntimeError, OSError) as err:
        pytest.fail(f"the PostgreSQL test server cannot start: {err}")
