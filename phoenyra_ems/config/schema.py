"""Voluptuous schema: raw YAML data -> ``EmsConfig``.

``validate_config`` raises ``voluptuous.MultipleInvalid`` carrying *every* problem found,
each with the key path (as in the input data) where it occurred.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import replace
from datetime import time
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.model import (
    SELECTION_MODES,
    SENSOR_TYPES,
    ABTestConfig,
    AISelectionConfig,
    ApiConfig,
    BessConfig,
    EmsConfig,
    EmsSettings,
    ExplicitSensorConfig,
    FeedinLimitationConfig,
    FeedinRule,
    ForecastConfig,
    GridConnectionConfig,
    GridTariffConfig,
    Location,
    ModbusConfig,
    MqttConfig,
    MqttTopics,
    SensorRoleConfig,
    SensorRuleConfig,
    SensorsConfig,
    SiteConfig,
    StrategySelectionConfig,
)
from phoenyra_ems.devices import catalog

Validator = Callable[[Any], Any]
Check = Callable[[Any], Iterable[vol.Invalid]]

STRATEGIES = ("arbitrage", "peak_shaving", "self_consumption", "load_balancing", "optimiser")
SITE_SECTIONS = (
    "location",
    "bess",
    "modbus",
    "mqtt",
    "forecast",
    "grid_connection",
    "feedin_limitation",
    "grid_tariffs",
    "ems",
)
_SLUG_RE = re.compile(r"[a-z0-9_-]+")
_RULE_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


# --- scalar validators -------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:g}"


def number(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Validator:
    """A finite int or float (not bool), returned as float, within the given bounds."""

    def validate(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number, got {_describe(value)}")
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
            raise vol.Invalid(f"expected an integer, got {_describe(value)}")
        if ge is not None and value < ge:
            raise vol.Invalid(f"value must be at least {ge}")
        if le is not None and value > le:
            raise vol.Invalid(f"value must be at most {le}")
        return value

    return validate


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {_describe(value)}")
    return value


def string(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a string, got {_describe(value)}")
    if not value.strip():
        raise vol.Invalid("must not be empty")
    return value


def text(value: Any) -> str:
    """Any string, numbers converted (credentials, prefixes)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a string, got {_describe(value)}")
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


def profile(value: Any) -> str:
    """A device profile shipped in ``phoenyra_ems/devices/profiles``."""
    known = catalog.known_profiles()
    if isinstance(value, str) and value in known:
        return value
    listed = ", ".join(known) if known else "(none installed)"
    raise vol.Invalid(
        f"unknown device profile {value!r}; known profiles: {listed} "
        "(to add one, see docs/device-profiles.md)"
    )


def timezone(value: Any) -> str:
    """An IANA time zone name such as ``Europe/Vienna``."""
    name = string(value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory (tzdata)
        if zoneinfo.available_timezones():  # with no tz database at all, trust the name
            raise vol.Invalid(f"unknown time zone {name!r} (use an IANA name like 'Europe/Vienna')") from None
    return name


def site_id(value: Any) -> str:
    """A site id: a non-negative int or a slug ``[a-z0-9_-]+``; normalised to str."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _SLUG_RE.fullmatch(value):
        if value in RESERVED_SITE_IDS:
            raise vol.Invalid(f"site id {value!r} is reserved (it is an API path: /api/v1/sites/{value})")
        return value
    raise vol.Invalid(f"invalid site id {value!r}: use a number or lowercase letters, digits, '_' and '-'")


RESERVED_SITE_IDS = frozenset({"aggregated"})


def _describe(value: Any) -> str:
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
        raise vol.Invalid(f'expected a time range like "10:00-16:00", got {_describe(value)}')
    start = _hhmm(match.group(1), match.group(2), end=False)
    stop = _hhmm(match.group(3), match.group(4), end=True)
    if start == stop and match.group(3) != "24":
        raise vol.Invalid("time range is empty (start equals end)")
    return start, stop


# --- structure ---------------------------------------------------------------------------


def _unknown_key(key: Hashable, allowed: Iterable[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def _mapping(value: Any) -> dict[Hashable, Any]:
    if value is None:
        return {}  # an empty section (``mqtt:``) means "all defaults"
    if not isinstance(value, dict):
        raise vol.Invalid(f"expected a mapping, got {_describe(value)}")
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
        data = _mapping(value)
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
        return vol.Invalid(_unknown_key(err.path[0], allowed), path=err.path)
    if err.msg == "required key not provided":
        return vol.Invalid("required key is missing", path=err.path)
    return err


def list_of(validator: Validator, *, unique: bool = False) -> Validator:
    """A list whose items all pass ``validator``; returned as a tuple."""

    def validate(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list, got {_describe(value)}")
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


# --- sections ----------------------------------------------------------------------------


def _check_bess(bess: BessConfig) -> Iterator[vol.Invalid]:
    if bess.soc_min_pct >= bess.soc_max_pct:
        yield vol.Invalid(
            f"soc_min_pct ({_fmt(bess.soc_min_pct)}) must be below soc_max_pct ({_fmt(bess.soc_max_pct)})",
            path=["soc_min_pct"],
        )


def _check_grid(grid: GridConnectionConfig) -> Iterator[vol.Invalid]:
    if (
        grid.max_power_kw is not None
        and grid.max_export_kw is not None
        and grid.max_export_kw > grid.max_power_kw
    ):
        yield vol.Invalid("max_export_kw must not exceed max_power_kw", path=["max_export_kw"])


def _check_feedin(feedin: FeedinLimitationConfig) -> Iterator[vol.Invalid]:
    if feedin.mode == "dynamic" and not feedin.dynamic_rules:
        yield vol.Invalid("mode 'dynamic' needs at least one rule", path=["dynamic_rules"])


FORECAST_STEPS_S = (300, 900, 1800, 3600)


def _forecast_step(value: Any) -> int:
    step: int = integer()(value)
    if step not in FORECAST_STEPS_S:
        raise vol.Invalid(f"step_s must be one of {', '.join(map(str, FORECAST_STEPS_S))}")
    return step


def _check_forecast(forecast: ForecastConfig) -> Iterator[vol.Invalid]:
    if forecast.weather_source == "openweathermap" and not forecast.openweathermap_api_key:
        yield vol.Invalid(
            "weather_source 'openweathermap' needs openweathermap_api_key", path=["openweathermap_api_key"]
        )


def _check_ems(ems: EmsSettings) -> Iterator[vol.Invalid]:
    if ems.default_strategy not in ems.strategies:
        yield vol.Invalid(
            f"default_strategy {ems.default_strategy!r} is not in strategies ({', '.join(ems.strategies)})",
            path=["default_strategy"],
        )
    if ems.price_source == "file" and not ems.price_file:
        yield vol.Invalid("price_source 'file' needs price_file", path=["price_file"])
    missing = missing_optimiser_modules() if "optimiser" in ems.strategies else []
    if missing:
        yield vol.Invalid(
            f"strategy 'optimiser' needs {' and '.join(missing)}, not installed: "
            "pip install 'phoenyra-ems[server]' (or remove optimiser from strategies)",
            path=["strategies"],
        )


def missing_optimiser_modules() -> list[str]:
    """What the optimiser strategy needs (the LP on HiGHS) and this Python lacks; not imported here."""
    return [name for name in ("numpy", "scipy") if importlib.util.find_spec(name) is None]


def _check_modbus(modbus: ModbusConfig) -> Iterator[vol.Invalid]:
    if not modbus.enabled:
        yield vol.Invalid(
            "false is not supported: a site is controlled through its Modbus device "
            "(remove the site, or the key)",
            path=["enabled"],
        )


def _check_api(api: ApiConfig) -> Iterator[vol.Invalid]:
    if (api.tls_cert is None) != (api.tls_key is None):
        missing = "tls_key" if api.tls_key is None else "tls_cert"
        yield vol.Invalid("tls_cert and tls_key must be given together", path=[missing])


def _build_rule(**fields: Any) -> FeedinRule:
    start, end = fields["time"]
    return FeedinRule(start=start, end=end, limit_pct=fields["limit_pct"])


_PCT = number(ge=0, le=100)
_POSITIVE = number(gt=0)
_PORT = integer(ge=1, le=65535)

LOCATION = section(
    {
        vol.Optional("city"): text,
        vol.Optional("latitude"): optional(number(ge=-90, le=90)),
        vol.Optional("longitude"): optional(number(ge=-180, le=180)),
        vol.Optional("timezone"): timezone,
    },
    Location,
)

BESS = section(
    {
        vol.Required("energy_capacity_kwh"): _POSITIVE,
        vol.Required("power_charge_max_kw"): _POSITIVE,
        vol.Required("power_discharge_max_kw"): _POSITIVE,
        vol.Optional("efficiency_charge"): number(gt=0, le=1),
        vol.Optional("efficiency_discharge"): number(gt=0, le=1),
        vol.Optional("soc_min_pct"): _PCT,
        vol.Optional("soc_max_pct"): _PCT,
        vol.Optional("ramp_rate_kw_per_s"): optional(_POSITIVE),
    },
    BessConfig,
    [_check_bess],
)

MODBUS = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("connection_type"): one_of(["tcp"], "connection_type"),
        vol.Optional("host"): string,
        vol.Optional("port"): _PORT,
        vol.Optional("unit_id"): integer(ge=0, le=247),
        vol.Optional("profile"): profile,
        vol.Optional("timeout_s"): _POSITIVE,
        vol.Optional("retries"): integer(ge=0),
        vol.Optional("setpoint_refresh_s"): _POSITIVE,
        vol.Optional("assumed_hold_s"): _POSITIVE,
    },
    ModbusConfig,
    [_check_modbus],
)

# How to reach an MQTT broker: the same keys for a site's link and for sensor discovery.
BROKER: dict[Any, Validator] = {
    vol.Optional("host"): string,
    vol.Optional("port"): _PORT,
    vol.Optional("username"): optional(text),
    vol.Optional("password"): optional(text),
    vol.Optional("tls"): boolean,
}


MIN_KEY_CHARS = 16


def command_key(value: Any) -> str:
    """The HMAC key of a site's MQTT commands: a string of at least ``MIN_KEY_CHARS`` characters."""
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a string (use !secret), got {type(value).__name__}")
    if len(value.strip()) < MIN_KEY_CHARS:
        raise vol.Invalid(f"must be at least {MIN_KEY_CHARS} characters (e.g. openssl rand -hex 32)")
    return value


MQTT_SCHEMES = {"mqtt": (1883, False), "mqtts": (8883, True)}


def broker_address(value: Any) -> tuple[str, int | None, bool | None]:
    """``mqtt.broker``: ``host``, ``host:port`` or ``mqtt[s]://host[:port]`` -> (host, port, tls).

    Port and TLS are None when the value does not say (then ``port``/``tls`` or their defaults apply).
    """
    raw = string(value).strip()
    scheme = None
    if "://" in raw:
        scheme, _, rest = raw.partition("://")
        if scheme.lower() not in MQTT_SCHEMES:
            raise vol.Invalid(f"unknown scheme {scheme!r}: use mqtt:// or mqtts:// (TLS)")
    else:
        rest = raw
    try:
        parts = urllib.parse.urlsplit(f"//{rest}")
        port = parts.port
    except ValueError as exc:
        raise vol.Invalid(f"invalid broker address {raw!r}: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise vol.Invalid(
            "credentials do not belong in the address: use mqtt.username and mqtt.password (!secret)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise vol.Invalid(
            f"invalid broker address {raw!r}: expected host, host:port or mqtt[s]://host[:port]"
        )
    host = parts.hostname
    if not host or any(c.isspace() for c in host):
        raise vol.Invalid(f"invalid broker address {raw!r}: no host")
    if port is not None and port == 0:
        raise vol.Invalid("port must be 1…65535")
    if scheme is None:
        return host, port, None
    default_port, tls = MQTT_SCHEMES[scheme.lower()]
    return host, port if port is not None else default_port, tls


def topic_name(value: Any) -> str:
    """A topic to publish to or subscribe exactly: no wildcards, no NUL, not empty."""
    topic = string(value)
    if "+" in topic or "#" in topic:
        raise vol.Invalid(f"{topic!r} is a filter: a topic here has no '+' or '#'")
    if "\0" in topic or len(topic.encode()) > 65535:
        raise vol.Invalid("not a valid MQTT topic")
    return topic


MQTT_TOPICS = section(
    {
        vol.Optional("telemetry"): topic_name,
        vol.Optional("commands"): topic_name,
        vol.Optional("status"): topic_name,
        vol.Optional("ack"): topic_name,
    },
    MqttTopics,
)


def _build_mqtt(**fields: Any) -> MqttConfig:
    broker = fields.pop("broker", None)
    if broker is not None:
        host, port, tls = broker
        fields["host"] = host
        if port is not None:
            fields["port"] = port
        if tls is not None:
            fields["tls"] = tls
    return MqttConfig(**fields)


def _mqtt_conflicts(value: Any) -> Iterator[vol.Invalid]:
    """``broker`` and ``host``/``port``/``tls`` must not say different things."""
    if not isinstance(value, dict) or value.get("broker") is None:
        return
    try:
        _, port, tls = broker_address(value["broker"])
    except vol.Invalid:
        return  # reported by the field itself
    if value.get("host") is not None:
        yield vol.Invalid("give either broker or host (broker already names the host)", path=["host"])
    if port is not None and value.get("port") not in (None, port):
        yield vol.Invalid(f"port {value['port']!r} contradicts broker's port {port}", path=["port"])
    if tls is not None and value.get("tls") not in (None, tls):
        yield vol.Invalid(f"tls {value['tls']!r} contradicts the broker's scheme", path=["tls"])


_MQTT_FIELDS = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("broker"): broker_address,
        **BROKER,
        vol.Optional("topics"): MQTT_TOPICS,
        vol.Optional("topic_prefix"): text,
        vol.Optional("telemetry_interval_s"): _POSITIVE,
        vol.Optional("commands"): boolean,
        vol.Optional("command_key"): optional(command_key),
        vol.Optional("command_max_age_s"): number(ge=1, le=3600),
        vol.Optional("ha_discovery"): boolean,
        vol.Optional("ha_discovery_prefix"): topic_name,
    },
    _build_mqtt,
)


def MQTT(value: Any) -> MqttConfig:
    """A site's ``mqtt``: the broker as ``host``/``port``/``tls`` or as one ``broker`` address."""
    errors = list(_mqtt_conflicts(value))
    try:
        result: MqttConfig = _MQTT_FIELDS(value)
    except vol.Invalid as exc:
        errors.extend(exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc])
    if errors:
        raise vol.MultipleInvalid(errors)
    return result


FORECAST = section(
    {
        vol.Optional("pv_peak_power_kw"): number(ge=0),
        vol.Optional("latitude"): optional(number(ge=-90, le=90)),
        vol.Optional("longitude"): optional(number(ge=-180, le=180)),
        vol.Optional("tilt_deg"): number(ge=0, le=90),
        vol.Optional("azimuth_deg"): number(ge=0, le=360),
        vol.Optional("enabled"): boolean,
        vol.Optional("retrain_interval_h"): number(gt=0),
        vol.Optional("history_days"): number(ge=1),
        vol.Optional("step_s"): _forecast_step,
        vol.Optional("horizon_h"): number(gt=0, le=48),  # the models are trained for 48 h
        vol.Optional("weather_source"): one_of(["none", "open-meteo", "openweathermap"], "weather_source"),
        vol.Optional("openweathermap_api_key"): optional(text),
    },
    ForecastConfig,
    [_check_forecast],
)

GRID_CONNECTION = section(
    {
        vol.Optional("max_power_kw"): optional(_POSITIVE),
        vol.Optional("max_export_kw"): optional(number(ge=0)),
    },
    GridConnectionConfig,
    [_check_grid],
)

FEEDIN_RULE = section(
    {vol.Required("time"): rule_time, vol.Required("limit_pct"): _PCT},
    _build_rule,
)

FEEDIN_LIMITATION = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("mode"): one_of(["fixed", "dynamic"], "mode"),
        vol.Optional("fixed_limit_pct"): _PCT,
        vol.Optional("dynamic_rules"): list_of(FEEDIN_RULE),
    },
    FeedinLimitationConfig,
    [_check_feedin],
)

GRID_TARIFFS = section(
    {
        vol.Optional("energy_price_markup_eur_mwh"): number(),
        vol.Optional("feedin_tariff_eur_mwh"): number(),
        vol.Optional("feedin_pricing"): one_of(["fixed", "spot"], "feedin_pricing"),
        vol.Optional("demand_charge_eur_kw_month"): number(ge=0),
        vol.Optional("peak_import_cap_kw"): optional(_POSITIVE),
    },
    GridTariffConfig,
)


def _strategies(value: Any) -> tuple[str, ...]:
    result: tuple[str, ...] = list_of(one_of(STRATEGIES, "strategy"), unique=True)(value)
    if not result:
        raise vol.Invalid("at least one strategy is required")
    return result


EMS = section(
    {
        vol.Optional("cycle_s"): _POSITIVE,
        vol.Optional("strategies"): _strategies,
        vol.Optional("default_strategy"): one_of(STRATEGIES, "strategy"),
        vol.Optional("selection_hysteresis"): number(ge=0),
        vol.Optional("min_strategy_dwell_s"): number(ge=0),
        vol.Optional("history_dir"): string,
        vol.Optional("history_retention_days"): integer(ge=1),
        vol.Optional("price_source"): one_of(["simulator", "file", "none"], "price_source"),
        vol.Optional("price_file"): optional(string),
        vol.Optional("comm_timeout_cycles"): integer(ge=1),
        vol.Optional("soc_missing_cycles"): integer(ge=1, le=60),
        vol.Optional("history_flush_s"): number(gt=0, le=5),
        vol.Optional("planning_step_s"): number(ge=60, le=3600),
        vol.Optional("planning_horizon_h"): number(ge=1, le=168),
        vol.Optional("plan_execution"): one_of(["grid", "battery", "value"], "plan_execution"),
        vol.Optional("plan_replan_soc_pct"): number(gt=0, le=100),
        vol.Optional("wear_cost_eur_kwh"): number(ge=0),
    },
    EmsSettings,
    [_check_ems],
)

API = section(
    {
        vol.Optional("host"): string,
        vol.Optional("port"): _PORT,
        vol.Optional("tls_cert"): optional(string),
        vol.Optional("tls_key"): optional(string),
        vol.Optional("auth_db"): string,
        vol.Optional("ws_max_rate_hz"): _POSITIVE,
        vol.Optional("max_connections"): integer(ge=1),
        vol.Optional("header_timeout_s"): _POSITIVE,
        vol.Optional("login_max_failures"): integer(ge=1),
        vol.Optional("login_failure_window_s"): _POSITIVE,
        vol.Optional("zeroconf"): boolean,
    },
    ApiConfig,
    [_check_api],
)

SENSOR_RULE = section(
    {
        vol.Required("site"): site_id,
        vol.Required("role"): string,
        vol.Optional("device"): optional(string),
        vol.Optional("topic"): optional(string),
        vol.Optional("sensor"): optional(string),
        vol.Optional("weight"): number(gt=0),
    },
    SensorRuleConfig,
)
AGGREGATION_METHODS = ("avg", "max", "min", "weighted_avg", "sum")


SENSOR_ROLE = section(
    {
        vol.Optional("method"): one_of(AGGREGATION_METHODS, "method"),
        vol.Optional("outlier_min_deviation"): number(ge=0),
    },
    SensorRoleConfig,
)

_SENSOR_ID_RE = re.compile(r"[A-Za-z0-9_.-]+")


def sensor_name(value: Any) -> str:
    """A listed sensor's id: letters, digits, ``_``, ``.`` and ``-``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _SENSOR_ID_RE.fullmatch(value):
        raise vol.Invalid(f"invalid sensor id {value!r}: use letters, digits, '_', '.' and '-'")
    return value


def _value_path(value: Any) -> str:
    path = string(value)
    if any(not part for part in path.split(".")):
        raise vol.Invalid(f"invalid value path {path!r}: dotted keys like 'sensor.temperature'")
    return path


SENSOR_SOURCES = ("mqtt", "modbus")
REGISTER_TABLES = ("holding", "input")
REGISTER_TYPES = ("int16", "uint16", "int32", "uint32", "float32")
# keys of an explicit register (source modbus with an address); a named register takes them from the profile
_EXPLICIT_REGISTER_KEYS = ("table", "data_type", "scale", "word_order")
_MQTT_KEYS = ("topic", "value_path")
_MODBUS_KEYS = ("register", "interval_s", *_EXPLICIT_REGISTER_KEYS)


def _register(value: Any) -> str | int:
    """A named sensor register of the device profile, or a register address (0…65535)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0xFFFF:
            raise vol.Invalid(f"register address {value} is not in 0…65535")
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise vol.Invalid(f"expected a register name of the device profile or an address, got {_describe(value)}")


def _build_sensor(**fields: Any) -> ExplicitSensorConfig:
    source = fields["source"]
    wrong = _MODBUS_KEYS if source == "mqtt" else _MQTT_KEYS
    errors = [
        vol.Invalid(f"{key} is not used with source {source!r}", path=[key]) for key in wrong if key in fields
    ]
    if source == "modbus" and isinstance(fields.get("register"), str):
        errors += [
            vol.Invalid(
                f"{key} is for a register given by address; the named register "
                f"{fields['register']!r} takes it from the device profile",
                path=[key],
            )
            for key in _EXPLICIT_REGISTER_KEYS
            if key in fields
        ]
    if errors:
        raise vol.MultipleInvalid(errors)
    fields.setdefault("site", "")  # filled in with the only site, or reported, by validate_config
    return ExplicitSensorConfig(**fields)


def _check_sensor(sensor: ExplicitSensorConfig) -> Iterator[vol.Invalid]:
    if sensor.source == "mqtt" and sensor.topic is None:
        yield vol.Invalid("source 'mqtt' needs a topic", path=["topic"])
    if sensor.scale == 0:
        yield vol.Invalid("scale must not be 0", path=["scale"])
    if sensor.source == "modbus" and sensor.register is None:
        yield vol.Invalid(
            "source 'modbus' needs a register: a named register of the site's device profile, "
            "or an address with data_type, scale and unit",
            path=["register"],
        )


EXPLICIT_SENSOR = section(
    {
        vol.Required("id"): sensor_name,
        vol.Required("type"): one_of(SENSOR_TYPES, "sensor type"),
        vol.Optional("site"): site_id,
        vol.Required("source"): one_of(SENSOR_SOURCES, "source"),
        vol.Optional("topic"): topic_name,
        vol.Optional("value_path"): _value_path,
        vol.Optional("role"): string,
        vol.Optional("weight"): number(gt=0),
        vol.Optional("unit"): optional(string),
        vol.Optional("expire_after_s"): optional(_POSITIVE),
        vol.Optional("register"): _register,
        vol.Optional("table"): one_of(REGISTER_TABLES, "table"),
        vol.Optional("data_type"): one_of(REGISTER_TYPES, "data type"),
        vol.Optional("scale"): number(),
        vol.Optional("word_order"): one_of(("big", "little"), "word order"),
        vol.Optional("interval_s"): number(ge=0.1),
    },
    _build_sensor,
    [_check_sensor],
)


def _explicit_sensors(value: Any) -> tuple[ExplicitSensorConfig, ...]:
    sensors: tuple[ExplicitSensorConfig, ...] = list_of(EXPLICIT_SENSOR)(value)
    seen: set[str] = set()
    errors = []
    for index, sensor in enumerate(sensors):
        if sensor.id in seen:
            errors.append(vol.Invalid(f"sensor id {sensor.id!r} is listed twice", path=[index, "id"]))
        seen.add(sensor.id)
    if errors:
        raise vol.MultipleInvalid(errors)
    return sensors


AGGREGATION = section(
    {vol.Optional(f"{kind}_method"): one_of(AGGREGATION_METHODS, "method") for kind in SENSOR_TYPES},
    lambda **methods: {key.removesuffix("_method"): method for key, method in methods.items()},
)


def _roles(value: Any) -> dict[str, SensorRoleConfig]:
    if not isinstance(value, dict):
        raise vol.Invalid(f"expected a mapping of role names, got {_describe(value)}")
    out: dict[str, SensorRoleConfig] = {}
    errors: list[vol.Invalid] = []
    for name, spec in value.items():
        try:
            out[string(name)] = SENSOR_ROLE(spec)
        except vol.Invalid as exc:
            exc.prepend([name])
            errors.extend(exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc])
    if errors:
        raise vol.MultipleInvalid(errors)
    return out


SENSORS = section(
    {
        vol.Optional("enabled"): boolean,
        **BROKER,
        vol.Optional("native"): boolean,
        vol.Optional("home_assistant"): boolean,
        vol.Optional("ha_prefix"): string,
        vol.Optional("tasmota"): boolean,
        vol.Optional("default_expire_after_s"): optional(_POSITIVE),
        vol.Optional("rules"): list_of(SENSOR_RULE),
        vol.Optional("roles"): _roles,
        vol.Optional("room_temp_derate_above_c"): number(),
        vol.Optional("sensors"): _explicit_sensors,
        vol.Optional("aggregation"): AGGREGATION,
    },
    lambda **fields: SensorsConfig(  # a listed MQTT sensor turns the broker on (Modbus ones need none)
        **{"enabled": any(s.source == "mqtt" for s in fields.get("sensors", ())), **fields}
    ),
)

SITE_FIELDS: dict[Any, Validator] = {
    vol.Optional("name"): string,
    vol.Optional("location"): LOCATION,
    vol.Required("bess"): BESS,
    vol.Optional("modbus"): MODBUS,
    vol.Optional("mqtt"): MQTT,
    vol.Optional("forecast"): FORECAST,
    vol.Optional("grid_connection"): GRID_CONNECTION,
    vol.Optional("feedin_limitation"): FEEDIN_LIMITATION,
    vol.Optional("grid_tariffs"): GRID_TARIFFS,
    vol.Optional("ems"): EMS,
}
# --- strategy selection (issue 13: AI selection, A/B test) ---------------------------------------
AB_TEST = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("split"): one_of(["alternate_days"], "split"),
    },
    ABTestConfig,
)
AI_SELECTION = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("training_data_days"): integer(ge=1, le=3650),
        vol.Optional("retrain_interval_days"): integer(ge=1, le=365),
        vol.Optional("min_samples"): integer(ge=2),
        vol.Optional("min_confidence"): number(ge=0, le=1),
        vol.Optional("window_h"): number(ge=0.25, le=24),
        vol.Optional("label_tail_h"): number(ge=0, le=48),
        vol.Optional("ab_test"): AB_TEST,
    },
    AISelectionConfig,
)
STRATEGY_SELECTION = section(
    {
        vol.Optional("selection_mode"): one_of(SELECTION_MODES, "selection_mode"),
        vol.Optional("ai_selection"): AI_SELECTION,
    },
    StrategySelectionConfig,
)
SITE_FIELDS[vol.Optional("strategy")] = STRATEGY_SELECTION
from phoenyra_ems.config.vpp_schema import VPP  # noqa: E402  (issue 16; uses the validators above)

SITE_FIELDS[vol.Optional("vpp")] = VPP
_SITE = section(SITE_FIELDS)


def _check_site_topics(site: SiteConfig) -> Iterator[vol.Invalid]:
    """The four topics of a site's link are four different topics (as resolved)."""
    resolved = site.mqtt_topics
    seen: dict[str, str] = {}
    for name in ("telemetry", "commands", "status", "ack"):
        topic = getattr(resolved, name)
        if topic in seen:
            path: list[Hashable] = (
                ["mqtt", "topics", name] if getattr(site.mqtt.topics, name) else ["mqtt", "topics"]
            )
            yield vol.Invalid(f"{topic!r} is also this site's {seen[topic]} topic", path=path)
        else:
            seen[topic] = name


def _check_site(site: SiteConfig) -> Iterator[vol.Invalid]:
    yield from _check_site_topics(site)
    if site.forecast.weather_source != "none" and site.coordinates is None:
        yield vol.Invalid(
            f"weather_source {site.forecast.weather_source!r} needs forecast.latitude/longitude "
            "or location.latitude/longitude",
            path=["forecast", "weather_source"],
        )
    if site.feedin_limitation.enabled and site.forecast.pv_peak_power_kw <= 0:
        yield vol.Invalid(
            "feed-in limitation needs forecast.pv_peak_power_kw > 0 (limits are % of PV peak)",
            path=["feedin_limitation", "enabled"],
        )


def validate_site(sid: str, value: Any) -> SiteConfig:
    """One site's mapping -> ``SiteConfig``; errors carry paths relative to the site."""
    fields = _SITE(value)
    site = SiteConfig(site_id=sid, name=fields.pop("name", sid), **fields)
    errors = list(_check_site(site))
    if errors:
        raise vol.MultipleInvalid(errors)
    return site


# --- top level ---------------------------------------------------------------------------


def _collect(errors: list[vol.Invalid], exc: vol.Invalid, prefix: list[Hashable]) -> None:
    exc.prepend(prefix)
    errors.extend(exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc])


def _endpoint_clashes(sites: dict[str, SiteConfig], keys: dict[str, Hashable]) -> list[vol.Invalid]:
    seen: dict[tuple[str, int, int], str] = {}
    errors: list[vol.Invalid] = []
    for sid, site in sites.items():
        mb = site.modbus
        if not mb.enabled:
            continue
        endpoint = (mb.host, mb.port, mb.unit_id)
        if endpoint in seen:
            errors.append(
                vol.Invalid(
                    f"Modbus endpoint {mb.host}:{mb.port} unit {mb.unit_id} "
                    f"is already used by site {seen[endpoint]!r}",
                    path=["sites", keys[sid], "modbus"],
                )
            )
        else:
            seen[endpoint] = sid
    return errors


def _topic_clashes(sites: dict[str, SiteConfig], keys: dict[str, Hashable]) -> list[vol.Invalid]:
    """Two sites on one broker must not share a topic: a command would reach both."""
    seen: dict[tuple[str, int, str], tuple[str, str]] = {}
    errors: list[vol.Invalid] = []
    for sid, site in sites.items():
        if not site.mqtt.enabled:
            continue
        resolved = site.mqtt_topics
        for name in ("telemetry", "commands", "status", "ack"):
            topic = getattr(resolved, name)
            key = (site.mqtt.host.lower(), site.mqtt.port, topic)
            if key in seen and seen[key][0] != sid:
                other, other_name = seen[key]
                errors.append(
                    vol.Invalid(
                        f"MQTT topic {topic!r} on {site.mqtt.host}:{site.mqtt.port} is already the "
                        f"{other_name} topic of site {other!r}",
                        path=["sites", keys[sid], "mqtt"],
                    )
                )
                break
            seen.setdefault(key, (sid, name))
    return errors


def _validate_sites_block(value: Any) -> tuple[str, dict[str, SiteConfig]]:
    """``sites: {default_site_id, sites: {<id>: site}}`` -> (default id, sites)."""
    data = _mapping(value)
    errors: list[vol.Invalid] = [
        vol.Invalid(_unknown_key(key, ["default_site_id", "sites"]), path=[key])
        for key in data
        if key not in ("default_site_id", "sites")
    ]
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, dict) or not raw_sites:
        msg = "at least one site is required" if raw_sites in (None, {}) else "expected a mapping"
        errors.append(vol.Invalid(msg, path=["sites"]))
        raw_sites = {}
    sites: dict[str, SiteConfig] = {}
    keys: dict[str, Hashable] = {}  # normalised id -> key as written
    ids: list[str] = []
    for key, raw in raw_sites.items():
        try:
            sid = site_id(key)
        except vol.Invalid as exc:
            _collect(errors, exc, ["sites", key])
            continue
        if sid in keys:
            errors.append(vol.Invalid(f"site id {sid!r} is defined twice", path=["sites", key]))
            continue
        keys[sid] = key
        ids.append(sid)
        try:
            sites[sid] = validate_site(sid, raw)
        except vol.Invalid as exc:
            _collect(errors, exc, ["sites", key])
    default = ids[0] if ids else ""
    if data.get("default_site_id") is not None:
        try:
            default = site_id(data["default_site_id"])
            if ids and default not in ids:
                raise vol.Invalid(
                    f"default_site_id {default!r} is not a configured site (sites: {', '.join(ids)})"
                )
        except vol.Invalid as exc:
            _collect(errors, exc, ["default_site_id"])
    errors.extend(_endpoint_clashes(sites, keys))
    errors.extend(_topic_clashes(sites, keys))
    if errors:
        raise vol.MultipleInvalid(errors)
    return default, sites


def _named_register(sensor: ExplicitSensorConfig, site: SiteConfig) -> ExplicitSensorConfig:
    """A ``source: modbus`` sensor naming a register: it must be one of the site's device profile
    (``sensors:`` in the profile); its unit comes from there unless given."""
    from phoenyra_ems.devices.profile import ProfileError, load_profile  # yaml only, no I/O library

    name = site.modbus.profile
    try:
        named = load_profile(name).sensors
    except (ProfileError, ValueError) as err:
        raise vol.Invalid(f"device profile {name!r} cannot be read: {err}") from None
    found = named.get(str(sensor.register))
    if found is None:
        has = f"its named registers: {', '.join(sorted(named))}" if named else "it has no named registers"
        raise vol.Invalid(
            f"device profile {name!r} of site {site.site_id!r} has no sensor register "
            f"{sensor.register!r} ({has}); or give an address with data_type, scale and unit "
            "(docs/device-profiles.md)"
        )
    return sensor if sensor.unit is not None else replace(sensor, unit=found.unit)


def validate_config(data: Any) -> EmsConfig:
    """Validate a whole document (multi-site or single-site format) into an ``EmsConfig``."""
    if data is None:
        raise vol.MultipleInvalid([vol.Invalid("the configuration is empty")])
    if not isinstance(data, dict):
        raise vol.MultipleInvalid(
            [vol.Invalid(f"expected a mapping at the top level, got {_describe(data)}")]
        )
    errors: list[vol.Invalid] = []
    api = ApiConfig()
    if data.get("api") is not None:
        try:
            api = API(data["api"])
        except vol.Invalid as exc:
            _collect(errors, exc, ["api"])
    sensors = SensorsConfig()
    if data.get("sensors") is not None:
        try:
            sensors = SENSORS(data["sensors"])
        except vol.Invalid as exc:
            _collect(errors, exc, ["sensors"])
    default, sites = "", dict[str, SiteConfig]()
    if "sites" in data:
        for key in data:
            if key in TOP_LEVEL:
                continue
            msg = _unknown_key(key, list(TOP_LEVEL))
            if key in SITE_FIELDS or key == "name":
                msg = f"{msg}; with 'sites:', site settings belong under sites.sites.<id>"
            errors.append(vol.Invalid(msg, path=[key]))
        try:
            default, sites = _validate_sites_block(data["sites"])
        except vol.Invalid as exc:
            _collect(errors, exc, ["sites"])
    else:
        site_data = {key: value for key, value in data.items() if key not in ("api", "sensors", "community")}
        try:
            sites = {"1": validate_site("1", site_data)}
            default = "1"
        except vol.Invalid as exc:
            _collect(errors, exc, [])
    if errors:
        raise vol.MultipleInvalid(errors)
    for index, rule in enumerate(sensors.rules):
        if sites and rule.site not in sites:
            errors.append(
                vol.Invalid(
                    f"site {rule.site!r} is not configured (sites: {', '.join(sites)})",
                    path=["sensors", "rules", index, "site"],
                )
            )
    listed: list[ExplicitSensorConfig] = []
    for index, sensor in enumerate(sensors.sensors):
        if not sensor.site and len(sites) == 1:
            sensor = replace(sensor, site=next(iter(sites)))
        elif not sensor.site:
            errors.append(
                vol.Invalid(
                    f"a sensor needs a 'site' when there are several sites (sites: {', '.join(sites)})",
                    path=["sensors", "sensors", index],
                )
            )
        elif sensor.site not in sites:
            errors.append(
                vol.Invalid(
                    f"site {sensor.site!r} is not configured (sites: {', '.join(sites)})",
                    path=["sensors", "sensors", index, "site"],
                )
            )
        if sensor.site in sites and sensor.source == "modbus" and isinstance(sensor.register, str):
            try:
                sensor = _named_register(sensor, sites[sensor.site])
            except vol.Invalid as exc:
                _collect(errors, exc, ["sensors", "sensors", index, "register"])
        listed.append(sensor)
    if errors:
        raise vol.MultipleInvalid(errors)
    sensors = replace(sensors, sensors=tuple(listed))
    return EmsConfig(
        sites=sites, default_site_id=default, api=api, sensors=sensors, community=_community(data, sites)
    )


def _community(data: dict[Hashable, Any], sites: dict[str, SiteConfig]) -> Any:
    """The ``community:`` block (docs/community.md), or None."""
    if data.get("community") is None:
        return None
    from phoenyra_ems.config.community_schema import validate_community

    try:
        return validate_community(data["community"], list(sites))
    except vol.Invalid as exc:
        errors: list[vol.Invalid] = []
        _collect(errors, exc, ["community"])
        raise vol.MultipleInvalid(errors) from None


TOP_LEVEL = ("sites", "api", "sensors", "community")
