"""Tasmota native discovery (Tasmota ≥ 9.2, ``SetOption19 0``).

Retained ``tasmota/discovery/<MAC>/config`` names the device (``dn``), its topic (``t``), full topic
pattern (``ft``, e.g. ``%prefix%/%topic%/``), prefixes (``tp`` = [cmnd, stat, tele]) and LWT
payloads (``onln``/``ofln``); retained ``tasmota/discovery/<MAC>/sensors`` holds a sample of
``tele/<topic>/SENSOR`` under ``sn``.  Every numeric leaf becomes a sensor with a dotted object id
(``AM2301.Temperature``, ``ENERGY.Power``, ``ENERGY.Power.1`` for a phase list); readings come on
``<tele topic>SENSOR``, availability on ``<tele topic>LWT``.  Device key: the MAC.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ..registry import Availability, SensorRegistry, SensorSpec, sensor_id
from .common import (
    FormatHandler,
    Rejected,
    Rejections,
    Subscriber,
    decode_json_object,
    decode_text,
    normalize_mac,
    opt_str,
    safe_key,
    to_number,
    valid_topic,
)

log = logging.getLogger("phoenyra_ems.mqtt.discovery")

MAX_LEAVES = 200
MAX_DEPTH = 4

# leaf key -> (unit, device_class); "temp"/"pressure" take the device's TempUnit / PressureUnit
_KNOWN: dict[str, tuple[str | None, str | None]] = {
    "Temperature": ("temp", "temperature"),
    "DewPoint": ("temp", "temperature"),
    "Humidity": ("%", "humidity"),
    "Pressure": ("pressure", "pressure"),
    "SeaPressure": ("pressure", "pressure"),
    "Power": ("W", "power"),
    "ApparentPower": ("VA", "apparent_power"),
    "ReactivePower": ("var", "reactive_power"),
    "Voltage": ("V", "voltage"),
    "Current": ("A", "current"),
    "Factor": (None, "power_factor"),
    "Frequency": ("Hz", "frequency"),
    "Total": ("kWh", "energy"),
    "Today": ("kWh", "energy"),
    "Yesterday": ("kWh", "energy"),
    "ExportActive": ("kWh", "energy"),
    "ImportActive": ("kWh", "energy"),
    "Illuminance": ("lx", "illuminance"),
    "CarbonDioxide": ("ppm", "carbon_dioxide"),
    "eCO2": ("ppm", "carbon_dioxide"),
    "TVOC": ("ppb", "volatile_organic_compounds_parts"),
    "PM2.5": ("µg/m³", "pm25"),
    "PM10": ("µg/m³", "pm10"),
    "Distance": ("cm", "distance"),
    "Battery": ("%", "battery"),
}
_TEMP_UNITS = {"C": "°C", "F": "°F", "K": "K"}
_PLACEHOLDER = re.compile(r"%(prefix|topic|hostname|id)%")


@dataclass(slots=True)
class _Device:
    mac: str
    name: str
    model: str | None
    tele: str  # "tele/<topic>/" (with the trailing slash)
    online: str
    offline: str
    temp_unit: str = "°C"
    pressure_unit: str = "hPa"


def full_topic(pattern: str, prefix: str, topic: str, hostname: str, mac: str) -> str:
    """Tasmota's FullTopic substitution; the result always ends with ``/``."""
    values = {"prefix": prefix, "topic": topic, "hostname": hostname, "id": mac[-6:].upper()}
    out = _PLACEHOLDER.sub(lambda m: values[m.group(1)], pattern)
    return out if out.endswith("/") else out + "/"


def leaves(data: Any, path: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """``(dotted path, leaf)`` for every number/null leaf of a SENSOR object (strings are metadata)."""
    out: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        if depth >= MAX_DEPTH:
            return out
        for key, value in data.items():
            out.extend(leaves(value, f"{path}.{key}" if path else str(key), depth + 1))
    elif isinstance(data, list):
        if depth >= MAX_DEPTH:
            return out
        for i, value in enumerate(data[:16]):
            out.extend(leaves(value, f"{path}.{i}", depth + 1))
    elif data is None or (isinstance(data, int | float) and not isinstance(data, bool)):
        out.append((path, data))
    return out[:MAX_LEAVES]


class TasmotaDiscovery(FormatHandler):
    def __init__(
        self,
        registry: SensorRegistry,
        subscriber: Subscriber,
        rejections: Rejections,
        prefix: str = "tasmota/discovery",
    ) -> None:
        super().__init__(subscriber, rejections)
        self.registry = registry
        self.prefix = prefix
        self._topic_re = re.compile(rf"{re.escape(prefix)}/(?P<mac>[^/]+)/(?P<kind>config|sensors)")
        self._devices: dict[str, _Device] = {}
        self._samples: dict[str, dict[str, Any]] = {}  # mac -> last "sn" (until its config arrives)
        self._by_tele: dict[str, str] = {}  # tele prefix -> mac

    @property
    def filters(self) -> list[str]:
        return [f"{self.prefix}/+/config", f"{self.prefix}/+/sensors"]

    def handle(self, topic: str, payload: bytes, retain: bool) -> None:
        match = self._topic_re.fullmatch(topic)
        mac = normalize_mac(match["mac"]) if match else None
        if match is None or mac is None:
            raise Rejected("not a Tasmota discovery topic with a MAC")
        if match["kind"] == "config":
            if not payload:
                self._remove(mac)
                return
            self._config(mac, decode_json_object(payload))
        else:
            if not payload:
                self._samples.pop(mac, None)
                self.registry.remove_device(mac, source="tasmota")
                return
            data = decode_json_object(payload)
            sample = data.get("sn")
            if not isinstance(sample, dict):
                raise Rejected("'sn' must be an object")
            self._samples[mac] = sample
            if mac in self._devices:
                self._apply(self._devices[mac], sample, values=False)

    def _config(self, mac: str, cfg: dict[str, Any]) -> None:
        topic = opt_str(cfg, "t")
        pattern = opt_str(cfg, "ft") or "%prefix%/%topic%/"
        prefixes = cfg.get("tp", ["cmnd", "stat", "tele"])
        if not topic or "/" in topic:
            raise Rejected("missing or invalid 't' (device topic)")
        if not (
            isinstance(prefixes, list) and len(prefixes) >= 3 and all(isinstance(p, str) for p in prefixes)
        ):
            raise Rejected("'tp' must be a list of three prefixes")
        hostname = opt_str(cfg, "hn") or ""
        tele = full_topic(pattern, prefixes[2], topic, hostname, mac)
        if not valid_topic(tele + "SENSOR"):
            raise Rejected(f"invalid telemetry topic {tele[:60]!r}")
        old = self._devices.get(mac)
        device = _Device(
            mac=mac,
            name=opt_str(cfg, "dn") or opt_str(cfg, "hn") or topic,
            model=opt_str(cfg, "md"),
            tele=tele,
            online=opt_str(cfg, "onln") or "Online",
            offline=opt_str(cfg, "ofln") or "Offline",
        )
        if old is not None:
            device.temp_unit, device.pressure_unit = old.temp_unit, old.pressure_unit
            self._by_tele.pop(old.tele, None)
        self._devices[mac] = device
        self._by_tele[tele] = mac
        if mac in self._samples:
            self._apply(device, self._samples[mac], values=False)
        self.reroute(mac, [tele + "SENSOR", tele + "LWT"])

    def _remove(self, mac: str) -> None:
        device = self._devices.pop(mac, None)
        self._samples.pop(mac, None)
        if device is not None:
            self._by_tele.pop(device.tele, None)
        self.unroute(mac)
        self.registry.remove_device(mac, source="tasmota")

    def _apply(self, device: _Device, sample: dict[str, Any], *, values: bool, age_s: float = 0.0) -> None:
        """Create the sample's sensors; with ``values`` also record its readings."""
        if isinstance(sample.get("TempUnit"), str):
            device.temp_unit = _TEMP_UNITS.get(sample["TempUnit"], sample["TempUnit"][:8])
        if isinstance(sample.get("PressureUnit"), str):
            device.pressure_unit = sample["PressureUnit"][:8]
        for path, leaf in leaves(sample):
            sid = sensor_id(device.mac, safe_key(path, 128))
            self._ensure(device, path, sid)
            if values:
                self.registry.update_value(sid, None if leaf is None else to_number(leaf), age_s=age_s)

    def _ensure(self, device: _Device, path: str, sid: str) -> None:
        key = path.rsplit(".", 1)[-1]
        if key.isdigit() and "." in path:  # a phase list: ENERGY.Power.0 -> Power
            key = path.rsplit(".", 2)[-2]
        unit, device_class = _KNOWN.get(key, (None, None))
        if unit == "temp":
            unit = device.temp_unit
        elif unit == "pressure":
            unit = device.pressure_unit
        spec = SensorSpec(
            device_key=device.mac,
            object_id=sid.split(":", 1)[1],
            source="tasmota",
            name=f"{device.name} {path}",
            device_name=device.name,
            unit=unit,
            device_class=device_class,
            state_topic=device.tele + "SENSOR",
            model=device.model,
            manufacturer="Tasmota",
        )
        new = sid not in self.registry
        self.registry.upsert(spec)
        lwt = self._last.get(device.tele + "LWT")
        if new and lwt is not None:
            state = lwt[0].decode("utf-8", "replace")
            if state in (device.online, device.offline):
                availability = Availability.ONLINE if state == device.online else Availability.OFFLINE
                self.registry.set_availability(sid, availability)

    def on_routed(self, topic: str, payload: bytes, retain: bool, owners: list[str], age_s: float) -> None:
        for mac in owners:
            device = self._devices.get(mac)
            if device is None:
                continue
            if topic == device.tele + "LWT":
                state = decode_text(payload)
                if state == device.online:
                    self.registry.set_device_availability(mac, Availability.ONLINE)
                elif state == device.offline:
                    self.registry.set_device_availability(mac, Availability.OFFLINE)
                else:
                    raise Rejected(f"LWT {state[:40]!r} is neither {device.online!r} nor {device.offline!r}")
            elif topic == device.tele + "SENSOR":
                self._apply(device, decode_json_object(payload), values=True, age_s=age_s)
