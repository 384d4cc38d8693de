"""The daemon's MQTT discovery configs (``mqtt.ha_discovery``) as Home Assistant's own MQTT
integration reads them: one device, the sensors with units and classes, state from the telemetry,
availability from the status topic, deletion by an empty payload.

The configs and the telemetry are made by the daemon's code (``phoenyra_ems.mqtt.ha_publish``,
``api.serialize``) in the main venv, as the daemon publishes them; the broker is the harness's.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from tests_ha.conftest import MAIN_PYTHON, REPO

SCRIPT = """
import json
from datetime import UTC, datetime
from phoenyra_ems.api.serialize import state_json
from phoenyra_ems.config import load_config_text
from phoenyra_ems.core.energy import EnergyTotals
from phoenyra_ems.models import PlantState, SiteStatus
from phoenyra_ems.mqtt.ha_publish import config_payloads
config = load_config_text('''
sites:
  sites:
    wien:
      name: Wien
      location: {city: Wien, latitude: 48.2, longitude: 16.37, timezone: Europe/Vienna}
      bess: {energy_capacity_kwh: 20, power_charge_max_kw: 10, power_discharge_max_kw: 10}
      modbus: {host: 127.0.0.1, port: 5020}
      mqtt: {enabled: true, ha_discovery: true}
''')
now = datetime(2026, 6, 1, 12, tzinfo=UTC)
state = PlantState("wien", now, soc=54.2, p_bess=-2.5, p_pv=6.0, p_load=1.5, p_grid=-2.0,
                   status=SiteStatus.RUNNING, strategy="self_consumption",
                   energy=EnergyTotals(12.5, 10.25, 300.0, 120.75, now))
print(json.dumps({"configs": {t: p.decode() for t, p in config_payloads(config.sites["wien"], "iid").items()},
                  "state": state_json(state)}))
"""


@pytest.fixture(scope="module")
def daemon_output() -> dict:
    """Run outside the event loop (Home Assistant refuses blocking calls inside it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [MAIN_PYTHON, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout)


@pytest.fixture(autouse=True)
def no_mqtt_cooldowns(monkeypatch: pytest.MonkeyPatch) -> None:
    """HA's MQTT client waits up to 2 s for discovery to settle and 1 s before its first subscribe."""
    from homeassistant.components.mqtt import client

    for name in ("DISCOVERY_COOLDOWN", "INITIAL_SUBSCRIBE_COOLDOWN", "SUBSCRIBE_COOLDOWN"):
        monkeypatch.setattr(client, name, 0.0)


async def test_home_assistants_mqtt_integration_builds_the_sites_device(
    hass: HomeAssistant, mock_hass_config: None, mqtt_mock_entry, daemon_output: dict
) -> None:
    out = daemon_output
    await mqtt_mock_entry()
    for topic, payload in out["configs"].items():
        async_fire_mqtt_message(hass, topic, payload, retain=True)
    await hass.async_block_till_done()

    device = dr.async_get(hass).async_get_device(identifiers={("mqtt", "iid_wien")})
    assert device is not None and device.name == "Wien" and device.manufacturer == "Phoenyra"
    entities = er.async_get(hass)
    charged_id = entities.async_get_entity_id("sensor", "mqtt", "iid_wien_energy_charged")
    assert charged_id == "sensor.wien_energy_charged"
    soh = entities.async_get(entities.async_get_entity_id("sensor", "mqtt", "iid_wien_soh"))
    assert soh is not None and soh.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(charged_id).state == STATE_UNAVAILABLE  # no status yet

    async_fire_mqtt_message(hass, "phoenyra/sitewien/status", "online", retain=True)
    async_fire_mqtt_message(hass, "phoenyra/sitewien/telemetry", json.dumps(out["state"]), retain=True)
    await hass.async_block_till_done()
    charged = hass.states.get(charged_id)
    assert float(charged.state) == 12.5
    assert charged.attributes["unit_of_measurement"] == "kWh"
    assert charged.attributes["state_class"] == "total_increasing"
    assert charged.attributes["device_class"] == "energy"
    assert float(hass.states.get("sensor.wien_grid_power").state) == -2.0
    assert float(hass.states.get("sensor.wien_state_of_charge").state) == 54.2
    assert hass.states.get("sensor.wien_active_strategy").state == "self_consumption"

    no_energy = {**out["state"], "energy": None}  # the daemon has not read its history yet
    async_fire_mqtt_message(hass, "phoenyra/sitewien/telemetry", json.dumps(no_energy))
    await hass.async_block_till_done()
    assert hass.states.get(charged_id).state == STATE_UNKNOWN

    # a live subscriber gets these without the retain flag (the broker sets it only for a new subscription)
    async_fire_mqtt_message(hass, "phoenyra/sitewien/status", "offline")  # the last will
    await hass.async_block_till_done()
    assert hass.states.get(charged_id).state == STATE_UNAVAILABLE

    for topic in out["configs"]:  # the site removed: empty retained payloads
        async_fire_mqtt_message(hass, topic, "")
    await hass.async_block_till_done()
    assert entities.async_get_entity_id("sensor", "mqtt", "iid_wien_energy_charged") is None
    assert dr.async_get(hass).async_get_device(identifiers={("mqtt", "iid_wien")}) is None
