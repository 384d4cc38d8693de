"""Numbers of a site: manual setpoint (kW) and SoC reserve (%)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfPower
from homeassistant.core import HomeAssistant
from phoenyra_client import Mode

from .const import DOMAIN
from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity, async_add_site_entities
from .helpers import phoenyra_exception_handler
from .select import current_setpoint_kw, manual_duration_s

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

PARALLEL_UPDATES = 1

SETPOINT_DESCRIPTION = NumberEntityDescription(
    key="setpoint",
    translation_key="setpoint",
    device_class=NumberDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.KILO_WATT,
    native_step=0.1,
    mode=NumberMode.BOX,
)
RESERVE_DESCRIPTION = NumberEntityDescription(
    key="soc_reserve",
    translation_key="soc_reserve",
    native_unit_of_measurement=PERCENTAGE,
    native_step=1,
    mode=NumberMode.SLIDER,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]
    async_add_site_entities(
        coordinator,
        entry,
        async_add_entities,
        lambda c, site_id: [PhoenyraSetpointNumber(c, site_id), PhoenyraReserveNumber(c, site_id)],
    )


class PhoenyraSetpointNumber(PhoenyraEntity, NumberEntity):
    """Manual setpoint: + discharges, - charges, within the site's effective power limits.
    Setting it switches the site to manual mode for the configured duration."""

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str) -> None:
        super().__init__(coordinator, site_id, SETPOINT_DESCRIPTION)

    @property
    def native_min_value(self) -> float:
        data = self.site_data  # the range the daemon publishes (hardware while not running)
        return data.site.setpoint_range(data.limits)[0] if data is not None else 0.0

    @property
    def native_max_value(self) -> float:
        data = self.site_data
        return data.site.setpoint_range(data.limits)[1] if data is not None else 0.0

    @property
    def native_value(self) -> float | None:
        if self.site_data is None:
            return None
        return current_setpoint_kw(self.coordinator, self.site_id)

    @phoenyra_exception_handler
    async def async_set_native_value(self, value: float) -> None:
        await self.coordinator.async_set_control(
            self.site_id, Mode.MANUAL, setpoint_kw=value, duration_s=manual_duration_s(self.coordinator)
        )


class PhoenyraReserveNumber(PhoenyraEntity, NumberEntity):
    """The operator SoC reserve (between the configured SoC minimum and maximum)."""

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str) -> None:
        super().__init__(coordinator, site_id, RESERVE_DESCRIPTION)

    @property
    def available(self) -> bool:
        data = self.site_data
        return super().available and data is not None and data.limits is not None

    @property
    def native_min_value(self) -> float:
        data = self.site_data
        return data.site.bess.soc_min_pct if data is not None else 0.0

    @property
    def native_max_value(self) -> float:
        data = self.site_data
        return data.site.bess.soc_max_pct - 1 if data is not None else 100.0

    @property
    def native_value(self) -> float | None:
        data = self.site_data
        if data is None or data.limits is None:
            return None
        reserve = data.limits.soc_reserve_pct
        return reserve if reserve is not None else data.limits.soc_min_pct

    @phoenyra_exception_handler
    async def async_set_native_value(self, value: float) -> None:
        await self.coordinator.async_set_limits(self.site_id, soc_reserve_pct=value)
