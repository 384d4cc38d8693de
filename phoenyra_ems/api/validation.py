"""Request validation (voluptuous): bodies and query strings → typed values or per-field errors."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import voluptuous as vol

from phoenyra_ems.api.errors import ApiError, invalid
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.controller import SiteController
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.core.overrides import LimitOverrides, override_errors
from phoenyra_ems.models import SiteMode

DEFAULT_MANUAL_DURATION_S = 900.0
MAX_MANUAL_DURATION_S = 86400.0
MAX_HISTORY_SPAN = timedelta(days=366)
MAX_HISTORY_POINTS = 20_000


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise vol.Invalid("must be a finite number")
    return float(value)


def _optional_number(value: Any) -> float | None:
    return None if value is None else _finite(value)


CONTROL = vol.Schema(
    {
        vol.Optional("mode"): vol.In([m.value for m in SiteMode], msg="must be auto, manual or standby"),
        vol.Optional("strategy"): vol.Any(None, str),
        vol.Optional("setpoint_kw"): _finite,
        vol.Optional("duration_s"): vol.All(_finite, vol.Range(min=1, max=MAX_MANUAL_DURATION_S)),
    }
)
LIMITS = vol.Schema(
    {
        vol.Optional("soc_reserve_pct"): _optional_number,
        vol.Optional("power_charge_max_kw"): _optional_number,
        vol.Optional("power_discharge_max_kw"): _optional_number,
    }
)


def _fields(err: vol.MultipleInvalid) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in err.errors:
        key = ".".join(str(p) for p in error.path) or "body"
        message = error.msg
        if message == "extra keys not allowed":
            message = "unknown field"
        elif message == "required key not provided":
            message = "required"
        fields.setdefault(key, message)
    return fields


def _validate(schema: vol.Schema, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid({"body": "must be a JSON object"})
    try:
        result: dict[str, Any] = schema(body)
    except vol.MultipleInvalid as err:
        raise invalid(_fields(err)) from err
    return result


def parse_control(body: Any, controller: SiteController) -> ControlIntent:
    """A control request for ``controller``'s site → ControlIntent; every field error at once (422).

    ``strategy`` not sent keeps the pinned strategy; ``null`` unpins it. Without ``mode`` the request
    changes only the strategy: mode, manual setpoint and expiry stay as they are. A manual setpoint
    must lie within the effective power limits (hardware tightened by the operator's).
    """
    data = _validate(CONTROL, body)
    current, site = controller.intent, controller.site
    if "mode" not in data:
        if "strategy" not in data:
            raise invalid({"mode": "required (or give only strategy to change the strategy alone)"})
        extra: dict[str, str] = {
            key: "only allowed with mode" for key in ("setpoint_kw", "duration_s") if key in data
        }
        if extra:
            raise invalid(extra)
    mode = SiteMode(data.get("mode", current.mode))
    fields: dict[str, str] = {}
    strategy = data.get("strategy", current.strategy)
    if strategy is not None and strategy not in site.ems.strategies:
        fields["strategy"] = f"must be one of {', '.join(site.ems.strategies)}"
    if "mode" not in data:
        if fields:
            raise invalid(fields)
        return replace(current, strategy=strategy)
    bess = controller.effective_site.bess
    low, high = -bess.power_charge_max_kw, bess.power_discharge_max_kw
    setpoint = data.get("setpoint_kw")
    if mode is SiteMode.MANUAL:
        if setpoint is None:
            fields["setpoint_kw"] = "required in manual mode"
        elif not (low <= setpoint <= high):
            fields["setpoint_kw"] = f"must be between {low:g} and {high:g} kW"
    elif setpoint is not None:
        fields["setpoint_kw"] = "only allowed in manual mode"
    if "duration_s" in data and mode is not SiteMode.MANUAL:
        fields["duration_s"] = "only allowed in manual mode"
    if fields:
        raise invalid(fields)
    if mode is SiteMode.MANUAL:
        duration = data.get("duration_s", DEFAULT_MANUAL_DURATION_S)
        expires = controller.clock.now() + timedelta(seconds=duration)
        return ControlIntent(mode, strategy, float(setpoint or 0.0), expires)
    return ControlIntent(mode, strategy)


def parse_limits(body: Any, site: SiteConfig, current: LimitOverrides) -> LimitOverrides:
    """Merge a limits request into ``current``: fields not sent keep their value, ``null`` clears."""
    data = _validate(LIMITS, body)
    if not data:
        raise invalid(
            {"body": "give at least one of soc_reserve_pct, power_charge_max_kw, power_discharge_max_kw"}
        )
    overrides = replace(current, **data)
    errors = override_errors(site, overrides)
    if errors:
        raise invalid(errors)
    return overrides


def _parse_time(name: str, text: str | None, default: datetime) -> datetime:
    if text is None or text == "":
        return default
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise invalid({name: "must be an ISO 8601 date-time"}) from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_history_query(query: dict[str, str], now: datetime) -> tuple[datetime, datetime, float | None]:
    empty = {
        name: "must not be empty (leave the parameter out instead)"
        for name in ("from", "to", "step")
        if query.get(name) == ""
    }
    if empty:
        raise invalid(empty)
    end = _parse_time("to", query.get("to"), now)
    start = _parse_time("from", query.get("from"), end - timedelta(hours=1))
    step: float | None = None
    if query.get("step"):
        try:
            step = float(query["step"])
        except ValueError as err:
            raise invalid({"step": "must be a number of seconds"}) from err
        if not math.isfinite(step) or step < 1:
            raise invalid({"step": "must be at least 1 second"})
    if end <= start:
        raise invalid({"from": "must be before to"})
    span = end - start
    if span > MAX_HISTORY_SPAN:
        raise invalid({"from": "the range may span at most 366 days"})
    if step is None and span > timedelta(days=1):
        step = max(1.0, span.total_seconds() / MAX_HISTORY_POINTS)  # keep responses bounded
    elif step is not None and span.total_seconds() / step > MAX_HISTORY_POINTS:
        raise ApiError(
            422,
            "invalid_request",
            "too many points",
            {"step": f"at most {MAX_HISTORY_POINTS} points per query"},
        )
    return start, end, step
