"""Selects of a site: operating mode and (pinned) strategy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from phoenyra_client import Mode

from .const import CONF_SETPOINT_DURATION, DEFAULT_SETPOINT_DURATION_S, DOMAIN, STRATEGY_AUTOMATIC
from .coordinator import PhoenyraCoordinator
from .entity import PhoenyraEntity, async_add_site_entities
from .helpers import phoenyra_exception_handler

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

PARALLEL_UPDATES = 1

MODE_DESCRIPTION = SelectEntityDescription(
    key="mode", translation_key="mode", options=[m.value for m in Mode]
)
STRATEGY_DESCRIPTION = SelectEntityDescription(
    key="strategy_select", translation_key="strategy_select", entity_category=EntityCategory.CONFIG
)


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]
    async_add_site_entities(
        coordinator,
        entry,
        async_add_entities,
        lambda c, site_id: [PhoenyraModeSelect(c, site_id), PhoenyraStrategySelect(c, site_id)],
    )


def manual_duration_s(coordinator: PhoenyraCoordinator) -> float:
    return float(coordinator.config_entry.options.get(CONF_SETPOINT_DURATION, DEFAULT_SETPOINT_DURATION_S))


def current_setpoint_kw(coordinator: PhoenyraCoordinator, site_id: str) -> float:
    """The setpoint manual mode starts from: the manual one if any, else the one last written."""
    data = coordinator.data.sites[site_id]
    if data.control is not None and data.control.setpoint_kw is not None:
        return data.control.setpoint_kw
    return data.state.setpoint


class PhoenyraModeSelect(PhoenyraEntity, SelectEntity):
    """auto / manual / standby. Manual holds the current setpoint for the configured duration."""

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str) -> None:
        super().__init__(coordinator, site_id, MODE_DESCRIPTION)

    @property
    def current_option(self) -> str | None:
        data = self.site_data
        return None if data is None else data.state.mode.value

    @phoenyra_exception_handler
    async def async_select_option(self, option: str) -> None:
        mode = Mode(option)
        if mode is Mode.MANUAL:
            await self.coordinator.async_set_control(
                self.site_id,
                mode,
                setpoint_kw=current_setpoint_kw(self.coordinator, self.site_id),
                duration_s=manual_duration_s(self.coordinator),
            )
        else:
            await self.coordinator.async_set_control(self.site_id, mode)


class PhoenyraStrategySelect(PhoenyraEntity, SelectEntity):
    """The strategy auto mode uses: ``automatic`` (score-based selection) or one pinned strategy."""

    def __init__(self, coordinator: PhoenyraCoordinator, site_id: str) -> None:
        super().__init__(coordinator, site_id, STRATEGY_DESCRIPTION)
        self._attr_options = [STRATEGY_AUTOMATIC, *coordinator.data.sites[site_id].site.strategies]

    @property
    def current_option(self) -> str | None:
        data = self.site_data
        if data is None or data.control is None:
            return None
        return data.control.strategy or STRATEGY_AUTOMATIC

    @phoenyra_exception_handler
    async def async_select_option(self, option: str) -> None:
        """A strategy-only update: the daemon keeps the mode and a manual setpoint with its expiry."""
        strategy = None if option == STRATEGY_AUTOMATIC else option
        await self.coordinator.async_set_strategy(self.site_id, strategy)
