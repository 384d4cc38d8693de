"""Setup, unload, reload; the daemon going away and coming back; sites added and removed at runtime."""

from __future__ import annotations

import asyncio
import logging

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from phoenyra_client import PhoenyraClient
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.phoenyra.const import DOMAIN
from tests_ha.conftest import DaemonProcess, entity_id, setup_entry, unload, wait_for


async def test_unload_and_reload_are_clean(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    assert entry.state is ConfigEntryState.LOADED
    soc_id = entity_id(hass, shared_daemon, "wien", "soc", "sensor")
    coordinator = hass.data[DOMAIN][entry.entry_id]
    await wait_for(lambda: coordinator.ws_connected, what="WebSocket")

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert not coordinator.ws_connected  # the old coordinator let go of its WebSocket
    new = hass.data[DOMAIN][entry.entry_id]
    assert new is not coordinator
    await wait_for(lambda: new.ws_connected, what="WebSocket after reload")
    assert hass.states.get(soc_id).state != STATE_UNAVAILABLE
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert len(entities) == 2 * 26 + 1  # no duplicates after the reload (+1: wien's edge sensor; 4 VPP)

    await unload(hass, entry)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert entry.entry_id not in hass.data[DOMAIN]
    assert hass.states.get(soc_id).state == STATE_UNAVAILABLE
    assert hass.services.has_service(DOMAIN, "set_setpoint")  # services stay registered


async def test_setup_retries_when_daemon_is_down(hass: HomeAssistant) -> None:
    from .daemon_process import _free_port

    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="x",
        data={"host": "127.0.0.1", "port": _free_port(), "token": "phx_x", "tls": False, "verify_ssl": True},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    await hass.config_entries.async_unload(entry.entry_id)


async def test_daemon_stops_and_comes_back(
    hass: HomeAssistant, own_daemon: DaemonProcess, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup_entry(hass, own_daemon)
    coordinator = hass.data[DOMAIN][entry.entry_id]
    await wait_for(lambda: coordinator.ws_connected, what="WebSocket")
    soc_id = entity_id(hass, own_daemon, "wien", "soc", "sensor")
    mode_id = entity_id(hass, own_daemon, "linz", "mode", "select")
    assert hass.states.get(soc_id).state != STATE_UNAVAILABLE

    caplog.set_level(logging.INFO, logger="custom_components.phoenyra")
    caplog.clear()
    await hass.async_add_executor_job(own_daemon.stop)
    await wait_for(lambda: hass.states.get(soc_id).state == STATE_UNAVAILABLE, timeout=5, what="unavailable")
    assert hass.states.get(mode_id).state == STATE_UNAVAILABLE
    # a few reconnect attempts fail meanwhile: the loss is logged once
    await asyncio.sleep(1.5)
    lost = [r for r in caplog.records if "lost the connection" in r.getMessage()]
    assert len(lost) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    await hass.async_add_executor_job(own_daemon.start)
    await wait_for(lambda: hass.states.get(soc_id).state != STATE_UNAVAILABLE, timeout=10, what="recovered")
    await wait_for(lambda: coordinator.ws_connected, what="WebSocket back")
    assert hass.states.get(mode_id).state == "auto"
    assert [r for r in caplog.records if "is back" in r.getMessage()]
    await unload(hass, entry)


async def test_sites_added_and_removed_without_restart(
    hass: HomeAssistant, own_daemon: DaemonProcess
) -> None:
    entry = await setup_entry(hass, own_daemon)
    coordinator = hass.data[DOMAIN][entry.entry_id]
    devices = dr.async_get(hass)
    iid = own_daemon.instance_id
    linz_soc = entity_id(hass, own_daemon, "linz", "soc", "sensor")
    client = PhoenyraClient(
        "127.0.0.1", own_daemon.port, token=own_daemon.admin_token, session=async_get_clientsession(hass)
    )

    own_daemon.set_sites(["wien"])
    result = await client.reload()
    assert result.removed == ("linz",)
    await coordinator.async_refresh()  # what the periodic resync (or the resync button) does
    await hass.async_block_till_done()
    assert devices.async_get_device(identifiers={(DOMAIN, f"{iid}_linz")}) is None
    assert hass.states.get(linz_soc) is None
    assert er.async_get(hass).async_get(linz_soc) is None
    assert devices.async_get_device(identifiers={(DOMAIN, f"{iid}_wien")}) is not None

    own_daemon.set_sites(["wien", "linz"])
    assert (await client.reload()).added == ("linz",)
    resync = entity_id(hass, own_daemon, "wien", "resync", "button")
    await hass.services.async_call("button", "press", {"entity_id": resync}, blocking=True)
    await hass.async_block_till_done()
    linz = devices.async_get_device(identifiers={(DOMAIN, f"{iid}_linz")})
    assert linz is not None and linz.name == "Linz"
    linz_soc = entity_id(hass, own_daemon, "linz", "soc", "sensor")
    assert hass.states.get(linz_soc) is not None
    # the new site is pushed over the WebSocket too
    first = coordinator.data.sites["linz"].state.timestamp
    await wait_for(
        lambda: coordinator.data.sites["linz"].state.timestamp > first, timeout=3, what="linz push"
    )
    await unload(hass, entry)
