"""Per-site ``mqtt.broker`` and ``mqtt.topics`` (the plan's format), on two real mosquitto brokers.

Wien talks to broker A on the plan's topics ``phoenyra/site1/telemetry`` / ``phoenyra/site1/commands``;
Linz to broker B on topics of its own. Each site publishes and listens exactly there, with status
beside the telemetry and acks under the commands topic, and commands stay signed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.schema import MQTT, SENSORS
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import SiteMode
from phoenyra_ems.mqtt.command_auth import sign_command
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import simulator_config
from tests.daemon_fixtures import two_site_config
from tests.mqtt_broker import Broker, mosquitto_binary

WIEN_KEY = "wien-command-key-0123456789"
LINZ_KEY = "linz-command-key-9876543210"
WIEN = {"telemetry": "phoenyra/site1/telemetry", "commands": "phoenyra/site1/commands"}
LINZ = {"telemetry": "linz/ems/state", "commands": "linz/ems/control"}


@dataclass
class TwoBrokers:
    daemon: Daemon
    a: Broker
    b: Broker
    token: str

    async def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.daemon.url}/api/v1{path}", headers=headers) as response,
        ):
            assert response.status == 200, await response.text()
            return await response.json()


@pytest.fixture
async def two_brokers(tmp_path: Path) -> AsyncIterator[TwoBrokers]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (make broker)")
    brokers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        broker = Broker(binary, tmp_path / name)
        broker.start()
        brokers.append(broker)
    a, b = brokers
    config = two_site_config(tmp_path)
    # through the validator, exactly as the YAML keys are written
    wien_mqtt = MQTT(
        {
            "enabled": True,
            "broker": f"mqtt://{a.host}:{a.port}",
            "topics": WIEN,
            "command_key": WIEN_KEY,
            "telemetry_interval_s": 0.2,
        }
    )
    linz_mqtt = MQTT(
        {
            "enabled": True,
            "broker": f"{b.host}:{b.port}",
            "topics": LINZ,
            "command_key": LINZ_KEY,
            "telemetry_interval_s": 0.2,
        }
    )
    sites = {
        "wien": replace(config.sites["wien"], mqtt=wien_mqtt),
        "linz": replace(config.sites["linz"], mqtt=linz_mqtt),
    }
    # the plan's explicit sensors list, read on broker A beside discovery
    sensors = SENSORS(
        {
            "host": a.host,
            "port": a.port,
            "aggregation": {"temperature_method": "max", "power_method": "sum", "humidity_method": "avg"},
            "sensors": [
                {"id": "t1", "type": "temperature", "site": "wien", "source": "mqtt", "topic": "plan/t1"},
                {
                    "id": "t2",
                    "type": "temperature",
                    "site": "wien",
                    "source": "mqtt",
                    "topic": "plan/t2",
                    "value_path": "sensor.temp",
                },
                {
                    "id": "p1",
                    "type": "power",
                    "site": "wien",
                    "source": "mqtt",
                    "topic": "plan/p1",
                    "unit": "kW",
                },
                {
                    "id": "p2",
                    "type": "power",
                    "site": "wien",
                    "source": "mqtt",
                    "topic": "plan/p2",
                    "unit": "kW",
                },
                {"id": "h1", "type": "humidity", "site": "linz", "source": "mqtt", "topic": "plan/h1"},
                {"id": "h2", "type": "humidity", "site": "linz", "source": "mqtt", "topic": "plan/h2"},
            ],
        }
    )
    config = replace(config, sites=sites, sensors=sensors)
    simulators = [BatterySimulator(simulator_config(s), SystemClock()) for s in sites.values()]
    for sim in simulators:
        await sim.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    await daemon.auth.add_user("admin", "admin")
    token = await daemon.auth.create_token("admin")
    try:
        yield TwoBrokers(daemon, a, b, token)
    finally:
        await daemon.stop()
        for sim in simulators:
            await sim.stop()
        for broker in brokers:
            broker.kill()


class Listener:
    """Everything published on one broker (``#``), by topic."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.messages: list[tuple[str, bytes]] = []

    def payloads(self, topic: str) -> list[bytes]:
        return [payload for t, payload in self.messages if t == topic]

    async def collect(self, until: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not until():
                message = await anext(aiter(self.client.messages))
                assert isinstance(message.payload, bytes)
                self.messages.append((str(message.topic), message.payload))

    async def command(self, topic: str, body: dict[str, Any]) -> dict[str, Any]:
        """Publish a command on ``topic`` and return the ack on ``<topic>/ack``."""
        count = len(self.payloads(f"{topic}/ack"))
        await self.client.publish(topic, json.dumps(body))
        await self.collect(lambda: len(self.payloads(f"{topic}/ack")) > count)
        ack: dict[str, Any] = json.loads(self.payloads(f"{topic}/ack")[count])
        return ack


def client_of(broker: Broker) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, identifier=f"test-{time.monotonic_ns()}")


async def test_two_sites_on_two_brokers_publish_and_listen_exactly_on_their_topics(
    two_brokers: TwoBrokers,
) -> None:
    tb = two_brokers
    async with client_of(tb.a) as ca, client_of(tb.b) as cb:
        await ca.subscribe("#")
        await cb.subscribe("#")
        on_a, on_b = Listener(ca), Listener(cb)
        await on_a.collect(lambda: bool(on_a.payloads(WIEN["telemetry"])))
        await on_b.collect(lambda: bool(on_b.payloads(LINZ["telemetry"])))
        assert json.loads(on_a.payloads(WIEN["telemetry"])[-1])["site_id"] == "wien"
        assert json.loads(on_b.payloads(LINZ["telemetry"])[-1])["site_id"] == "linz"
        assert on_a.payloads("phoenyra/site1/status") == [b"online"]  # retained birth, beside telemetry
        assert on_b.payloads("linz/ems/status") == [b"online"]

        ack = await on_a.command(
            WIEN["commands"], sign_command({"id": "w1", "mode": "manual", "setpoint_kw": -21.0}, WIEN_KEY)
        )
        assert ack["id"] == "w1" and ack["accepted"], ack
        ack = await on_b.command(LINZ["commands"], sign_command({"id": "l1", "mode": "standby"}, LINZ_KEY))
        assert ack["id"] == "l1" and ack["accepted"], ack
        # still signed: wien's key does not work on linz's topic
        ack = await on_b.command(
            LINZ["commands"], sign_command({"id": "l2", "mode": "manual", "setpoint_kw": 5}, WIEN_KEY)
        )
        assert not ack["accepted"] and "signature" in ack["reason"], ack

        wien = tb.daemon.fleet.controller("wien")
        linz = tb.daemon.fleet.controller("linz")
        assert wien is not None and linz is not None
        assert wien.intent.manual_setpoint_kw == -21.0
        assert linz.intent.mode is SiteMode.STANDBY
        await on_a.collect(lambda: json.loads(on_a.payloads(WIEN["telemetry"])[-1])["setpoint"] == -21.0)

        # nothing of the default scheme, nothing of the other site on either broker
        wien_topics = {
            WIEN["telemetry"],
            WIEN["commands"],
            "phoenyra/site1/status",
            "phoenyra/site1/commands/ack",
        }
        linz_topics = {LINZ["telemetry"], LINZ["commands"], "linz/ems/status", "linz/ems/control/ack"}
        assert {t for t, _ in on_a.messages} == wien_topics
        assert {t for t, _ in on_b.messages} == linz_topics


async def roles_of(tb: TwoBrokers, site: str) -> dict[str, Any]:
    body = await tb.get(f"/sites/{site}/sensors")
    roles: dict[str, Any] = body["roles"]
    return roles


async def test_listed_mqtt_sensors_are_read_aggregated_by_type_and_in_the_api(
    two_brokers: TwoBrokers,
) -> None:
    tb = two_brokers
    async with client_of(tb.a) as fw:
        for topic, payload in [
            ("plan/t1", b"21.5"),
            ("plan/t2", b'{"sensor": {"temp": 24.0}}'),
            ("plan/p1", b"3.5"),
            ("plan/p2", b"1.25"),
            ("plan/h1", b"40"),
            ("plan/h2", b"50"),
        ]:
            await fw.publish(topic, payload, retain=True)

        async def settled() -> bool:
            wien, linz = await roles_of(tb, "wien"), await roles_of(tb, "linz")
            return (
                len(wien.get("temperature", {}).get("used", [])) == 2
                and len(wien.get("power", {}).get("used", [])) == 2
                and len(linz.get("humidity", {}).get("used", [])) == 2
            )

        await eventually(settled, 5.0)
        wien, linz = await roles_of(tb, "wien"), await roles_of(tb, "linz")
        assert (wien["temperature"]["method"], wien["temperature"]["value"]) == ("max", 24.0)
        assert (wien["power"]["method"], wien["power"]["value"]) == ("sum", 4.75)
        assert (linz["humidity"]["method"], linz["humidity"]["value"]) == ("avg", 45.0)
        assert "humidity" not in wien and "temperature" not in linz
        listed = {s["id"]: s for s in (await tb.get("/sensors"))["sensors"] if s["format"] == "config"}
        assert set(listed) == {"config:t1", "config:t2", "config:p1", "config:p2", "config:h1", "config:h2"}
        assert listed["config:t2"]["value"] == 24.0 and listed["config:t2"]["state_topic"] == "plan/t2"

        # an unreadable message drops that sensor (alarm), the others carry the value
        await fw.publish("plan/t2", b'{"sensor": {}}', retain=True)

        async def t2_dropped() -> bool:
            return (await roles_of(tb, "wien"))["temperature"]["dropped"] == [
                {"sensor": "config:t2", "reason": "no_value"}
            ]

        await eventually(t2_dropped, 3.0)
        assert (await roles_of(tb, "wien"))["temperature"]["value"] == 21.5
        wien_controller = tb.daemon.fleet.controller("wien")
        assert wien_controller is not None
        await eventually(lambda: "config:t2" in str(wien_controller.state.alarms), 3.0)


async def eventually(check: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)
