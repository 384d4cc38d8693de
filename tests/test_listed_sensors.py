"""Sensors listed in the configuration (``sensors.sensors``, the plan's format): reading, reload, alarm."""

from __future__ import annotations

from phoenyra_ems.config.model import SensorsConfig
from phoenyra_ems.config.schema import SENSORS
from phoenyra_ems.sensor_service import SensorService


def config(*sensors: dict[str, object], **extra: object) -> SensorsConfig:
    result: SensorsConfig = SENSORS({"sensors": list(sensors), **extra})
    return result


def deliver(service: SensorService, topic: str, payload: bytes) -> None:
    """What the connection does with a message on ``topic`` (no broker needed)."""
    for sub in list(service.connection._exact.get(topic, [])):
        sub.handler(topic, payload, False)


def listed_topics(service: SensorService) -> list[str]:
    return [topic for topic in service.connection.subscriptions if topic.startswith("s/")]


T1 = {"id": "t1", "type": "temperature", "site": "wien", "source": "mqtt", "topic": "s/t1"}
T2 = {"id": "t2", "type": "temperature", "site": "wien", "source": "mqtt", "topic": "s/t2"}
ROOM = {
    "id": "r",
    "type": "temperature",
    "site": "wien",
    "source": "mqtt",
    "topic": "s/r",
    "role": "battery_room_temperature",
}


def test_listed_sensors_are_pinned_read_and_aggregated_by_their_type() -> None:
    service = SensorService(config(T1, T2, ROOM, aggregation={"temperature_method": "min"}))
    assert listed_topics(service) == ["s/r", "s/t1", "s/t2"]
    deliver(service, "s/t1", b"20")
    deliver(service, "s/t2", b"23")
    deliver(service, "s/r", b"45")
    summary = service.registry.role_summary("wien")
    assert summary["temperature"]["value"] == 20.0 and summary["temperature"]["method"] == "min"
    inputs = service.inputs("wien")
    assert inputs.room_temp_c == 45.0 and inputs.derate < 1.0  # a listed sensor drives control
    assert inputs.dropped == ()


def test_an_unreadable_message_drops_the_sensor_with_the_alarm_and_a_good_one_brings_it_back() -> None:
    service = SensorService(config(T1, T2))
    deliver(service, "s/t1", b"20")
    deliver(service, "s/t2", b"22")
    deliver(service, "s/t2", b"hot")
    assert service.inputs("wien").dropped == ("config:t2",)
    assert service.registry.role_summary("wien")["temperature"]["value"] == 20.0
    deliver(service, "s/t2", b"22")
    assert service.inputs("wien").dropped == ()


def test_a_reload_resubscribes_changed_sensors_and_forgets_removed_ones() -> None:
    service = SensorService(config(T1, T2))
    deliver(service, "s/t1", b"20")
    service.apply(config({**T1, "site": "linz"}, {**T2, "topic": "s/t2b"}))
    assert listed_topics(service) == ["s/t1", "s/t2b"]
    assert [s.sensor_id for s in service.registry.sensors("linz")] == ["config:t1"]
    deliver(service, "s/t2b", b"25")
    assert service.registry.role_summary("wien")["temperature"]["value"] == 25.0
    service.apply(config())
    assert listed_topics(service) == [] and len(service.registry) == 0
