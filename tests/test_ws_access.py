"""Open WebSockets follow revocations and grants: a revoked token's socket closes, an ungranted
site stops being pushed — also when the change comes from another process (the ``user`` CLI)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from phoenyra_ems.auth.store import AuthStore
from phoenyra_ems.client import PhoenyraAuthError, PhoenyraClient
from tests.daemon_fixtures import RunningDaemon
from tests.test_api import wait_running

DEADLINE_S = 1.5


@asynccontextmanager
async def subscribed(
    rd: RunningDaemon, user: str, sites: Any
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{rd.url}/ws?token={rd.tokens[user]}") as ws,
    ):
        await ws.send_json({"type": "subscribe", "sites": sites})
        assert (await ws.receive_json(timeout=2))["type"] == "subscribed"
        assert (await ws.receive_json(timeout=2))["type"] == "state"  # pushes are flowing
        yield ws


async def messages_until(
    ws: aiohttp.ClientWebSocketResponse, seconds: float
) -> tuple[list[tuple[float, dict[str, Any]]], aiohttp.WSMessage | None]:
    """Every JSON message (with its arrival time) for ``seconds``, and the close message if any."""
    received: list[tuple[float, dict[str, Any]]] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type == aiohttp.WSMsgType.TEXT:
            received.append((time.monotonic(), msg.json()))
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            return received, msg
    return received, None


async def revoke_here(rd: RunningDaemon, user: str) -> None:
    await rd.daemon.auth.revoke(user)


async def revoke_by_cli(rd: RunningDaemon, user: str) -> None:
    """Another connection to the same SQLite file, as the ``phoenyra-ems user`` CLI process has."""
    async with AuthStore(rd.daemon.auth.path) as cli:
        await cli.revoke(user)


async def remove_by_cli(rd: RunningDaemon, user: str) -> None:
    async with AuthStore(rd.daemon.auth.path) as cli:
        await cli.remove_user(user)


async def ungrant_here(rd: RunningDaemon, user: str) -> None:
    await rd.daemon.auth.ungrant(user, "wien")


async def ungrant_by_cli(rd: RunningDaemon, user: str) -> None:
    async with AuthStore(rd.daemon.auth.path) as cli:
        await cli.ungrant(user, "wien")


Change = Callable[[RunningDaemon, str], Awaitable[None]]


@pytest.mark.parametrize(
    "revoke",
    [revoke_here, revoke_by_cli, remove_by_cli],
    ids=["in-process", "other-process", "user-removed-by-other-process"],
)
async def test_a_revoked_token_closes_its_socket_within_a_second(
    running_daemon: RunningDaemon, revoke: Change
) -> None:
    rd = running_daemon
    await wait_running(rd)
    async with subscribed(rd, "view_wien", ["wien"]) as ws:
        await revoke(rd, "view_wien")
        revoked_at = time.monotonic()
        received, closed = await messages_until(ws, 3.0)
        late = [m for t, m in received if t - revoked_at > DEADLINE_S]
        assert not late, f"pushed after revocation: {late}"
        assert closed is not None and closed.type == aiohttp.WSMsgType.CLOSE, received
        assert closed.data == 4001 and closed.extra == "token revoked"
        assert time.monotonic() - revoked_at < DEADLINE_S + 0.5


@pytest.mark.parametrize("ungrant", [ungrant_here, ungrant_by_cli], ids=["in-process", "other-process"])
async def test_an_ungranted_site_is_dropped_from_an_open_socket(
    running_daemon: RunningDaemon, ungrant: Change
) -> None:
    rd = running_daemon
    await wait_running(rd)
    await rd.daemon.auth.grant("view_wien", "linz")
    async with subscribed(rd, "view_wien", "*") as ws:
        await ungrant(rd, "view_wien")
        changed_at = time.monotonic()
        received, closed = await messages_until(ws, 3.0)
        assert closed is None, "the socket stays open for the sites still granted"
        notice = [(t, m) for t, m in received if m["type"] == "unsubscribed"]
        assert notice and notice[0][1] == {
            "type": "unsubscribed",
            "sites": ["wien"],
            "reason": "access_revoked",
        }
        assert notice[0][0] - changed_at < DEADLINE_S
        late_wien = [m for t, m in received if m.get("site_id") == "wien" and t - changed_at > DEADLINE_S]
        assert not late_wien, late_wien
        assert any(m.get("site_id") == "linz" and m["type"] == "state" for _, m in received)
        await ws.send_json({"type": "subscribe", "sites": ["wien"]})  # and it cannot come back
        while (reply := await ws.receive_json(timeout=2))["type"] == "state":
            assert reply["site_id"] == "linz"
        assert reply["type"] == "error" and reply["code"] == "forbidden", reply


async def test_a_role_change_drops_what_the_new_role_may_not_see(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    await wait_running(rd)
    async with subscribed(rd, "admin", "*") as ws:
        await rd.daemon.auth.set_role("admin", "viewer")  # a viewer without grants sees nothing
        received, closed = await messages_until(ws, 1.0)
        assert closed is None
        notice = [m for _, m in received if m["type"] == "unsubscribed"]
        assert notice == [{"type": "unsubscribed", "sites": ["linz", "wien"], "reason": "access_revoked"}]
        received, _ = await messages_until(ws, 1.0)
        assert not [m for _, m in received if m["type"] == "state"], received


async def test_the_client_reports_a_revoked_token_as_an_auth_error(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    await wait_running(rd)
    events: list[object] = []
    async with PhoenyraClient("127.0.0.1", rd.daemon.port or 0, token=rd.tokens["view_wien"]) as client:
        await client.connect()
        await client.subscribe(["wien"])
        listening = asyncio.create_task(client.listen(events.append))
        deadline = time.monotonic() + 10.0
        while not events:  # receiving before the revocation
            assert time.monotonic() < deadline, "no event before the revocation"
            await asyncio.sleep(0.05)
        await rd.daemon.auth.revoke("view_wien")
        with pytest.raises(PhoenyraAuthError, match="token revoked"):
            await asyncio.wait_for(listening, DEADLINE_S)
    assert events  # it was receiving before
