"""Button of a site: resync (re-read everything from the daemon now)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity, async_add_site_entities

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

PARALLEL_UPDATES = 1

RESYNC_DESCRIPTION = ButtonEntityDescription(
    key="resync", translation_key="resync", entity_category=EntityCategory.DIAGNOSTIC
)


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]
    async_add_site_entities(
        coordinator, entry, async_add_entities, lambda c, site_id: [PhoenyraResyncButton(c, site_id)]
    )


class PhoenyraResyncButton(PhoenyraEntity, ButtonEntity):
    """Re-read the site list, every site's state, control and limits (also finds added or removed
    sites at once)."""

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str) -> None:
        super().__init__(coordinator, site_id, RESYNC_DESCRIPTION)

    @property
    def available(self) -> bool:
        return True  # also while the daemon is away: pressing it retries at once

    async def async_press(self) -> None:
        await self.coordinator.async_refresh()
