"""A site's VPP entities against a real daemon: no event (what the daemon reports between events:
its offered flexibility), then an event in progress as the daemon reports it (set on the coordinator,
as an event needs an aggregator: the daemon's own tests drive one end to end)."""

from __future__ import annotations

from dataclasses import replace

from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from phoenyra_client import VppFlexibility, VppState

from custom_components.phoenyra.const import DOMAIN
from tests_ha.conftest import DaemonProcess, entity_id, setup_entry, unload, wait_for


async def test_vpp_event_committed_power_and_offer(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    coordinator = hass.data[DOMAIN][entry.entry_id]
    event = entity_id(hass, shared_daemon, "wien", "vpp_event", "binary_sensor")
    committed = entity_id(hass, shared_daemon, "wien", "vpp_committed_power", "sensor")
    discharge = entity_id(hass, shared_daemon, "wien", "vpp_offered_discharge", "sensor")
    charge = entity_id(hass, shared_daemon, "wien", "vpp_offered_charge", "sensor")
    await wait_for(lambda: hass.states.get(event).state == STATE_OFF, what="the daemon's VPP block")
    assert hass.states.get(committed).state == STATE_UNKNOWN  # no event: nothing committed
    offered = hass.states.get(discharge)
    assert float(offered.state) >= 0 and offered.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kW"
    assert offered.attributes[ATTR_DEVICE_CLASS] == "power" and offered.attributes["duration_s"] == 3600.0
    assert float(hass.states.get(charge).state) >= 0

    offer = VppFlexibility("wien", 60.0, 40.0, 3600.0, 76.0, 84.0)
    vpp = VppState(True, "ev1", 25.0, 20.0, -5.0, 270.0, offer, ("limited by grid_export_max",))
    wien = coordinator.data.sites["wien"]
    coordinator.async_set_updated_data(
        replace(
            coordinator.data,
            sites={**coordinator.data.sites, "wien": replace(wien, state=replace(wien.state, vpp=vpp))},
        )
    )
    await hass.async_block_till_done()
    on = hass.states.get(event)
    assert on.state == STATE_ON and on.attributes["event_id"] == "ev1"
    assert on.attributes["deviation_kw"] == -5.0 and on.attributes["notes"] == ["limited by grid_export_max"]
    assert float(hass.states.get(committed).state) == 25.0
    assert float(hass.states.get(discharge).state) == 60.0 and float(hass.states.get(charge).state) == 40.0
    no_block = replace(wien, state=replace(wien.state, vpp=None))  # an older daemon: no VPP block
    coordinator.async_set_updated_data(
        replace(coordinator.data, sites={**coordinator.data.sites, "wien": no_block})
    )
    await hass.async_block_till_done()
    assert hass.states.get(event).state == STATE_UNKNOWN and hass.states.get(discharge).state == STATE_UNKNOWN
    assert hass.states.get(event).attributes.get("event_id") is None
    await unload(hass, entry)
