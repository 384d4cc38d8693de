"""Services ``phoenyra.set_setpoint`` and ``phoenyra.set_mode``.

``site`` is a site's device (device id, as the UI's device selector gives it) or a site id
(``wien``) as the daemon names it; a site id that several configured daemons share is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from phoenyra_client import Mode

from .const import (
    ATTR_DURATION,
    ATTR_MODE,
    ATTR_POWER_KW,
    ATTR_SITE,
    ATTR_STRATEGY,
    DOMAIN,
    MAX_SETPOINT_DURATION_S,
    SERVICE_SET_MODE,
    SERVICE_SET_SETPOINT,
    STRATEGY_AUTOMATIC,
)
from .helpers import call_daemon
from .select import current_setpoint_kw, manual_duration_s

if TYPE_CHECKING:
    from .coordinator import PhoenyraCoordinator

SET_SETPOINT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_SITE): cv.string,
        vol.Required(ATTR_POWER_KW): vol.Coerce(float),
        vol.Optional(ATTR_DURATION): cv.positive_time_period,
    }
)
SET_MODE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_SITE): cv.string,
        vol.Required(ATTR_MODE): vol.In([m.value for m in Mode]),
        vol.Optional(ATTR_STRATEGY): cv.string,
    }
)


def _coordinators(hass: HomeAssistant) -> dict[str, PhoenyraCoordinator]:
    coordinators: dict[str, PhoenyraCoordinator] = hass.data.get(DOMAIN, {})
    return coordinators


@callback
def resolve_site(hass: HomeAssistant, site: str) -> tuple[PhoenyraCoordinator, str]:
    """``site`` (a site device id or a site id) → the coordinator of its daemon and the site id."""
    coordinators = _coordinators(hass)
    device = dr.async_get(hass).async_get(site)
    if device is not None:
        for entry_id in device.config_entries:
            coordinator = coordinators.get(entry_id)
            if coordinator is None:
                continue
            prefix = f"{coordinator.instance_id}_"
            for domain, ident in device.identifiers:
                if domain == DOMAIN and ident.startswith(prefix):
                    site_id = ident[len(prefix) :]
                    if site_id in coordinator.data.sites:
                        return coordinator, site_id
    matches = [c for c in coordinators.values() if c.data is not None and site in c.data.sites]
    if len(matches) == 1:
        return matches[0], site
    raise ServiceValidationError(
        f"unknown site {site!r}" if not matches else f"site {site!r} exists on several daemons",
        translation_domain=DOMAIN,
        translation_key="site_unknown" if not matches else "site_ambiguous",
        translation_placeholders={"site": site},
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the services (from ``async_setup``: they exist even before an entry loads)."""

    async def set_setpoint(call: ServiceCall) -> None:
        coordinator, site_id = resolve_site(hass, call.data[ATTR_SITE])
        duration = call.data.get(ATTR_DURATION)
        duration_s = duration.total_seconds() if duration is not None else manual_duration_s(coordinator)
        if duration_s > MAX_SETPOINT_DURATION_S:
            raise ServiceValidationError(
                f"duration exceeds {MAX_SETPOINT_DURATION_S} s",
                translation_domain=DOMAIN,
                translation_key="duration_too_long",
                translation_placeholders={"max": str(MAX_SETPOINT_DURATION_S)},
            )
        await call_daemon(
            coordinator,
            site_id,
            coordinator.async_set_control(
                site_id, Mode.MANUAL, setpoint_kw=call.data[ATTR_POWER_KW], duration_s=duration_s
            ),
        )

    async def set_mode(call: ServiceCall) -> None:
        coordinator, site_id = resolve_site(hass, call.data[ATTR_SITE])
        mode = Mode(call.data[ATTR_MODE])
        strategy = call.data.get(ATTR_STRATEGY)
        setpoint_kw: float | None = None
        duration_s: float | None = None
        if mode is Mode.MANUAL:  # hold the present setpoint
            setpoint_kw = current_setpoint_kw(coordinator, site_id)
            duration_s = manual_duration_s(coordinator)
        request = coordinator.async_set_control(
            site_id,
            mode,
            strategy=None if strategy in (None, STRATEGY_AUTOMATIC) else strategy,
            keep_strategy=strategy is None,
            setpoint_kw=setpoint_kw,
            duration_s=duration_s,
        )
        await call_daemon(coordinator, site_id, request)

    hass.services.async_register(DOMAIN, SERVICE_SET_SETPOINT, set_setpoint, schema=SET_SETPOINT_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SET_MODE, set_mode, schema=SET_MODE_SCHEMA)
