"""phoenyra_ems.client against the real daemon (two simulated sites) and real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from phoenyra_ems import __version__
from phoenyra_ems.auth.models import Role as ServerRole
from phoenyra_ems.client import (
    AggregatedState,
    Alarm,
    AlarmSeverity,
    ControlAck,
    ControlAckEvent,
    ErrorEvent,
    Event,
    History,
    HistorySample,
    Info,
    Limits,
    Mode,
    PhoenyraAuthError,
    PhoenyraClient,
    PhoenyraConnectionError,
    PhoenyraConnectionTimeoutError,
    PhoenyraError,
    PhoenyraForbiddenError,
    PhoenyraInvalidRequestError,
    PhoenyraInvalidResponseError,
    PhoenyraNotFoundError,
    PhoenyraUnavailableError,
    Role,
    Site,
    SiteDetail,
    SiteState,
    SiteStatus,
    StateEvent,
    SubscribedEvent,
    parse_event,
)
from phoenyra_ems.models import AlarmSeverity as ServerSeverity
from phoenyra_ems.models import SiteMode
from phoenyra_ems.models import SiteStatus as ServerStatus
from tests.conftest import free_port
from tests.daemon_fixtures import RunningDaemon

E = TypeVar("E")


def client_for(rd: RunningDaemon, user: str, **kwargs: Any) -> PhoenyraClient:
    return PhoenyraClient.from_url(rd.daemon.url, token=rd.tokens[user], **kwargs)


async def wait_running(rd: RunningDaemon) -> None:
    deadline = time.monotonic() + 15
    while any(s.state.status is not ServerStatus.RUNNING for s in rd.daemon.fleet.slots.values()):
        assert time.monotonic() < deadline, "sites did not start"
        await asyncio.sleep(0.05)


# --- REST: happy paths, typed ---------------------------------------------------------------------
async def test_every_read_method_returns_typed_models(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    await wait_running(rd)
    await asyncio.sleep(0.5)  # a few cycles of history
    async with client_for(rd, "admin") as client:
        info = await client.info()
        assert info == Info(rd.daemon.instance_id, __version__, "admin", Role.ADMIN, 2)

        sites = await client.sites()
        assert all(isinstance(s, Site) for s in sites)
        assert {s.id for s in sites} == {"wien", "linz"}
        wien = next(s for s in sites if s.id == "wien")
        assert wien.name == "Wien" and wien.status is SiteStatus.RUNNING
        assert wien.bess.energy_capacity_kwh == 200.0 and wien.bess.soc_min_pct == 10.0
        assert wien.device.profile == "generic" and isinstance(wien.device.port, int)
        assert wien.location.timezone == "Europe/Vienna" and "arbitrage" in wien.strategies

        detail = await client.site("wien")
        assert isinstance(detail, SiteDetail) and detail.site.id == "wien"
        assert detail.state.site_id == "wien" and detail.state.mode is Mode.AUTO
        assert detail.control is not None and detail.control.mode is Mode.AUTO
        assert detail.control.setpoint_kw is None and detail.control.expires is None
        assert detail.limits == Limits(10.0, 90.0, None, None, None, 100.0, 100.0, -100.0, 100.0, 10.0)

        state = await client.state("linz")
        assert isinstance(state, SiteState) and state.site_id == "linz"
        assert state.status is SiteStatus.RUNNING
        assert state.timestamp.tzinfo is not None and abs(time.time() - state.timestamp.timestamp()) < 5
        assert state.last_reading is not None and state.last_reading.tzinfo is not None
        assert state.p_grid + state.p_pv + state.p_bess == pytest.approx(state.p_load, abs=0.5)
        assert 0 <= state.soc <= 100 and isinstance(state.alarms, tuple)

        alarms = await client.alarms("wien")
        assert isinstance(alarms, list) and all(isinstance(a, Alarm) for a in alarms)

        now = datetime.now(UTC)
        history = await client.history(
            "wien", start=now - timedelta(minutes=5), end=now + timedelta(seconds=5)
        )
        assert isinstance(history, History) and history.site_id == "wien" and history.step_s is None
        assert history.samples and all(isinstance(s, HistorySample) for s in history.samples)
        assert history.start == now - timedelta(minutes=5)
        sample = history.samples[-1]
        assert sample.timestamp.tzinfo is not None and sample.mode is Mode.AUTO
        assert history.start <= sample.timestamp < history.end
        bucketed = await client.history("wien", start=now - timedelta(minutes=5), step_s=60)
        assert bucketed.step_s == 60.0 and 1 <= len(bucketed.samples) <= 6
        default = await client.history("linz")  # the last hour
        assert default.end - default.start == timedelta(hours=1) and default.samples

        aggregated = await client.aggregated()
        assert isinstance(aggregated, AggregatedState)
        assert aggregated.site_count == 2 and aggregated.total_capacity_kwh == 400.0
        assert {s.site_id for s in aggregated.sites} == {"wien", "linz"}
        assert aggregated.soc_avg_pct is not None


async def test_history_needs_aware_datetimes(running_daemon: RunningDaemon) -> None:
    async with client_for(running_daemon, "admin") as client:
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.history("wien", start=datetime(2024, 1, 1))


async def test_viewer_sees_only_granted_sites(running_daemon: RunningDaemon) -> None:
    async with client_for(running_daemon, "view_wien") as client:
        assert [s.id for s in await client.sites()] == ["wien"]
        info = await client.info()
        assert info.role is Role.VIEWER and info.site_count == 1 and info.user == "view_wien"


async def test_set_control_returns_the_ack_and_reaches_the_battery(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    await wait_running(rd)
    async with client_for(rd, "op_wien") as client:
        before = datetime.now(UTC)
        ack = await client.set_control("wien", Mode.MANUAL, setpoint_kw=-25.0, duration_s=600)
        assert isinstance(ack, ControlAck) and ack.site_id == "wien" and ack.accepted
        assert ack.control.mode is Mode.MANUAL and ack.control.setpoint_kw == -25.0
        assert ack.control.expires is not None
        assert abs(ack.control.expires - before - timedelta(seconds=600)) < timedelta(seconds=5)
        deadline = time.monotonic() + 3
        while (await client.state("wien")).setpoint != -25.0:
            assert time.monotonic() < deadline, "setpoint not applied"
            await asyncio.sleep(0.1)
        assert rd.simulators["wien"].model.setpoint_kw == pytest.approx(-25.0)

        ack = await client.set_control("wien", "auto", strategy="peak_shaving")
        assert ack.control == type(ack.control)(Mode.AUTO, "peak_shaving", None, None)
        ack = await client.set_control("wien", Mode.STANDBY)
        assert ack.control.mode is Mode.STANDBY
        assert (await client.site("wien")).control == ack.control


async def test_set_limits_sends_only_what_is_given(running_daemon: RunningDaemon) -> None:
    await wait_running(running_daemon)  # 503 while a site's controller is starting
    async with client_for(running_daemon, "admin") as client:
        limits = await client.set_limits("wien", power_discharge_max_kw=30)
        assert isinstance(limits, Limits)
        assert limits.power_discharge_max_kw == 30.0 and limits.hardware_power_discharge_max_kw == 100.0
        assert limits.soc_reserve_pct is None and limits.power_charge_max_kw is None
        assert (await client.site("wien")).limits == limits
        # a limit not sent keeps its value
        limits = await client.set_limits("wien", soc_reserve_pct=20, power_charge_max_kw=50)
        assert (limits.soc_reserve_pct, limits.power_charge_max_kw) == (20.0, 50.0)
        assert limits.power_discharge_max_kw == 30.0
        # None is sent as null: clears that one
        limits = await client.set_limits("wien", soc_reserve_pct=None, power_discharge_max_kw=None)
        assert limits == Limits(10.0, 90.0, None, 50.0, None, 100.0, 100.0, -50.0, 100.0, 10.0)


async def test_the_daemon_publishes_its_bounds_and_changes_the_strategy_alone(
    running_daemon: RunningDaemon,
) -> None:
    """Clients display the setpoint range the daemon enforces, and pin a strategy without resending
    (and so without restarting) a manual setpoint."""
    await wait_running(running_daemon)
    async with client_for(running_daemon, "admin") as client:
        try:
            await client.set_limits("wien", power_charge_max_kw=40, soc_reserve_pct=25)
            detail = await client.site("wien")
            assert detail.setpoint_range() == (-40.0, 100.0)  # hardware 100 kW, operator 40 kW charge
            assert detail.limits is not None and detail.limits.effective_soc_min_pct == 25.0
            with pytest.raises(PhoenyraInvalidRequestError) as refused:
                await client.set_control("wien", Mode.MANUAL, setpoint_kw=-45.0)
            assert refused.value.fields["setpoint_kw"] == "must be between -40 and 100 kW"

            ack = await client.set_control("wien", Mode.MANUAL, setpoint_kw=-30.0, duration_s=600)
            manual = ack.control
            ack = await client.set_strategy("wien", "peak_shaving")
            assert ack.control == replace(manual, strategy="peak_shaving")  # setpoint and expiry kept
            ack = await client.set_control("wien", Mode.AUTO)  # no strategy sent: the daemon keeps its pin
            assert ack.control.strategy == "peak_shaving"
            assert (await client.set_strategy("wien", None)).control == replace(ack.control, strategy=None)
            with pytest.raises(PhoenyraInvalidRequestError) as refused:
                await client._request("POST", "sites", "wien", "control", body={"setpoint_kw": 1.0})
            assert set(refused.value.fields) == {"mode"}
        finally:
            await client.set_limits("wien", power_charge_max_kw=None, soc_reserve_pct=None)
            await client.set_control("wien", Mode.AUTO, strategy=None)


# --- REST: errors -----------------------------------------------------------------------------------
async def test_http_errors_map_to_exceptions_with_the_server_message(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    async with PhoenyraClient.from_url(rd.daemon.url, token="phx_not-a-token") as client:
        with pytest.raises(PhoenyraAuthError, match="missing or invalid API token") as auth:
            await client.sites()
        assert auth.value.status == 401 and auth.value.code == "unauthorized"

    async with client_for(rd, "op_wien") as op_wien, client_for(rd, "view_wien") as viewer:
        with pytest.raises(PhoenyraForbiddenError, match="no access to site 'linz'") as forbidden:
            await op_wien.state("linz")
        assert forbidden.value.status == 403
        with pytest.raises(PhoenyraForbiddenError, match="role viewer may not control"):
            await viewer.set_control("wien", Mode.AUTO)
        with pytest.raises(PhoenyraForbiddenError):
            await viewer.set_limits("wien", soc_reserve_pct=20)
        with pytest.raises(PhoenyraForbiddenError, match="only admins"):
            await op_wien.aggregated()
        with pytest.raises(PhoenyraForbiddenError, match="only admins"):
            await op_wien.reload()
        with pytest.raises(PhoenyraNotFoundError, match="unknown site 'nowhere'") as not_found:
            await viewer.site("nowhere")
        assert not_found.value.status == 404 and not_found.value.code == "not_found"
        with pytest.raises(PhoenyraNotFoundError):
            await op_wien.alarms("nowhere")

    await rd.daemon.auth.revoke("view_wien")
    async with client_for(rd, "view_wien") as revoked:
        with pytest.raises(PhoenyraAuthError):
            await revoked.info()


async def test_invalid_requests_are_422_with_the_fields(running_daemon: RunningDaemon) -> None:
    await wait_running(running_daemon)  # 503 (checked before 422) while a controller is starting
    async with client_for(running_daemon, "admin") as client:
        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.set_control("wien", Mode.MANUAL)
        assert err.value.status == 422 and err.value.code == "invalid_request"
        assert err.value.fields == {"setpoint_kw": "required in manual mode"}
        assert "setpoint_kw: required in manual mode" in str(err.value)

        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.set_control("wien", "turbo", strategy="moon_phase")
        assert set(err.value.fields) == {"mode"}

        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.set_control("wien", "auto", strategy="moon_phase", setpoint_kw=5)
        assert set(err.value.fields) == {"strategy", "setpoint_kw"}

        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.set_limits("wien", power_charge_max_kw=150, soc_reserve_pct=5)
        assert set(err.value.fields) == {"power_charge_max_kw", "soc_reserve_pct"}

        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.set_limits("wien")  # nothing given: nothing sent, the daemon refuses {}
        assert "body" in err.value.fields

        now = datetime.now(UTC)
        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.history("wien", start=now, end=now - timedelta(hours=1))
        assert "from" in err.value.fields
        with pytest.raises(PhoenyraInvalidRequestError) as err:
            await client.history("wien", step_s=0.5)
        assert "step" in err.value.fields


async def test_reload_without_a_config_file_is_503(running_daemon: RunningDaemon) -> None:
    async with client_for(running_daemon, "admin") as client:
        with pytest.raises(PhoenyraUnavailableError, match="no configuration file") as err:
            await client.reload()
        assert err.value.status == 503
        # a site not running (or nothing to reload) is not a malformed answer: its own error
        assert isinstance(err.value, PhoenyraError)
        assert not isinstance(err.value, PhoenyraInvalidResponseError)


# --- connection errors, retries, timeouts (real loopback sockets) -------------------------------
@dataclass
class RawServer:
    """A TCP server on loopback that answers each connection with ``reply`` (or never)."""

    reply: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    connections: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        await self.reply(reader, writer)


@contextlib.asynccontextmanager
async def raw_server(
    reply: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[RawServer]:
    raw = RawServer(reply)
    raw.server = await asyncio.start_server(raw._handle, "127.0.0.1", 0)
    try:
        yield raw
    finally:
        raw.server.close()
        for writer in raw.writers:
            writer.close()
        await raw.server.wait_closed()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes the connection


async def hang_up_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


def answer(status: str, body: bytes, content_type: str = "application/json") -> Any:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return reply


def counting_session() -> tuple[aiohttp.ClientSession, list[str]]:
    """A session whose trace hooks record every request attempt (method)."""
    attempts: list[str] = []
    trace = aiohttp.TraceConfig()

    async def on_start(_session: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        attempts.append(params.method)

    trace.on_request_start.append(on_start)
    return aiohttp.ClientSession(trace_configs=[trace]), attempts


async def test_closed_port_is_a_connection_error_after_retries() -> None:
    session, attempts = counting_session()
    async with session:
        client = PhoenyraClient(
            "127.0.0.1", free_port(), token="t", session=session, retries=3, retry_backoff_s=0.05
        )
        started = time.monotonic()
        with pytest.raises(PhoenyraConnectionError, match="Cannot connect") as err:
            await client.info()
        assert not isinstance(err.value, PhoenyraConnectionTimeoutError)
        assert attempts == ["GET"] * 4  # the first attempt and 3 retries
        assert time.monotonic() - started >= 0.05 + 0.1 + 0.2  # exponential backoff
        # nothing was sent, so a POST is retried as well
        attempts.clear()
        with pytest.raises(PhoenyraConnectionError):
            await client.set_control("wien", Mode.STANDBY)
        assert attempts == ["POST"] * 4
        no_retry = PhoenyraClient("127.0.0.1", free_port(), token="t", session=session, retries=0)
        attempts.clear()
        with pytest.raises(PhoenyraConnectionError):
            await no_retry.sites()
        assert attempts == ["GET"]


async def test_a_request_that_reached_the_server_is_retried_only_when_idempotent() -> None:
    session, attempts = counting_session()
    async with raw_server(hang_up_after_request) as server, session:
        client = PhoenyraClient(
            "127.0.0.1", server.port, token="t", session=session, retries=2, retry_backoff_s=0.01
        )
        with pytest.raises(PhoenyraConnectionError, match="Server disconnected"):
            await client.sites()
        # GET: 1 + 2 retries (aiohttp >= 3.10 itself retries an idempotent request once more
        # inside each attempt, so the server may see up to twice as many connections)
        assert attempts == ["GET"] * 3 and server.connections in (3, 6)
        attempts.clear()
        before = server.connections
        with pytest.raises(PhoenyraConnectionError):
            await client.set_control("wien", Mode.MANUAL, setpoint_kw=10)
        assert attempts == ["POST"] and server.connections == before + 1  # sent once, never repeated
        attempts.clear()
        with pytest.raises(PhoenyraConnectionError):
            await client.set_limits("wien", soc_reserve_pct=20)
        assert attempts == ["PUT"]  # not repeated by the client (aiohttp >= 3.10 may, once: PUT replaces)


async def test_a_server_that_never_answers_times_out_within_the_timeout() -> None:
    async with (
        raw_server(never_answer) as server,
        PhoenyraClient("127.0.0.1", server.port, token="t", request_timeout=0.3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(PhoenyraConnectionTimeoutError, match=r"within 0\.3 s"):
            await client.state("wien")
        took = time.monotonic() - started
        # ~0.3 s idle; generous for a loaded machine. A retried timeout shows in the connection count
        # below; no timeout at all never gets here (the server never answers)
        assert 0.3 <= took < 2.0, took
        assert server.connections == 1  # a timeout is not retried
        with pytest.raises(PhoenyraConnectionTimeoutError):
            await client.connect()  # the WebSocket handshake too
        assert not client.connected


@pytest.mark.parametrize(
    ("status", "body", "content_type", "match"),
    [
        ("200 OK", b"<html>hello</html>", "text/html", "not JSON"),
        ("200 OK", b'{"instance_id": "x", "version": "1"}', "application/json", r"info\.user: missing"),
        ("200 OK", b'{"instance_id": 7}', "application/json", r"info\.instance_id: expected a string"),
        ("500 Internal Server Error", b'{"error": {"message": "boom"}}', "application/json", "boom"),
        ("502 Bad Gateway", b"<html>proxy</html>", "text/html", "HTTP 502"),
    ],
)
async def test_unusable_responses_are_invalid_response_errors(
    status: str, body: bytes, content_type: str, match: str
) -> None:
    async with (
        raw_server(answer(status, body, content_type)) as server,
        PhoenyraClient("127.0.0.1", server.port, token="t") as client,
    ):
        with pytest.raises(PhoenyraInvalidResponseError, match=match):
            await client.info()
        assert server.connections == 1  # a 5xx is not retried


def test_models_name_the_bad_field() -> None:
    site = {
        "id": "wien",
        "name": "Wien",
        "status": "running",
        "location": {"city": "Wien", "latitude": None, "longitude": None, "timezone": "Europe/Vienna"},
        "bess": {
            "energy_capacity_kwh": 200,
            "power_charge_max_kw": 100,
            "power_discharge_max_kw": 100,
            "soc_min_pct": 10,
            "soc_max_pct": True,
        },
        "device": {"profile": "generic", "host": "127.0.0.1", "port": 502},
        "strategies": ["arbitrage"],
    }
    with pytest.raises(
        PhoenyraInvalidResponseError, match=r"site\.bess\.soc_max_pct: expected a finite number"
    ):
        Site.from_dict(site)
    site["bess"]["soc_max_pct"] = 90  # type: ignore[index]
    assert Site.from_dict(site).bess.soc_max_pct == 90.0
    with pytest.raises(PhoenyraInvalidResponseError, match=r"site\.status: expected one of"):
        Site.from_dict({**site, "status": "sleeping"})
    with pytest.raises(PhoenyraInvalidResponseError, match=r"site\.strategies\[1\]: expected a string"):
        Site.from_dict({**site, "strategies": ["arbitrage", 3]})
    with pytest.raises(PhoenyraInvalidResponseError, match=r"alarm\.since: expected an ISO 8601"):
        Alarm.from_dict({"code": "x", "message": "m", "severity": "info", "since": "yesterday"})
    alarm = Alarm.from_dict({"code": "x", "message": "m", "severity": "info", "since": "2024-05-01T12:00:00"})
    assert alarm.since == datetime(2024, 5, 1, 12, tzinfo=UTC)  # naive: read as UTC
    assert parse_event({"type": "something_new", "x": 1}) is None
    with pytest.raises(PhoenyraInvalidResponseError, match=r"event\[alarm\]\.active: missing"):
        parse_event(
            {"type": "alarm", "site_id": "wien", "alarm": {"code": "x", "message": "m", "severity": "info"}}
        )


def test_client_enums_match_the_server() -> None:
    assert {m.value for m in Mode} == {m.value for m in SiteMode}
    assert {s.value for s in SiteStatus} == {s.value for s in ServerStatus}
    assert {s.value for s in AlarmSeverity} == {s.value for s in ServerSeverity}
    assert {r.value for r in Role} == {r.value for r in ServerRole}


async def test_an_injected_session_is_not_closed_an_owned_one_is(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    async with aiohttp.ClientSession() as session:
        client = client_for(rd, "admin", session=session)
        await client.info()
        await client.connect()
        await client.close()
        assert not session.closed and not client.connected
        assert (await client_for(rd, "admin", session=session).info()).user == "admin"  # still usable

    client = client_for(rd, "admin")
    async with client:
        await client.info()
        owned = client._session
        assert owned is not None and not owned.closed
    assert owned.closed
    # a closed client opens a new session when used again
    assert (await client.info()).user == "admin"
    await client.close()


# --- WebSocket --------------------------------------------------------------------------------------
class Events:
    """Collects the events of ``client.listen`` in a background task."""

    def __init__(self, client: PhoenyraClient) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.task = asyncio.create_task(client.listen(self.queue.put_nowait))

    async def next(
        self, kind: type[E], where: Callable[[E], bool] = lambda _: True, timeout: float = 3.0
    ) -> E:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if isinstance(event, kind) and where(event):
                    return event


async def test_websocket_state_and_control_ack(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    await wait_running(rd)
    async with client_for(rd, "op_wien") as client:
        assert not client.connected
        await client.connect()
        assert client.connected
        events = Events(client)
        await client.subscribe(["wien"])
        assert (await events.next(SubscribedEvent)).sites == ("wien",)
        first = await events.next(StateEvent)
        assert (
            first.site_id == "wien" and isinstance(first.state, SiteState) and first.state.site_id == "wien"
        )

        ack = await client.set_control("wien", Mode.MANUAL, setpoint_kw=-42.0)
        assert ack.control.setpoint_kw == -42.0
        pushed = await events.next(ControlAckEvent)
        assert pushed.site_id == "wien" and pushed.by == "op_wien" and pushed.control == ack.control
        state = await events.next(StateEvent, lambda e: e.state.setpoint == -42.0)
        assert state.state.mode is Mode.MANUAL

        await client.disconnect()
        await asyncio.wait_for(events.task, 2)  # returns normally after disconnect()
        assert not client.connected
        with pytest.raises(PhoenyraConnectionError, match="not connected"):
            await client.subscribe("*")


async def test_websocket_async_callback_and_errors(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    received: list[Event] = []
    done = asyncio.Event()

    async def callback(event: Event) -> None:
        received.append(event)
        if isinstance(event, SubscribedEvent):
            done.set()

    async with client_for(rd, "view_wien") as client:
        await client.connect()
        task = asyncio.create_task(client.listen(callback))
        await client.subscribe(["linz"])
        await client.subscribe("*")
        await asyncio.wait_for(done.wait(), 3)
        assert received[0] == ErrorEvent("forbidden", "no access to: linz")
        assert received[1] == SubscribedEvent(("wien",))
        await client.disconnect()
        await asyncio.wait_for(task, 2)

    async with PhoenyraClient.from_url(rd.daemon.url, token="phx_not-a-token") as bad:
        with pytest.raises(PhoenyraAuthError):
            await bad.connect()
        assert not bad.connected


async def test_listen_raises_when_the_daemon_stops(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    async with client_for(rd, "admin") as client:
        await client.connect()
        events = Events(client)
        await client.subscribe("*")
        assert set((await events.next(SubscribedEvent)).sites) == {"wien", "linz"}
        await rd.daemon.stop()
        with pytest.raises(PhoenyraConnectionError, match="WebSocket lost"):
            await asyncio.wait_for(events.task, 5)
        assert not client.connected
        with pytest.raises(PhoenyraConnectionError):  # the daemon is gone: reconnecting fails
            await client.connect()


async def test_listen_skips_malformed_frames_and_ignores_unknown_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        assert request.headers["Authorization"] == "Bearer tok"
        await ws.send_str('{"type": "weather", "sunny": true}')  # a newer server's event
        await ws.send_str("not json")
        await ws.send_str('{"type": "state", "site_id": "wien", "data": {"soc": 50}}')
        await ws.send_bytes(b"\x00")
        await ws.send_str('{"type": "subscribed", "sites": ["wien"]}')
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/api/v1/ws", ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    received: list[Event] = []
    try:
        async with PhoenyraClient("127.0.0.1", port, token="tok") as client:
            await client.connect()
            with pytest.raises(PhoenyraConnectionError, match="closed by the server"):
                await asyncio.wait_for(client.listen(received.append), 3)
    finally:
        await runner.cleanup()
    assert received == [SubscribedEvent(("wien",))]
    malformed = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 2 and "event[state].data.site_id: missing" in malformed[1]


def test_exception_hierarchy() -> None:
    assert issubclass(PhoenyraConnectionTimeoutError, PhoenyraConnectionError)
    for cls in (
        PhoenyraConnectionError,
        PhoenyraAuthError,
        PhoenyraForbiddenError,
        PhoenyraNotFoundError,
        PhoenyraInvalidRequestError,
        PhoenyraInvalidResponseError,
    ):
        assert issubclass(cls, PhoenyraError)
    assert PhoenyraInvalidRequestError("bad", fields={"a": "b"}).fields == {"a": "b"}


def test_the_client_imports_only_aiohttp_and_the_standard_library() -> None:
    code = "import sys, phoenyra_ems.client; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    ours = {m for m in loaded if m.startswith("phoenyra_ems")}
    assert ours == {
        "phoenyra_ems",
        "phoenyra_ems.enums",  # shared with the daemon, bundled into phoenyra-client (build_client.SHARED)
        *(
            f"phoenyra_ems.client{s}"
            for s in (
                "",
                ".client",
                ".community",
                ".events",
                ".exceptions",
                ".forecast",
                ".models",
                ".plan",
                ".selector",
                ".stream",
                ".transport",
                ".version",
                ".vpp",
                ".wire",
            )
        ),
    }
    assert not {m.split(".")[0] for m in loaded} & {
        "voluptuous",
        "yaml",
        "pymodbus",
        "aiosqlite",
        "homeassistant",
    }


def test_client_urls() -> None:
    client = PhoenyraClient.from_url("https://ems.example:8443/whatever", token="secret")
    assert client.tls and client.port == 8443 and client.base_url == "https://ems.example:8443/api/v1"
    assert "secret" not in repr(client)
    assert PhoenyraClient("::1", 8080, token="t").base_url == "http://[::1]:8080/api/v1"
    assert str(PhoenyraClient("h", token="t")._url("sites", "a/b", "state")).endswith("/sites/a%2Fb/state")
    with pytest.raises(ValueError):
        PhoenyraClient.from_url("ftp://x", token="t")
