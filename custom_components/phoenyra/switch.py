"""Switch of a site: automatic control (on = auto mode, off = standby)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from phoenyra_client import Mode

from .const import DOMAIN
from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity, async_add_site_entities
from .helpers import phoenyra_exception_handler

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

PARALLEL_UPDATES = 1

AUTO_DESCRIPTION = SwitchEntityDescription(key="automatic_control", translation_key="automatic_control")


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]
    async_add_site_entities(
        coordinator, entry, async_add_entities, lambda c, site_id: [PhoenyraAutoSwitch(c, site_id)]
    )


class PhoenyraAutoSwitch(PhoenyraEntity, SwitchEntity):
    """On: the strategies decide (auto). Off: standby (0 kW; grid limits still apply)."""

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str) -> None:
        super().__init__(coordinator, site_id, AUTO_DESCRIPTION)

    @property
    def is_on(self) -> bool | None:
        data = self.site_data
        return None if data is None else data.state.mode is Mode.AUTO

    @phoenyra_exception_handler
    async def async_turn_on(self, /, **kwargs: Any) -> None:
        await self.coordinator.async_set_control(self.site_id, Mode.AUTO)

    @phoenyra_exception_handler
    async def async_turn_off(self, /, **kwargs: Any) -> None:
        await self.coordinator.async_set_control(self.site_id, Mode.STANDBY)
