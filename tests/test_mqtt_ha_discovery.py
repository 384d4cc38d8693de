"""``mqtt.ha_discovery``: each site publishes Home Assistant MQTT discovery configs (retained, one
device per site) on a real mosquitto, and a site removed by a reload deletes them (empty retained
payloads); a daemon that merely stops leaves them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config import load_config
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.mqtt.ha_publish import ENTITIES
from tests.conftest import free_port
from tests.mqtt_broker import Broker, mosquitto_binary


def _write(path: Path, broker: Broker, site_ids: list[str], api_port: int) -> None:
    text = "sites:\n  default_site_id: wien\n  sites:\n"
    for site_id in site_ids:
        text += f"""    {site_id}:
      name: {site_id.title()}
      location: {{city: X, latitude: 48.2, longitude: 16.37, timezone: Europe/Vienna}}
      bess: {{energy_capacity_kwh: 20, power_charge_max_kw: 10, power_discharge_max_kw: 10}}
      modbus: {{host: 127.0.0.1, port: {free_port()}, unit_id: 1, profile: generic, timeout_s: 0.2}}
      ems: {{cycle_s: 0.5, history_dir: "{path.parent}", price_source: none}}
      mqtt: {{enabled: true, broker: "127.0.0.1:{broker.port}", ha_discovery: true, commands: false}}
"""
    auth_db = path.parent / "auth.db"
    text += f'api: {{host: 127.0.0.1, port: {api_port}, auth_db: "{auth_db}", zeroconf: false}}\n'
    path.write_text(text)


async def _retained(broker: Broker, count: int) -> dict[str, bytes]:
    """The retained messages under homeassistant/# (waits until ``count`` arrived, or 5 s)."""
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("homeassistant/#")
        try:
            async with asyncio.timeout(5 if count else 0.5):
                async for message in client.messages:
                    found[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]
                    if count and len(found) >= count:
                        break
        except TimeoutError:
            pass
    return found


async def test_sites_publish_discovery_configs_and_a_removed_site_deletes_them(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (make broker)")
    broker = Broker(binary, tmp_path)
    broker.start()
    request.addfinalizer(broker.kill)
    config_path = tmp_path / "ems.yaml"
    api_port = free_port()
    _write(config_path, broker, ["wien", "linz"], api_port)
    daemon = Daemon(load_config(str(config_path)), SystemClock(), str(config_path))
    try:
        await daemon.start()
        configs = await _retained(broker, 2 * len(ENTITIES))
        assert len(configs) == 2 * len(ENTITIES)
        charged = json.loads(configs["homeassistant/sensor/phoenyra_wien/energy_charged/config"])
        iid = daemon.instance_id
        assert charged["unique_id"] == f"{iid}_wien_energy_charged"  # as the custom integration's
        assert charged["device"]["identifiers"] == [f"{iid}_wien"] and charged["device"]["name"] == "Wien"
        assert (charged["unit_of_measurement"], charged["device_class"], charged["state_class"]) == (
            "kWh",
            "energy",
            "total_increasing",
        )
        assert charged["state_topic"] == "phoenyra/sitewien/telemetry"
        assert charged["availability_topic"] == "phoenyra/sitewien/status"
        soh = json.loads(configs["homeassistant/sensor/phoenyra_linz/soh/config"])
        assert soh["enabled_by_default"] is False and soh["entity_category"] == "diagnostic"

        _write(config_path, broker, ["wien"], api_port)
        result = await daemon.reload()
        assert result["removed"] == ["linz"]
        left = await _retained(broker, len(ENTITIES))
        assert set(left) == {t for t in configs if "/phoenyra_wien/" in t}  # linz's are deleted
    finally:
        await daemon.stop()
    assert len(await _retained(broker, len(ENTITIES))) == len(ENTITIES)  # a stop keeps them
