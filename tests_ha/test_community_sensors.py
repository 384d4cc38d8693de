"""A member site's energy-community sensors against a real daemon: Wien in a community with an
external metering point, its ledger written by the daemon's own code (main venv), Linz not a member."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from phoenyra_client import PhoenyraClient, PhoenyraError

from custom_components.phoenyra.const import DOMAIN
from tests_ha.conftest import MAIN_PYTHON, REPO, DaemonProcess, entity_id, setup_entry, unload

# Wien per quarter-hour: consumption, generation, received, provided, surplus, paid, earned
WIEN = [2.0, 1.0, 1.5, 0.75, 0.25, 0.15, 0.09]
LEDGER = """
import json, sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from phoenyra_ems.community.ledger import Ledger
from phoenyra_ems.community.service import FIELDS

path, keys, wien = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
midnight = datetime.now(ZoneInfo("Europe/Vienna")).replace(hour=0, minute=0, second=0, microsecond=0)
first = midnight.replace(day=1)
starts = {first - timedelta(minutes=15), first, midnight, midnight + timedelta(minutes=15)}
periods = sorted(t.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ") for t in starts)
members = {"wien": wien, "flats": [3.0, 0, 0, 0, 0, 0, 0]}
with Ledger(path, "eeg-test", keys) as ledger:
    ledger.append(("interval", p, p[:7], None, {"interval": p, "price_eur_kwh": 0.1, "fields": list(FIELDS),
                   "members": members}) for p in periods)
"""


def community_yaml(state_dir: Path) -> str:
    # flats.csv is not there (the operator's file has not arrived): the daemon's recorder appends
    # nothing of its own, the ledger holds what this test wrote
    return (
        "community:\n  id: eeg-test\n  timezone: Europe/Vienna\n  members:\n    wien: {site: wien}\n"
        "    flats: {csv: flats.csv}\n"
        f'  ledger: {{path: "{state_dir / "ledger.db"}", key_dir: "{state_dir / "keys"}"}}\n'
    )


def set_community(daemon: DaemonProcess, on: bool) -> None:
    text = daemon.config_path.read_text()
    block = community_yaml(daemon.state_dir)
    text = text.replace(block, "")
    daemon.config_path.write_text(text + block if on else text)


async def test_member_site_community_sensors(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    ledger = shared_daemon.state_dir / "ledger.db"
    if not ledger.exists():
        keys = str(shared_daemon.state_dir / "keys")
        args = [MAIN_PYTHON, "-c", LEDGER, str(ledger), keys, json.dumps(WIEN)]
        await hass.async_add_executor_job(lambda: subprocess.run(args, cwd=REPO, check=True, timeout=60))
    session = async_get_clientsession(hass)
    client = PhoenyraClient("127.0.0.1", shared_daemon.port, token=shared_daemon.admin_token, session=session)
    set_community(shared_daemon, True)
    try:
        await client.reload()
        state = await client.community()
        assert state.date is not None
        month_intervals = 2 if state.date.endswith("-01") else 3  # the 1st: its midnight is today's
        entry = await setup_entry(hass, shared_daemon)
        coordinator = hass.data[DOMAIN][entry.entry_id]
        assert coordinator.community is not None and coordinator.community.id == "eeg-test"
        received, provided, amount = (
            hass.states.get(entity_id(hass, shared_daemon, "wien", f"community_{key}", "sensor"))
            for key in ("received_today", "provided_today", "amount_month")
        )
        assert float(received.state) == 3.0 and float(provided.state) == 1.5  # today's two quarter-hours
        for energy in (received, provided):  # Energy-dashboard ready
            assert energy.attributes[ATTR_DEVICE_CLASS] == "energy"
            assert energy.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kWh"
            assert energy.attributes["state_class"] == "total_increasing"
        assert received.attributes["member"] == "wien" and received.attributes["date"] == state.date
        # this month: earned 0.09 - paid 0.15 per quarter-hour; the one before the 1st is last month's
        assert float(amount.state) == round(-0.06 * month_intervals, 2)
        assert amount.attributes[ATTR_DEVICE_CLASS] == "monetary"
        assert amount.attributes["state_class"] == "total"
        assert amount.attributes["paid_eur"] == round(0.15 * month_intervals, 2)
        assert amount.attributes["month"] == state.month
        registry = er.async_get(hass)  # Linz is not a member: no community sensors
        unique_id = f"{shared_daemon.instance_id}_linz_community_received_today"
        assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None

        async def refuse() -> None:
            raise PhoenyraError("ledger locked")

        real = coordinator.client.community
        coordinator.client.community = refuse  # a community that cannot be read now: unavailable
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert hass.states.get(received.entity_id).state == STATE_UNAVAILABLE
        coordinator.client.community = real
        set_community(shared_daemon, False)  # the community is gone from the daemon (404)
        await client.reload()
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert coordinator.community is None
        assert hass.states.get(amount.entity_id).state == STATE_UNAVAILABLE
        await unload(hass, entry)
    finally:
        set_community(shared_daemon, False)
        await client.reload()
