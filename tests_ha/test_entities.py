"""Devices and entities against a real daemon with two simulated sites; push, control, energy."""

from __future__ import annotations

from homeassistant.components.number import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.components.select import ATTR_OPTION, SERVICE_SELECT_OPTION
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_UNAVAILABLE,
    EntityCategory,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from phoenyra_client import Mode, PhoenyraClient

from custom_components.phoenyra.const import DOMAIN
from tests_ha.conftest import DaemonProcess, entity_id, setup_entry, unload, wait_for

SENSORS = {
    # key: (device_class, unit, state_class, entity_category)
    "soc": ("battery", "%", "measurement", None),
    "soh": (None, "%", "measurement", EntityCategory.DIAGNOSTIC),
    "battery_temperature": ("temperature", "°C", "measurement", EntityCategory.DIAGNOSTIC),
    "battery_power": ("power", "kW", "measurement", None),
    "pv_power": ("power", "kW", "measurement", None),
    "load_power": ("power", "kW", "measurement", None),
    "grid_power": ("power", "kW", "measurement", None),
    "energy_charged": ("energy", "kWh", "total_increasing", None),
    "energy_discharged": ("energy", "kWh", "total_increasing", None),
    "energy_imported": ("energy", "kWh", "total_increasing", None),
    "energy_exported": ("energy", "kWh", "total_increasing", None),
    "price": (None, "EUR/MWh", "measurement", None),
    "strategy": ("enum", None, None, None),
    "status": ("enum", None, None, EntityCategory.DIAGNOSTIC),
    "active_alarms": (None, None, "measurement", EntityCategory.DIAGNOSTIC),
    "strategy_selection": ("enum", None, None, None),  # who chose: AI / scores / pinned … (selector)
    "vpp_committed_power": ("power", "kW", "measurement", None),  # VPP (tests_ha/test_vpp_entities.py)
    "vpp_offered_discharge": ("power", "kW", "measurement", None),
    "vpp_offered_charge": ("power", "kW", "measurement", None),
}
EDGE_SENSOR = "sensor_config:humidity_outdoor"  # a source: modbus sensor of wien (the simulator's register)
DISABLED_BY_DEFAULT = {"soh", "status"}
OTHERS = {
    "select": ["mode", "strategy_select"],
    "number": ["setpoint", "soc_reserve"],
    "switch": ["automatic_control"],
    "button": ["resync"],
    "binary_sensor": ["vpp_event"],
}


async def _client(hass: HomeAssistant, daemon: DaemonProcess) -> PhoenyraClient:
    from homeassistant.helpers.aiohttp_client import async_get_clientsession

    return PhoenyraClient(
        "127.0.0.1", daemon.port, token=daemon.admin_token, session=async_get_clientsession(hass)
    )


async def test_devices_and_entities(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    iid = shared_daemon.instance_id

    daemon_device = devices.async_get_device(identifiers={(DOMAIN, iid)})
    assert daemon_device is not None
    assert daemon_device.name == "Phoenyra EMS"
    assert daemon_device.sw_version == "0.1.0"
    for site_id, name in (("wien", "Wien"), ("linz", "Linz")):
        device = devices.async_get_device(identifiers={(DOMAIN, f"{iid}_{site_id}")})
        assert device is not None, site_id
        assert device.name == name
        assert device.via_device_id == daemon_device.id
        site_entities = er.async_entries_for_device(entities, device.id, include_disabled_entities=True)
        keys = {e.unique_id.removeprefix(f"{iid}_{site_id}_") for e in site_entities}
        edge = {EDGE_SENSOR} if site_id == "wien" else set()  # listed in the daemon's sensors
        assert keys == set(SENSORS) | {k for ks in OTHERS.values() for k in ks} | edge
        for e in site_entities:
            assert e.has_entity_name
            is_edge = e.unique_id.endswith(EDGE_SENSOR)  # named by the daemon, not translated
            assert (e.translation_key is None) == is_edge, e.unique_id

        for key in DISABLED_BY_DEFAULT:  # noise for most users: enabled by hand
            reg = entities.async_get(entity_id(hass, shared_daemon, site_id, key, "sensor"))
            assert reg.disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
            assert hass.states.get(reg.entity_id) is None
        for key, (device_class, unit, state_class, category) in SENSORS.items():
            if key in DISABLED_BY_DEFAULT:
                continue
            eid = entity_id(hass, shared_daemon, site_id, key, "sensor")
            reg = entities.async_get(eid)
            assert reg.entity_category == category, key
            state = hass.states.get(eid)
            assert state is not None and state.state != STATE_UNAVAILABLE, key
            assert state.attributes.get(ATTR_DEVICE_CLASS) == device_class, key
            assert state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == unit, key
            assert state.attributes.get("state_class") == state_class, key

        soc = float(hass.states.get(entity_id(hass, shared_daemon, site_id, "soc", "sensor")).state)
        assert 0 <= soc <= 100
        assert hass.states.get(f"sensor.{site_id}_state_of_charge") is not None  # has_entity_name naming
        strategy_id = entity_id(hass, shared_daemon, site_id, "strategy", "sensor")
        # pushed over the WebSocket: the running site's strategy
        await wait_for(lambda sid=strategy_id: hass.states.get(sid).state != "unknown", what="running")
        strategy = hass.states.get(entity_id(hass, shared_daemon, site_id, "strategy", "sensor"))
        assert strategy.state in strategy.attributes["options"]

        mode = hass.states.get(entity_id(hass, shared_daemon, site_id, "mode", "select"))
        assert mode.state == "auto"
        assert mode.attributes["options"] == ["auto", "manual", "standby"]
        setpoint = hass.states.get(entity_id(hass, shared_daemon, site_id, "setpoint", "number"))
        power = 10.0 if site_id == "wien" else 15.0
        assert setpoint.attributes["min"] == -power and setpoint.attributes["max"] == power
        assert setpoint.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kW"
        assert (
            hass.states.get(entity_id(hass, shared_daemon, site_id, "automatic_control", "switch")).state
            == "on"
        )
    # wien's listed Modbus humidity sensor: an entity of the site, read from the simulator (55 %)
    edge_id = entity_id(hass, shared_daemon, "wien", EDGE_SENSOR, "sensor")
    await wait_for(lambda: hass.states.get(edge_id).state == "55.0", what="the edge sensor's reading")
    edge = hass.states.get(edge_id)
    assert (
        edge.attributes[ATTR_DEVICE_CLASS] == "humidity" and edge.attributes[ATTR_UNIT_OF_MEASUREMENT] == "%"
    )
    assert edge.attributes["role"] == "humidity" and edge.attributes["format"] == "config"
    assert edge_id == "sensor.wien_humidity_outdoor"
    await unload(hass, entry)


async def test_push_reaches_ha_within_one_second(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    """A change made on the daemon by another client shows in HA quickly (WebSocket push)."""
    entry = await setup_entry(hass, shared_daemon)
    coordinator = hass.data[DOMAIN][entry.entry_id]
    await wait_for(lambda: coordinator.ws_connected, what="WebSocket")
    mode_id = entity_id(hass, shared_daemon, "linz", "mode", "select")
    client = await _client(hass, shared_daemon)
    try:
        await client.set_control("linz", Mode.STANDBY)
        took = await wait_for(
            lambda: hass.states.get(mode_id).state == "standby", timeout=3.0, what="standby"
        )
        assert took < 1.0
        # a state push with fresh measurements too: the state's timestamp moves on
        first = coordinator.data.sites["linz"].state.timestamp
        await wait_for(
            lambda: coordinator.data.sites["linz"].state.timestamp > first, timeout=1.0, what="state push"
        )
    finally:
        await client.set_control("linz", Mode.AUTO)
    await wait_for(lambda: hass.states.get(mode_id).state == "auto", timeout=3.0, what="auto")
    await unload(hass, entry)


async def test_select_number_switch_change_the_daemon(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    entry = await setup_entry(hass, shared_daemon)
    client = await _client(hass, shared_daemon)
    mode_id = entity_id(hass, shared_daemon, "wien", "mode", "select")
    try:
        # number: a manual setpoint (charging 3 kW)
        await hass.services.async_call(
            "number",
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: entity_id(hass, shared_daemon, "wien", "setpoint", "number"), ATTR_VALUE: -3.0},
            blocking=True,
        )
        detail = await client.site("wien")
        assert detail.control is not None
        assert detail.control.mode is Mode.MANUAL
        assert detail.control.setpoint_kw == -3.0
        assert hass.states.get(mode_id).state == "manual"

        # select: standby
        await hass.services.async_call(
            "select", SERVICE_SELECT_OPTION, {ATTR_ENTITY_ID: mode_id, ATTR_OPTION: "standby"}, blocking=True
        )
        assert (await client.site("wien")).control.mode is Mode.STANDBY
        await wait_for(lambda: hass.states.get(mode_id).state == "standby", what="standby")

        # strategy select pins a strategy; the mode is kept
        strategy_id = entity_id(hass, shared_daemon, "wien", "strategy_select", "select")
        await hass.services.async_call(
            "select",
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: strategy_id, ATTR_OPTION: "arbitrage"},
            blocking=True,
        )
        control = (await client.site("wien")).control
        assert control.strategy == "arbitrage" and control.mode is Mode.STANDBY
        assert hass.states.get(strategy_id).state == "arbitrage"

        # switch on: auto (the pinned strategy stays)
        switch_id = entity_id(hass, shared_daemon, "wien", "automatic_control", "switch")
        await hass.services.async_call("switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch_id}, blocking=True)
        control = (await client.site("wien")).control
        assert control.mode is Mode.AUTO and control.strategy == "arbitrage"
        # as for standby above: a state push the daemon sent before the command can land after the
        # ack's optimistic "on" and show the old mode until the next cycle's push
        await wait_for(lambda: hass.states.get(switch_id).state == "on", what="switch on")
        await hass.services.async_call(
            "select",
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: strategy_id, ATTR_OPTION: "automatic"},
            blocking=True,
        )
        assert (await client.site("wien")).control.strategy is None

        # switch off: standby
        await hass.services.async_call("switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch_id}, blocking=True)
        assert (await client.site("wien")).control.mode is Mode.STANDBY

        # SoC reserve
        reserve_id = entity_id(hass, shared_daemon, "wien", "soc_reserve", "number")
        await hass.services.async_call(
            "number", SERVICE_SET_VALUE, {ATTR_ENTITY_ID: reserve_id, ATTR_VALUE: 25}, blocking=True
        )
        limits = (await client.site("wien")).limits
        assert limits is not None and limits.soc_reserve_pct == 25
        assert float(hass.states.get(reserve_id).state) == 25
    finally:
        await client.set_control("wien", Mode.AUTO)
        await client.set_limits("wien", soc_reserve_pct=None)
    await unload(hass, entry)


async def test_energy_sensors_show_the_daemons_counters(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    """The energy sensors read the daemon's counters (kept in its history: the same after a restart
    of Home Assistant, whatever Home Assistant saw) and grow while the battery charges."""
    iid = shared_daemon.instance_id
    er.async_get(hass).async_get_or_create(  # an install from before keeps its entity (and statistics)
        "sensor", DOMAIN, f"{iid}_wien_energy_charged", suggested_object_id="wien_energy_charged"
    )
    entry = await setup_entry(hass, shared_daemon)
    client = await _client(hass, shared_daemon)
    eid = entity_id(hass, shared_daemon, "wien", "energy_charged", "sensor")
    assert eid == "sensor.wien_energy_charged"
    daemon_energy = (await client.site("wien")).state.energy
    assert daemon_energy is not None
    shown = float(hass.states.get(eid).state)
    assert shown >= daemon_energy.charged_kwh - 1e-4  # the daemon's counter, not one counted from zero
    try:
        await client.set_control("wien", Mode.MANUAL, setpoint_kw=-10, duration_s=60)  # charge 10 kW
        await wait_for(lambda: float(hass.states.get(eid).state) > shown + 0.0005, timeout=5, what="energy")
    finally:
        await client.set_control("wien", Mode.AUTO)
    await hass.config_entries.async_reload(entry.entry_id)  # a restart: the total does not start over
    await hass.async_block_till_done()
    assert float(hass.states.get(eid).state) > shown
    await unload(hass, entry)


async def test_a_site_whose_controller_is_not_running_shows_hardware_bounds(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    """Without control and limits (the site's controller is starting or failed) the setpoint keeps
    the hardware bounds, the SoC reserve is unavailable and the strategy unknown, never wrong."""
    from dataclasses import replace

    entry = await setup_entry(hass, shared_daemon)
    coordinator = hass.data[DOMAIN][entry.entry_id]
    wien = coordinator.data.sites["wien"]
    coordinator.async_set_updated_data(
        replace(
            coordinator.data,
            sites={**coordinator.data.sites, "wien": replace(wien, control=None, limits=None)},
        )
    )
    await hass.async_block_till_done()
    setpoint = hass.states.get(entity_id(hass, shared_daemon, "wien", "setpoint", "number"))
    assert (setpoint.attributes["min"], setpoint.attributes["max"]) == (-10.0, 10.0)
    reserve = hass.states.get(entity_id(hass, shared_daemon, "wien", "soc_reserve", "number"))
    assert reserve.state == "unavailable"
    strategy = hass.states.get(entity_id(hass, shared_daemon, "wien", "strategy_select", "select"))
    assert strategy.state == "unknown"
    await unload(hass, entry)
