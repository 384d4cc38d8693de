"""One sensor entity per edge sensor of a site (discovered on MQTT, or listed in the daemon's
configuration with an MQTT topic or a Modbus register), added as they appear."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import callback
from phoenyra_client import Sensor

from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

# an edge sensor's kind (its role, e.g. "humidity", or a role naming it) -> device class and the
# units Home Assistant accepts for it; any other sensor is a plain measurement in its own unit
EDGE_CLASSES: tuple[tuple[str, SensorDeviceClass, tuple[str, ...]], ...] = (
    ("temperature", SensorDeviceClass.TEMPERATURE, ("°C", "°F", "K")),
    ("humidity", SensorDeviceClass.HUMIDITY, ("%",)),
    ("power", SensorDeviceClass.POWER, ("W", "kW")),
    ("voltage", SensorDeviceClass.VOLTAGE, ("V", "mV")),
    ("current", SensorDeviceClass.CURRENT, ("A", "mA")),
    ("frequency", SensorDeviceClass.FREQUENCY, ("Hz",)),
)


def edge_device_class(sensor: Sensor) -> SensorDeviceClass | None:
    role = sensor.role or ""
    for kind, device_class, units in EDGE_CLASSES:
        if kind in role and sensor.unit in units:
            return device_class
    return None


@callback
def async_add_edge_sensors(
    coordinator: PhoenyraCoordinator, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """An entity for every edge sensor of every site, now and whenever one appears."""
    known: set[tuple[str, str]] = set()

    @callback
    def _check() -> None:
        if coordinator.data is None:
            return
        current = {(site_id, s.id) for site_id, d in coordinator.data.sites.items() for s in d.sensors}
        known.intersection_update(current)
        new = sorted(current - known)
        if new:
            known.update(new)
            async_add_entities([PhoenyraEdgeSensor(coordinator, site_id, sid) for site_id, sid in new])

    _check()
    entry.async_on_unload(coordinator.async_add_listener(_check))


class PhoenyraEdgeSensor(PhoenyraEntity, SensorEntity):
    """One edge sensor of a site, named as the daemon names it (``GET /sites/{id}/sensors``)."""

    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str, sensor_id: str) -> None:
        # unique id: <instance>_<site>_sensor_<sensor id>, e.g. …_wien_sensor_config:humidity_outdoor
        super().__init__(coordinator, site_id, SensorEntityDescription(key=f"sensor_{sensor_id}"))
        self.sensor_id = sensor_id
        sensor = self.sensor
        self._attr_name = sensor.name if sensor is not None else sensor_id
        if sensor is not None:
            self._attr_native_unit_of_measurement = sensor.unit
            self._attr_device_class = edge_device_class(sensor)

    @property
    def sensor(self) -> Sensor | None:
        data = self.site_data
        if data is None:
            return None
        return next((s for s in data.sensors if s.id == self.sensor_id), None)

    @property
    def available(self) -> bool:
        sensor = self.sensor
        return super().available and sensor is not None and sensor.available

    @property
    def native_value(self) -> float | None:
        sensor = self.sensor
        return None if sensor is None else sensor.value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        sensor = self.sensor
        if sensor is None:
            return None
        return {"sensor_id": sensor.id, "role": sensor.role, "format": sensor.format, "age_s": sensor.age_s}
