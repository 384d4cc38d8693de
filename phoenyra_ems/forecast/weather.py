"""Hourly weather forecasts for the PV forecaster: Open-Meteo and OpenWeatherMap One Call 3.0.

Both clients share an injected :class:`aiohttp.ClientSession`, bound every request with
``asyncio.timeout``, cache per (latitude, longitude rounded to 3 decimals, hours) and validate every
value before it reaches the forecaster. Failures raise :class:`WeatherError`; :func:`fetch_weather`
turns them into a WARNING and ``None`` so the caller can fall back to clear-sky x observed ratio.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import quote

import aiohttp

from phoenyra_ems.forecast import weather_checks as check

LOGGER = logging.getLogger(__name__)

OPEN_METEO = "open-meteo"
OPENWEATHERMAP = "openweathermap"

_OPEN_METEO_MAX_DAYS = 16

_Key = tuple[float, float, int]


@dataclass(frozen=True, slots=True)
class WeatherForecast:
    """Hourly forecast: ``times`` are tz-aware UTC hour starts, ascending, one value per series each."""

    source: str  # "open-meteo" | "openweathermap"
    times: tuple[datetime, ...]
    ghi_w_m2: tuple[float | None, ...]  # global horizontal irradiance; None where the service has none
    cloud_cover_pct: tuple[float | None, ...]  # 0..100
    temp_air_c: tuple[float | None, ...]
    fetched_at: datetime


class WeatherError(Exception):
    """A weather service failed; the message names the service and the URL path, never the API key."""


class WeatherTimeoutError(WeatherError):
    """The service did not answer within ``timeout_s``."""


class WeatherResponseError(WeatherError):
    """HTTP status >= 400, or a body that is not JSON of the expected shape, types and ranges."""


class WeatherClient(Protocol):
    source: str

    async def forecast(self, latitude: float, longitude: float, hours: int = 48) -> WeatherForecast:
        """The next ``hours`` hours from the current one (fewer if the service has fewer)."""
        ...


async def fetch_weather(
    client: WeatherClient, latitude: float, longitude: float, hours: int = 48
) -> WeatherForecast | None:
    """Never raises for service failures: logs a WARNING naming the source and the reason and returns None.

    The caller then falls back to clear-sky x the recently observed ratio. Invalid arguments
    (``ValueError``) and cancellation still propagate.
    """
    try:
        return await client.forecast(latitude, longitude, hours)
    except WeatherError as exc:
        LOGGER.warning("weather forecast from %s unavailable, falling back: %s", client.source, exc)
        return None


class _CachingClient:
    """Request, timeout, error mapping, caching and trimming shared by both services."""

    source: str
    _path: str

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        timeout_s: float,
        cache_ttl_s: float,
        clock: Callable[[], datetime] | None,
        secret: str | None = None,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        if not cache_ttl_s >= 0:
            raise ValueError("cache_ttl_s must be >= 0")
        self._session = session
        self._url = base_url.rstrip("/") + self._path
        self._timeout_s = timeout_s
        self._cache_ttl = timedelta(seconds=cache_ttl_s)
        self._clock = clock if clock is not None else _utcnow
        self._secrets = (secret, quote(secret, safe="")) if secret else ()
        self._cache: dict[_Key, WeatherForecast] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}

    async def forecast(self, latitude: float, longitude: float, hours: int = 48) -> WeatherForecast:
        """The next ``hours`` hours from the current one, from the cache while it is fresh."""
        lat, lon = _rounded_coordinates(latitude, longitude)
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
            raise ValueError(f"hours must be a positive integer, not {hours!r}")
        key = (lat, lon, hours)
        async with self._locks.setdefault(key, asyncio.Lock()):
            now = self._now()
            cached = self._cache.get(key)
            if cached is not None and timedelta(0) <= now - cached.fetched_at < self._cache_ttl:
                return self._checked(lambda: _trim(cached, now, hours))
            payload = await self._get(self._params(lat, lon, hours, now))
            full = self._checked(lambda: self._parse(payload, now))
            result = self._checked(lambda: _trim(full, now, hours))
            self._cache = {k: v for k, v in self._cache.items() if now - v.fetched_at < self._cache_ttl}
            self._cache[key] = full
            return result

    def _params(self, lat: float, lon: float, hours: int, now: datetime) -> dict[str, str]:
        raise NotImplementedError

    def _parse(self, payload: object, fetched_at: datetime) -> WeatherForecast:
        raise NotImplementedError

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("clock must return tz-aware datetimes")
        return now.astimezone(UTC)

    def _error(self, reason: str) -> str:
        return self._redact(f"{self.source} {self._path}: {reason}")

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _checked(self, step: Callable[[], WeatherForecast]) -> WeatherForecast:
        try:
            return step()
        except check.Invalid as exc:
            raise WeatherResponseError(self._error(str(exc))) from None

    async def _get(self, params: dict[str, str]) -> object:
        LOGGER.debug("%s: GET %s", self.source, self._path)
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._session.get(self._url, params=params) as response:
                    status = response.status
                    body = await response.read()
        except TimeoutError:
            raise WeatherTimeoutError(self._error(f"no answer within {self._timeout_s:g} s")) from None
        except aiohttp.ClientError as exc:
            # from None: aiohttp's exceptions may carry the full URL, query string (API key) included.
            raise WeatherError(self._error(f"request failed: {type(exc).__name__}: {exc}")) from None
        if status >= 400:
            raise WeatherResponseError(self._error(f"HTTP {status}: {check.snippet(body)}"))
        try:
            return json.loads(body, parse_constant=check.reject_constant)
        except (ValueError, RecursionError):
            raise WeatherResponseError(self._error(f"response is not JSON: {check.snippet(body)}")) from None


class OpenMeteoClient(_CachingClient):
    """Open-Meteo forecast API: shortwave radiation (GHI), cloud cover, 2 m temperature; no key."""

    source = OPEN_METEO
    _path = "/v1/forecast"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = "https://api.open-meteo.com",
        timeout_s: float = 10.0,
        cache_ttl_s: float = 900.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(
            session, base_url=base_url, timeout_s=timeout_s, cache_ttl_s=cache_ttl_s, clock=clock
        )

    def _params(self, lat: float, lon: float, hours: int, now: datetime) -> dict[str, str]:
        days = min(_OPEN_METEO_MAX_DAYS, max(1, math.ceil((now.hour + hours) / 24)))
        return {
            "latitude": _format_coordinate(lat),
            "longitude": _format_coordinate(lon),
            "hourly": "shortwave_radiation,cloud_cover,temperature_2m",
            "timezone": "UTC",
            "forecast_days": str(days),
        }

    def _parse(self, payload: object, fetched_at: datetime) -> WeatherForecast:
        doc = check.mapping(payload, "response")
        hourly = check.mapping(doc.get("hourly"), "hourly")
        offset = doc.get("utc_offset_seconds", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > 18 * 3600:
            raise check.Invalid(f"utc_offset_seconds is {offset!r:.40}, not an offset in seconds")
        raw_times = check.sequence(hourly.get("time"), "hourly.time")
        columns: dict[str, list[object]] = {}
        for name in ("shortwave_radiation", "cloud_cover", "temperature_2m"):
            column = check.sequence(hourly.get(name), f"hourly.{name}")
            if len(column) != len(raw_times):
                raise check.Invalid(
                    f"hourly.{name} has {len(column)} values, hourly.time has {len(raw_times)}"
                )
            columns[name] = column
        times = tuple(
            check.iso_time(value, f"hourly.time[{i}]", timedelta(seconds=offset))
            for i, value in enumerate(raw_times)
        )
        check.hourly_times(times, "hourly.time")
        radiation = [
            check.ghi(v, f"hourly.shortwave_radiation[{i}]")
            for i, v in enumerate(columns["shortwave_radiation"])
        ]
        return WeatherForecast(
            source=self.source,
            times=times,
            # Open-Meteo's radiation is the mean of the *preceding* hour: the value stamped 11:00 is
            # the hour that starts at 10:00. Our times are interval starts, so it moves back one
            # slot (the last hour has none). Cloud cover and temperature are instants: kept.
            ghi_w_m2=(*radiation[1:], None),
            cloud_cover_pct=tuple(
                check.cloud(v, f"hourly.cloud_cover[{i}]") for i, v in enumerate(columns["cloud_cover"])
            ),
            temp_air_c=tuple(
                check.temp(v, f"hourly.temperature_2m[{i}]") for i, v in enumerate(columns["temperature_2m"])
            ),
            fetched_at=fetched_at,
        )


class OpenWeatherMapClient(_CachingClient):
    """OpenWeatherMap One Call API 3.0, hourly part (48 h): temperature and clouds; no irradiance."""

    source = OPENWEATHERMAP
    _path = "/data/3.0/onecall"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_key: str,
        *,
        base_url: str = "https://api.openweathermap.org",
        timeout_s: float = 10.0,
        cache_ttl_s: float = 900.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("OpenWeatherMap needs an API key")
        super().__init__(
            session,
            base_url=base_url,
            timeout_s=timeout_s,
            cache_ttl_s=cache_ttl_s,
            clock=clock,
            secret=api_key,
        )
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"OpenWeatherMapClient(url={self._url!r})"  # never the key

    def _params(self, lat: float, lon: float, hours: int, now: datetime) -> dict[str, str]:
        return {
            "lat": _format_coordinate(lat),
            "lon": _format_coordinate(lon),
            "appid": self._api_key,
            "units": "metric",
            "exclude": "current,minutely,daily,alerts",
        }

    def _parse(self, payload: object, fetched_at: datetime) -> WeatherForecast:
        doc = check.mapping(payload, "response")
        entries = check.sequence(doc.get("hourly"), "hourly")
        times: list[datetime] = []
        clouds: list[float | None] = []
        temps: list[float | None] = []
        for i, raw in enumerate(entries):
            entry = check.mapping(raw, f"hourly[{i}]")
            for name in ("dt", "temp", "clouds"):
                if name not in entry:
                    raise check.Invalid(f"hourly[{i}].{name} is missing")
            times.append(check.unix_time(entry["dt"], f"hourly[{i}].dt"))
            temps.append(check.temp(entry["temp"], f"hourly[{i}].temp"))
            clouds.append(check.cloud(entry["clouds"], f"hourly[{i}].clouds"))
        check.hourly_times(times, "hourly[].dt")
        return WeatherForecast(
            source=self.source,
            times=tuple(times),
            ghi_w_m2=(None,) * len(times),
            cloud_cover_pct=tuple(clouds),
            temp_air_c=tuple(temps),
            fetched_at=fetched_at,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rounded_coordinates(latitude: float, longitude: float) -> tuple[float, float]:
    for name, value, limit in (("latitude", latitude, 90.0), ("longitude", longitude, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
        if abs(value) > limit:
            raise ValueError(f"{name} {value} outside -{limit:g}..{limit:g}")
    return round(float(latitude), 3) + 0.0, round(float(longitude), 3) + 0.0  # + 0.0: no "-0"


def _format_coordinate(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _trim(full: WeatherForecast, now: datetime, hours: int) -> WeatherForecast:
    """The first ``hours`` hours from the hour containing ``now`` on."""
    start = now.replace(minute=0, second=0, microsecond=0)
    first = bisect_left(full.times, start)
    if first >= len(full.times):
        raise check.Invalid(f"no hourly values from {start:%Y-%m-%dT%H:%MZ} on")
    part = slice(first, first + hours)
    return WeatherForecast(
        source=full.source,
        times=full.times[part],
        ghi_w_m2=full.ghi_w_m2[part],
        cloud_cover_pct=full.cloud_cover_pct[part],
        temp_air_c=full.temp_air_c[part],
        fetched_at=full.fetched_at,
    )
