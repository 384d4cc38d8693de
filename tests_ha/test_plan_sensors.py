"""The plan sensors (planned battery power now, planned SoC at the end of today) against a real
daemon whose Wien site plans; Linz does not and gets none."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from phoenyra_client import PhoenyraClient, SiteStatus

from custom_components.phoenyra.const import DOMAIN
from custom_components.phoenyra.plan import end_of_today
from tests_ha.conftest import DaemonProcess, entity_id, setup_entry, unload, wait_for

PLAN_KEYS = ("planned_battery_power", "planned_soc_end_of_day")


def plan_wien(daemon: DaemonProcess, optimiser: bool) -> None:
    """Rewrite the daemon's configuration: Wien with the optimiser, or with the default strategies."""
    planning = "strategies: [optimiser, self_consumption], "
    lines = daemon.config_path.read_text().replace(planning, "").split("\n")
    wien = lines.index("    wien:")
    ems = next(k for k in range(wien, len(lines)) if lines[k].strip().startswith("ems: {"))
    if optimiser:
        lines[ems] = lines[ems].replace("ems: {", "ems: {" + planning, 1)
    daemon.config_path.write_text("\n".join(lines))


def test_end_of_today_is_the_sites_local_midnight() -> None:
    vienna = "Europe/Vienna"
    now = datetime(2024, 3, 31, 21, 30, tzinfo=ZoneInfo("UTC"))  # 23:30 in Vienna, after the DST change
    assert end_of_today(now, vienna) == datetime(2024, 4, 1, tzinfo=ZoneInfo(vienna))
    assert end_of_today(now, vienna) - now == timedelta(minutes=30)
    assert end_of_today(now, "UTC") == datetime(2024, 4, 1, tzinfo=ZoneInfo("UTC"))


async def test_plan_sensors_follow_the_plan_and_vanish_without_it(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    client = PhoenyraClient(
        "127.0.0.1",
        shared_daemon.port,
        token=shared_daemon.admin_token,
        session=async_get_clientsession(hass),
    )
    plan_wien(shared_daemon, True)
    try:
        assert (await client.reload()).reloaded_sites == ("wien",)
        for _ in range(100):
            if (await client.plan("wien")).plan is not None:
                break
            await asyncio.sleep(0.05)
        entry = await setup_entry(hass, shared_daemon)
        coordinator = hass.data[DOMAIN][entry.entry_id]
        registry = er.async_get(hass)

        power_id = entity_id(hass, shared_daemon, "wien", "planned_battery_power", "sensor")
        soc_id = entity_id(hass, shared_daemon, "wien", "planned_soc_end_of_day", "sensor")
        for key in PLAN_KEYS:  # only sites that plan get them
            assert (
                registry.async_get_entity_id("sensor", DOMAIN, f"{shared_daemon.instance_id}_linz_{key}")
                is None
            )
        power = hass.states.get(power_id)
        assert power.state != STATE_UNAVAILABLE
        assert (
            power.attributes[ATTR_DEVICE_CLASS] == "power"
            and power.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kW"
        )
        assert power.attributes["state_class"] == "measurement"
        assert power.attributes["reason"].startswith("plan: ") and power.attributes["status"] == "optimal"
        plan = coordinator.plans["wien"].plan
        now = power.last_updated
        assert float(power.state) == plan.step_at(now).battery_kw
        hourly = power.attributes["hourly"]
        # a 48-h plan: the next 24 hours, no more (attributes stay small)
        assert len(hourly) == 24 and set(hourly[0]) == {"start", "battery_kw", "soc_pct", "price_eur_mwh"}
        first, second = (datetime.fromisoformat(h["start"]) for h in hourly[:2])
        assert second - first == timedelta(hours=1)
        assert first.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # Vienna's local time
        assert len(str(power.attributes)) < 4000  # far below the recorder's 16 KiB
        soc = hass.states.get(soc_id)
        midnight = end_of_today(now, "Europe/Vienna")
        assert soc.attributes[ATTR_UNIT_OF_MEASUREMENT] == "%"
        assert soc.attributes["at"] == midnight.isoformat()
        assert float(soc.state) == plan.soc_at(midnight) and 10.0 <= float(soc.state) <= 90.0
        # The attributes are not recorded (plan sensors refresh them with every replan).
        from custom_components.phoenyra.sensor_plan import PhoenyraPlanSensor

        assert {"hourly", "reason", "status", "plan_start", "at"} <= PhoenyraPlanSensor._unrecorded_attributes

        # A replan (the charge limit changes) is pushed over the WebSocket: the sensors follow it.
        await wait_for(lambda: coordinator.ws_connected, what="WebSocket")
        before = coordinator.plans["wien"]
        await client.set_limits("wien", power_charge_max_kw=1.0)
        await wait_for(lambda: coordinator.plans["wien"] is not before, what="plan push")
        pushed = coordinator.plans["wien"].plan
        assert pushed is not None and min(s.battery_kw for s in pushed.steps) >= -1.0 - 1e-6
        await hass.async_block_till_done()
        assert (
            float(hass.states.get(power_id).state) == pushed.step_at(datetime.now(ZoneInfo("UTC"))).battery_kw
        )

        # Without the optimiser the site has no plan: the sensors are unavailable, not stale.
        plan_wien(shared_daemon, False)
        await client.reload()
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert "wien" not in coordinator.plans
        assert hass.states.get(power_id).state == STATE_UNAVAILABLE
        assert hass.states.get(soc_id).state == STATE_UNAVAILABLE
        await unload(hass, entry)
    finally:  # the shared daemon as it was: Wien without the optimiser, no charge limit
        plan_wien(shared_daemon, False)
        await client.reload()
        await client.set_limits("wien", power_charge_max_kw=None)
        for _ in range(100):  # running again before the next test
            if (await client.state("wien")).status is SiteStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
