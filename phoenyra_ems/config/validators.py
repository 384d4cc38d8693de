"""A small validation toolkit over voluptuous: scalars, sections (mapping -> dataclass), lists.

Every validator raises ``voluptuous.Invalid`` with a message a user can act on; :func:`section`
rejects unknown keys (suggesting the closest known one) and runs cross-field checks.
"""

from __future__ import annotations

import difflib
import math
import re
import zoneinfo
from collections.abc import Callable, Hashable, Iterable
from datetime import time
from typing import Any

import voluptuous as vol

Validator = Callable[[Any], Any]
Check = Callable[[Any], Iterable[vol.Invalid]]

SLUG_RE = re.compile(r"[a-z0-9_-]+")
_RULE_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


# --- scalar validators -------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:g}"


def number(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Validator:
    """A finite int or float (not bool), returned as float, within the given bounds."""

    def validate(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number, got {describe(value)}")
        result = float(value)
        if not math.isfinite(result):
            raise vol.Invalid("expected a finite number")
        if gt is not None and result <= gt:
            raise vol.Invalid(f"value must be greater than {_fmt(gt)}")
        if ge is not None and result < ge:
            raise vol.Invalid(f"value must be at least {_fmt(ge)}")
        if le is not None and result > le:
            raise vol.Invalid(f"value must be at most {_fmt(le)}")
        return result

    return validate


def integer(*, ge: int | None = None, le: int | None = None) -> Validator:
    """An int (not bool) within the given bounds."""

    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected an integer, got {describe(value)}")
        if ge is not None and value < ge:
            raise vol.Invalid(f"value must be at least {ge}")
        if le is not None and value > le:
            raise vol.Invalid(f"value must be at most {le}")
        return value

    return validate


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {describe(value)}")
    return value


def string(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a string, got {describe(value)}")
    if not value.strip():
        raise vol.Invalid("must not be empty")
    return value


def text(value: Any) -> str:
    """Any string, numbers converted (credentials, prefixes)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a string, got {describe(value)}")
    return value


def optional(validator: Validator) -> Validator:
    """``validator``, or null."""

    def validate(value: Any) -> Any:
        return None if value is None else validator(value)

    return validate


def one_of(choices: Iterable[str], what: str = "value") -> Validator:
    options = tuple(choices)

    def validate(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            known = ", ".join(options) if options else "(none available)"
            raise vol.Invalid(f"unknown {what} {value!r}; expected one of: {known}")
        return value

    return validate


def timezone(value: Any) -> str:
    """An IANA time zone name such as ``Europe/Vienna``."""
    name = string(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory (tzdata)
        if zoneinfo.available_timezones():  # with no tz database at all, trust the name
            raise vol.Invalid(f"unknown time zone {name!r} (use an IANA name like 'Europe/Vienna')") from None
    return name


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _hhmm(hours: str, minutes: str, *, end: bool) -> time:
    h, m = int(hours), int(minutes)
    if end and (h, m) == (24, 0):
        return time(0, 0)
    if h > 23 or m > 59:
        raise vol.Invalid(f"invalid time {hours}:{minutes}")
    return time(h, m)


def rule_time(value: Any) -> tuple[time, time]:
    """``"HH:MM-HH:MM"`` -> (start, end); an end of 24:00 means midnight."""
    match = _RULE_TIME_RE.fullmatch(value.replace(" ", "")) if isinstance(value, str) else None
    if match is None:
        raise vol.Invalid(f'expected a time range like "10:00-16:00", got {describe(value)}')
    start = _hhmm(match.group(1), match.group(2), end=False)
    stop = _hhmm(match.group(3), match.group(4), end=True)
    if start == stop and match.group(3) != "24":
        raise vol.Invalid("time range is empty (start equals end)")
    return start, stop


# --- structure ---------------------------------------------------------------------------


def unknown_key(key: Hashable, allowed: Iterable[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def mapping(value: Any) -> dict[Hashable, Any]:
    if value is None:
        return {}  # an empty section (``mqtt:``) means "all defaults"
    if not isinstance(value, dict):
        raise vol.Invalid(f"expected a mapping, got {describe(value)}")
    return value


def section(
    fields: dict[Any, Validator],
    build: Callable[..., Any] | None = None,
    checks: Iterable[Check] = (),
) -> Validator:
    """Validate a mapping with voluptuous, then ``build(**validated)``, then run ``checks``.

    Every field error is collected; unknown keys get a "did you mean" hint.
    """
    schema = vol.Schema(fields)
    allowed = [str(key) for key in fields]
    check_list = list(checks)

    def validate(value: Any) -> Any:
        data = mapping(value)
        try:
            result = schema(data)
        except vol.MultipleInvalid as exc:
            raise vol.MultipleInvalid([_reword(err, allowed) for err in exc.errors]) from None
        obj = build(**result) if build is not None else result
        errors = [err for check in check_list for err in check(obj)]
        if errors:
            raise vol.MultipleInvalid(errors)
        return obj

    return validate


def _reword(err: vol.Invalid, allowed: list[str]) -> vol.Invalid:
    if err.msg == "extra keys not allowed" and len(err.path) == 1:
        return vol.Invalid(unknown_key(err.path[0], allowed), path=err.path)
    if err.msg == "required key not provided":
        return vol.Invalid("required key is missing", path=err.path)
    return err


def list_of(validator: Validator, *, unique: bool = False) -> Validator:
    """A list whose items all pass ``validator``; returned as a tuple."""

    def validate(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list, got {describe(value)}")
        out: list[Any] = []
        errors: list[vol.Invalid] = []
        for index, item in enumerate(value):
            try:
                result = validator(item)
            except vol.Invalid as exc:
                exc.prepend([index])
                errors.extend(exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc])
                continue
            if unique and result in out:
                errors.append(vol.Invalid(f"{result!r} is listed twice", path=[index]))
            out.append(result)
        if errors:
            raise vol.MultipleInvalid(errors)
        return tuple(out)

    return validate


def collect(errors: list[vol.Invalid], exc: vol.Invalid, prefix: list[Hashable]) -> None:
    exc.prepend(prefix)
    errors.extend(exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc])


PCT = number(ge=0, le=100)
POSITIVE = number(gt=0)
PORT = integer(ge=1, le=65535)
