"""Binary sensors of a site: whether a VPP event is in progress (vpp.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity, async_add_site_entities
from .vpp import VPP_BINARY_SENSORS, PhoenyraBinarySensorEntityDescription

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

PARALLEL_UPDATES = 0  # coordinator-driven, read only


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]

    def factory(coordinator: PhoenyraCoordinator, site_id: str) -> list[BinarySensorEntity]:
        return [PhoenyraBinarySensor(coordinator, site_id, d) for d in VPP_BINARY_SENSORS]

    async_add_site_entities(coordinator, entry, async_add_entities, factory)


class PhoenyraBinarySensor(PhoenyraEntity, BinarySensorEntity):
    entity_description: PhoenyraBinarySensorEntityDescription
    _unrecorded_attributes = frozenset({"remaining_s", "deviation_kw", "notes"})

    @property
    def is_on(self) -> bool | None:
        data = self.site_data
        return None if data is None else self.entity_description.is_on_fn(data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        data = self.site_data
        if data is None or self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(data)
