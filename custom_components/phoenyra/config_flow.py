"""Config flow (host, port, token, TLS), reauthentication (a revoked token), options (polling)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import callback
from homeassistant.data_entry_flow import FlowResult
from phoenyra_client import Info, PhoenyraAuthError, PhoenyraError

from .const import (
    CONF_SCAN_INTERVAL,
    CONF_SETPOINT_DURATION,
    CONF_TLS,
    CONF_VERIFY_SSL,
    DEFAULT_PORT,
    DEFAULT_SCAN_INTERVAL_S,
    DEFAULT_SETPOINT_DURATION_S,
    DOMAIN,
    LOGGER,
    MAX_SCAN_INTERVAL_S,
    MAX_SETPOINT_DURATION_S,
    MIN_SCAN_INTERVAL_S,
)
from .coordinator import client_from_entry


def _user_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): str,
            vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): vol.All(
                vol.Coerce(int), vol.Range(min=1, max=65535)
            ),
            vol.Required(CONF_TOKEN): str,
            vol.Required(CONF_TLS, default=defaults.get(CONF_TLS, False)): bool,
            vol.Required(CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)): bool,
        }
    )


class PhoenyraConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a Phoenyra EMS daemon: its ``instance_id`` is the unique id."""

    VERSION = 1

    def __init__(self) -> None:
        self._reauth_entry: ConfigEntry | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> PhoenyraOptionsFlow:
        return PhoenyraOptionsFlow(config_entry)

    async def _async_check(self, data: Mapping[str, Any], errors: dict[str, str]) -> Info | None:
        """``info()`` with these settings: the daemon answers and accepts the token."""
        client = client_from_entry(self.hass, data)
        try:
            return await client.info()
        except PhoenyraAuthError:
            errors["base"] = "invalid_auth"
        except PhoenyraError as err:
            LOGGER.debug("cannot connect to %s: %s", client.base_url, err)
            errors["base"] = "cannot_connect"
        return None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = {
                **user_input,
                CONF_HOST: user_input[CONF_HOST].strip(),
                CONF_TOKEN: user_input[CONF_TOKEN].strip(),
            }
            info = await self._async_check(user_input, errors)
            if info is not None:
                await self.async_set_unique_id(info.instance_id)
                self._abort_if_unique_id_configured(
                    updates={k: user_input[k] for k in (CONF_HOST, CONF_PORT, CONF_TLS, CONF_VERIFY_SSL)}
                )
                return self.async_create_entry(
                    title=f"Phoenyra EMS ({user_input[CONF_HOST]})", data=user_input
                )
        return self.async_show_form(step_id="user", data_schema=_user_schema(user_input or {}), errors=errors)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> FlowResult:
        """The daemon refused the token (revoked): ask for a new one."""
        self._reauth_entry = self.hass.config_entries.async_get_entry(self.context["entry_id"])
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        entry = self._reauth_entry
        assert entry is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_TOKEN: user_input[CONF_TOKEN].strip()}
            info = await self._async_check(data, errors)
            if info is not None:
                if entry.unique_id is not None and info.instance_id != entry.unique_id:
                    errors["base"] = "wrong_instance"
                else:
                    self.hass.config_entries.async_update_entry(entry, data=data)
                    await self.hass.config_entries.async_reload(entry.entry_id)
                    return self.async_abort(reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_TOKEN): str}),
            errors=errors,
            description_placeholders={
                "host": str(entry.data[CONF_HOST]),
                "port": str(entry.data.get(CONF_PORT, DEFAULT_PORT)),
            },
        )


class PhoenyraOptionsFlow(OptionsFlow):
    """Polling interval (fallback and site-list refresh) and how long a manual setpoint holds.

    The entry is kept as ``_entry``: newer Home Assistant versions provide ``config_entry`` themselves
    and refuse an assignment to it."""

    def __init__(self, entry: ConfigEntry) -> None:
        self._entry = entry

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        if user_input is not None:
            return self.async_create_entry(title="", data=user_input)
        options = self._entry.options
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_SCAN_INTERVAL, default=options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL_S)
                    ): vol.All(vol.Coerce(int), vol.Range(min=MIN_SCAN_INTERVAL_S, max=MAX_SCAN_INTERVAL_S)),
                    vol.Required(
                        CONF_SETPOINT_DURATION,
                        default=options.get(CONF_SETPOINT_DURATION, DEFAULT_SETPOINT_DURATION_S),
                    ): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_SETPOINT_DURATION_S)),
                }
            ),
        )
