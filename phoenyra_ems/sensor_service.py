"""The daemon's edge sensors: one MQTT connection for discovery, the registry, per-site inputs.

Each control cycle asks ``inputs(site_id)`` for the aggregated roles the controller uses: the
battery-room temperature (derates charge and discharge power) and an external grid meter (replaces
the inverter's grid reading).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from phoenyra_ems.config.model import ExplicitSensorConfig, SensorsConfig, SiteConfig
from phoenyra_ems.core.derating import thermal_derate
from phoenyra_ems.devices.sensor_poller import ModbusSensorPoller, PolledSensor, polled, sensor_unit
from phoenyra_ems.models import SensorInputs
from phoenyra_ems.mqtt import (
    AssignmentRule,
    DiscoveryConfig,
    MqttConnection,
    SensorDiscovery,
    SensorRegistry,
    SensorSpec,
    Subscription,
)

LOG = logging.getLogger(__name__)

ROOM_TEMPERATURE = "battery_room_temperature"
GRID_POWER = "grid_power"
DERATE_SPAN_C = 10.0  # from the threshold to no power at all
WATTS_UNITS = {"w", "watt", "watts"}
LISTED = "config"  # device key and format of the sensors listed in sensors.sensors
MAX_PAYLOAD = 4096
WARN_EVERY_S = 60.0


def listed_id(sensor: ExplicitSensorConfig) -> str:
    return f"{LISTED}:{sensor.id}"


def parse_value(payload: bytes, value_path: str | None) -> float:
    """A reading from a state payload: a plain number, or JSON (a number, or the value at the
    dotted ``value_path`` of an object). Raises ValueError saying why not."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload larger than {MAX_PAYLOAD} bytes")
    text = payload.decode("utf-8", errors="strict").strip()
    try:
        data: Any = json.loads(text, parse_constant=lambda name: float("nan"))
    except ValueError:
        data = text
    if value_path is not None:
        for key in value_path.split("."):
            if not isinstance(data, dict) or key not in data:
                raise ValueError(f"no {value_path!r} in the payload")
            data = data[key]
    if isinstance(data, bool) or not isinstance(data, int | float | str):
        raise ValueError("not a number")
    value = float(data)  # a str that is no number raises ValueError
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def rules(config: SensorsConfig) -> list[AssignmentRule]:
    return [AssignmentRule(r.site, r.role, r.device, r.topic, r.sensor, r.weight) for r in config.rules]


def listed_spec(sensor: ExplicitSensorConfig, error: str | None = None) -> SensorSpec:
    """What the registry shows of a listed sensor (MQTT or Modbus)."""
    return SensorSpec(
        device_key=LISTED,
        object_id=sensor.id,
        source=LISTED,
        name=sensor.id,
        unit=sensor.unit,
        device_class=sensor.type,
        state_topic=sensor.topic,
        expire_after_s=sensor.expire_after_s,
        error=error,
        model=None if sensor.source != "modbus" else f"modbus register {sensor.register}",
    )


class SensorService:
    """Edge sensors: discovered and listed MQTT sensors on the sensors broker (``sensors.host``,
    never a site's own broker), and listed ``source: modbus`` sensors read on each site's Modbus
    endpoint (``ModbusSensorPoller``); all of them in one registry (API, console, aggregation)."""

    def __init__(self, config: SensorsConfig, sites: Mapping[str, SiteConfig] | None = None) -> None:
        self.config = config
        self.sites = dict(sites or {})
        self.pollers: dict[str, ModbusSensorPoller] = {}  # by site id
        self._started = False
        self._stopping: set[asyncio.Task[None]] = set()
        self.registry = SensorRegistry(rules(config), default_expire_after_s=config.default_expire_after_s)
        self.connection = MqttConnection(
            config.host,
            config.port,
            username=config.username,
            password=config.password,
            tls=config.tls,
            client_id="phoenyra-ems-sensors",
        )
        self.discovery = SensorDiscovery(
            self.registry,
            self.connection,
            DiscoveryConfig(
                native=config.native,
                home_assistant=config.home_assistant,
                ha_prefix=config.ha_prefix,
                tasmota=config.tasmota,
            ),
        )
        self.discovery.attach()
        self.registry.role_options = self.role_options
        self._listed: dict[str, tuple[ExplicitSensorConfig, Subscription | None]] = {}
        self._warned: dict[str, float] = {}
        self._list(config)

    async def start(self) -> None:
        """Connect to the sensors broker (when ``sensors.enabled``) and start the Modbus pollers."""
        if self.config.enabled:
            await self.connection.start()
        self._started = True
        self._poll()

    async def stop(self) -> None:
        self._started = False
        pollers, self.pollers = list(self.pollers.values()), {}
        for poller in pollers:
            await poller.stop()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
        await self.connection.stop()

    def apply(self, config: SensorsConfig, sites: Mapping[str, SiteConfig] | None = None) -> None:
        """A reload: new rules, roles, methods and listed sensors; the broker connection stays."""
        self.config = config
        if sites is not None:
            self.sites = dict(sites)
        self.registry.set_rules(rules(config))
        self._list(config)
        if self._started:
            self._poll()

    # --- source: modbus sensors, read by one poller per site ----------------------------------------
    def _poll(self) -> None:
        wanted: dict[str, list[PolledSensor]] = {}
        for sensor in self.config.sensors:
            site = self.sites.get(sensor.site)
            if sensor.source != "modbus" or site is None:
                continue
            try:
                wanted.setdefault(sensor.site, []).append(
                    polled(sensor, listed_id(sensor), site.modbus.profile)
                )
            except ValueError as err:
                self._report(listed_id(sensor), None, str(err))
        for site_id in [s for s in self.pollers if s not in wanted]:
            task = asyncio.ensure_future(self.pollers.pop(site_id).stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        for site_id, sensors in wanted.items():
            modbus = self.sites[site_id].modbus
            if site_id in self.pollers:
                self.pollers[site_id].configure(modbus, sensors)
            else:
                self.pollers[site_id] = ModbusSensorPoller(modbus, sensors, self._report)
                self.pollers[site_id].start()

    def _report(self, sid: str, value: float | None, error: str | None) -> None:
        """A Modbus reading: a value, or None with the reason (a dropped sensor, the site's alarm)."""
        listed = self._listed.get(sid)
        if listed is None:
            return
        sensor = self.registry.get(sid)
        if sensor is not None and sensor.error != error:
            self.registry.upsert(listed_spec(listed[0], error))
        self.registry.update_value(sid, value)

    # --- sensors listed in the configuration (sensors.sensors) -----------------------------------
    def _list(self, config: SensorsConfig) -> None:
        wanted = {listed_id(s): self._complete(s) for s in config.sensors}
        for sid in [sid for sid in self._listed if sid not in wanted or wanted[sid] != self._listed[sid][0]]:
            _, sub = self._listed.pop(sid)
            if sub is not None:
                self.connection.unsubscribe(sub)
            self.registry.unpin(sid)
            self.registry.remove(sid)
        for sid, sensor in wanted.items():
            if sid in self._listed:
                continue
            self.registry.assign(sid, sensor.site, sensor.sensor_role, sensor.weight)
            self.registry.upsert(listed_spec(sensor))
            sub = None
            if sensor.source == "mqtt" and sensor.topic is not None:
                sub = self.connection.subscribe(sensor.topic, self._reader(sid, sensor))
            self._listed[sid] = (sensor, sub)

    def _complete(self, sensor: ExplicitSensorConfig) -> ExplicitSensorConfig:
        """A named register's unit from the site's device profile (as ``validate_config`` does)."""
        site = self.sites.get(sensor.site)
        if sensor.source != "modbus" or sensor.unit is not None or site is None:
            return sensor
        with contextlib.suppress(ValueError):
            return replace(sensor, unit=sensor_unit(sensor, site.modbus.profile))
        return sensor

    def _reader(self, sid: str, sensor: ExplicitSensorConfig) -> Any:
        def on_message(topic: str, payload: bytes, retain: bool) -> None:
            try:
                value: float | None = parse_value(payload, sensor.value_path)
            except (ValueError, UnicodeDecodeError) as err:
                value = None  # dropped ("no_value") with the sensor_dropped alarm, until a good one
                now = time.monotonic()
                if now - self._warned.get(sid, -WARN_EVERY_S) >= WARN_EVERY_S:
                    self._warned[sid] = now
                    LOG.warning("sensor %s: unreadable message on %s: %s", sensor.id, topic, err)
            self.registry.update_value(sid, value)

        return on_message

    def role_options(self, role: str) -> tuple[str, float]:
        """(method, outlier_min_deviation) of a role, as configured (``SensorsConfig.method_for``)."""
        spec = self.config.roles.get(role)
        return self.config.method_for(role), spec.outlier_min_deviation if spec else 0.0

    def _aggregate(self, site_id: str, role: str) -> tuple[float | None, tuple[str, ...]]:
        method, deviation = self.role_options(role)
        result = self.registry.aggregate(site_id, role, method, min_deviation=deviation)
        return result.value, tuple(sensor for sensor, _ in result.dropped)

    def inputs(self, site_id: str) -> SensorInputs:
        roles = set(self.registry.roles(site_id))
        if not roles:
            return SensorInputs()
        room, dropped_room = (
            self._aggregate(site_id, ROOM_TEMPERATURE) if ROOM_TEMPERATURE in roles else (None, ())
        )
        grid, dropped_grid = self._aggregate(site_id, GRID_POWER) if GRID_POWER in roles else (None, ())
        if grid is not None and self._grid_unit_is_watts(site_id):
            grid /= 1000.0
        threshold = self.config.room_temp_derate_above_c
        derate = thermal_derate(room, threshold, threshold + DERATE_SPAN_C)
        dropped = dropped_room + dropped_grid
        for role in sorted(roles - {ROOM_TEMPERATURE, GRID_POWER}):  # viewers' roles: the alarm only
            dropped += self._aggregate(site_id, role)[1]
        return SensorInputs(room, grid, derate, dropped)

    def _grid_unit_is_watts(self, site_id: str) -> bool:
        units = {(s.unit or "").lower() for s in self.registry.sensors(site_id) if s.role == GRID_POWER}
        return bool(units & WATTS_UNITS)
