"""Run by test_install.py in a fresh directory holding only ``custom_components/phoenyra/`` (as HACS
or a manual copy leaves it), with Home Assistant processing the manifest's requirements itself.

Environment: PHOENYRA_PORT, PHOENYRA_TOKEN (a running daemon), PHOENYRA_MODE ("pip": the manifest's
requirement is installed by Home Assistant's pip from dist/ via PIP_NO_INDEX/PIP_FIND_LINKS;
"zip": the release zip's bundled client, no requirement).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from pathlib import Path

import pytest
from homeassistant import requirements
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

# The config directory's custom_components/ is a namespace package in a real installation; import it
# now, before the harness puts its own testing_config (a regular package of that name) on sys.path.
import custom_components  # noqa: F401

DOMAIN = "phoenyra"
MANIFEST = json.loads((Path.cwd() / "custom_components" / DOMAIN / "manifest.json").read_text())


@pytest.fixture(autouse=True)
def _custom(enable_custom_integrations: None, socket_enabled: None) -> None:
    """Load custom integrations; the daemon is on loopback."""


async def test_install_config_flow_setup_update(hass: HomeAssistant) -> None:
    mode = os.environ["PHOENYRA_MODE"]
    assert importlib.util.find_spec("phoenyra_ems") is None, "this repository must not be importable"
    assert importlib.util.find_spec("phoenyra_client") is None, "the client must not be preinstalled"
    if mode == "zip":
        assert MANIFEST["requirements"] == []
    else:
        assert MANIFEST["requirements"] and all("==" in r for r in MANIFEST["requirements"])
    # Home Assistant's own requirement processing for this integration, as at a real setup (the
    # harness skips pip; turned on for ours only — the built-in integrations' requirements are not
    # in the test venv and the stand-in index, dist/, does not have them).
    hass.config.skip_pip = False
    integration = await requirements.async_get_integration_with_requirements(hass, DOMAIN)
    assert integration.requirements == MANIFEST["requirements"]
    hass.config.skip_pip = True

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    assert result["type"] == FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: int(os.environ["PHOENYRA_PORT"]),
            CONF_TOKEN: os.environ["PHOENYRA_TOKEN"],
        },
    )
    assert result["type"] == FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED

    spec = importlib.util.find_spec("phoenyra_client")
    assert spec is not None and spec.origin is not None
    if mode == "zip":
        assert "custom_components" in spec.origin, spec.origin  # the bundled copy
        import phoenyra_client
        import phoenyra_client.models

        assert phoenyra_client.models.Mode is phoenyra_client.Mode  # one copy of each class
    else:
        assert "site-packages" in spec.origin, spec.origin  # installed by Home Assistant's pip

    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    switch = next(e.entity_id for e in entities if e.unique_id.endswith("_automatic_control"))
    soc = next(e.entity_id for e in entities if e.unique_id.endswith("_soc"))
    float(hass.states.get(soc).state)  # a number from the daemon
    assert hass.states.get(switch).state == "on"

    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    for _ in range(250):  # the daemon acknowledges; the entity follows its state
        if hass.states.get(switch).state == "off":
            break
        await asyncio.sleep(0.02)
    assert hass.states.get(switch).state == "off"
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
