"""The top-level ``sensors:`` block: discovery rules, roles, aggregation and listed sensors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.model import (
    SENSOR_TYPES,
    ExplicitSensorConfig,
    SensorRoleConfig,
    SensorRuleConfig,
    SensorsConfig,
)
from phoenyra_ems.config.mqtt_schema import BROKER, topic_name
from phoenyra_ems.config.site_schema import (
    site_id,
)
from phoenyra_ems.config.validators import (
    POSITIVE,
    boolean,
    describe,
    list_of,
    number,
    one_of,
    optional,
    section,
    string,
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
    raise vol.Invalid(f"expected a register name of the device profile or an address, got {describe(value)}")


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
        vol.Optional("expire_after_s"): optional(POSITIVE),
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
        raise vol.Invalid(f"expected a mapping of role names, got {describe(value)}")
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
        vol.Optional("default_expire_after_s"): optional(POSITIVE),
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
