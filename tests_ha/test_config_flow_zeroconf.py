"""Discovery: a daemon announced over zeroconf (``_phoenyra._tcp``) is offered once, asks only for a
token, and a configured daemon that moved gets its new address."""

from __future__ import annotations

from ipaddress import ip_address

from homeassistant import config_entries
from homeassistant.components.zeroconf import ZeroconfServiceInfo
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.loader import async_get_zeroconf

from custom_components.phoenyra.const import CONF_TLS, CONF_VERIFY_SSL, DOMAIN
from tests_ha.conftest import DaemonProcess, unload


def _discovery(instance_id: str | None, port: int, tls: bool = False) -> ZeroconfServiceInfo:
    properties = {"version": "0.1.0", "path": "/api/v1", "tls": "1" if tls else "0"}
    if instance_id is not None:
        properties["id"] = instance_id
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=port,
        hostname="phoenyra-test.local.",
        type="_phoenyra._tcp.local.",
        name="Phoenyra EMS test._phoenyra._tcp.local.",
        properties=properties,
    )


async def _discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> dict:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=info
    )


async def test_the_manifest_matches_the_announced_service(hass: HomeAssistant) -> None:
    matchers = await async_get_zeroconf(hass)
    assert {"domain": DOMAIN} in matchers["_phoenyra._tcp.local."]


async def test_a_discovered_daemon_is_offered_once_and_added_with_a_token(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    info = _discovery(shared_daemon.instance_id, shared_daemon.port)
    result = await _discover(hass, info)
    assert result["type"] == FlowResultType.FORM and result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {"host": "127.0.0.1", "port": str(shared_daemon.port)}
    again = await _discover(hass, info)  # announced again while the first offer is open
    assert again["type"] == FlowResultType.ABORT and again["reason"] == "already_in_progress"

    wrong = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_TOKEN: "phx_nope"})
    assert wrong["type"] == FlowResultType.FORM and wrong["errors"] == {"base": "invalid_auth"}
    done = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: f" {shared_daemon.admin_token} "}
    )
    assert done["type"] == FlowResultType.CREATE_ENTRY
    entry = done["result"]
    assert entry.unique_id == shared_daemon.instance_id
    assert entry.data == {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: shared_daemon.port,
        CONF_TLS: False,
        CONF_VERIFY_SSL: True,
        CONF_TOKEN: shared_daemon.admin_token,
    }
    await hass.async_block_till_done()

    moved = await _discover(hass, _discovery(shared_daemon.instance_id, 18443, tls=True))
    assert moved["type"] == FlowResultType.ABORT and moved["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == 18443 and entry.data[CONF_TLS] is True  # the new address is kept
    await unload(hass, entry)


async def test_other_announcements_are_refused(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    no_id = await _discover(hass, _discovery(None, shared_daemon.port))
    assert no_id["type"] == FlowResultType.ABORT and no_id["reason"] == "not_phoenyra"

    # announced with another installation's id: the daemon that answers is not the one offered
    result = await _discover(hass, _discovery("0" * 32, shared_daemon.port))
    assert set(result["data_schema"].schema) == {CONF_TOKEN}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: shared_daemon.admin_token}
    )
    assert result["type"] == FlowResultType.FORM and result["errors"] == {"base": "another_instance"}

    https = await _discover(hass, _discovery("1" * 32, shared_daemon.port, tls=True))
    assert set(https["data_schema"].schema) == {CONF_TOKEN, CONF_VERIFY_SSL}  # HTTPS: verification asked
    for flow in hass.config_entries.flow.async_progress():
        hass.config_entries.flow.async_abort(flow["flow_id"])
