"""Sensors of a site: SoC, SoH, temperature, powers, energy counters, price, strategy, alarms; for
sites that plan (``optimiser`` among their strategies) the plan's battery power now and SoC at the
end of today; and one entity per edge sensor of the site (discovered on MQTT, or listed in the
daemon's configuration with an MQTT topic or a Modbus register), added as they appear; who chose
the strategy (AI / scores / pinned / fixed …) and, with an A/B test, the AI's advantage in EUR; for
energy-community members the community's figures (community.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower, UnitOfTemperature
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util
from phoenyra_client import Control, EnergyCounters, Mode, Plan, SelectorStatus, Sensor, SiteStatus

from .community import async_add_community_sensors
from .const import DOMAIN, ENERGY_KEYS
from .coordinator import PhoenyraCoordinator, SiteData
from .entity import PhoenyraEntity, async_add_site_entities
from .plan import end_of_today, hourly, usable_plan

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


@dataclass(frozen=True, kw_only=True)
class PhoenyraPlanSensorEntityDescription(SensorEntityDescription):
    """A sensor of the site's plan; ``value_fn(plan, now, timezone)``."""

    value_fn: Callable[[Plan, datetime, str], float | None]
    attributes_fn: Callable[[Plan, datetime, str], dict[str, Any]] | None = None


def _planned_battery_kw(plan: Plan, now: datetime, _timezone: str) -> float | None:
    step = plan.step_at(now)
    return None if step is None else step.battery_kw


def _plan_attributes(plan: Plan, now: datetime, timezone: str) -> dict[str, Any]:
    return {
        "reason": plan.reason,
        "status": plan.status.value,
        "plan_start": plan.start.isoformat(),
        "hourly": hourly(plan, now, timezone),  # <= 24 points, not recorded
    }


PLAN_SENSORS: tuple[PhoenyraPlanSensorEntityDescription, ...] = (
    PhoenyraPlanSensorEntityDescription(
        key="planned_battery_power",
        translation_key="planned_battery_power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=_planned_battery_kw,  # + discharging, - charging (the plan's present step)
        attributes_fn=_plan_attributes,
    ),
    PhoenyraPlanSensorEntityDescription(
        key="planned_soc_end_of_day",
        translation_key="planned_soc_end_of_day",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda plan, now, tz: plan.soc_at(end_of_today(now, tz)),  # site-local midnight
        attributes_fn=lambda plan, now, tz: {"at": end_of_today(now, tz).isoformat()},
    ),
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


# --- edge sensors ---------------------------------------------------------------------------------
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


class PhoenyraPlanSensor(PhoenyraEntity, SensorEntity):
    """The site's plan at this moment; unavailable while the site has no (usable) plan."""

    entity_description: PhoenyraPlanSensorEntityDescription
    # The hourly plan and its texts change with every replan: history would only fill the database.
    _unrecorded_attributes = frozenset({"reason", "status", "plan_start", "hourly", "at"})

    @property
    def _plan(self) -> Plan | None:
        return usable_plan(self.coordinator.plans.get(self.site_id))

    @property
    def available(self) -> bool:
        return super().available and self._plan is not None

    @property
    def native_value(self) -> float | None:
        plan, data = self._plan, self.site_data
        if plan is None or data is None:
            return None
        return self.entity_description.value_fn(plan, dt_util.utcnow(), data.site.location.timezone)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        plan, data = self._plan, self.site_data
        if plan is None or data is None or self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(plan, dt_util.utcnow(), data.site.location.timezone)


# --- strategy selection (docs/ai-selection.md) ----------------------------------------------------
# who chose the active strategy: the AI model, the score-based selection, the operator (a pinned
# strategy), the configuration (selection_mode fixed), or nobody (manual / standby mode)
SELECTION_OPTIONS = ["ai", "score", "pinned", "fixed", "manual", "standby"]


def selection_chooser(status: SelectorStatus, control: Control | None) -> str:
    if control is not None and control.mode is not Mode.AUTO:
        return control.mode.value
    if control is not None and control.strategy is not None:
        return "pinned"
    if status.source is not None:
        return status.source
    return "fixed" if status.mode == "fixed" else "score"


def _selection_attributes(status: SelectorStatus, _data: SiteData) -> dict[str, Any]:
    return {
        "selection_mode": status.mode,  # configured: auto | score | ai | fixed
        "strategy": status.strategy,
        "confidence": status.confidence,
        "trained": status.trained,
        "trained_at": status.trained_at.isoformat() if status.trained_at else None,
        "samples": status.samples,
    }


def _ab_advantage(status: SelectorStatus, _data: SiteData) -> StateType:
    advantage = status.ab_advantage
    return None if advantage is None else advantage.eur_per_day


def _ab_attributes(status: SelectorStatus, _data: SiteData) -> dict[str, Any]:
    advantage = status.ab_advantage
    tally = status.ab_tally
    return {
        "ci_low_eur": advantage.ci_low_eur if advantage else None,
        "ci_high_eur": advantage.ci_high_eur if advantage else None,
        "paired_eur_per_day": advantage.paired_eur_per_day if advantage else None,
        "ai_days": int(tally.get("ai", {}).get("days", 0)),
        "score_days": int(tally.get("score", {}).get("days", 0)),
        "ai_switches_per_day": tally.get("ai", {}).get("switches_per_day"),
        "score_switches_per_day": tally.get("score", {}).get("switches_per_day"),
    }


@dataclass(frozen=True, kw_only=True)
class PhoenyraSelectorSensorEntityDescription(SensorEntityDescription):
    """A sensor of the site's strategy selection; ``value_fn(status, site data)``."""

    value_fn: Callable[[SelectorStatus, SiteData], StateType]
    attributes_fn: Callable[[SelectorStatus, SiteData], dict[str, Any]]
    ab_only: bool = False  # only for sites with an A/B test


SELECTOR_SENSORS: tuple[PhoenyraSelectorSensorEntityDescription, ...] = (
    PhoenyraSelectorSensorEntityDescription(
        key="strategy_selection",
        translation_key="strategy_selection",
        device_class=SensorDeviceClass.ENUM,
        options=SELECTION_OPTIONS,
        value_fn=lambda status, data: selection_chooser(status, data.control),
        attributes_fn=_selection_attributes,
    ),
    PhoenyraSelectorSensorEntityDescription(
        key="ab_advantage",
        translation_key="ab_advantage",
        device_class=SensorDeviceClass.MONETARY,  # EUR per day: AI days' mean minus score days' mean
        native_unit_of_measurement="EUR",  # ISO 4217, as Home Assistant wants for monetary
        suggested_display_precision=2,
        value_fn=_ab_advantage,
        attributes_fn=_ab_attributes,
        ab_only=True,
    ),
)


@callback
def async_add_selector_sensors(
    coordinator: PhoenyraCoordinator, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """The selection sensor of every site the daemon reports a selector status for, and the A/B
    advantage of every site with an A/B test; now and whenever one appears."""
    known: set[tuple[str, str]] = set()

    @callback
    def _check() -> None:
        if coordinator.data is None:
            return
        current = {
            (site_id, d.key)
            for site_id, status in coordinator.selectors.items()
            if site_id in coordinator.data.sites
            for d in SELECTOR_SENSORS
            if status.ab_enabled or not d.ab_only
        }
        new = sorted(current - known)
        if new:
            known.update(new)
            by_key = {d.key: d for d in SELECTOR_SENSORS}
            async_add_entities(
                [PhoenyraSelectorSensor(coordinator, site_id, by_key[key]) for site_id, key in new]
            )

    _check()
    entry.async_on_unload(coordinator.async_add_listener(_check))


class PhoenyraSelectorSensor(PhoenyraEntity, SensorEntity):
    """Who chooses the site's strategy, or the A/B test's advantage; unavailable without a status."""

    entity_description: PhoenyraSelectorSensorEntityDescription
    _unrecorded_attributes = frozenset({"confidence", "trained_at", "samples"})

    @property
    def _status(self) -> SelectorStatus | None:
        return self.coordinator.selectors.get(self.site_id)

    @property
    def available(self) -> bool:
        return super().available and self._status is not None

    @property
    def native_value(self) -> StateType:
        status, data = self._status, self.site_data
        if status is None or data is None:
            return None
        return self.entity_description.value_fn(status, data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        status, data = self._status, self.site_data
        if status is None or data is None:
            return None
        return self.entity_description.attributes_fn(status, data)
