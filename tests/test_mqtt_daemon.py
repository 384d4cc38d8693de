"""MQTT in the daemon, on a real mosquitto: discovered sensors in the API, telemetry, commands.

ESPHome- and Tasmota-style devices are published exactly as their firmware does (see
tests/test_mqtt_discovery.py for the payloads); the daemon runs two simulated sites.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import MqttConfig, SensorRuleConfig, SensorsConfig
from phoenyra_ems.core.decision import ControlIntent
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import SiteMode, SiteStatus
from phoenyra_ems.mqtt.command_auth import sign_command
from phoenyra_ems.mqtt.site_link import SiteMqttLink
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import make_site, simulator_config
from tests.daemon_fixtures import USERS, two_site_config
from tests.mqtt_broker import Broker, mqtt_broker
from tests.test_mqtt_discovery import esphome_config, tasmota_config, tasmota_reading

__all__ = ["mqtt_broker"]
ESP_MAC = "A4:CF:12:AB:CD:EF"
COMMAND_KEY = "wien-command-key-0123456789"  # wien's mqtt.command_key; linz has none
FUZZ_NOW = 1_800_000_000  # the wall clock of the fuzzed link
TASMOTA_MAC = "5CCF7F0A1B2C"


class MqttDaemon:
    def __init__(
        self, daemon: Daemon, tokens: dict[str, str], broker: Broker, simulators: dict[str, BatterySimulator]
    ) -> None:
        self.daemon, self.tokens, self.broker = daemon, tokens, broker
        self.simulators = simulators

    async def get(self, path: str, user: str = "admin") -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.daemon.url}/api/v1{path}", headers=headers) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()


@pytest.fixture
async def mqtt_daemon(tmp_path: Path, mqtt_broker: Broker) -> AsyncIterator[MqttDaemon]:
    config = two_site_config(tmp_path)
    broker = MqttConfig(enabled=True, host=mqtt_broker.host, port=mqtt_broker.port, telemetry_interval_s=0.2)
    sites = {i: replace(site, mqtt=broker) for i, site in config.sites.items()}
    sites["wien"] = replace(sites["wien"], mqtt=replace(broker, command_key=COMMAND_KEY))
    sensors = SensorsConfig(
        enabled=True,
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        rules=(
            SensorRuleConfig(
                site="wien", role="battery_room_temperature", device=ESP_MAC.replace(":", "").lower()
            ),
            SensorRuleConfig(
                site="linz", role="battery_room_temperature", sensor="*Temperature*", device="*0a1b2c*"
            ),
            SensorRuleConfig(site="linz", role="grid_power", sensor="*ENERGY.Power", device="*0a1b2c*"),
        ),
        room_temp_derate_above_c=40.0,
    )
    config = replace(config, sites=sites, sensors=sensors)
    simulators = [BatterySimulator(simulator_config(s), SystemClock()) for s in config.sites.values()]
    for sim in simulators:
        await sim.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    tokens = {}
    for name, (role, granted) in USERS.items():
        await daemon.auth.add_user(name, role)
        for site in granted:
            await daemon.auth.grant(name, site)
        tokens[name] = await daemon.auth.create_token(name)
    try:
        yield MqttDaemon(daemon, tokens, mqtt_broker, dict(zip(config.sites, simulators, strict=True)))
    finally:
        await daemon.stop()
        for sim in simulators:
            await sim.stop()


async def eventually(check: Callable[[], Any], timeout: float) -> float:
    started = time.monotonic()
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, "not reached in time"
        await asyncio.sleep(0.05)


def firmware(broker: Broker) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, identifier=f"firmware-{time.monotonic_ns()}")


async def sensors_of(md: MqttDaemon, site: str, user: str = "admin") -> list[dict[str, Any]]:
    body = await md.get(f"/sites/{site}/sensors", user)
    return list(body["sensors"])


async def test_esphome_and_tasmota_devices_appear_in_the_api_within_2s(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    async with firmware(md.broker) as fw:
        topic, config = esphome_config("battery-room", ESP_MAC)
        started = time.monotonic()
        await fw.publish(topic, config, retain=True)
        await fw.publish("battery-room/status", b"online", retain=True)
        await fw.publish(
            "battery-room/sensor/temperature/state", b"23.5", retain=True
        )  # ESPHome retains states
        await fw.publish(
            f"tasmota/discovery/{TASMOTA_MAC}/config",
            tasmota_config(TASMOTA_MAC, "pcs", "PCS room"),
            retain=True,
        )
        sensors_payload = json.dumps({"sn": json.loads(tasmota_reading(25.0, 120.0))}).encode()
        await fw.publish(f"tasmota/discovery/{TASMOTA_MAC}/sensors", sensors_payload, retain=True)
        await fw.publish("tele/pcs/LWT", b"Online", retain=True)

        async def esphome_visible() -> bool:
            found = [s for s in await sensors_of(md, "wien") if s["value"] == 23.5]
            return bool(found) and found[0]["unit"] == "°C" and found[0]["role"] == "battery_room_temperature"

        async def tasmota_visible() -> bool:
            found = [s for s in await sensors_of(md, "linz") if s["value"] == 26.5]
            return bool(found) and found[0]["unit"] == "°C" and found[0]["available"]

        async def tasmota_discovered() -> bool:
            found = [s for s in await sensors_of(md, "linz") if s["id"].endswith("AM2301.Temperature")]
            return bool(found) and found[0]["unit"] == "°C" and found[0]["role"] == "battery_room_temperature"

        await eventually(esphome_visible, 2.0)
        await eventually(tasmota_discovered, 2.0)
        assert time.monotonic() - started < 2.0
        # the periodic telemetry, repeated as Tasmota does (TelePeriod): the daemon subscribes to its
        # topic in the background once discovered, and the broker drops a reading sent before that
        deadline = time.monotonic() + 10.0
        while True:
            await fw.publish("tele/pcs/SENSOR", tasmota_reading(26.5, 130.0))
            with contextlib.suppress(AssertionError):
                await eventually(tasmota_visible, 0.5)
                break
            assert time.monotonic() < deadline, "the telemetry never reached the API"
        # the Tasmota meter (130 W) is linz's external grid meter: it replaces the inverter's reading
        linz = md.daemon.fleet.slots["linz"]
        await eventually(lambda: abs(linz.state.p_grid - 0.130) < 1e-6, 2.0)
        assert linz.state.p_load == pytest.approx(linz.state.p_grid + linz.state.p_pv + linz.state.p_bess)
        # the viewer of wien sees wien's sensors, not linz's; unassigned ones only for admins
        viewer = await md.get("/sensors", "view_wien")
        assert {s["site"] for s in viewer["sensors"]} == {"wien"}
        everything = await md.get("/sensors", "admin")
        assert any(s["site"] is None for s in everything["sensors"])  # e.g. Tasmota's power, unassigned

        # availability offline marks them unavailable
        await fw.publish("battery-room/status", b"offline", retain=True)
        await eventually(lambda: _all_unavailable(md, "wien"), 2.0)
        # deleting the config removes the sensor
        await fw.publish(topic, b"", retain=True)
        await eventually(lambda: _none_left(md, "wien"), 2.0)


async def _all_unavailable(md: MqttDaemon, site: str) -> bool:
    sensors = await sensors_of(md, site)
    return bool(sensors) and not any(s["available"] for s in sensors)


async def _none_left(md: MqttDaemon, site: str) -> bool:
    return not await sensors_of(md, site)


async def test_hot_battery_room_derates_the_site(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    controller = md.daemon.fleet.controller("wien")
    assert controller is not None
    # no PV: by day the 60 kW feed-in limit would otherwise cut the discharge below the derated 50 kW
    # (this test passed only at night)
    md.simulators["wien"].model.pv_peak_kw = 0.0
    controller.set_intent(controller.intent.__class__(SiteMode.MANUAL, manual_setpoint_kw=70.0))
    async with firmware(md.broker) as fw:
        topic, config = esphome_config("battery-room", ESP_MAC)
        await fw.publish(topic, config, retain=True)
        await fw.publish("battery-room/status", b"online", retain=True)
        await fw.publish(
            "battery-room/sensor/temperature/state", b"45.0", retain=True
        )  # ESPHome retains states
        # 45 °C is half-way from 40 to 50 °C: half of the 100 kW hardware limit
        await eventually(lambda: abs(controller.state.setpoint - 50.0) < 0.5, 3.0)
        assert controller.state.extras["room_temp_c"] == 45.0
        await fw.publish(
            "battery-room/sensor/temperature/state", b"60.0", retain=True
        )  # ESPHome retains states
        await eventually(lambda: controller.state.setpoint == 0.0, 3.0)


class SiteClient:
    """A command sender and telemetry reader on one site's topics (a real MQTT client)."""

    def __init__(self, client: aiomqtt.Client, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.telemetry: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self.statuses: list[bytes] = []

    async def collect(self, until: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            async for message in self.client.messages:
                topic = str(message.topic)
                assert isinstance(message.payload, bytes)
                if topic.endswith("/telemetry"):
                    self.telemetry.append(json.loads(message.payload))
                elif topic.endswith("/commands/ack"):
                    self.acks.append(json.loads(message.payload))
                elif topic.endswith("/status"):
                    self.statuses.append(message.payload)
                if until():
                    return

    async def command(self, payload: dict[str, Any] | bytes | str) -> dict[str, Any]:
        """Publish one command and return its ack (the next ack to arrive)."""
        count = len(self.acks)
        raw = json.dumps(payload) if isinstance(payload, dict) else payload
        await self.client.publish(f"{self.prefix}/commands", raw)
        await self.collect(lambda: len(self.acks) > count)
        return self.acks[count]


async def site_client(client: aiomqtt.Client, site: str = "wien") -> SiteClient:
    sc = SiteClient(client, f"phoenyra/site{site}")
    await client.subscribe(f"phoenyra/site{site}/#")
    await sc.collect(lambda: bool(sc.telemetry) and b"online" in sc.statuses)
    return sc


def wien_setpoint(md: MqttDaemon) -> float | None:
    controller = md.daemon.fleet.controller("wien")
    assert controller is not None
    return controller.intent.manual_setpoint_kw


async def test_telemetry_and_commands_with_acks(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    async with firmware(md.broker) as client:
        sc = await site_client(client)
        assert sc.telemetry[-1]["site_id"] == "wien" and "soc" in sc.telemetry[-1]

        ack = await sc.command(
            sign_command({"id": "c1", "mode": "manual", "setpoint_kw": -33.0}, COMMAND_KEY)
        )
        assert ack["id"] == "c1" and ack["accepted"] and ack["control"]["setpoint_kw"] == -33.0
        await sc.collect(lambda: sc.telemetry[-1]["setpoint"] == -33.0)

        rejected = [
            ({"id": "c2", "mode": "manual", "setpoint_kw": 5}, "bad signature"),  # not signed
            (sign_command({"id": "c4", "mode": "manual", "setpoint_kw": 999}, COMMAND_KEY), "invalid"),
            (sign_command({"id": "c5", "mode": "manual", "setpoint_kw": 5, "x": 1}, COMMAND_KEY), "invalid"),
        ]
        for body, reason in rejected:
            ack = await sc.command(body)
            assert ack["id"] == body["id"] and not ack["accepted"] and reason in ack["reason"], ack
        assert sc.acks[-1]["fields"] == {"x": "unknown field"}
        assert sc.acks[-2]["fields"]["setpoint_kw"]
        ack = await sc.command(b"\xff\xfe not json")
        assert not ack["accepted"] and "JSON" in ack["reason"]
        assert wien_setpoint(md) == -33.0  # nothing half-applied


async def test_a_replayed_command_is_rejected_and_not_executed(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    async with firmware(md.broker) as client:
        sc = await site_client(client)
        first = json.dumps(sign_command({"id": "r1", "mode": "manual", "setpoint_kw": -20}, COMMAND_KEY))
        assert (await sc.command(first))["accepted"]
        assert wien_setpoint(md) == -20.0
        second = sign_command({"id": "r2", "mode": "manual", "setpoint_kw": 10}, COMMAND_KEY)
        assert (await sc.command(second))["accepted"]
        assert wien_setpoint(md) == 10.0
        ack = await sc.command(first)  # captured and published again, byte for byte
        assert not ack["accepted"] and "replayed" in ack["reason"], ack
        assert wien_setpoint(md) == 10.0  # the replay changed nothing


async def test_stale_and_wrongly_signed_commands_are_rejected(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    async with firmware(md.broker) as client:
        sc = await site_client(client)
        old = sign_command({"id": "s1", "mode": "standby"}, COMMAND_KEY, now=time.time() - 120)
        ack = await sc.command(old)
        assert not ack["accepted"] and "stale" in ack["reason"], ack
        future = sign_command({"id": "s2", "mode": "standby"}, COMMAND_KEY, now=time.time() + 120)
        assert "stale" in (await sc.command(future))["reason"]
        wrong = sign_command({"id": "s3", "mode": "standby"}, "another-site-key-0123456789")
        ack = await sc.command(wrong)
        assert not ack["accepted"] and ack["reason"] == "bad signature", ack
        tampered = sign_command({"id": "s4", "mode": "manual", "setpoint_kw": -5}, COMMAND_KEY)
        tampered["setpoint_kw"] = -90
        assert (await sc.command(tampered))["reason"] == "bad signature"
        controller = md.daemon.fleet.controller("wien")
        assert controller is not None and controller.intent.mode is SiteMode.AUTO  # nothing applied


async def test_an_api_token_on_mqtt_is_refused_and_not_echoed(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    token = md.tokens["op_wien"]
    async with firmware(md.broker) as client:
        sc = await site_client(client)
        for body in (
            {"id": "t1", "token": token, "mode": "manual", "setpoint_kw": -10},  # the old format
            sign_command({"id": "t2", "token": token, "mode": "manual", "setpoint_kw": -10}, COMMAND_KEY),
        ):
            count = len(sc.acks)
            await client.publish("phoenyra/sitewien/commands", json.dumps(body))
            await sc.collect(lambda count=count: len(sc.acks) > count)  # type: ignore[misc]
            ack = sc.acks[-1]
            assert not ack["accepted"] and "no longer accepted" in ack["reason"], ack
            assert "command_key" in ack["reason"] and "mqtt-sign" in ack["reason"]
            assert token not in json.dumps(ack)
        controller = md.daemon.fleet.controller("wien")
        assert controller is not None and controller.intent.mode is SiteMode.AUTO  # nothing applied


async def test_deeply_nested_json_gets_a_rejection_ack(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    async with firmware(md.broker) as client:
        sc = await site_client(client)
        for payload in ("[" * 1000 + "]" * 1000, '{"a":' * 40 + "1" + "}" * 40):
            ack = await sc.command(payload)
            assert not ack["accepted"] and "nested" in ack["reason"], ack
        # the link still works afterwards
        assert (await sc.command(sign_command({"mode": "manual", "setpoint_kw": -7}, COMMAND_KEY)))[
            "accepted"
        ]


async def test_commands_without_a_command_key_are_refused(
    mqtt_daemon: MqttDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    md = mqtt_daemon
    started = [r.getMessage() for r in caplog.get_records("setup") if r.levelname == "WARNING"]
    assert any("site linz: MQTT commands are refused: set mqtt.command_key" in m for m in started)
    assert not any("site wien: MQTT commands" in m for m in started)
    async with firmware(md.broker) as client:
        sc = await site_client(client, "linz")
        ack = await sc.command(sign_command({"id": "k1", "mode": "standby"}, COMMAND_KEY))
        assert not ack["accepted"] and ack["reason"] == "commands need mqtt.command_key", ack
        controller = md.daemon.fleet.controller("linz")
        assert controller is not None and controller.intent.mode is SiteMode.AUTO


async def test_mqtt_sign_cli_prints_a_command_the_daemon_accepts(
    mqtt_daemon: MqttDaemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from phoenyra_ems.cli import main

    md = mqtt_daemon
    (tmp_path / "secrets.yaml").write_text(f"wien_command_key: {COMMAND_KEY}\n")
    config = tmp_path / "ems.yaml"
    config.write_text(
        "sites:\n  sites:\n    wien:\n"
        "      bess: {energy_capacity_kwh: 200, power_charge_max_kw: 100, power_discharge_max_kw: 100}\n"
        "      mqtt: {enabled: true, command_key: !secret wien_command_key}\n"
    )
    assert main(["mqtt-sign", "-c", str(config), "--site", "wien", '{"mode":"manual","setpoint_kw":-5}']) == 0
    printed = capsys.readouterr().out.strip()
    assert COMMAND_KEY not in printed
    async with firmware(md.broker) as client:
        sc = await site_client(client)
        ack = await sc.command(printed)
        assert ack["accepted"], ack
    assert wien_setpoint(md) == -5.0


async def test_broker_restart_telemetry_resumes_and_sensors_are_still_known(mqtt_daemon: MqttDaemon) -> None:
    md = mqtt_daemon
    async with firmware(md.broker) as fw:
        topic, config = esphome_config("battery-room", ESP_MAC)
        await fw.publish(topic, config, retain=True)
        await fw.publish(
            "battery-room/sensor/temperature/state", b"21.0", retain=True
        )  # ESPHome retains states
        await eventually(lambda: sensors_of(md, "wien"), 2.0)
    md.broker.kill()
    await asyncio.sleep(0.5)
    md.broker.start()
    restarted = time.monotonic()
    async with firmware(md.broker) as client:
        await client.subscribe("phoenyra/sitewien/telemetry")
        async with asyncio.timeout(5.0):
            async for message in client.messages:
                if json.loads(message.payload)["timestamp"]:
                    break
    assert time.monotonic() - restarted < 5.0
    assert await sensors_of(md, "wien"), "discovered sensors must survive a broker restart"
    assert md.daemon.fleet.slots["wien"].state.status is SiteStatus.RUNNING


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.dictionaries(
            st.text(max_size=10), st.one_of(st.none(), st.floats(), st.text(), st.integers()), max_size=6
        ).map(lambda d: json.dumps(d).encode()),
        st.just(b'{"mode": "manual", "setpoint_kw": NaN, "token": "x"}'),
        st.just(b"x" * 10_000),
        st.just(b"[" * 1000 + b"]" * 1000),
        st.just(b'{"mode": "standby", "ts": 1e999, "nonce": "n", "sig": "00"}'),
        st.sampled_from([{"mode": "standby", "x": 1}, {"mode": "manual", "setpoint_kw": 500}]).map(
            lambda c: json.dumps(sign_command(c, COMMAND_KEY, now=FUZZ_NOW)).encode()
        ),
    )
)
async def test_fuzzed_commands_never_raise_and_never_apply(payload: bytes) -> None:
    site = make_site(1, mqtt=MqttConfig(command_key=COMMAND_KEY))
    link = SiteMqttLink(site, wall_clock=lambda: FUZZ_NOW)
    site_config = site  # a class body cannot read an enclosing name it also assigns

    class Recorder:  # execute() reads site, effective_site, clock and intent; applies through set_intent
        site = effective_site = site_config
        clock = SystemClock()
        intent = ControlIntent()

        def __init__(self) -> None:
            self.applied: list[Any] = []

        def set_intent(self, intent: Any) -> None:
            self.applied.append(intent)

    controller = Recorder()
    link.controller = controller  # type: ignore[assignment]
    ack = await link.execute(payload)
    assert set(ack) >= {"id", "accepted", "reason"}
    if not ack["accepted"]:
        assert ack["reason"] and not controller.applied
