"""The ``mqtt:`` section: broker address, credentials and topics of a site's MQTT link."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.model import (
    MqttConfig,
    MqttTopics,
)
from phoenyra_ems.config.validators import (
    PORT,
    POSITIVE,
    Validator,
    boolean,
    number,
    optional,
    section,
    string,
    text,
)

# How to reach an MQTT broker: the same keys for a site's link and for sensor discovery.
BROKER: dict[Any, Validator] = {
    vol.Optional("host"): string,
    vol.Optional("port"): PORT,
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
        vol.Optional("telemetry_interval_s"): POSITIVE,
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
