"""The daemon's edge sensors: one MQTT connection for discovery, the registry, per-site inputs.

Each control cycle asks ``inputs(site_id)`` for the aggregated roles the controller uses: the
battery-room temperature (derates charge and discharge power) and an external grid meter (replaces
the inverter's grid reading).
"""

from __future__ import annotations

import logging

from phoenyra_ems.config.model import SensorsConfig
from phoenyra_ems.core.derating import thermal_derate
from phoenyra_ems.models import SensorInputs
from phoenyra_ems.mqtt import AssignmentRule, DiscoveryConfig, MqttConnection, SensorDiscovery, SensorRegistry

LOG = logging.getLogger(__name__)

ROOM_TEMPERATURE = "battery_room_temperature"
GRID_POWER = "grid_power"
DERATE_SPAN_C = 10.0  # from the threshold to no power at all
WATTS_UNITS = {"w", "watt", "watts"}


def rules(config: SensorsConfig) -> list[AssignmentRule]:
    return [AssignmentRule(r.site, r.role, r.device, r.topic, r.sensor, r.weight) for r in config.rules]


class SensorService:
    def __init__(self, config: SensorsConfig) -> None:
        self.config = config
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

    async def start(self) -> None:
        await self.connection.start()

    async def stop(self) -> None:
        await self.connection.stop()

    def apply(self, config: SensorsConfig) -> None:
        """A reload: new rules and roles; the broker connection stays as it is."""
        self.config = config
        self.registry.set_rules(rules(config))

    def _aggregate(self, site_id: str, role: str) -> tuple[float | None, tuple[str, ...]]:
        spec = self.config.roles.get(role)
        method = spec.method if spec else ("max" if role == ROOM_TEMPERATURE else "avg")
        deviation = spec.outlier_min_deviation if spec else 0.0
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
        return SensorInputs(room, grid, derate, dropped_room + dropped_grid)

    def _grid_unit_is_watts(self, site_id: str) -> bool:
        units = {(s.unit or "").lower() for s in self.registry.sensors(site_id) if s.role == GRID_POWER}
        return bool(units & WATTS_UNITS)
