"""Every sensor the discovery found, its latest value, and which site and role it serves.

Synchronous and I/O-free: the discovery handlers feed it, the control loop and the API read it.
Time comes from an injectable monotonic ``clock`` (seconds).
"""

from __future__ import annotations

import enum
import fnmatch
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from phoenyra_ems.core.sensor_aggregation import AggregateResult, Reading, aggregate

from .topics import topic_matches

log = logging.getLogger(__name__)


class Availability(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class SensorEvent(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"  # a new value, availability or metadata
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class AssignmentRule:
    """Assigns matching sensors to a site and role; every given criterion must match.

    ``device``: glob on the device key or the device name; ``topic``: an MQTT filter (``+``/``#``)
    or a glob on the state topic; ``sensor``: glob on the sensor id, object id or name.
    Globs match case-insensitively.
    """

    site: str
    role: str
    device: str | None = None
    topic: str | None = None
    sensor: str | None = None
    weight: float = 1.0

    def matches(self, sensor: Sensor) -> bool:
        if self.device is not None and not _glob_any(self.device, sensor.device_key, sensor.device_name):
            return False
        if self.topic is not None:
            if sensor.state_topic is None:
                return False
            if any(c in self.topic for c in "+#"):
                if not topic_matches(self.topic, sensor.state_topic):
                    return False
            elif not fnmatch.fnmatchcase(sensor.state_topic, self.topic):
                return False
        return self.sensor is None or _glob_any(self.sensor, sensor.sensor_id, sensor.object_id, sensor.name)


def _glob_any(pattern: str, *candidates: str | None) -> bool:
    pat = pattern.lower()
    return any(c is not None and fnmatch.fnmatchcase(c.lower(), pat) for c in candidates)


@dataclass(slots=True)
class Sensor:
    """One discovered sensor.  ``sensor_id`` is ``<device_key>:<object_id>``."""

    sensor_id: str
    device_key: str
    object_id: str
    source: str  # "phoenyra" | "ha" | "tasmota"
    name: str
    device_name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    state_topic: str | None = None
    expire_after_s: float | None = None
    value: float | None = None
    last_update: float | None = None  # registry clock (monotonic s) of the measurement
    reported_at: float | None = None  # the device's own timestamp (epoch s), when it sends one
    availability: Availability = Availability.UNKNOWN
    error: str | None = None  # e.g. an unsupported value template: the sensor never gets a value
    site: str | None = None  # None: discovered but unassigned
    role: str | None = None
    weight: float = 1.0
    model: str | None = None
    manufacturer: str | None = None


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """What a discovery message says about a sensor (the registry keeps value and assignment)."""

    device_key: str
    object_id: str
    source: str
    name: str
    device_name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    state_topic: str | None = None
    expire_after_s: float | None = None
    error: str | None = None
    model: str | None = None
    manufacturer: str | None = None

    @property
    def sensor_id(self) -> str:
        return sensor_id(self.device_key, self.object_id)


def sensor_id(device_key: str, object_id: str) -> str:
    return f"{device_key}:{object_id}"


Listener = Callable[[SensorEvent, Sensor], None]
_SPEC_FIELDS = tuple(f for f in SensorSpec.__dataclass_fields__ if f not in {"device_key", "object_id"})


class SensorRegistry:
    """Sensors by id; assignment by rules (first match wins) or by an explicit ``assign``."""

    def __init__(
        self,
        rules: Iterable[AssignmentRule] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        default_expire_after_s: float | None = None,
    ) -> None:
        self._rules = tuple(rules)
        self._clock = clock
        self.default_expire_after_s = default_expire_after_s
        self._sensors: dict[str, Sensor] = {}
        self._manual: dict[str, tuple[str, str, float] | None] = {}
        self._listeners: list[Listener] = []
        self._by_role: dict[tuple[str | None, str | None], dict[str, Sensor]] = {}  # (site, role) index
        # a role's aggregation (method, outlier_min_deviation); the sensor service sets the configured one
        self.role_options: Callable[[str], tuple[str, float]] = lambda role: ("avg", 0.0)

    # --- discovery side -------------------------------------------------------------------------

    def upsert(self, spec: SensorSpec) -> Sensor:
        """Add a sensor or update its metadata (value and availability are kept)."""
        sid = spec.sensor_id
        sensor = self._sensors.get(sid)
        if sensor is None:
            sensor = Sensor(
                sensor_id=sid, device_key=spec.device_key, object_id=spec.object_id, source="", name=""
            )
            for name in _SPEC_FIELDS:
                setattr(sensor, name, getattr(spec, name))
            self._sensors[sid] = sensor
            self._assign(sensor)
            self._emit(SensorEvent.ADDED, sensor)
            return sensor
        changed = False
        for name in _SPEC_FIELDS:
            new = getattr(spec, name)
            if getattr(sensor, name) != new:
                setattr(sensor, name, new)
                changed = True
        if changed:
            self._assign(sensor)
            self._emit(SensorEvent.UPDATED, sensor)
        return sensor

    def update_value(
        self, sid: str, value: float | None, *, age_s: float = 0.0, reported_at: float | None = None
    ) -> Sensor | None:
        """Record a reading measured ``age_s`` seconds ago; None for an unknown sensor."""
        sensor = self._sensors.get(sid)
        if sensor is None:
            return None
        sensor.value = value
        sensor.last_update = self._clock() - max(0.0, age_s)
        sensor.reported_at = reported_at
        self._emit(SensorEvent.UPDATED, sensor)
        return sensor

    def set_availability(self, sid: str, availability: Availability) -> None:
        sensor = self._sensors.get(sid)
        if sensor is not None and sensor.availability != availability:
            sensor.availability = availability
            self._emit(SensorEvent.UPDATED, sensor)

    def set_device_availability(self, device_key: str, availability: Availability) -> None:
        for sensor in [s for s in self._sensors.values() if s.device_key == device_key]:
            self.set_availability(sensor.sensor_id, availability)

    def set_error(self, sid: str, error: str | None) -> None:
        sensor = self._sensors.get(sid)
        if sensor is not None and sensor.error != error:
            sensor.error = error
            self._emit(SensorEvent.UPDATED, sensor)

    def remove(self, sid: str) -> bool:
        sensor = self._sensors.pop(sid, None)
        if sensor is None:
            return False
        self._unindex(sensor)
        self._emit(SensorEvent.REMOVED, sensor)
        return True

    def remove_device(self, device_key: str, *, source: str | None = None) -> list[str]:
        gone = [
            s.sensor_id
            for s in self._sensors.values()
            if s.device_key == device_key and (source is None or s.source == source)
        ]
        for sid in gone:
            self.remove(sid)
        return gone

    # --- assignment ------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[AssignmentRule, ...]:
        return self._rules

    def set_rules(self, rules: Iterable[AssignmentRule]) -> None:
        """Replace the rules (on a configuration reload) and reassign every sensor."""
        self._rules = tuple(rules)
        for sensor in list(self._sensors.values()):
            if self._assign(sensor):
                self._emit(SensorEvent.UPDATED, sensor)

    def assign(self, sid: str, site: str | None, role: str | None = None, weight: float = 1.0) -> None:
        """Pin one sensor (by id, also before it is discovered) to a site and role; overrides rules.

        ``site=None`` pins it as unassigned; ``unpin`` returns it to the rules.
        """
        self._manual[sid] = None if site is None or role is None else (site, role, weight)
        sensor = self._sensors.get(sid)
        if sensor is not None and self._assign(sensor):
            self._emit(SensorEvent.UPDATED, sensor)

    def unpin(self, sid: str) -> None:
        self._manual.pop(sid, None)
        sensor = self._sensors.get(sid)
        if sensor is not None and self._assign(sensor):
            self._emit(SensorEvent.UPDATED, sensor)

    def _assign(self, sensor: Sensor) -> bool:
        target: tuple[str | None, str | None, float] = (None, None, 1.0)
        if sensor.sensor_id in self._manual:
            target = self._manual[sensor.sensor_id] or target
        else:
            for rule in self._rules:
                if rule.matches(sensor):
                    target = (rule.site, rule.role, rule.weight)
                    break
        indexed = sensor.sensor_id in self._by_role.get((sensor.site, sensor.role), {})
        if (sensor.site, sensor.role, sensor.weight) == target and indexed:
            return False
        self._unindex(sensor)
        sensor.site, sensor.role, sensor.weight = target
        self._by_role.setdefault((sensor.site, sensor.role), {})[sensor.sensor_id] = sensor
        return True

    def _unindex(self, sensor: Sensor) -> None:
        group = self._by_role.get((sensor.site, sensor.role))
        if group is not None:
            group.pop(sensor.sensor_id, None)
            if not group:
                del self._by_role[(sensor.site, sensor.role)]

    # --- reading ---------------------------------------------------------------------------------

    def get(self, sid: str) -> Sensor | None:
        sensor = self._sensors.get(sid)
        return None if sensor is None else replace(sensor)

    def __len__(self) -> int:
        return len(self._sensors)

    def __contains__(self, sid: object) -> bool:
        return sid in self._sensors

    def sensors(self, site: str | None = None) -> list[Sensor]:
        """Copies of every sensor (or of one site's), sorted by id."""
        return [replace(s) for _, s in sorted(self._sensors.items()) if site is None or s.site == site]

    def age_s(self, sensor: Sensor) -> float | None:
        return None if sensor.last_update is None else max(0.0, self._clock() - sensor.last_update)

    def expire_after_s(self, sensor: Sensor) -> float | None:
        return sensor.expire_after_s if sensor.expire_after_s is not None else self.default_expire_after_s

    def is_fresh(self, sensor: Sensor) -> bool:
        """Available (not offline), has a value, no error and not older than its expiry."""
        if sensor.availability == Availability.OFFLINE or sensor.value is None or sensor.error:
            return False
        expiry, age = self.expire_after_s(sensor), self.age_s(sensor)
        return expiry is None or age is None or age <= expiry

    def readings_for(self, site: str, role: str) -> list[Reading]:
        """Every sensor of a site's role as aggregation input, stale and offline ones included."""
        now = self._clock()
        default = self.default_expire_after_s
        offline = Availability.OFFLINE
        return [
            Reading(
                s.sensor_id,
                None if s.error else s.value,
                None if s.last_update is None else max(0.0, now - s.last_update),
                s.expire_after_s if s.expire_after_s is not None else default,
                s.weight,
                s.availability != offline,
            )
            for _, s in sorted(self._by_role.get((site, role), {}).items())
        ]

    def values_for(self, site: str, role: str) -> list[tuple[str, float, float]]:
        """The fresh values of a site's role: ``(sensor_id, value, weight)``."""
        return [
            (s.sensor_id, s.value, s.weight)
            for _, s in sorted(self._by_role.get((site, role), {}).items())
            if s.value is not None and self.is_fresh(s)
        ]

    def roles(self, site: str) -> list[str]:
        return sorted({s.role for s in self._sensors.values() if s.site == site and s.role is not None})

    def aggregate(self, site: str, role: str, method: str = "avg", **options: Any) -> AggregateResult:
        """``core.sensor_aggregation.aggregate`` over ``readings_for(site, role)``."""
        return aggregate(self.readings_for(site, role), method, **options)

    def role_summary(self, site: str) -> dict[str, dict[str, Any]]:
        """JSON-ready aggregate of each of a site's roles, by the configured method."""
        out: dict[str, dict[str, Any]] = {}
        for role in self.roles(site):
            method, deviation = self.role_options(role)
            result = self.aggregate(site, role, method, min_deviation=deviation)
            out[role] = {
                "value": result.value,
                "method": method,
                "used": list(result.used_ids),
                "dropped": [{"sensor": sid, "reason": reason} for sid, reason in result.dropped],
            }
        return out

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """JSON-ready state of every sensor, by id."""
        out: dict[str, dict[str, Any]] = {}
        for sid, s in sorted(self._sensors.items()):
            age = self.age_s(s)
            out[sid] = {
                "device": s.device_key,
                "device_name": s.device_name,
                "name": s.name,
                "value": s.value,
                "unit": s.unit,
                "device_class": s.device_class,
                "age_s": None if age is None else round(age, 3),
                "available": s.availability != Availability.OFFLINE,
                "availability": str(s.availability),
                "fresh": self.is_fresh(s),
                "site": s.site,
                "role": s.role,
                "weight": s.weight,
                "format": s.source,
                "state_topic": s.state_topic,
                "error": s.error,
            }
        return out

    # --- listeners -------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event, sensor)`` on every add, update and removal; returns a remover.

        The sensor passed is the registry's own object: read it, do not keep or change it.
        A listener that raises is logged and skipped.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _emit(self, event: SensorEvent, sensor: Sensor) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event, sensor)
            except Exception:
                log.exception("sensor listener failed on %s %s", event, sensor.sensor_id)
