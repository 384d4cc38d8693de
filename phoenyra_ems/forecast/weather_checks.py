"""The checks of what a weather service sends (:mod:`phoenyra_ems.forecast.weather`): every value
typed, finite and in range, times hourly; a violation raises :class:`Invalid` naming the field
(``hourly[3].temp = 400 outside -100..70``). No I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
GHI_NOISE_W_M2 = 1.0  # Open-Meteo reports night-time irradiance as -0.1 .. -0.2: clamped to 0
GHI_MAX_W_M2 = 2000.0  # above the solar constant: a unit or scaling error, not weather
TEMP_RANGE_C = (-100.0, 70.0)  # outside it the service answered in kelvin or worse
BODY_SNIPPET = 200


class Invalid(ValueError):
    """A payload failed validation; the client wraps it into WeatherResponseError."""


def mapping(value: object, field: str) -> dict[str, object]:
    if value is None:
        raise Invalid(f"{field} is missing")
    if not isinstance(value, dict):
        raise Invalid(f"{field} is a JSON {json_type(value)}, not an object")
    return value


def sequence(value: object, field: str) -> list[object]:
    if value is None:
        raise Invalid(f"{field} is missing")
    if not isinstance(value, list):
        raise Invalid(f"{field} is a JSON {json_type(value)}, not an array")
    if not value:
        raise Invalid(f"{field} is empty")
    return value


def json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def in_range(value: object, field: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{field} is a JSON {json_type(value)} ({value!r:.40}), not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise Invalid(f"{field} is not finite")
    if not low <= number <= high:
        raise Invalid(f"{field} = {number:g} outside {low:g}..{high:g}")
    return number


def ghi(value: object, field: str) -> float | None:
    number = in_range(value, field, -GHI_NOISE_W_M2, GHI_MAX_W_M2)
    return None if number is None else max(number, 0.0) + 0.0


def cloud(value: object, field: str) -> float | None:
    return in_range(value, field, 0.0, 100.0)


def temp(value: object, field: str) -> float | None:
    return in_range(value, field, *TEMP_RANGE_C)


def iso_time(value: object, field: str, utc_offset: timedelta) -> datetime:
    if not isinstance(value, str):
        raise Invalid(f"{field} is a JSON {json_type(value)}, not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} = {value!r:.40} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC) - utc_offset
    return parsed.astimezone(UTC)


def unix_time(value: object, field: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{field} is a JSON {json_type(value)} ({value!r:.40}), not a unix time")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"{field} = {value} is out of range") from None


def hourly_times(times: list[datetime] | tuple[datetime, ...], field: str) -> None:
    if not times:
        raise Invalid(f"{field} is empty")
    for i, time in enumerate(times):
        if time.minute or time.second or time.microsecond:
            raise Invalid(f"{field}[{i}] = {time.isoformat()} is not the start of an hour")
        if i and time - times[i - 1] != HOUR:
            raise Invalid(f"{field}[{i}] = {time.isoformat()} is not one hour after the previous time")


def reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def snippet(body: bytes) -> str:
    text = " ".join(body[: BODY_SNIPPET * 4].decode("utf-8", errors="replace").split())
    return repr(text[:BODY_SNIPPET] + ("…" if len(text) > BODY_SNIPPET else ""))
