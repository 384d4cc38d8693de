"""Diagnostics download: the entry (token redacted), the daemon's info, every site's data."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant

from .const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .coordinator import PhoenyraCoordinator

TO_REDACT = {CONF_TOKEN}


async def async_get_config_entry_diagnostics(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    coordinator: PhoenyraCoordinator = hass.data[DOMAIN][entry.entry_id]
    data = coordinator.data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "connection": {
            "base_url": coordinator.client.base_url,
            "websocket_connected": coordinator.ws_connected,
            "last_update_success": coordinator.last_update_success,
        },
        "info": asdict(data.info) if data is not None else None,
        "sites": {site_id: asdict(site) for site_id, site in data.sites.items()} if data is not None else {},
    }
