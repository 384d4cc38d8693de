"""Who chose the strategy (AI / scores / pinned / fixed / manual …) and the A/B advantage in EUR,
against a real daemon: Wien runs an A/B test (AI selection on, untrained), Linz the plain scores."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from phoenyra_client import (
    AbAdvantage,
    ChoiceSource,
    Mode,
    PhoenyraClient,
    PhoenyraError,
    SelectionMode,
    SelectorChoice,
    SiteStatus,
)

from custom_components.phoenyra.const import DOMAIN
from tests_ha.conftest import DaemonProcess, entity_id, setup_entry, unload

AB = "      strategy: {selection_mode: auto, ai_selection: {enabled: true, ab_test: {enabled: true}}}"


def ab_wien(daemon: DaemonProcess, on: bool) -> None:
    """Rewrite the daemon's configuration: Wien with the AI selection's A/B test, or without."""
    lines = [line for line in daemon.config_path.read_text().split("\n") if line != AB]
    if on:
        wien = lines.index("    wien:")
        ems = next(k for k in range(wien, len(lines)) if lines[k].strip().startswith("ems: {"))
        lines.insert(ems + 1, AB)
    daemon.config_path.write_text("\n".join(lines))


async def test_selection_and_ab_sensors(hass: HomeAssistant, shared_daemon: DaemonProcess) -> None:
    client = PhoenyraClient(
        "127.0.0.1",
        shared_daemon.port,
        token=shared_daemon.admin_token,
        session=async_get_clientsession(hass),
    )
    ab_wien(shared_daemon, True)
    try:
        assert (await client.reload()).reloaded_sites == ("wien",)
        assert (await client.selector("wien")).ab_enabled
        entry = await setup_entry(hass, shared_daemon)
        coordinator = hass.data[DOMAIN][entry.entry_id]
        selection = entity_id(hass, shared_daemon, "wien", "strategy_selection", "sensor")
        advantage = entity_id(hass, shared_daemon, "wien", "ab_advantage", "sensor")
        state = hass.states.get(selection)
        assert state.state == "score" and state.attributes[ATTR_DEVICE_CLASS] == "enum"
        assert state.attributes["selection_mode"] == "auto" and state.attributes["trained"] is False
        assert "ai" in state.attributes["options"] and "pinned" in state.attributes["options"]
        linz = hass.states.get(entity_id(hass, shared_daemon, "linz", "strategy_selection", "sensor"))
        assert linz.state == "score"
        registry = er.async_get(hass)  # no A/B test in Linz: no advantage sensor
        unique_id = f"{shared_daemon.instance_id}_linz_ab_advantage"
        assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None
        ab = hass.states.get(advantage)
        assert ab.state == STATE_UNKNOWN  # no finished A/B day valued yet
        assert ab.attributes[ATTR_DEVICE_CLASS] == "monetary"
        assert ab.attributes[ATTR_UNIT_OF_MEASUREMENT] == "EUR"

        # The operator pins a strategy, then switches to standby: the sensor says so.
        await coordinator.async_set_control("wien", Mode.AUTO, strategy="arbitrage", keep_strategy=False)
        await hass.async_block_till_done()
        assert hass.states.get(selection).state == "pinned"
        await coordinator.async_set_control("wien", Mode.STANDBY, strategy=None, keep_strategy=False)
        await hass.async_block_till_done()
        assert hass.states.get(selection).state == "standby"
        await coordinator.async_set_control("wien", Mode.AUTO, strategy=None, keep_strategy=False)
        await hass.async_block_till_done()

        # What the daemon reports once the model decides and finished days are valued (a trained
        # model and whole A/B days take longer than a test: the status is set as the daemon sends it).
        status = coordinator.selectors["wien"]
        valued = AbAdvantage(5, 4, 0.31, -0.1, 0.7, 0.25, None)
        tally = {
            "ai": {"days": 5.0, "switches_per_day": 1.2},
            "score": {"days": 4.0, "switches_per_day": 1.8},
        }
        coordinator.selectors["wien"] = replace(
            status,
            current=SelectorChoice("arbitrage", ChoiceSource.AI, 0.8),
            ab_test=replace(status.ab_test, advantage=valued, tally=tally),
        )
        coordinator.async_update_listeners()
        await hass.async_block_till_done()
        assert hass.states.get(selection).state == "ai"
        assert hass.states.get(selection).attributes["confidence"] == 0.8
        ab = hass.states.get(advantage)
        assert float(ab.state) == 0.31 and ab.attributes["ci_low_eur"] == -0.1
        assert ab.attributes["ai_days"] == 5 and ab.attributes["score_switches_per_day"] == 1.8
        coordinator.selectors["wien"] = replace(status, mode=SelectionMode.FIXED, current=None)
        coordinator.async_update_listeners()
        await hass.async_block_till_done()
        assert hass.states.get(selection).state == "fixed"

        # The daemon without the A/B test: the next poll reads it; a status that cannot be read
        # leaves the sensors unavailable, not stale.
        ab_wien(shared_daemon, False)
        await client.reload()
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert not coordinator.selectors["wien"].ab_enabled
        assert hass.states.get(advantage).state == STATE_UNKNOWN

        async def refuse(site_id: str) -> None:
            raise PhoenyraError(f"no selector for {site_id}")

        coordinator.client.selector = refuse
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert "wien" not in coordinator.selectors
        assert hass.states.get(selection).state == STATE_UNAVAILABLE
        await unload(hass, entry)
    finally:  # the shared daemon as it was: Wien without the A/B test, running, unpinned
        ab_wien(shared_daemon, False)
        await client.reload()
        await client.set_control("wien", Mode.AUTO, strategy=None)
        for _ in range(100):
            if (await client.state("wien")).status is SiteStatus.RUNNING:
                break
            await asyncio.sleep(0.05)
