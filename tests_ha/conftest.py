"""Fixtures: a real Phoenyra EMS daemon (a subprocess of the main venv) and config entries for it.

The daemon needs pymodbus, aiosqlite …, which are not in Home Assistant's test venv, so it runs as
``<main venv>/bin/python tests_ha/daemon_process.py STATE_DIR`` (``PHOENYRA_MAIN_PYTHON`` overrides
the interpreter; default ``.venv/bin/python`` of the repository).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.phoenyra import const
from custom_components.phoenyra.const import CONF_TLS, CONF_VERIFY_SSL, DOMAIN
from tests_ha.daemon_process import SITES, write_config

REPO = Path(__file__).resolve().parents[1]
MAIN_PYTHON = os.environ.get("PHOENYRA_MAIN_PYTHON", str(REPO / ".venv" / "bin" / "python"))
SCRIPT = REPO / "tests_ha" / "daemon_process.py"


class DaemonProcess:
    """``daemon_process.py`` in a subprocess; ``stop()`` and ``start()`` again keep port, id, users."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.instance_id = ""
        self.tokens: dict[str, str] = {}
        self.config_path = state_dir / "ems.yaml"

    def start(self) -> None:
        log = open(self.state_dir / "daemon.log", "a")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [MAIN_PYTHON, str(SCRIPT), str(self.state_dir)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise RuntimeError(
                f"daemon_process.py did not start: {(self.state_dir / 'daemon.log').read_text()[-3000:]}"
            )
        info = json.loads(line)
        self.port = info["port"]
        self.instance_id = info["instance_id"]
        self.tokens = info["tokens"]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def set_sites(self, site_ids: list[str]) -> None:
        """Rewrite the daemon's configuration file (then call its reload)."""
        ports = json.loads((self.state_dir / "ports.json").read_text())
        write_config(self.state_dir, ports, site_ids)

    @property
    def admin_token(self) -> str:
        return self.tokens["admin"]

    def entry_data(self, token: str | None = None) -> dict[str, Any]:
        return {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: self.port,
            CONF_TOKEN: token or self.admin_token,
            CONF_TLS: False,
            CONF_VERIFY_SSL: True,
        }


def _start_daemon() -> Generator[DaemonProcess, None, None]:
    with tempfile.TemporaryDirectory(prefix="phoenyra-ha-") as tmp:
        daemon = DaemonProcess(Path(tmp))
        daemon.start()
        try:
            yield daemon
        finally:
            daemon.stop()


@pytest.fixture(scope="session")
def shared_daemon() -> Generator[DaemonProcess, None, None]:
    """One daemon for the tests that leave it as they found it."""
    yield from _start_daemon()


@pytest.fixture
def own_daemon() -> Generator[DaemonProcess, None, None]:
    """A daemon of this test alone (it is stopped, restarted or reconfigured)."""
    yield from _start_daemon()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/phoenyra."""


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """The harness blocks sockets; the daemon is on loopback."""


@pytest.fixture(autouse=True)
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(const, "RECONNECT_MIN_S", 0.2)
    monkeypatch.setattr(const, "RECONNECT_MAX_S", 0.5)


async def setup_entry(
    hass: HomeAssistant,
    daemon: DaemonProcess,
    token: str | None = None,
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Phoenyra EMS (127.0.0.1)",
        unique_id=daemon.instance_id,
        data=daemon.entry_data(token),
        options=options or {},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> float:
    """Poll ``predicate`` on the event loop; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def entity_id(hass: HomeAssistant, daemon: DaemonProcess, site_id: str, key: str, platform: str) -> str:
    from homeassistant.helpers import entity_registry as er

    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{daemon.instance_id}_{site_id}_{key}")
    assert found is not None, f"no {platform} entity for {site_id}/{key}"
    return found


ALL_SITES = list(SITES)
