"""The API listener under a flood of slow-header connections (slowloris): bounded connections,
a header deadline, and health still answering — in-process and in a daemon with 256 descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from phoenyra_ems.api.server import RESERVED_DESCRIPTORS, descriptor_headroom
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config import ConfigError, load_config_text
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config
from tests.daemon_fixtures import two_site_config
from tests.test_daemon_cli import write_config

CLI = [sys.executable, "-m", "phoenyra_ems.cli"]
PARTIAL = b"GET /api/v1/health HTTP/1.1\r\nHost: ems\r\nX-Slow: "  # headers never finished


def slow_clients(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each send part of a request's headers and then nothing."""
    clients = []
    for _ in range(count):
        try:
            client = socket.create_connection(("127.0.0.1", port), timeout=2)
        except TimeoutError:  # the server stopped accepting: its backlog is full
            break
        with contextlib.suppress(OSError):  # the server may have dropped it already
            client.sendall(PARTIAL)
        clients.append(client)
    return clients


def closed_by_server(client: socket.socket) -> bool:
    """True once the server closed the connection (EOF, RST, or a 408 and then EOF)."""
    client.setblocking(False)
    try:
        data = client.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 408")


async def health_s(url: str) -> float:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(f"{url}/health") as response,
    ):
        assert response.status == 200 and (await response.json()) == {"status": "ok"}
    return time.monotonic() - started


async def until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail if it was not seen to hold before ``deadline``."""
    while True:
        checked_at = time.monotonic()
        if condition():
            assert checked_at < deadline, f"{what} only after the deadline"
            return
        assert checked_at < deadline, what
        await asyncio.sleep(0.05)


HEADER_TIMEOUT_S = 2.0  # long enough that a loaded machine cannot blur "at the limit" and "at the deadline"


async def closed_at_the_limit_then_by_the_deadline(
    clients: list[socket.socket], limit: int, first_connect: float, connected: float, what: str
) -> None:
    """All but ``limit`` of the stalled ``clients`` are closed before any header deadline can have
    passed (at the connection limit), the rest by the header deadline (the 10 s default: too late)."""
    await until(
        lambda: sum(closed_by_server(c) for c in clients) >= len(clients) - limit,
        first_connect + HEADER_TIMEOUT_S,
        f"fewer than {len(clients) - limit} of {len(clients)} {what} ended at the limit",
    )
    await until(
        lambda: all(closed_by_server(c) for c in clients),
        connected + HEADER_TIMEOUT_S + 3.0,
        f"{what} outlived the header deadline",
    )


@pytest.fixture
async def guarded_daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    config = two_site_config(tmp_path)
    config = replace(config, api=replace(config.api, max_connections=32, header_timeout_s=HEADER_TIMEOUT_S))
    simulators = [BatterySimulator(simulator_config(s), SystemClock()) for s in config.sites.values()]
    for simulator in simulators:
        await simulator.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()
        for simulator in simulators:
            await simulator.stop()


@contextlib.contextmanager
def closing_all(clients: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


async def test_slow_header_flood_is_bounded_and_timed_out(guarded_daemon: Daemon) -> None:
    daemon, url = guarded_daemon, f"{guarded_daemon.url}/api/v1"
    token = await daemon.auth.ensure_admin_token()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/ws?token={token}") as ws,  # a busy connection: never replaced
    ):
        await ws.send_json({"type": "subscribe", "sites": ["wien"]})
        assert (await ws.receive_json(timeout=2))["type"] == "subscribed"
        first_connect = time.monotonic()
        with closing_all(await asyncio.to_thread(slow_clients, daemon.port or 0, 200)) as clients:
            connected = time.monotonic()
            # a new client is served at once, although 200 slow ones came first (limit 32): it
            # replaces a slow one (~0.01-0.1 s; waiting for a slot the deadline frees takes >= 2 s)
            took = await health_s(url)
            assert took < HEADER_TIMEOUT_S / 2, took
            await closed_at_the_limit_then_by_the_deadline(
                clients, 32, first_connect, connected, "slow connections"
            )
        # the WebSocket, busy serving its request the whole time, still receives state
        while (message := await ws.receive_json(timeout=2))["type"] != "state":
            pass
        assert message["site_id"] == "wien"


async def test_a_keep_alive_client_may_idle_up_to_the_header_deadline(guarded_daemon: Daemon) -> None:
    url = f"{guarded_daemon.url}/api/v1"
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(3):  # one connection, reused: requests in time keep it open
            async with session.get(f"{url}/health") as response:
                assert response.status == 200
            await asyncio.sleep(0.3)
    with closing_all(await asyncio.to_thread(slow_clients, guarded_daemon.port or 0, 1)) as [client]:
        await asyncio.sleep(0.5)
        assert not closed_by_server(client)  # within the deadline (2 s): kept
        client.setblocking(True)
        client.settimeout(HEADER_TIMEOUT_S + 3.0)  # then closed, with a 408 (not the 10 s default)
        answer = await asyncio.to_thread(client.recv, 4096)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


async def test_a_flood_does_not_starve_a_daemon_with_256_descriptors(tmp_path: Path) -> None:
    simulator = BatterySimulator(simulator_config(make_site(free_port())), SystemClock())
    await simulator.start()
    config, api_port = tmp_path / "ems.yaml", free_port()
    write_config(config, api_port, {"wien": simulator.config.port})
    with config.open("a") as handle:
        handle.write("  max_connections: 100\n  header_timeout_s: 5\n")
    daemon = subprocess.Popen(
        [*CLI, "run", "-c", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_descriptors,  # the daemon gets 256 descriptors, the test many more
    )
    url = f"http://127.0.0.1:{api_port}/api/v1"
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await health_s(url)
                break
            assert daemon.poll() is None and time.monotonic() < deadline, "daemon did not come up"
            await asyncio.sleep(0.2)
        with closing_all(await asyncio.to_thread(slow_clients, api_port, 600)):
            await asyncio.sleep(0.5)
            took = [await health_s(url) for _ in range(5)]
            # < 1 s measured on an idle machine; a health request that had to wait for a slot the
            # 5 s header deadline frees (aiohttp's own listener: none within 5 s) takes longer
            assert max(took) < 2.5, took
        assert daemon.poll() is None
    finally:
        daemon.terminate()
        _, stderr = await asyncio.to_thread(daemon.communicate, timeout=15)
        await simulator.stop()
    assert "Too many open files" not in stderr, stderr[-2000:]


def test_the_limits_are_configurable_and_checked() -> None:
    site = "bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
    api = load_config_text(site).api
    assert (api.max_connections, api.header_timeout_s) == (256, 10.0)
    api = load_config_text(site + "api: {max_connections: 50, header_timeout_s: 2.5}\n").api
    assert (api.max_connections, api.header_timeout_s) == (50, 2.5)
    with pytest.raises(ConfigError) as info:
        load_config_text(site + "api: {max_connections: 0, header_timeout_s: 0}\n")
    assert {i.path for i in info.value.issues} == {"api.max_connections", "api.header_timeout_s"}


@pytest.fixture
async def tls_daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    config = two_site_config(tmp_path)
    api = replace(
        config.api, tls_cert=str(cert), tls_key=str(key), max_connections=8, header_timeout_s=HEADER_TIMEOUT_S
    )
    daemon = Daemon(replace(config, api=api), SystemClock())
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def test_over_tls_a_stalled_handshake_is_timed_out_and_health_answers(tls_daemon: Daemon) -> None:
    url = f"{tls_daemon.url}/api/v1"
    assert url.startswith("https://")
    # 20 connections that never start the TLS handshake, against a limit of 8
    first_connect = time.monotonic()
    with closing_all(await asyncio.to_thread(lambda: [
        socket.create_connection(("127.0.0.1", tls_daemon.port or 0), timeout=2) for _ in range(20)
    ])) as clients:  # fmt: skip
        connected = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"{url}/health", ssl=False) as response,
        ):
            assert response.status == 200
        took = time.monotonic() - connected
        assert took < HEADER_TIMEOUT_S / 2, took  # served at once, not after a deadline freed a slot
        await closed_at_the_limit_then_by_the_deadline(
            clients, 8, first_connect, connected, "stalled handshakes"
        )


def test_the_limit_leaves_descriptors_for_the_rest_of_the_daemon(caplog: pytest.LogCaptureFixture) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        assert descriptor_headroom(100) == 100
        assert descriptor_headroom(256) == 256 - RESERVED_DESCRIPTORS
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "api.max_connections 256 lowered to 192" in caplog.text
