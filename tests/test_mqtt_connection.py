"""MqttConnection against a real mosquitto: dispatch, birth/will, reconnect after a broker restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable

import aiomqtt
import pytest

from phoenyra_ems.mqtt import AssignmentRule, MqttConnection, SensorDiscovery, SensorRegistry, topic_matches
from tests.mqtt_broker import Broker, mqtt_broker

__all__ = ["mqtt_broker"]

STATUS = "phoenyra/ems/status"


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def make_connection(broker: Broker) -> MqttConnection:
    return MqttConnection(
        broker.host,
        broker.port,
        client_id="ems",
        will=(STATUS, "offline", True),
        birth=(STATUS, "online", True),
    )


@pytest.fixture
async def connection(mqtt_broker: Broker) -> AsyncIterator[MqttConnection]:
    conn = make_connection(mqtt_broker)
    await conn.start()
    assert await conn.wait_connected(5)
    yield conn
    await conn.stop()


@pytest.fixture
async def peer(mqtt_broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, identifier="peer") as client:
        yield client


async def retained(broker: Broker, topic: str) -> bytes | None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic)
        try:
            async with asyncio.timeout(0.5):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    return message.payload
        except TimeoutError:
            return None
    return None


def test_topic_matching() -> None:
    assert topic_matches("a/+/c", "a/b/c") and not topic_matches("a/+/c", "a/b/d")
    assert topic_matches("a/#", "a") and topic_matches("a/#", "a/b/c") and topic_matches("#", "x/y")
    assert not topic_matches("#", "$SYS/broker") and not topic_matches("a/b", "a/b/c")


async def test_dispatch_birth_and_clean_stop(mqtt_broker: Broker, peer: aiomqtt.Client,
                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    conn = make_connection(mqtt_broker)
    got: list[tuple[str, bytes, bool]] = []
    conn.subscribe("site/+/power", lambda t, p, r: got.append((t, p, r)))
    conn.subscribe("site/wien/power", lambda t, p, r: 1 / 0)  # a broken handler kills nothing
    await conn.start()
    assert await conn.wait_connected(5) and conn.connected and conn.connects == 1
    assert await retained(mqtt_broker, STATUS) == b"online"

    await peer.publish("site/wien/power", "12.5")
    await peer.publish("site/linz/power", "3", retain=True)
    await eventually(lambda: len(got) == 2)
    assert got == [("site/wien/power", b"12.5", False), ("site/linz/power", b"3", False)]
    assert "'site/wien/power'" in caplog.text and "ZeroDivisionError" in caplog.text

    late: list[str] = []
    sub = conn.subscribe("late/topic", lambda t, p, r: late.append(p.decode()))
    await asyncio.sleep(0.1)
    await peer.publish("late/topic", "a")
    await eventually(lambda: late == ["a"])
    conn.unsubscribe(sub)
    await asyncio.sleep(0.1)
    await peer.publish("late/topic", "b")
    await asyncio.sleep(0.1)
    assert late == ["a"]

    assert await conn.publish("ems/out", json.dumps({"p": 1}), qos=1) is True
    await conn.stop()
    assert not conn.connected
    assert await retained(mqtt_broker, STATUS) == b"offline"


async def test_the_broker_publishes_the_will_when_the_connection_dies(
    connection: MqttConnection, peer: aiomqtt.Client
) -> None:
    seen: list[bytes] = []
    await peer.subscribe(STATUS)

    async def collect() -> None:
        async for message in peer.messages:
            assert isinstance(message.payload, bytes)
            seen.append(message.payload)

    task = asyncio.create_task(collect())
    await eventually(lambda: seen == [b"online"])
    client = connection._client
    assert client is not None
    sock = client._client.socket()  # cut the TCP connection without a DISCONNECT packet
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    await eventually(lambda: seen[:2] == [b"online", b"offline"], timeout=3)  # the will
    await eventually(lambda: seen[-1:] == [b"online"] and connection.connects == 2, timeout=5)  # birth again
    task.cancel()


async def test_broker_restart_resumes_resubscribes_and_keeps_sensors(
    mqtt_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="phoenyra_ems.mqtt")
    conn = make_connection(mqtt_broker)
    registry = SensorRegistry([AssignmentRule(site="wien", role="room_temp", sensor="*temperature*")])
    SensorDiscovery(registry, conn).attach()
    await conn.start()
    assert await conn.wait_connected(5)
    try:
        config = {"name": "T", "stat_t": "node1/sensor/temperature/state", "unit_of_meas": "°C",
                  "dev": {"ids": "a4cf12000001", "cns": [["mac", "a4cf12000001"]]}}  # fmt: skip
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as fw:
            await fw.publish("homeassistant/sensor/node1/temperature/config", json.dumps(config), retain=True)
            await fw.publish("phoenyra/sensors/esp1/power", "100")
            await eventually(lambda: "a4cf12000001:temperature" in registry and "esp1:power" in registry)
            await asyncio.sleep(0.1)
            await fw.publish("node1/sensor/temperature/state", "20.0")
            await eventually(lambda: registry.get("a4cf12000001:temperature").value == 20.0)  # type: ignore[union-attr]

        mqtt_broker.kill()
        await eventually(lambda: not conn.connected)
        assert conn.publish_nowait("ems/telemetry", "x") is None  # QoS 0 while down: dropped, no error
        await conn.publish("ems/retained", "kept", retain=True)  # retained: sent after the reconnect
        mqtt_broker.start()  # same port, empty broker: nothing retained survives
        await eventually(lambda: conn.connected, timeout=5)
        assert conn.connects == 2
        assert {"a4cf12000001:temperature", "esp1:power"} <= set(registry.snapshot())  # still known

        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as fw:
            await fw.publish("node1/sensor/temperature/state", "21.5")  # a routed (exact) subscription
            await fw.publish("phoenyra/sensors/esp1/power", "250")  # a wildcard subscription
            await eventually(
                lambda: (
                    registry.get("a4cf12000001:temperature").value == 21.5  # type: ignore[union-attr]
                    and registry.get("esp1:power").value == 250
                ),  # type: ignore[union-attr]
                timeout=5,
            )
        assert registry.aggregate("wien", "room_temp").value == 21.5
        assert await retained(mqtt_broker, "ems/retained") == b"kept"
        assert await retained(mqtt_broker, STATUS) == b"online"  # birth again after the reconnect
        assert "connection lost" in caplog.text
    finally:
        await conn.stop()


async def test_start_without_a_broker_keeps_retrying(mqtt_broker: Broker) -> None:
    mqtt_broker.kill()
    conn = make_connection(mqtt_broker)
    await conn.start()
    await asyncio.sleep(0.5)
    assert not conn.connected and conn.last_error
    mqtt_broker.start()
    assert await conn.wait_connected(6)
    await conn.stop()


async def test_pending_queue_is_bounded_latest_per_topic(mqtt_broker: Broker) -> None:
    conn = MqttConnection(mqtt_broker.host, mqtt_broker.port, max_pending=2)
    for i in range(3):
        await conn.publish(f"t/{i}", "a", retain=True)
    await conn.publish("t/2", "b", qos=1)
    await conn.publish("t/3", "c")  # QoS 0: dropped
    assert list(conn._pending) == ["t/1", "t/2"] and conn._pending["t/2"].payload == "b"


def test_invalid_filter_is_refused(mqtt_broker: Broker) -> None:
    conn = MqttConnection(mqtt_broker.host, mqtt_broker.port)
    with pytest.raises(ValueError, match="filter"):
        conn.subscribe("a/#/b", lambda t, p, r: None)


class ConnackRacesTheCancel(aiomqtt.Client):
    """A real client whose connect finishes although the task was cancelled meanwhile: what Python
    3.11's ``asyncio.wait_for`` does when the CONNACK and the cancel arrive in the same loop pass
    (it returns the result and drops the cancellation)."""

    entered = asyncio.Event()

    async def __aenter__(self) -> ConnackRacesTheCancel:
        type(self).entered.set()
        with contextlib.suppress(asyncio.CancelledError):  # swallowed, as wait_for does in the race
            await asyncio.sleep(1.0)
        return await super().__aenter__()


async def test_stop_ends_the_connection_even_when_the_connect_swallows_the_cancel(
    mqtt_broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a daemon stop hung forever here: the connection came up after stop() and never ended."""
    conn = make_connection(mqtt_broker)
    ConnackRacesTheCancel.entered = asyncio.Event()
    monkeypatch.setattr(aiomqtt, "Client", ConnackRacesTheCancel)
    await conn.start()
    await ConnackRacesTheCancel.entered.wait()
    monkeypatch.undo()  # the connection's next client, and the test's own, are plain again
    stopping = asyncio.create_task(conn.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert done, "stop() must end although the connect swallowed its cancel"
    assert not conn.connected
    await asyncio.sleep(0.3)
    assert await retained(mqtt_broker, STATUS) != b"online", "no birth after stop()"
