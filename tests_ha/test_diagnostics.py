"""The diagnostics download contains the sites' data but never the token.

(The platform is called directly: the ``/api/diagnostics`` view of HA 2024.3 imports the cloud
integration, whose ``josepy`` dependency is broken in the pinned test venv.)
"""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import JSONEncoder

from custom_components.phoenyra.diagnostics import async_get_config_entry_diagnostics
from tests_ha.conftest import DaemonProcess, setup_entry, unload


async def test_diagnostics_redact_the_token(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    data = await async_get_config_entry_diagnostics(hass, entry)
    body = json.dumps(data, cls=JSONEncoder)  # what the download serialises
    assert shared_daemon.admin_token not in body
    assert "phx_" not in body
    assert data["entry"]["data"]["token"] == "**REDACTED**"
    assert data["entry"]["data"]["host"] == "127.0.0.1"
    assert data["info"]["instance_id"] == shared_daemon.instance_id
    assert set(data["sites"]) == {"wien", "linz"}
    assert data["sites"]["wien"]["state"]["site_id"] == "wien"
    assert set(data["sites"]["wien"]["state"]["energy"]) >= {"charged_kwh", "imported_kwh"}  # the daemon's
    await unload(hass, entry)
