"""Home Assistant MQTT discovery, as ESPHome and Tasmota (legacy) publish it.

Config topic ``<prefix>/<component>/[<node_id>/]<object_id>/config`` (retained JSON, abbreviated
keys, ``~`` base topic); an empty payload deletes.  Only ``sensor`` and ``binary_sensor`` become
sensors.  Devices are keyed by their MAC (``dev.cns`` ``["mac", …]``, or a MAC-shaped
``dev.ids``), then ``dev.ids``, the node id, the unique id — never by the unique id first: ESPHome's
legacy unique ids (``ESPsensor<object_id>``) are equal on every node.  Sensor id:
``<device key>:<object_id>``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..registry import Availability, SensorRegistry, SensorSpec, sensor_id
from .abbreviations import expand, substitute_base
from .common import (
    FormatHandler,
    Rejected,
    Rejections,
    Subscriber,
    decode_json_object,
    decode_text,
    normalize_mac,
    opt_seconds,
    opt_str,
    safe_key,
    to_number,
    valid_topic,
)
from .templates import Template, TemplateError, TemplateValueError, compile_template

log = logging.getLogger("phoenyra_ems.mqtt.discovery")

SENSOR_COMPONENTS = frozenset({"sensor", "binary_sensor"})
# HA components we know but do not turn into sensors (debug log only, not a rejection)
OTHER_COMPONENTS = frozenset(
    {
        "alarm_control_panel", "button", "camera", "climate", "cover", "date", "datetime",
        "device_automation", "device_tracker", "event", "fan", "humidifier", "image", "lawn_mower",
        "light", "lock", "notify", "number", "scene", "select", "siren", "switch", "tag", "text",
        "time", "update", "vacuum", "valve", "water_heater", "device",
    }
)  # fmt: skip
_ID = r"[a-zA-Z0-9_-]+"
_NO_VALUE = frozenset({"", "unknown", "unavailable", "None", "none", "null"})


@dataclass(slots=True)
class _Availability:
    topic: str
    payload_available: str
    payload_not_available: str
    template: Template | None


@dataclass(slots=True)
class _Entity:
    config_topic: str
    component: str
    sensor_id: str
    state_topic: str
    template: Template | None
    template_error: str | None
    payload_on: str
    payload_off: str
    availability: list[_Availability] = field(default_factory=list)


class HaDiscovery(FormatHandler):
    """Consumes HA discovery configs and the state/availability topics they name."""

    def __init__(
        self,
        registry: SensorRegistry,
        subscriber: Subscriber,
        rejections: Rejections,
        prefix: str = "homeassistant",
    ) -> None:
        super().__init__(subscriber, rejections)
        self.registry = registry
        self.prefix = prefix
        self._config_re = re.compile(
            rf"{re.escape(prefix)}/(?P<component>{_ID})/(?:(?P<node_id>{_ID})/)?(?P<object_id>{_ID})/config"
        )
        self._entities: dict[str, _Entity] = {}  # by config topic
        self._by_sensor: dict[str, str] = {}  # sensor id -> config topic

    @property
    def filters(self) -> list[str]:
        return [f"{self.prefix}/+/+/config", f"{self.prefix}/+/+/+/config"]

    # --- config ----------------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, retain: bool) -> None:
        match = self._config_re.fullmatch(topic)
        if match is None:
            raise Rejected("not a discovery config topic")
        component, node_id, object_id = match["component"], match["node_id"], match["object_id"]
        if not payload:
            self._remove(topic)
            return
        if component not in SENSOR_COMPONENTS:
            if component in OTHER_COMPONENTS:
                log.debug("ignoring HA discovery of component %s on %r", component, topic)
                return
            raise Rejected(f"unknown component {component[:40]!r}")
        config = substitute_base(expand(decode_json_object(payload)))
        entity, spec = self._parse(topic, component, node_id, object_id, config)
        owner = self._by_sensor.get(spec.sensor_id)
        if owner is not None and owner != topic:
            raise Rejected(f"sensor {spec.sensor_id} is already configured by {owner!r}")
        previous = self._entities.get(topic)
        if previous is not None and previous.sensor_id != spec.sensor_id:
            self._remove(topic)
        self._entities[topic] = entity
        self._by_sensor[spec.sensor_id] = topic
        self.registry.upsert(spec)
        if not entity.availability:
            self.registry.set_availability(spec.sensor_id, Availability.ONLINE)
        if entity.template_error is not None and (previous is None or previous.template_error is None):
            log.warning("HA sensor %s on %r: %s", spec.sensor_id, topic, entity.template_error)
        topics = [a.topic for a in entity.availability]
        if entity.template_error is None:
            topics.insert(0, entity.state_topic)
        self.reroute(topic, topics)

    def _parse(
        self, topic: str, component: str, node_id: str | None, object_id: str, config: dict[str, Any]
    ) -> tuple[_Entity, SensorSpec]:
        state_topic = config.get("state_topic")
        if not valid_topic(state_topic):
            raise Rejected("missing or invalid state_topic")
        assert isinstance(state_topic, str)
        device = config.get("device")
        if device is not None and not isinstance(device, dict):
            raise Rejected("device must be an object")
        unique_id = opt_str(config, "unique_id")
        key = device_key(device or {}, node_id, unique_id, object_id)
        sid = sensor_id(key, safe_key(object_id))
        owner = self._by_sensor.get(sid)
        other = self._entities.get(owner) if owner is not None and owner != topic else None
        if other is not None and other.component != component:  # sensor/x and binary_sensor/x
            sid = sensor_id(key, safe_key(f"{object_id}.{component}"))
        template, template_error = None, None
        raw_template = config.get("value_template")
        if raw_template is not None:
            try:
                template = compile_template(raw_template)
            except TemplateError as exc:
                template_error = f"unsupported value template: {exc}"
        device_name = opt_str(device or {}, "name")
        name = opt_str(config, "name") or device_name or object_id
        if device_name and name != device_name and not name.startswith(device_name):
            name = f"{device_name} {name}"
        entity = _Entity(
            config_topic=topic,
            component=component,
            sensor_id=sid,
            state_topic=state_topic,
            template=template,
            template_error=template_error,
            payload_on=opt_str(config, "payload_on") or "ON",
            payload_off=opt_str(config, "payload_off") or "OFF",
            availability=_availability(config),
        )
        spec = SensorSpec(
            device_key=key,
            object_id=sid.split(":", 1)[1],
            source="ha",
            name=name,
            device_name=device_name,
            unit=opt_str(config, "unit_of_measurement"),
            device_class=opt_str(config, "device_class"),
            state_class=opt_str(config, "state_class"),
            state_topic=state_topic,
            expire_after_s=opt_seconds(config, "expire_after"),
            error=template_error,
            model=opt_str(device or {}, "model"),
            manufacturer=opt_str(device or {}, "manufacturer"),
        )
        return entity, spec

    def _remove(self, topic: str) -> None:
        entity = self._entities.pop(topic, None)
        self.unroute(topic)
        if entity is not None:
            self._by_sensor.pop(entity.sensor_id, None)
            self.registry.remove(entity.sensor_id)

    # --- state and availability ------------------------------------------------------------------

    def on_routed(self, topic: str, payload: bytes, retain: bool, owners: list[str], age_s: float) -> None:
        text = decode_text(payload)
        parsed: Any = _UNPARSED
        problems: list[str] = []
        for owner in owners:
            entity = self._entities.get(owner)
            if entity is None:
                continue
            try:
                if topic == entity.state_topic and entity.template_error is None:
                    if entity.template is not None and entity.template.use_json and parsed is _UNPARSED:
                        parsed = _parse_json(text)
                    self._state(entity, text, parsed, age_s)
                for avail in entity.availability:
                    if avail.topic == topic:
                        self._availability(entity, avail, text)
            except Rejected as exc:
                problems.append(f"{entity.sensor_id}: {exc}")
        if problems:
            raise Rejected(
                "; ".join(problems[:3]) + (f" (+{len(problems) - 3})" if len(problems) > 3 else "")
            )

    def _state(self, entity: _Entity, text: str, parsed: Any, age_s: float) -> None:
        raw: Any = text
        if entity.template is not None:
            if entity.template.use_json and parsed is _BAD_JSON:
                raise Rejected("payload is not JSON (the value template reads value_json)")
            try:
                raw = (
                    entity.template.render(text, parsed)
                    if entity.template.use_json
                    else entity.template.render(text)
                )
            except TemplateValueError as exc:
                raise Rejected(f"value template: {exc}") from None
        if entity.component == "binary_sensor":
            state = str(raw).strip() if not isinstance(raw, str) else raw
            if state == entity.payload_on:
                value: float | None = 1.0
            elif state == entity.payload_off:
                value = 0.0
            elif state in _NO_VALUE:
                value = None
            else:
                raise Rejected(
                    f"binary state {state[:40]!r} is neither {entity.payload_on!r} nor {entity.payload_off!r}"
                )
        elif isinstance(raw, str) and raw.strip() in _NO_VALUE:
            value = None
        else:
            value = to_number(raw)
        self.registry.update_value(entity.sensor_id, value, age_s=age_s)

    def _availability(self, entity: _Entity, avail: _Availability, text: str) -> None:
        state = text
        if avail.template is not None:
            try:
                state = str(avail.template.render(text))
            except TemplateValueError as exc:
                raise Rejected(f"availability template: {exc}") from None
        if state == avail.payload_available:
            self.registry.set_availability(entity.sensor_id, Availability.ONLINE)
        elif state == avail.payload_not_available:
            self.registry.set_availability(entity.sensor_id, Availability.OFFLINE)
        else:
            raise Rejected(
                f"availability payload {state[:40]!r} is neither {avail.payload_available!r} "
                f"nor {avail.payload_not_available!r}"
            )


_UNPARSED: Any = object()
_BAD_JSON: Any = object()


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _BAD_JSON


def _availability(config: dict[str, Any]) -> list[_Availability]:
    """``availability_topic`` and/or the ``availability`` list (mode ``latest``)."""
    default_on = opt_str(config, "payload_available") or "online"
    default_off = opt_str(config, "payload_not_available") or "offline"
    entries: list[dict[str, Any]] = []
    if config.get("availability_topic") is not None:
        entries.append(
            {"topic": config["availability_topic"], "value_template": config.get("availability_template")}
        )
    listed = config.get("availability")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
            raise Rejected("availability must be a list of objects")
        entries.extend(listed[:10])
    out = []
    for entry in entries:
        topic = entry.get("topic")
        if not valid_topic(topic):
            raise Rejected("invalid availability topic")
        assert isinstance(topic, str)
        template = None
        if entry.get("value_template") is not None:
            try:
                template = compile_template(entry["value_template"])
            except TemplateError as exc:
                raise Rejected(f"unsupported availability template: {exc}") from None
        out.append(
            _Availability(
                topic,
                opt_str(entry, "payload_available") or default_on,
                opt_str(entry, "payload_not_available") or default_off,
                template,
            )
        )
    return out


def device_key(device: dict[str, Any], node_id: str | None, unique_id: str | None, object_id: str) -> str:
    """The MAC if the device names one, else its first identifier, node id, unique id."""
    connections = device.get("connections")
    if connections is not None:
        if not isinstance(connections, list):
            raise Rejected("device.connections must be a list")
        for conn in connections:
            if not (isinstance(conn, list) and len(conn) == 2 and all(isinstance(c, str) for c in conn)):
                raise Rejected("device.connections entries must be [type, id] pairs of strings")
            if conn[0] == "mac" and (mac := normalize_mac(conn[1])) is not None:
                return mac
    identifiers = device.get("identifiers")
    if isinstance(identifiers, str):
        identifiers = [identifiers]
    if identifiers is not None:
        if not isinstance(identifiers, list) or not all(isinstance(i, str) for i in identifiers):
            raise Rejected("device.identifiers must be a string or a list of strings")
        for ident in identifiers:
            if (mac := normalize_mac(ident)) is not None:
                return mac
        if identifiers and identifiers[0]:
            return safe_key(identifiers[0])
    if node_id:
        return safe_key(node_id)
    if unique_id:
        return safe_key(unique_id)
    return safe_key(f"ha_{object_id}")
