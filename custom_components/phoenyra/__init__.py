"""Phoenyra EMS: the daemon's sites (batteries) in Home Assistant, over its REST + WebSocket API.

A thin layer over ``phoenyra_client`` (the ``phoenyra-client`` distribution); the daemon owns the
hardware, Home Assistant is a viewer and operator like the console. Home Assistant 2024.3 is the
minimum (see docs/home-assistant.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr

from . import _bundle  # noqa: F401 - first: makes a bundled phoenyra_client importable
from .const import DOMAIN, MANUFACTURER
from .coordinator import PhoenyraCoordinator
from .services import async_setup_services

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.typing import ConfigType

PLATFORMS = [Platform.BUTTON, Platform.NUMBER, Platform.SELECT, Platform.SENSOR, Platform.SWITCH]
PLATFORMS += [Platform.BINARY_SENSOR]  # VPP event active (vpp.py)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the services (once, whatever the number of daemons)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Connect to one daemon: first refresh, the daemon's device, the platforms, the WebSocket."""
    coordinator = PhoenyraCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    hass.data.setdefault(DOMAIN, {})[entry.entry_id] = coordinator

    info = coordinator.data.info
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, coordinator.instance_id)},
        manufacturer=MANUFACTURER,
        name="Phoenyra EMS",
        model="EMS daemon",
        sw_version=info.version,
        configuration_url=coordinator.client.base_url,
    )

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))

    async def _async_stop(_event: Event) -> None:
        await coordinator.async_shutdown()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Unload the platforms, close the WebSocket, stop the timers."""
    unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unload_ok:
        coordinator: PhoenyraCoordinator = hass.data[DOMAIN].pop(entry.entry_id)
        await coordinator.async_shutdown()
    return unload_ok


async def _async_update_listener(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Options changed: reload the entry."""
    await hass.config_entries.async_reload(entry.entry_id)
