"""Config flow (host, port, token, TLS), discovery (a daemon announced over zeroconf as
``_phoenyra._tcp``), reauthentication (a revoked token), reconfiguration (host, port, TLS of an
existing entry; Home Assistant 2024.4+ offers it), options (polling)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import voluptuous as vol
from homeassistant.config_entries import ConfigEntry, ConfigFlow, OptionsFlow
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import callback
from homeassistant.data_entry_flow import FlowResult
from phoenyra_client import Info, PhoenyraAuthError, PhoenyraCertificateError, PhoenyraError

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

if TYPE_CHECKING:  # only read here (its module moved in Home Assistant 2025.1)
    from homeassistant.components.zeroconf import ZeroconfServiceInfo


def parse_host(text: str, port: int, tls: bool) -> tuple[str, int, bool]:
    """What people type in the host field -> ``(host, port, tls)``; ``ValueError`` if it is none of
    ``host``, ``host:port``, ``[v6]:port``, a bare IPv6 address, or an ``http(s)://`` URL without a path.

    A port in the text wins over the port field; a scheme sets TLS (``https``) or clears it (``http``).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty host")
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {text!r}")
        tls = scheme == "https"
    elif text.count(":") > 1 and not text.startswith("["):  # a bare IPv6 address
        return str(ipaddress.IPv6Address(text)), port, tls
    else:
        parts = urlsplit(f"//{text}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"a host, not a path or credentials: {text!r}")
    host = parts.hostname
    if not host or any(c.isspace() or c in "/\\@?#" for c in host):
        raise ValueError(f"no host in {text!r}")
    explicit = parts.port  # ValueError: "Port could not be cast to integer value" / out of range
    if explicit is not None:
        if not 1 <= explicit <= 65535:
            raise ValueError(f"port out of range: {explicit}")
        port = explicit
    return host, port, tls


def _address_fields(defaults: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    return {
        vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): str,
        vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=65535)
        ),
    }


def _tls_fields(defaults: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    return {
        vol.Required(CONF_TLS, default=defaults.get(CONF_TLS, False)): bool,
        vol.Required(CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)): bool,
    }


def _user_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema({**_address_fields(defaults), vol.Required(CONF_TOKEN): str, **_tls_fields(defaults)})


def _normalised(data: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any] | None:
    """``data`` with host, port and TLS parsed from the host field; ``None`` (and a form error) if
    the host field is not an address."""
    try:
        host, port, tls = parse_host(
            str(data[CONF_HOST]), int(data.get(CONF_PORT, DEFAULT_PORT)), bool(data.get(CONF_TLS, False))
        )
    except ValueError:
        errors[CONF_HOST] = "invalid_host"
        return None
    result = {**data, CONF_HOST: host, CONF_PORT: port, CONF_TLS: tls}
    if CONF_TOKEN in result:
        result[CONF_TOKEN] = str(result[CONF_TOKEN]).strip()
    return result


class PhoenyraConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a Phoenyra EMS daemon: its ``instance_id`` is the unique id."""

    VERSION = 1

    def __init__(self) -> None:
        self._reauth_entry: ConfigEntry | None = None
        self._discovered: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> PhoenyraOptionsFlow:
        return PhoenyraOptionsFlow(config_entry)

    async def _async_check(self, data: Mapping[str, Any], errors: dict[str, str]) -> Info | None:
        """``info()`` with these settings: the daemon answers and accepts the token."""
        try:
            client = client_from_entry(self.hass, data)
        except ValueError:  # an address yarl refuses although it parsed
            errors[CONF_HOST] = "invalid_host"
            return None
        try:
            return await client.info()
        except PhoenyraAuthError:
            errors["base"] = "invalid_auth"
        except PhoenyraCertificateError as err:
            LOGGER.debug("certificate of %s refused: %s", client.base_url, err)
            errors["base"] = "certificate_refused"
        except PhoenyraError as err:
            LOGGER.debug("cannot connect to %s: %s", client.base_url, err)
            errors["base"] = "cannot_connect"
        return None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _normalised(user_input, errors)
            info = None if data is None else await self._async_check(data, errors)
            if data is not None and info is not None:
                user_input = data
                await self.async_set_unique_id(info.instance_id)
                self._abort_if_unique_id_configured(
                    updates={k: user_input[k] for k in (CONF_HOST, CONF_PORT, CONF_TLS, CONF_VERIFY_SSL)}
                )
                return self.async_create_entry(
                    title=f"Phoenyra EMS ({user_input[CONF_HOST]})", data=user_input
                )
        return self.async_show_form(step_id="user", data_schema=_user_schema(user_input or {}), errors=errors)

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> FlowResult:
        """A daemon announced itself (``_phoenyra._tcp``, TXT ``id`` = its instance id): offer it once;
        a configured one that moved gets its new address."""
        instance_id = discovery_info.properties.get("id")
        if not instance_id:
            return self.async_abort(reason="not_phoenyra")
        host = str(discovery_info.host)
        port = int(discovery_info.port or DEFAULT_PORT)
        tls = discovery_info.properties.get("tls") == "1"
        await self.async_set_unique_id(str(instance_id))
        self._abort_if_unique_id_configured(updates={CONF_HOST: host, CONF_PORT: port, CONF_TLS: tls})
        self._discovered = {CONF_HOST: host, CONF_PORT: port, CONF_TLS: tls, CONF_VERIFY_SSL: True}
        self.context["title_placeholders"] = {"name": f"{host}:{port}"}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """The discovered daemon: only the API token is asked for (and, with HTTPS, verification)."""
        errors: dict[str, str] = {}
        discovered = self._discovered
        if user_input is not None:
            data = {**discovered, **user_input, CONF_TOKEN: str(user_input[CONF_TOKEN]).strip()}
            info = await self._async_check(data, errors)
            if info is not None:
                if info.instance_id != self.unique_id:
                    errors["base"] = "another_instance"
                else:
                    return self.async_create_entry(title=f"Phoenyra EMS ({data[CONF_HOST]})", data=data)
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_TOKEN): str}
        if discovered[CONF_TLS]:
            fields[vol.Required(CONF_VERIFY_SSL, default=True)] = bool
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders={"host": discovered[CONF_HOST], "port": str(discovered[CONF_PORT])},
        )

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

    async def async_step_reconfigure(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Host, port and TLS of an existing entry, the token kept: Home Assistant 2024.4+ starts this
        step from the entry's menu (2024.3 has no such menu entry and never calls it)."""
        entry = self.hass.config_entries.async_get_entry(self.context["entry_id"])
        assert entry is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _normalised({**entry.data, **user_input}, errors)
            info = None if data is None else await self._async_check(data, errors)
            if data is not None and info is not None:
                if entry.unique_id is not None and info.instance_id != entry.unique_id:
                    errors["base"] = "another_instance"
                else:
                    self.hass.config_entries.async_update_entry(
                        entry, data=data, title=f"Phoenyra EMS ({data[CONF_HOST]})"
                    )
                    await self.hass.config_entries.async_reload(entry.entry_id)
                    return self.async_abort(reason="reconfigure_successful")
        defaults = {**entry.data, **(user_input or {})}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema({**_address_fields(defaults), **_tls_fields(defaults)}),
            errors=errors,
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
