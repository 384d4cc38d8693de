"""Failed logins are logged (address and path, never the token) and answered 429 beyond 5 a minute
per client address — over real HTTP from two loopback addresses."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from phoenyra_ems.api.login_limit import LoginLimiter
from tests.daemon_fixtures import RunningDaemon

WRONG = "phx_" + "A" * 43  # well-formed, unknown


async def get(rd: RunningDaemon, source: str, token: str, path: str = "/sites") -> aiohttp.ClientResponse:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))  # 127.0.0.0/8 is all loopback
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(rd.url + path, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        await response.read()
        return response


async def test_repeated_failures_are_logged_and_limited_per_address(
    running_daemon: RunningDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    rd, admin = running_daemon, running_daemon.tokens["admin"]
    caplog.set_level(logging.INFO)
    for attempt in range(5):
        assert (await get(rd, "127.0.0.2", WRONG)).status == 401, attempt
        if attempt == 2:  # someone else's success (and this address's own) resets nothing
            assert (await get(rd, "127.0.0.1", admin)).status == 200
            assert (await get(rd, "127.0.0.2", admin)).status == 200
    refused = await get(rd, "127.0.0.2", WRONG, "/sites/wien")
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # a valid token is still served from that address (no lock-out of a shared address) ...
    assert (await get(rd, "127.0.0.2", admin)).status == 200
    # ... the WebSocket's query token is limited alike, and other addresses are unaffected
    assert (await get(rd, "127.0.0.2", "", f"/ws?token={WRONG}")).status == 429
    assert (await get(rd, "127.0.0.1", WRONG)).status == 401

    failures = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    assert "failed login from 127.0.0.2 on GET /api/v1/sites: unknown or revoked token" in failures
    assert any("127.0.0.2" in m and "limit reached, answering 429" in m for m in failures)
    assert len([m for m in failures if "limit reached" in m]) == 1, "one line per run of refusals"
    assert not any(WRONG in r.getMessage() or admin in r.getMessage() for r in caplog.records)


def test_the_window_slides_and_memory_is_bounded() -> None:
    now = [0.0]
    limiter = LoginLimiter(max_failures=5, window_s=60, max_clients=100, clock=lambda: now[0])
    for _ in range(5):
        assert limiter.failed("10.0.0.1").retry_after is None
        now[0] += 1
    verdict = limiter.failed("10.0.0.1")  # the 6th within a minute, at t=5
    assert verdict.retry_after == 56 and verdict.first_refusal  # then the one at t=1 ages out (61)
    verdict = limiter.failed("10.0.0.1")  # refused attempts count too
    assert verdict.retry_after == 57 and not verdict.first_refusal
    now[0] = 62.5
    assert limiter.failed("10.0.0.1").retry_after is None  # 5 in the window again, with this one
    for address in range(1000):  # a spray of addresses keeps at most max_clients entries
        limiter.failed(f"10.1.{address // 256}.{address % 256}")
    assert len(limiter) == 100
