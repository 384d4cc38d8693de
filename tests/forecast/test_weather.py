"""Weather clients against a loopback aiohttp server replaying recorded responses (recorded/README.md)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from phoenyra_ems.forecast.weather import (
    OpenMeteoClient,
    OpenWeatherMapClient,
    WeatherClient,
    WeatherError,
    WeatherForecast,
    WeatherResponseError,
    WeatherTimeoutError,
    fetch_weather,
)

RECORDED = Path(__file__).parent / "recorded"
OM_PATH = "/v1/forecast"
OWM_PATH = "/data/3.0/onecall"
API_KEY = "0123456789abcdef0123456789abcdef"  # fake key: must never show up in a log record or an error

# Open-Meteo recording: Berlin, hourly from 2021-11-24T00:00 CET (= 2021-11-23T23:00Z), 168 hours.
OM_NOW = datetime(2021, 11, 24, 10, 42, tzinfo=UTC)  # 11:42 CET: recorded index 11 is the current hour
OM_LAT, OM_LON = 52.52, 13.419998
# OpenWeatherMap recording: Greenwich, 48 hours from 2024-10-25T15:00Z; its "current.dt" was 16:59:18Z.
OWM_NOW = datetime(2024, 10, 25, 16, 59, 18, tzinfo=UTC)
OWM_LAT, OWM_LON = 51.4769, -0.0005


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_s: float = 0.0


@dataclass
class ReplayServer:
    """Serves one configurable reply per path and records every request's query."""

    base_url: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def serve(self, path: str, payload: Any = None, **reply: Any) -> None:
        if payload is not None:
            reply["body"] = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.replies[path] = Reply(**reply)

    def queries(self, path: str) -> list[dict[str, str]]:
        return [query for p, query in self.requests if p == path]

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        reply = self.replies[request.path]
        if reply.delay_s:
            with contextlib.suppress(TimeoutError):  # released at teardown: the runner shuts down at once
                await asyncio.wait_for(self.release.wait(), reply.delay_s)
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    replay = ReplayServer()
    app = web.Application()
    app.router.add_get(OM_PATH, replay.handle)
    app.router.add_get(OWM_PATH, replay.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    replay.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    replay.serve(OM_PATH, recorded("open_meteo_forecast.json"))
    replay.serve(OWM_PATH, recorded("openweathermap_onecall.json"))
    try:
        yield replay
    finally:
        replay.release.set()
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Service:
    """One service under test: its client factory, recording, path and coordinates."""

    source: str
    path: str
    now: datetime
    lat: float
    lon: float
    recording: str
    make: Callable[..., OpenMeteoClient | OpenWeatherMapClient]


SERVICES = {
    "open-meteo": Service(
        "open-meteo",
        OM_PATH,
        OM_NOW,
        OM_LAT,
        OM_LON,
        "open_meteo_forecast.json",
        lambda session, **kw: OpenMeteoClient(session, **kw),
    ),
    "openweathermap": Service(
        "openweathermap",
        OWM_PATH,
        OWM_NOW,
        OWM_LAT,
        OWM_LON,
        "openweathermap_onecall.json",
        lambda session, **kw: OpenWeatherMapClient(session, API_KEY, **kw),
    ),
}


def make_client(
    name: str, session: aiohttp.ClientSession, server: ReplayServer, clock: FakeClock | None = None, **kw: Any
) -> tuple[Service, OpenMeteoClient | OpenWeatherMapClient, FakeClock]:
    service = SERVICES[name]
    clock = clock or FakeClock(service.now)
    return service, service.make(session, base_url=server.base_url, clock=clock, **kw), clock


def assert_no_key(caplog: pytest.LogCaptureFixture, *errors: BaseException) -> None:
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in str(record.args)
    for error in errors:
        assert API_KEY not in str(error) and API_KEY not in repr(error)
        assert error.__cause__ is None or API_KEY not in str(error.__cause__)


async def assert_fails(
    client: WeatherClient,
    service: Service,
    caplog: pytest.LogCaptureFixture,
    error_type: type[WeatherError],
    *fragments: str,
) -> WeatherError:
    """``error_type`` naming service, path and fragments; fetch_weather logs a WARNING, gives None."""
    with pytest.raises(error_type) as info:
        await client.forecast(service.lat, service.lon)
    message = str(info.value)
    for fragment in (service.source, service.path, *fragments):
        assert fragment in message, message
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert await fetch_weather(client, service.lat, service.lon) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.records
    assert warnings[0].name == "phoenyra_ems.forecast.weather"
    assert service.source in warnings[0].getMessage()
    assert fragments[0] in warnings[0].getMessage() if fragments else True
    assert_no_key(caplog, info.value)
    return info.value


def assert_hourly_utc(forecast: WeatherForecast) -> None:
    assert all(t.tzinfo is UTC and t.minute == t.second == t.microsecond == 0 for t in forecast.times)
    assert all(b - a == timedelta(hours=1) for a, b in zip(forecast.times, forecast.times[1:], strict=False))
    n = len(forecast.times)
    assert len(forecast.ghi_w_m2) == len(forecast.cloud_cover_pct) == len(forecast.temp_air_c) == n


# --- parsing of the recorded payloads ------------------------------------------------------------------


async def test_open_meteo_recorded_forecast(server: ReplayServer, session: aiohttp.ClientSession) -> None:
    client = OpenMeteoClient(session, base_url=server.base_url, clock=FakeClock(OM_NOW))
    forecast = await client.forecast(OM_LAT, OM_LON)

    assert forecast.source == "open-meteo" and client.source == "open-meteo"
    assert forecast.fetched_at == OM_NOW
    assert_hourly_utc(forecast)
    # Times in the recording are Berlin local (utc_offset_seconds 3600): 11:00 CET is 10:00Z.
    assert len(forecast.times) == 48
    assert forecast.times[0] == datetime(2021, 11, 24, 10, tzinfo=UTC)
    assert forecast.times[-1] == datetime(2021, 11, 26, 9, tzinfo=UTC)
    # Values read off the recording at indices 11, 12, 34 and 58 ("2021-11-24T11:00" ... local);
    # radiation is the mean of the preceding hour, so the hour starting at index i takes i + 1.
    assert (forecast.ghi_w_m2[0], forecast.cloud_cover_pct[0], forecast.temp_air_c[0]) == (83, 100, 6.9)
    assert (forecast.ghi_w_m2[1], forecast.cloud_cover_pct[1], forecast.temp_air_c[1]) == (80.3, 100, 7.3)
    assert (forecast.ghi_w_m2[23], forecast.cloud_cover_pct[23], forecast.temp_air_c[23]) == (109.4, 99, 0.6)
    assert (forecast.ghi_w_m2[47], forecast.cloud_cover_pct[47], forecast.temp_air_c[47]) == (92.6, 100, 3.5)
    assert (
        list(forecast.ghi_w_m2)
        == recorded("open_meteo_forecast.json")["hourly"]["shortwave_radiation"][12:60]
    )
    hourly = recorded("open_meteo_forecast.json")["hourly"]
    assert list(forecast.cloud_cover_pct) == hourly["cloud_cover"][11:59]
    assert list(forecast.temp_air_c) == hourly["temperature_2m"][11:59]
    assert not session.closed  # injected, never closed by the client

    (query,) = server.queries(OM_PATH)
    assert query == {
        "latitude": "52.52",
        "longitude": "13.42",
        "hourly": "shortwave_radiation,cloud_cover,temperature_2m",
        "timezone": "UTC",
        "forecast_days": "3",  # 10:00Z + 48 h ends on the third UTC day
    }


async def test_open_meteo_clamps_night_time_noise(
    server: ReplayServer, session: aiohttp.ClientSession
) -> None:
    """The recording has -0.1 and -0.2 W/m² at night (indices 71..90): they become 0.0, never negative."""
    client = OpenMeteoClient(session, base_url=server.base_url, clock=FakeClock(OM_NOW))
    forecast = await client.forecast(OM_LAT, OM_LON, hours=100)
    assert len(forecast.times) == 100
    noisy = [71 - 12, 73 - 12, 79 - 12, 89 - 12, 90 - 12]  # preceding-hour radiation: one slot earlier
    assert [forecast.ghi_w_m2[i] for i in noisy] == [0.0] * 5
    assert all(v is not None and v >= 0 and math.copysign(1.0, v) == 1.0 for v in forecast.ghi_w_m2)
    assert server.queries(OM_PATH)[0]["forecast_days"] == "5"  # ceil((10 + 100) / 24)


async def test_open_meteo_hours_trimming(server: ReplayServer, session: aiohttp.ClientSession) -> None:
    clock = FakeClock(OM_NOW)
    client = OpenMeteoClient(session, base_url=server.base_url, clock=clock, cache_ttl_s=0)
    five = await client.forecast(OM_LAT, OM_LON, hours=5)
    assert five.times == tuple(datetime(2021, 11, 24, 10 + h, tzinfo=UTC) for h in range(5))
    assert five.ghi_w_m2 == (83, 80.3, 64.1, 28, 7.9)
    assert server.queries(OM_PATH)[-1]["forecast_days"] == "1"

    clock.now = datetime(2021, 11, 30, 20, 30, tzinfo=UTC)  # three recorded hours left: fewer than asked
    tail = await client.forecast(OM_LAT, OM_LON, hours=48)
    assert tail.times == tuple(datetime(2021, 11, 30, h, tzinfo=UTC) for h in (20, 21, 22))
    assert tail.temp_air_c == (2.8, 3, 3)

    clock.now = datetime(2021, 12, 1, 0, 5, tzinfo=UTC)  # the recording is entirely in the past
    with pytest.raises(WeatherResponseError, match="no hourly values from 2021-12-01T00:00Z on"):
        await client.forecast(OM_LAT, OM_LON)


async def test_openweathermap_recorded_forecast(server: ReplayServer, session: aiohttp.ClientSession) -> None:
    client = OpenWeatherMapClient(session, API_KEY, base_url=server.base_url, clock=FakeClock(OWM_NOW))
    forecast = await client.forecast(OWM_LAT, OWM_LON, hours=24)

    assert forecast.source == "openweathermap" and client.source == "openweathermap"
    assert forecast.fetched_at == OWM_NOW
    assert_hourly_utc(forecast)
    assert len(forecast.times) == 24
    assert forecast.times[0] == datetime(2024, 10, 25, 16, tzinfo=UTC)  # dt 1729872000: the current hour
    assert forecast.times[-1] == datetime(2024, 10, 26, 15, tzinfo=UTC)
    assert forecast.ghi_w_m2 == (None,) * 24  # OWM has no irradiance
    assert (forecast.temp_air_c[0], forecast.cloud_cover_pct[0]) == (14.74, 100)
    assert (forecast.temp_air_c[9], forecast.cloud_cover_pct[9]) == (12.56, 15)  # dt 1729904400
    assert forecast.cloud_cover_pct[8:12] == (89, 15, 42, 58)

    (query,) = server.queries(OWM_PATH)
    assert query == {
        "lat": "51.477",
        "lon": "-0.001",
        "appid": API_KEY,
        "units": "metric",
        "exclude": "current,minutely,daily,alerts",
    }
    assert API_KEY not in repr(client)

    # The recording starts one hour before "now": 48 hours asked, 47 left.
    full = await client.forecast(OWM_LAT, OWM_LON, hours=48)
    assert len(full.times) == 47 and full.times[-1] == datetime(2024, 10, 27, 14, tzinfo=UTC)
    assert full.cloud_cover_pct[-1] == 37 and full.temp_air_c[-1] == 14.84


# --- caching --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["open-meteo", "openweathermap"])
async def test_cache_within_and_after_ttl(
    name: str, server: ReplayServer, session: aiohttp.ClientSession
) -> None:
    service, client, clock = make_client(name, session, server, cache_ttl_s=900)
    first, concurrent = await asyncio.gather(  # concurrent calls for one key share one request
        client.forecast(service.lat, service.lon, hours=12),
        client.forecast(service.lat, service.lon, hours=12),
    )
    assert concurrent == first
    assert len(server.queries(service.path)) == 1

    clock.advance(899)
    again = await client.forecast(service.lat + 0.0001, service.lon, hours=12)  # same key after rounding
    assert again.fetched_at == first.fetched_at
    assert again.times[0] == clock.now.replace(minute=0, second=0)  # re-trimmed from the cached series
    assert set(again.times) <= set(first.times) | {first.times[-1] + timedelta(hours=1)}
    assert len(server.queries(service.path)) == 1

    await client.forecast(service.lat, service.lon, hours=6)  # another horizon is another key
    assert len(server.queries(service.path)) == 2

    clock.advance(1)  # 900 s after the first fetch
    refreshed = await client.forecast(service.lat, service.lon, hours=12)
    assert len(server.queries(service.path)) == 3
    assert refreshed.fetched_at == service.now + timedelta(seconds=900)


@pytest.mark.parametrize("name", ["open-meteo", "openweathermap"])
async def test_failed_refresh_raises(
    name: str, server: ReplayServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    service, client, clock = make_client(name, session, server, cache_ttl_s=60)
    assert await fetch_weather(client, service.lat, service.lon) is not None
    server.serve(service.path, b"upstream down", status=503, content_type="text/plain")
    clock.advance(30)
    assert await fetch_weather(client, service.lat, service.lon) is not None  # still cached
    clock.advance(30)
    await assert_fails(client, service, caplog, WeatherResponseError, "HTTP 503", "upstream down")


# --- timeouts and transport failures --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["open-meteo", "openweathermap"])
async def test_timeout(
    name: str, server: ReplayServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    service, client, _ = make_client(name, session, server, timeout_s=0.2)
    body = server.replies[service.path].body
    server.serve(service.path, body, delay_s=5.0)
    started = time.monotonic()
    await assert_fails(client, service, caplog, WeatherTimeoutError, "no answer within 0.2 s")
    assert time.monotonic() - started < 2.0  # two requests, each cut at 0.2 s
    assert len(server.queries(service.path)) == 2


@pytest.mark.parametrize("name", ["open-meteo", "openweathermap"])
async def test_connection_refused(
    name: str, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = SERVICES[name]
    client = service.make(session, base_url=f"http://127.0.0.1:{port}", clock=FakeClock(service.now))
    error = await assert_fails(client, service, caplog, WeatherError, "request failed")
    assert not isinstance(error, WeatherTimeoutError | WeatherResponseError)


# --- HTTP errors and garbage ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["open-meteo", "openweathermap"])
async def test_http_500(
    name: str, server: ReplayServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    service, client, _ = make_client(name, session, server)
    server.serve(service.path, {"error": True, "reason": "Internal Server Error"}, status=500)
    await assert_fails(client, service, caplog, WeatherResponseError, "HTTP 500", "Internal Server Error")


async def test_openweathermap_error_body_echoing_the_key_is_redacted(
    server: ReplayServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 whose body quotes the request URL: the key is masked in the error and the warning."""
    service, client, _ = make_client("openweathermap", session, server)
    body = {"cod": 401, "message": f"Invalid API key for /data/3.0/onecall?lat=51.477&appid={API_KEY}"}
    server.serve(OWM_PATH, body, status=401)
    error = await assert_fails(client, service, caplog, WeatherResponseError, "HTTP 401", "appid=***")
    assert "Invalid API key" in str(error)


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[Any], Any]:
    def mutate(payload: Any) -> Any:
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return payload

    return mutate


def _delete(path: tuple[str | int, ...]) -> Callable[[Any], Any]:
    def mutate(payload: Any) -> Any:
        target = payload
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return payload

    return mutate


def _drop_last(path: tuple[str, ...]) -> Callable[[Any], Any]:
    def mutate(payload: Any) -> Any:
        target = payload
        for key in path:
            target = target[key]
        target.pop()
        return payload

    return mutate


GARBAGE: list[tuple[str, str, Callable[[Any], Any] | bytes, str]] = [
    # (service, case id, mutation of the recorded payload or a raw body, expected fragment of the error)
    ("open-meteo", "html", b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
    ("open-meteo", "truncated", b'{"hourly": {"time": ["2021-11-24T00:00"', "not JSON"),
    ("open-meteo", "list", lambda p: [p], "response is a JSON array, not an object"),
    ("open-meteo", "no-hourly", _delete(("hourly",)), "hourly is missing"),
    ("open-meteo", "hourly-string", _set(("hourly",), "soon"), "hourly is a JSON string"),
    (
        "open-meteo",
        "no-ghi",
        _delete(("hourly", "shortwave_radiation")),
        "hourly.shortwave_radiation is missing",
    ),
    ("open-meteo", "lengths", _drop_last(("hourly", "cloud_cover")), "hourly.cloud_cover has 167 values"),
    (
        "open-meteo",
        "string-number",
        _set(("hourly", "temperature_2m", 15), "7.3"),
        "hourly.temperature_2m[15]",
    ),
    ("open-meteo", "bool-number", _set(("hourly", "cloud_cover", 15), True), "hourly.cloud_cover[15]"),
    ("open-meteo", "nan", _set(("hourly", "shortwave_radiation", 15), math.nan), "not JSON"),
    (
        "open-meteo",
        "overflow",
        b'{"hourly": {"time": ["2021-11-24T00:00"], "shortwave_radiation": [1e999], '
        b'"cloud_cover": [1], "temperature_2m": [1]}}',
        "hourly.shortwave_radiation[0] is not finite",
    ),
    ("open-meteo", "cloud-150", _set(("hourly", "cloud_cover", 12), 150), "hourly.cloud_cover[12] = 150"),
    (
        "open-meteo",
        "ghi-negative",
        _set(("hourly", "shortwave_radiation", 13), -50),
        "shortwave_radiation[13]",
    ),
    ("open-meteo", "kelvin", _set(("hourly", "temperature_2m", 14), 280.05), "hourly.temperature_2m[14]"),
    ("open-meteo", "bad-time", _set(("hourly", "time", 3), "yesterday"), "hourly.time[3]"),
    ("open-meteo", "time-gap", _set(("hourly", "time", 5), "2021-11-24T06:00"), "hourly.time[5]"),
    ("openweathermap", "html", b"<html>Service Unavailable</html>", "not JSON"),
    ("openweathermap", "list", lambda p: p["hourly"], "response is a JSON array, not an object"),
    ("openweathermap", "no-hourly", _delete(("hourly",)), "hourly is missing"),
    (
        "openweathermap",
        "hourly-object",
        _set(("hourly",), {"dt": 1}),
        "hourly is a JSON object, not an array",
    ),
    ("openweathermap", "empty", _set(("hourly",), []), "hourly is empty"),
    ("openweathermap", "entry-list", _set(("hourly", 2), [1729875600, 14.81]), "hourly[2] is a JSON array"),
    ("openweathermap", "no-clouds", _delete(("hourly", 3, "clouds")), "hourly[3].clouds is missing"),
    ("openweathermap", "string-temp", _set(("hourly", 4, "temp"), "14.8"), "hourly[4].temp"),
    ("openweathermap", "string-dt", _set(("hourly", 5, "dt"), "1729886400"), "hourly[5].dt"),
    ("openweathermap", "nan", _set(("hourly", 6, "temp"), math.nan), "not JSON"),
    ("openweathermap", "kelvin", _set(("hourly", 7, "temp"), 286.47), "hourly[7].temp = 286.47"),
    ("openweathermap", "clouds-101", _set(("hourly", 8, "clouds"), 101), "hourly[8].clouds = 101"),
    ("openweathermap", "repeated-dt", _set(("hourly", 9, "dt"), 1729897200), "hourly[].dt[9]"),
]


@pytest.mark.parametrize(
    ("name", "mutation", "fragment"),
    [g[:1] + g[2:] for g in GARBAGE],
    ids=[f"{g[0]}-{g[1]}" for g in GARBAGE],
)
async def test_garbage_is_rejected(
    name: str,
    mutation: Callable[[Any], Any] | bytes,
    fragment: str,
    server: ReplayServer,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service, client, _ = make_client(name, session, server)
    if isinstance(mutation, bytes):
        server.serve(service.path, mutation, content_type="text/html")
    else:
        server.serve(service.path, mutation(copy.deepcopy(recorded(service.recording))))
    await assert_fails(client, service, caplog, WeatherResponseError, fragment)
    # Nothing was cached: the next call asks again.
    assert len(server.queries(service.path)) == 2


# --- key hygiene, arguments -----------------------------------------------------------------------------


async def test_api_key_never_logged_on_success(
    server: ReplayServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    service, client, _ = make_client("openweathermap", session, server)
    with caplog.at_level(logging.DEBUG):
        assert await fetch_weather(client, service.lat, service.lon) is not None
    assert any(OWM_PATH in r.getMessage() for r in caplog.records)  # the request was logged ...
    assert_no_key(caplog)  # ... without its query string


async def test_invalid_arguments(server: ReplayServer, session: aiohttp.ClientSession) -> None:
    client = OpenMeteoClient(session, base_url=server.base_url, clock=FakeClock(OM_NOW))
    for lat, lon, hours in ((91.0, 0.0, 48), (0.0, -180.5, 48), (math.nan, 0.0, 48), (0.0, 0.0, 0)):
        with pytest.raises(ValueError):
            await fetch_weather(client, lat, lon, hours)  # programming errors are not service failures
    assert server.requests == []
    with pytest.raises(ValueError, match="API key"):
        OpenWeatherMapClient(session, "")
    with pytest.raises(ValueError, match="tz-aware"):
        await OpenMeteoClient(
            session, base_url=server.base_url, clock=lambda: datetime(2021, 11, 24)
        ).forecast(OM_LAT, OM_LON)
