"""The base entity (one per site and key) and the helper that adds entities for new sites."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import PhoenyraCoordinator, SiteData

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback


def site_device_info(coordinator: PhoenyraCoordinator, site_id: str) -> DeviceInfo:
    site = coordinator.data.sites[site_id].site
    return DeviceInfo(
        identifiers={(DOMAIN, f"{coordinator.instance_id}_{site_id}")},
        name=site.name,
        manufacturer=MANUFACTURER,
        model=f"BESS {site.bess.energy_capacity_kwh:g} kWh / {site.bess.power_discharge_max_kw:g} kW",
        via_device=(DOMAIN, coordinator.instance_id),
    )


class PhoenyraEntity(CoordinatorEntity[PhoenyraCoordinator]):
    """An entity of one site of the daemon."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: PhoenyraCoordinator, site_id: str, description: EntityDescription
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.site_id = site_id
        self._attr_unique_id = f"{coordinator.instance_id}_{site_id}_{description.key}"
        self._attr_device_info = site_device_info(coordinator, site_id)

    @property
    def site_data(self) -> SiteData | None:
        data = self.coordinator.data
        return None if data is None else data.sites.get(self.site_id)

    @property
    def available(self) -> bool:
        return super().available and self.site_data is not None

    @callback
    def _handle_coordinator_update(self) -> None:
        if self.coordinator.last_update_success and self.site_data is None:
            return  # the site is gone from the daemon: its device and entities are being removed
        super()._handle_coordinator_update()


@callback
def async_add_site_entities(
    coordinator: PhoenyraCoordinator,
    entry: ConfigEntry,
    async_add_entities: AddEntitiesCallback,
    factory: Callable[[PhoenyraCoordinator, str], Iterable[Entity]],
) -> None:
    """Add ``factory(coordinator, site_id)`` for every site now and for every site that appears
    later; a site that disappears is forgotten here (its device is removed by the coordinator)."""
    known: set[str] = set()

    @callback
    def _check_sites() -> None:
        if coordinator.data is None:
            return
        current = set(coordinator.data.sites)
        known.intersection_update(current)
        new = sorted(current - known)
        if not new:
            return
        known.update(new)
        async_add_entities([entity for site_id in new for entity in factory(coordinator, site_id)])

    _check_sites()
    entry.async_on_unload(coordinator.async_add_listener(_check_sites))
