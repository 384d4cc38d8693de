"""Phoenyra's own edge-sensor format (the ESP32 firmware in this project's issue).

* ``phoenyra/sensors/<device_id>/<sensor_type>``: a plain number (``21.5``) or JSON
  ``{"value": 21.5, "unit": "°C", "timestamp": 1718000000.0}`` (timestamp: epoch seconds, epoch
  milliseconds or ISO 8601; optional; a reading's age counts from it).
* ``phoenyra/sensors/<device_id>/config`` (retained, optional): ``{"name", "model", "manufacturer",
  "expire_after", "sensors": {type: {"unit", "device_class", "name", "expire_after"}}}``; the listed
  sensors are known before their first reading.  An empty payload removes the device.
* ``phoenyra/sensors/<device_id>/status``: ``online`` / ``offline`` (the firmware's LWT).

A sensor appears with its first reading even without a config; device key: the device id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..registry import Availability, SensorRegistry, SensorSpec, sensor_id
from .common import (
    FormatHandler,
    Rejected,
    Rejections,
    Subscriber,
    decode_json_object,
    decode_text,
    opt_seconds,
    opt_str,
    to_number,
)

_SEGMENT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
MAX_SENSORS_PER_DEVICE = 100
# sensor type -> (unit, device_class) when neither the reading nor the config names them
DEFAULTS: dict[str, tuple[str | None, str | None]] = {
    "temperature": ("°C", "temperature"),
    "humidity": ("%", "humidity"),
    "pressure": ("hPa", "pressure"),
    "power": ("W", "power"),
    "energy": ("kWh", "energy"),
    "voltage": ("V", "voltage"),
    "current": ("A", "current"),
    "frequency": ("Hz", "frequency"),
    "illuminance": ("lx", "illuminance"),
    "irradiance": ("W/m²", "irradiance"),
    "co2": ("ppm", "carbon_dioxide"),
    "soc": ("%", "battery"),
    "battery": ("%", "battery"),
}


@dataclass(slots=True)
class _SensorConfig:
    unit: str | None = None
    device_class: str | None = None
    name: str | None = None
    expire_after_s: float | None = None


@dataclass(slots=True)
class _DeviceConfig:
    name: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    expire_after_s: float | None = None
    sensors: dict[str, _SensorConfig] = field(default_factory=dict)


class NativeDiscovery(FormatHandler):
    def __init__(
        self,
        registry: SensorRegistry,
        subscriber: Subscriber,
        rejections: Rejections,
        prefix: str = "phoenyra/sensors",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(subscriber, rejections)
        self.registry = registry
        self.prefix = prefix
        self._wall = wall_clock
        self._devices: dict[str, _DeviceConfig] = {}
        self._known: dict[str, SensorSpec] = {}  # sensor id -> the spec last given to the registry
        self._pending_status: dict[str, Availability] = {}
        self._plen = len(prefix) + 1

    @property
    def filters(self) -> list[str]:
        return [f"{self.prefix}/+/+"]

    def handle(self, topic: str, payload: bytes, retain: bool) -> None:
        parts = topic[self._plen :].split("/")
        if not topic.startswith(self.prefix + "/") or len(parts) != 2:
            raise Rejected("not a phoenyra/sensors/<device>/<type> topic")
        device_id, kind = parts
        if not (_SEGMENT.fullmatch(device_id) and _SEGMENT.fullmatch(kind)):
            raise Rejected("device id and sensor type must be 1-64 of [A-Za-z0-9_.-]")
        if kind == "config":
            self._config(device_id, payload)
        elif kind == "status":
            self._status(device_id, decode_text(payload).strip())
        else:
            self._reading(topic, device_id, kind, payload)

    def on_routed(self, topic: str, payload: bytes, retain: bool, owners: list[str], age_s: float) -> None:
        """Not used: this format needs no per-sensor subscriptions."""

    def _config(self, device_id: str, payload: bytes) -> None:
        if not payload:
            self._devices.pop(device_id, None)
            self._pending_status.pop(device_id, None)
            for sid in self.registry.remove_device(device_id, source="phoenyra"):
                self._known.pop(sid, None)
            return
        data = decode_json_object(payload)
        sensors = data.get("sensors", {})
        if not isinstance(sensors, dict) or len(sensors) > MAX_SENSORS_PER_DEVICE:
            raise Rejected(f"'sensors' must be an object of at most {MAX_SENSORS_PER_DEVICE} entries")
        config = _DeviceConfig(
            name=opt_str(data, "name"),
            model=opt_str(data, "model"),
            manufacturer=opt_str(data, "manufacturer"),
            expire_after_s=opt_seconds(data, "expire_after"),
        )
        for kind, spec in sensors.items():
            if not _SEGMENT.fullmatch(kind) or kind in ("config", "status"):
                raise Rejected(f"invalid sensor type {kind[:40]!r}")
            if not isinstance(spec, dict):
                raise Rejected(f"sensors.{kind} must be an object")
            config.sensors[kind] = _SensorConfig(
                unit=opt_str(spec, "unit"),
                device_class=opt_str(spec, "device_class"),
                name=opt_str(spec, "name"),
                expire_after_s=opt_seconds(spec, "expire_after"),
            )
        self._devices[device_id] = config
        for kind in config.sensors:
            self._ensure(device_id, kind, f"{self.prefix}/{device_id}/{kind}", None, force=True)
        for spec in list(self._known.values()):  # sensors seen before this config: new names/units
            if spec.device_key == device_id and spec.object_id not in config.sensors:
                self._ensure(device_id, spec.object_id, spec.state_topic or "", spec.unit, force=True)

    def _status(self, device_id: str, state: str) -> None:
        if state.lower() == "online":
            availability = Availability.ONLINE
        elif state.lower() == "offline":
            availability = Availability.OFFLINE
        else:
            raise Rejected(f"status {state[:40]!r} is neither online nor offline")
        self._pending_status[device_id] = availability
        self.registry.set_device_availability(device_id, availability)

    def _reading(self, topic: str, device_id: str, kind: str, payload: bytes) -> None:
        text = decode_text(payload).strip()
        unit: str | None = None
        age = 0.0
        reported: float | None = None
        if text.startswith("{"):
            data = decode_json_object(payload)
            if "value" not in data:
                raise Rejected("JSON reading without 'value'")
            value = None if data["value"] is None else to_number(data["value"])
            unit = opt_str(data, "unit", 20)
            if data.get("timestamp") is not None:
                reported = _timestamp(data["timestamp"])
                age = max(0.0, self._wall() - reported)
        elif text.startswith(("[", '"')):
            raise Rejected("expected a number or a JSON object")
        else:
            value = to_number(text)
        sid = self._ensure(device_id, kind, topic, unit)
        self.registry.update_value(sid, value, age_s=age, reported_at=reported)

    def _ensure(self, device_id: str, kind: str, topic: str, unit: str | None, force: bool = False) -> str:
        sid = sensor_id(device_id, kind)
        known = self._known.get(sid)
        if not force and known is not None and (unit is None or unit == known.unit) and sid in self.registry:
            return sid
        device = self._devices.get(device_id, _DeviceConfig())
        if known is None and sum(1 for s in self._known.values() if s.device_key == device_id) >= (
            MAX_SENSORS_PER_DEVICE
        ):
            raise Rejected(f"device {device_id} has more than {MAX_SENSORS_PER_DEVICE} sensors")
        cfg = device.sensors.get(kind, _SensorConfig())
        default_unit, default_class = DEFAULTS.get(kind.lower(), (None, None))
        spec = SensorSpec(
            device_key=device_id,
            object_id=kind,
            source="phoenyra",
            name=cfg.name or f"{device.name or device_id} {kind}",
            device_name=device.name or device_id,
            unit=unit or cfg.unit or (known.unit if known else None) or default_unit,
            device_class=cfg.device_class or default_class,
            state_topic=topic,
            expire_after_s=cfg.expire_after_s if cfg.expire_after_s is not None else device.expire_after_s,
            model=device.model,
            manufacturer=device.manufacturer,
        )
        self.registry.upsert(spec)
        self._known[sid] = spec
        if known is None and device_id in self._pending_status:
            self.registry.set_availability(sid, self._pending_status[device_id])
        return sid


def _timestamp(raw: object) -> float:
    """Epoch seconds from epoch s / ms (a number) or ISO 8601 text (naive = UTC)."""
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise Rejected(f"timestamp {raw[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    seconds = to_number(raw)
    if seconds > 1e11:  # milliseconds
        seconds /= 1000.0
    if not 0 < seconds < 1e10:
        raise Rejected(f"timestamp {seconds} out of range")
    return seconds
