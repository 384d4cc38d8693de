"""A real MQTT broker for tests: Debian's mosquitto on a free loopback port.

Use the ``mqtt_broker`` fixture (import it into the test module); ``broker.restart()`` kills the
broker and starts a fresh one on the same port (nothing retained survives: no persistence).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    for path in MOSQUITTO_CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("mosquitto")


class Broker:
    """One mosquitto process on ``host:port``; ``kill``/``start``/``restart`` keep the port."""

    host = "127.0.0.1"

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_packet_size 1048576\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:  # the port may linger briefly after a kill
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_accepting(deadline):
                return
            self.kill()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mosquitto did not start on port {self.port}: {self.log.read_text()[-500:]}"
                )
            time.sleep(0.1)

    def _wait_accepting(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (make broker)")
    broker = Broker(binary, tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
