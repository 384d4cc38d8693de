"""Sensors of a site: SoC, SoH, temperature, powers, energy counters, price, strategy, alarms and
the VPP figures (vpp.py); the platform also adds the plan sensors of sites that plan
(sensor_plan.py), one entity per edge sensor (sensor_edge.py), who chose the strategy and the A/B
advantage (sensor_selection.py), and for energy-community members the community's figures
(community.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower, UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.typing import StateType
from phoenyra_client import EnergyCounters, SiteStatus

from .community import async_add_community_sensors
from .const import DOMAIN, ENERGY_KEYS
from .coordinator import PhoenyraCoordinator, SiteData
from .entity import PhoenyraEntity, async_add_site_entities
from .sensor_edge import async_add_edge_sensors
from .sensor_plan import PLAN_SENSORS, PhoenyraPlanSensor
from .sensor_selection import async_add_selector_sensors

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

PARALLEL_UPDATES = 0  # coordinator-driven, read only

PRICE_UNIT = "EUR/MWh"
# state.strategy outside auto mode: the mode decided, not a strategy
STRATEGY_MODES = ("manual", "standby")


@dataclass(frozen=True, kw_only=True)
class PhoenyraSensorEntityDescription(SensorEntityDescription):
    """A site sensor; ``value_fn`` reads it from the site's data."""

    value_fn: Callable[[SiteData], StateType]
    attributes_fn: Callable[[SiteData], dict[str, Any]] | None = None


SENSORS: tuple[PhoenyraSensorEntityDescription, ...] = (
    PhoenyraSensorEntityDescription(
        key="soc",
        translation_key="soc",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda d: d.state.soc,
    ),
    PhoenyraSensorEntityDescription(
        key="soh",
        translation_key="soh",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,  # changes over months: noise for most users
        suggested_display_precision=1,
        value_fn=lambda d: d.state.soh,
    ),
    PhoenyraSensorEntityDescription(
        key="battery_temperature",
        translation_key="battery_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        value_fn=lambda d: d.state.temp_c,
    ),
    *(
        PhoenyraSensorEntityDescription(
            key=key,
            translation_key=key,
            device_class=SensorDeviceClass.POWER,
            native_unit_of_measurement=UnitOfPower.KILO_WATT,
            state_class=SensorStateClass.MEASUREMENT,
            suggested_display_precision=2,
            value_fn=fn,
        )
        for key, fn in (
            ("battery_power", lambda d: d.state.p_bess),  # + discharging, - charging
            ("pv_power", lambda d: d.state.p_pv),
            ("load_power", lambda d: d.state.p_load),
            ("grid_power", lambda d: d.state.p_grid),  # + importing, - exporting
        )
    ),
    PhoenyraSensorEntityDescription(
        key="price",
        translation_key="price",
        native_unit_of_measurement=PRICE_UNIT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=lambda d: d.state.price,
    ),
    PhoenyraSensorEntityDescription(
        key="strategy",
        translation_key="strategy",
        device_class=SensorDeviceClass.ENUM,
        value_fn=lambda d: d.state.strategy,
        attributes_fn=lambda d: {"reason": d.state.strategy_reason},
    ),
    PhoenyraSensorEntityDescription(
        key="status",
        translation_key="status",
        device_class=SensorDeviceClass.ENUM,
        options=[s.value for s in SiteStatus],
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,  # availability and active_alarms say the same
        value_fn=lambda d: d.state.status.value,
    ),
    PhoenyraSensorEntityDescription(
        key="active_alarms",
        translation_key="active_alarms",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda d: len(d.state.alarms),
        attributes_fn=lambda d: {
            "alarms": [
                {"code": a.code, "severity": a.severity.value, "message": a.message} for a in d.state.alarms
            ]
        },
    ),
)


def _energy_fn(field: str) -> Callable[[SiteData], StateType]:
    """One of the daemon's energy counters (unknown while the daemon has none)."""

    def value(d: SiteData) -> StateType:
        energy: EnergyCounters | None = d.state.energy
        return None if energy is None else float(getattr(energy, field))

    return value


# the daemon counts (its history keeps the totals); the keys and unique ids are those of the energy
# sensors that integrated power in Home Assistant before, so long-term statistics continue
ENERGY_SENSORS: tuple[PhoenyraSensorEntityDescription, ...] = tuple(
    PhoenyraSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=_energy_fn(field),
    )
    for key, field in zip(
        ENERGY_KEYS, ("charged_kwh", "discharged_kwh", "imported_kwh", "exported_kwh"), strict=True
    )
)


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    from .vpp import VPP_SENSORS  # VPP: committed power, offered flexibility (vpp.py)

    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]

    def factory(coordinator: PhoenyraCoordinator, site_id: str) -> list[SensorEntity]:
        entities: list[SensorEntity] = [PhoenyraSensor(coordinator, site_id, d) for d in SENSORS]
        entities += [PhoenyraSensor(coordinator, site_id, d) for d in ENERGY_SENSORS]
        entities += [PhoenyraSensor(coordinator, site_id, d) for d in VPP_SENSORS]
        if "optimiser" in coordinator.data.sites[site_id].site.strategies:
            entities += [PhoenyraPlanSensor(coordinator, site_id, d) for d in PLAN_SENSORS]
        return entities

    async_add_site_entities(coordinator, entry, async_add_entities, factory)
    async_add_edge_sensors(coordinator, entry, async_add_entities)
    async_add_selector_sensors(coordinator, entry, async_add_entities)
    async_add_community_sensors(coordinator, entry, async_add_entities)


class PhoenyraSensor(PhoenyraEntity, SensorEntity):
    entity_description: PhoenyraSensorEntityDescription

    def __init__(
        self, coordinator: PhoenyraCoordinator, site_id: str, description: PhoenyraSensorEntityDescription
    ) -> None:
        super().__init__(coordinator, site_id, description)
        if description.key == "strategy":  # the site's strategies, or what decided instead
            strategies = list(coordinator.data.sites[site_id].site.strategies)
            self._attr_options = strategies + [m for m in STRATEGY_MODES if m not in strategies]

    @property
    def native_value(self) -> StateType:
        data = self.site_data
        return None if data is None else self.entity_description.value_fn(data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        data = self.site_data
        if data is None or self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(data)
