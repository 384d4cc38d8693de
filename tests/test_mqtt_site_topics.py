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

import aiomqtt
import pytest

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.schema import MQTT
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
    config = replace(config, sites=sites)
    simulators = [BatterySimulator(simulator_config(s), SystemClock()) for s in sites.values()]
    for sim in simulators:
        await sim.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        yield TwoBrokers(daemon, a, b)
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

    async def collect(self, until: Callable[[], bool], timeout: float = 3.0) -> None:
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
