"""Voluptuous schema: raw YAML data -> ``EmsConfig`` (the top level: ``sites:``, ``api:``, ``sensors:``).

``validate_config`` raises ``voluptuous.MultipleInvalid`` carrying *every* problem found,
each with the key path (as in the input data) where it occurred.

The parts live along their seams: :mod:`.validators` (the general toolkit), :mod:`.site_schema`
(one site's sections), :mod:`.mqtt_schema` (a site's MQTT link), :mod:`.sensor_schema` (``sensors:``),
:mod:`.community_schema` (``community:``). Their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.model import (
    ApiConfig,
    EmsConfig,
    ExplicitSensorConfig,
    SensorsConfig,
    SiteConfig,
)
from phoenyra_ems.config.mqtt_schema import MQTT
from phoenyra_ems.config.sensor_schema import SENSORS
from phoenyra_ems.config.site_schema import (
    API,
    SITE_FIELDS,
    SITE_SECTIONS,
    STRATEGIES,
    missing_optimiser_modules,
    profile,
    site_id,
    validate_site,
)
from phoenyra_ems.config.validators import (
    PCT,
    PORT,
    POSITIVE,
    SLUG_RE,
    Check,
    Validator,
    boolean,
    collect,
    describe,
    integer,
    list_of,
    mapping,
    number,
    one_of,
    optional,
    rule_time,
    section,
    string,
    text,
    timezone,
    unknown_key,
)

# The old private names, for schema modules written against them (e.g. on other branches).
_SLUG_RE, _describe, _mapping, _unknown_key, _collect = SLUG_RE, describe, mapping, unknown_key, collect
_PCT, _POSITIVE, _PORT = PCT, POSITIVE, PORT


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
    data = mapping(value)
    errors: list[vol.Invalid] = [
        vol.Invalid(unknown_key(key, ["default_site_id", "sites"]), path=[key])
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
            collect(errors, exc, ["sites", key])
            continue
        if sid in keys:
            errors.append(vol.Invalid(f"site id {sid!r} is defined twice", path=["sites", key]))
            continue
        keys[sid] = key
        ids.append(sid)
        try:
            sites[sid] = validate_site(sid, raw)
        except vol.Invalid as exc:
            collect(errors, exc, ["sites", key])
    default = ids[0] if ids else ""
    if data.get("default_site_id") is not None:
        try:
            default = site_id(data["default_site_id"])
            if ids and default not in ids:
                raise vol.Invalid(
                    f"default_site_id {default!r} is not a configured site (sites: {', '.join(ids)})"
                )
        except vol.Invalid as exc:
            collect(errors, exc, ["default_site_id"])
    errors.extend(_endpoint_clashes(sites, keys))
    errors.extend(_topic_clashes(sites, keys))
    if errors:
        raise vol.MultipleInvalid(errors)
    return default, sites


def _named_register(sensor: ExplicitSensorConfig, site: SiteConfig) -> ExplicitSensorConfig:
    """A ``source: modbus`` sensor naming a register: it must be one of the site's device profile
    (``sensors:`` in the profile); its unit comes from there unless given."""
    from phoenyra_ems.profiles.loader import ProfileError, load_profile  # yaml only, no I/O library

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
        raise vol.MultipleInvalid([vol.Invalid(f"expected a mapping at the top level, got {describe(data)}")])
    errors: list[vol.Invalid] = []
    api = ApiConfig()
    if data.get("api") is not None:
        try:
            api = API(data["api"])
        except vol.Invalid as exc:
            collect(errors, exc, ["api"])
    sensors = SensorsConfig()
    if data.get("sensors") is not None:
        try:
            sensors = SENSORS(data["sensors"])
        except vol.Invalid as exc:
            collect(errors, exc, ["sensors"])
    default, sites = "", dict[str, SiteConfig]()
    if "sites" in data:
        for key in data:
            if key in TOP_LEVEL:
                continue
            msg = unknown_key(key, list(TOP_LEVEL))
            if key in SITE_FIELDS or key == "name":
                msg = f"{msg}; with 'sites:', site settings belong under sites.sites.<id>"
            errors.append(vol.Invalid(msg, path=[key]))
        try:
            default, sites = _validate_sites_block(data["sites"])
        except vol.Invalid as exc:
            collect(errors, exc, ["sites"])
    else:
        site_data = {key: value for key, value in data.items() if key not in ("api", "sensors", "community")}
        try:
            sites = {"1": validate_site("1", site_data)}
            default = "1"
        except vol.Invalid as exc:
            collect(errors, exc, [])
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
                collect(errors, exc, ["sensors", "sensors", index, "register"])
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
        collect(errors, exc, ["community"])
        raise vol.MultipleInvalid(errors) from None


TOP_LEVEL = ("sites", "api", "sensors", "community")

__all__ = [
    "MQTT",
    "SENSORS",
    "SITE_FIELDS",
    "SITE_SECTIONS",
    "STRATEGIES",
    "TOP_LEVEL",
    "Check",
    "Validator",
    "boolean",
    "integer",
    "list_of",
    "missing_optimiser_modules",
    "number",
    "one_of",
    "optional",
    "profile",
    "rule_time",
    "section",
    "site_id",
    "string",
    "text",
    "timezone",
    "validate_config",
    "validate_site",
]
