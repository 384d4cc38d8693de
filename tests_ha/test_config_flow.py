"""Config flow: success, cannot_connect, invalid_auth, already_configured, reauth, options."""

from __future__ import annotations

from homeassistant import config_entries
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.phoenyra.const import (
    CONF_SCAN_INTERVAL,
    CONF_SETPOINT_DURATION,
    CONF_TLS,
    CONF_VERIFY_SSL,
    DOMAIN,
)
from tests_ha.conftest import DaemonProcess, setup_entry, unload

from .daemon_process import _free_port


def _user_input(daemon: DaemonProcess, token: str | None = None, port: int | None = None) -> dict:
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port or daemon.port,
        CONF_TOKEN: token or daemon.admin_token,
        CONF_TLS: False,
        CONF_VERIFY_SSL: True,
    }


async def _start(hass: HomeAssistant) -> dict:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": config_entries.SOURCE_USER})
    assert result["type"] == FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


async def test_user_flow_creates_entry(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _user_input(shared_daemon))
    assert result["type"] == FlowResultType.CREATE_ENTRY
    assert result["title"] == "Phoenyra EMS (127.0.0.1)"
    assert result["data"] == _user_input(shared_daemon)
    entry = result["result"]
    assert entry.unique_id == shared_daemon.instance_id
    await hass.async_block_till_done()
    await unload(hass, entry)


async def test_user_flow_cannot_connect(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(shared_daemon, port=_free_port())
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_flow_invalid_auth_then_success(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(shared_daemon, token="phx_not-a-valid-token-at-all-0000000000000")
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    # the user corrects the token in the same flow
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _user_input(shared_daemon))
    assert result["type"] == FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await unload(hass, result["result"])


async def test_user_flow_already_configured(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _user_input(shared_daemon))
    assert result["type"] == FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await unload(hass, entry)


async def test_reauth_after_revoked_token(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    """A refused token fails the setup with ConfigEntryAuthFailed, which starts reauthentication."""
    entry = await setup_entry_expect_failure(
        hass, shared_daemon, token="phx_revoked-token-0000000000000000000000000"
    )
    assert entry.state is config_entries.ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    flow = flows[0]
    assert flow["context"]["source"] == config_entries.SOURCE_REAUTH
    assert flow["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: "phx_still-wrong-0000000000000000000000000000"}
    )
    assert result["type"] == FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: shared_daemon.admin_token}
    )
    assert result["type"] == FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_TOKEN] == shared_daemon.admin_token
    assert entry.state is config_entries.ConfigEntryState.LOADED
    await unload(hass, entry)


async def setup_entry_expect_failure(hass: HomeAssistant, daemon: DaemonProcess, token: str):
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Phoenyra EMS (127.0.0.1)",
        unique_id=daemon.instance_id,
        data=daemon.entry_data(token),
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_options_flow(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] == FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 10, CONF_SETPOINT_DURATION: 600}
    )
    assert result["type"] == FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # the entry reloads with the new options
    assert entry.options == {CONF_SCAN_INTERVAL: 10, CONF_SETPOINT_DURATION: 600}
    assert entry.state is config_entries.ConfigEntryState.LOADED
    coordinator = hass.data[DOMAIN][entry.entry_id]
    assert coordinator.update_interval.total_seconds() == 10
    await unload(hass, entry)
