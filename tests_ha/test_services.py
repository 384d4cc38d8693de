"""phoenyra.set_setpoint / phoenyra.set_mode, and the translated errors when the daemon refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from phoenyra_client import Mode, PhoenyraClient

from custom_components.phoenyra.const import DOMAIN
from tests_ha.conftest import DaemonProcess, entity_id, setup_entry, unload, wait_for


def _client(hass: HomeAssistant, daemon: DaemonProcess) -> PhoenyraClient:
    return PhoenyraClient(
        "127.0.0.1", daemon.port, token=daemon.admin_token, session=async_get_clientsession(hass)
    )


async def test_set_setpoint_and_mode(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    client = _client(hass, shared_daemon)
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, f"{shared_daemon.instance_id}_linz")})
    assert device is not None
    try:
        before = datetime.now(UTC)
        await hass.services.async_call(
            DOMAIN,
            "set_setpoint",
            {"site": device.id, "power_kw": 4.5, "duration": {"minutes": 2}},
            blocking=True,
        )
        control = (await client.site("linz")).control
        assert control is not None and control.mode is Mode.MANUAL and control.setpoint_kw == 4.5
        assert control.expires is not None
        assert before + timedelta(seconds=100) < control.expires < before + timedelta(seconds=140)
        setpoint_id = entity_id(hass, shared_daemon, "linz", "setpoint", "number")
        assert float(hass.states.get(setpoint_id).state) == 4.5

        await hass.services.async_call(
            DOMAIN, "set_mode", {"site": "linz", "mode": "standby", "strategy": "peak_shaving"}, blocking=True
        )
        control = (await client.site("linz")).control
        assert control.mode is Mode.STANDBY and control.strategy == "peak_shaving"
        mode_id = entity_id(hass, shared_daemon, "linz", "mode", "select")
        await wait_for(lambda: hass.states.get(mode_id).state == "standby", what="standby")

        await hass.services.async_call(DOMAIN, "set_mode", {"site": "linz", "mode": "auto"}, blocking=True)
        control = (await client.site("linz")).control
        assert control.mode is Mode.AUTO and control.strategy == "peak_shaving"  # kept
        await hass.services.async_call(
            DOMAIN, "set_mode", {"site": "linz", "mode": "auto", "strategy": "automatic"}, blocking=True
        )
        assert (await client.site("linz")).control.strategy is None
    finally:
        await client.set_control("linz", Mode.AUTO)
    await unload(hass, entry)


async def test_refusals_are_translated(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    entry = await setup_entry(hass, shared_daemon)
    with pytest.raises(HomeAssistantError) as err:  # 422: beyond the site's 10 kW
        await hass.services.async_call(
            DOMAIN, "set_setpoint", {"site": "wien", "power_kw": 99}, blocking=True
        )
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "invalid_request"
    assert "setpoint_kw" in err.value.translation_placeholders["details"]

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "set_mode", {"site": "graz", "mode": "auto"}, blocking=True)
    assert err.value.translation_key == "site_unknown"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "set_setpoint", {"site": "wien", "power_kw": 1, "duration": {"hours": 25}}, blocking=True
        )
    assert err.value.translation_key == "duration_too_long"

    # the entity actions translate the same way
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "select",
            "select_option",
            {
                "entity_id": entity_id(hass, shared_daemon, "wien", "strategy_select", "select"),
                "option": "nope",
            },
            blocking=True,
        )
    await unload(hass, entry)


async def test_viewer_token_is_forbidden(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    """A viewer sees its granted site only, and may not control it (403 → translated error)."""
    entry = await setup_entry(hass, shared_daemon, token=shared_daemon.tokens["viewer"])
    assert set(hass.data[DOMAIN][entry.entry_id].data.sites) == {"wien"}
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "set_mode", {"site": "wien", "mode": "standby"}, blocking=True)
    assert err.value.translation_key == "forbidden"
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "switch",
            "turn_off",
            {"entity_id": entity_id(hass, shared_daemon, "wien", "automatic_control", "switch")},
            blocking=True,
        )
    assert err.value.translation_key == "forbidden"
    await unload(hass, entry)


async def test_every_client_error_has_its_translated_message(
    hass: HomeAssistant, shared_daemon: DaemonProcess
) -> None:
    """Each refusal the daemon can give maps to its own translation key (strings.json → exceptions)."""
    import phoenyra_client as pc

    from custom_components.phoenyra.helpers import translate_error

    entry = await setup_entry(hass, shared_daemon)
    coordinator = hass.data[DOMAIN][entry.entry_id]
    cases = {
        pc.PhoenyraForbiddenError("no", status=403): "forbidden",
        pc.PhoenyraNotFoundError("gone", status=404): "site_not_found",
        pc.PhoenyraUnavailableError("starting", status=503): "site_unavailable",
        pc.PhoenyraConnectionError("refused"): "cannot_connect",
        pc.PhoenyraError("teapot", status=418): "unknown_error",
    }
    for err, key in cases.items():
        translated = translate_error(err, coordinator, "wien")
        assert translated.translation_key == key, type(err).__name__
        assert translated.translation_placeholders["site"] == "wien"
    assert not coordinator.last_update_success  # a lost connection marks the entities unavailable
    await unload(hass, entry)
