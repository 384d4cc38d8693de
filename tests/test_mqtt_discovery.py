"""Sensor discovery: ESPHome / Tasmota / Phoenyra formats as firmware sends them, on a real broker.

The formats are first checked in-process (``LocalBus``), then end to end through mosquitto with a
separate aiomqtt client as the "firmware".  The fuzz tests throw garbage at every handler.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator

import aiomqtt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from phoenyra_ems.mqtt import (
    AssignmentRule,
    Availability,
    LocalBus,
    MqttConnection,
    SensorDiscovery,
    SensorEvent,
    SensorRegistry,
)
from phoenyra_ems.mqtt.discovery import Rejections
from phoenyra_ems.mqtt.discovery.abbreviations import expand, substitute_base
from phoenyra_ems.mqtt.discovery.templates import TemplateError, TemplateValueError, compile_template
from tests.mqtt_broker import Broker, mqtt_broker

__all__ = ["mqtt_broker"]

DISCOVERY_LOG = "phoenyra_ems.mqtt.discovery"
RULES = [
    AssignmentRule(site="wien", role="room_temp", sensor="*temperature*"),
    AssignmentRule(site="wien", role="grid_power", device="garage", sensor="*ENERGY.Power*", weight=2.0),
]

# --- what the firmware publishes -----------------------------------------------------------------


def esphome_config(node: str, mac: str, object_id: str = "temperature") -> tuple[str, bytes]:
    """ESPHome 2024.x: abbreviated keys, legacy unique id equal on every node, MAC in ids and cns."""
    payload = {
        "dev_cla": "temperature",
        "unit_of_meas": "°C",
        "stat_cla": "measurement",
        "name": "Temperature",
        "stat_t": f"{node}/sensor/{object_id}/state",
        "avty_t": f"{node}/status",
        "uniq_id": f"ESPsensor{object_id}",
        "dev": {
            "ids": mac.replace(":", ""),
            "name": node,
            "sw": "2024.6.0 (ESPHome 2024.6.0)",
            "mdl": "esp32dev",
            "mf": "espressif",
            "cns": [["mac", mac]],
        },
        "o": {"name": "esphome", "sw": "2024.6.0", "url": "https://esphome.io"},
    }
    return f"homeassistant/sensor/{node}/{object_id}/config", json.dumps(payload).encode()


def tasmota_config(mac: str, topic: str, name: str, full_topic: str = "%prefix%/%topic%/") -> bytes:
    return json.dumps(
        {
            "ip": "192.168.1.50",
            "dn": name,
            "fn": [name, None, None, None, None, None, None, None],
            "hn": f"tasmota-{mac[-6:]}-1234",
            "mac": mac,
            "md": "Sonoff Pow R2",
            "ty": 0,
            "if": 0,
            "ofln": "Offline",
            "onln": "Online",
            "state": ["OFF", "ON", "TOGGLE", "HOLD"],
            "sw": "13.4.0",
            "t": topic,
            "ft": full_topic,
            "tp": ["cmnd", "stat", "tele"],
            "rl": [1, 0, 0, 0, 0, 0, 0, 0],
            "ver": 1,
        }
    ).encode()


TASMOTA_SAMPLE = {
    "Time": "2024-06-01T12:00:00",
    "ENERGY": {"TotalStartTime": "2024-01-01T00:00:00", "Total": 12.3, "Yesterday": 1.1, "Today": 0.4,
               "Power": 230, "ApparentPower": 240, "Voltage": 231, "Current": 1.04, "Factor": 0.96},
    "AM2301": {"Temperature": 22.4, "Humidity": 45.2, "DewPoint": 9.9},
    "TempUnit": "C",
}  # fmt: skip


def tasmota_reading(temperature: float, power: float) -> bytes:
    sample = json.loads(json.dumps(TASMOTA_SAMPLE))
    sample["AM2301"]["Temperature"] = temperature
    sample["ENERGY"]["Power"] = power
    return json.dumps(sample).encode()


# --- in-process checks ---------------------------------------------------------------------------


@pytest.fixture
def bus() -> LocalBus:
    return LocalBus()


@pytest.fixture
def registry() -> SensorRegistry:
    return SensorRegistry(RULES)


@pytest.fixture
def discovery(bus: LocalBus, registry: SensorRegistry) -> SensorDiscovery:
    d = SensorDiscovery(registry, bus, rejections=Rejections(interval_s=0.0))
    d.attach()
    return d


def test_templates_of_the_supported_forms() -> None:
    payload = '{"ENERGY": {"Power": "230.46", "Phases": [1.5, 2.5]}, "t": 21}'
    cases = {
        "{{ value_json['ENERGY']['Power'] }}": "230.46",
        "{{value_json['ENERGY']['Power']}}": "230.46",
        '{{ value_json["ENERGY"].Power | float }}': 230.46,
        "{{ value_json.ENERGY.Power | float | round(1) }}": 230.5,
        "{{ value_json.ENERGY.Phases[1] }}": 2.5,
        "{{ value_json.t | int }}": 21,
        "{{ value | round }}": None,  # text payload: round of a non-number
    }
    for source, expected in cases.items():
        template = compile_template(source)
        if expected is None:
            with pytest.raises(TemplateValueError):
                template.render(payload)
        else:
            assert template.render(payload) == expected, source
    assert compile_template("{{ value | float }}").render("3.5") == 3.5
    assert compile_template("{{ value | float(0) }}").render("n/a") == 0.0
    assert compile_template("{{ value_json.x | int(-1) }}").render('{"x": "?"}') == -1
    with pytest.raises(TemplateValueError):
        compile_template("{{ value_json.missing }}").render(payload)


@pytest.mark.parametrize(
    "source",
    [
        "{{ value_json.a * 2 }}",
        "{{ states('sensor.x') }}",
        "{% if value %}1{% endif %}",
        "{{ value_json.a | multiply(2) }}",
        "{{ value }} {{ value }}",
        "{{ value.attr }}",
        "plain",
        "{{ value_json['a }}",
    ],
)
def test_anything_else_is_a_template_error(source: str) -> None:
    with pytest.raises(TemplateError):
        compile_template(source)


def test_abbreviations_and_base_topic() -> None:
    config = substitute_base(
        expand(
            {
                "~": "tasmota_ABC/tele",
                "stat_t": "~/SENSOR",
                "avty": [{"t": "~/LWT", "pl_avail": "Online"}],
                "json_attr_t": "~/ATTR",
                "cmd_t": "cmnd/~",
                "dev": {"ids": ["x"], "mdl": "m", "mf": "f", "sw": "1"},
                "unit_of_meas": "W",
            }
        )
    )
    assert config["state_topic"] == "tasmota_ABC/tele/SENSOR"
    assert config["json_attributes_topic"] == "tasmota_ABC/tele/ATTR"
    assert config["command_topic"] == "cmnd/tasmota_ABC/tele"
    assert config["availability"] == [{"topic": "tasmota_ABC/tele/LWT", "payload_available": "Online"}]
    assert config["device"] == {"identifiers": ["x"], "model": "m", "manufacturer": "f", "sw_version": "1"}
    assert config["unit_of_measurement"] == "W"


def test_esphome_nodes_with_the_same_legacy_unique_id_do_not_collide(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery
) -> None:
    for node, mac, value in (
        ("livingroom", "a4:cf:12:00:00:01", b"21.5"),
        ("kitchen", "a4:cf:12:00:00:02", b"23"),
    ):
        bus.deliver(*esphome_config(node, mac), retain=True)
        bus.deliver(f"{node}/status", b"online", retain=True)
        bus.deliver(f"{node}/sensor/temperature/state", value, retain=True)
    sensors = {s.sensor_id: s for s in registry.sensors()}
    assert set(sensors) == {"a4cf12000001:temperature", "a4cf12000002:temperature"}
    assert [s.value for s in sensors.values()] == [21.5, 23.0]
    assert all(s.unit == "°C" and s.site == "wien" and s.role == "room_temp" for s in sensors.values())
    assert all(s.availability == Availability.ONLINE for s in sensors.values())
    bus.deliver("kitchen/status", b"offline", retain=True)
    assert registry.get("a4cf12000002:temperature").availability == Availability.OFFLINE  # type: ignore[union-attr]
    assert [v for _, v, _ in registry.values_for("wien", "room_temp")] == [21.5]
    bus.deliver("homeassistant/sensor/kitchen/temperature/config", b"", retain=True)
    assert "a4cf12000002:temperature" not in registry
    assert "kitchen/status" not in bus.subscriptions and "livingroom/status" in bus.subscriptions
    assert discovery.rejected == 0


def test_second_sensor_of_a_node_learns_the_retained_availability(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery
) -> None:
    bus.deliver(*esphome_config("node", "a4cf12000009", "temperature"), retain=True)
    bus.deliver("node/status", b"online", retain=True)
    bus.deliver(*esphome_config("node", "a4cf12000009", "humidity"), retain=True)  # status already subscribed
    assert registry.get("a4cf12000009:humidity").availability == Availability.ONLINE  # type: ignore[union-attr]


def test_ha_value_template_binary_sensor_and_node_less_topic(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery
) -> None:
    legacy_tasmota = {
        "name": "Pow Power", "stat_t": "~SENSOR", "~": "tele/pow1/", "avty_t": "~LWT",
        "pl_avail": "Online", "pl_not_avail": "Offline", "uniq_id": "A4CF12ABCDEF_ENERGY_Power",
        "dev": {"ids": ["A4CF12ABCDEF"]}, "unit_of_meas": "W", "dev_cla": "power",
        "val_tpl": "{{value_json['ENERGY']['Power']}}", "exp_aft": 300,
    }  # fmt: skip
    bus.deliver("homeassistant/sensor/A4CF12ABCDEF_ENERGY_Power/config", json.dumps(legacy_tasmota).encode())
    door = {"name": "Door", "stat_t": "door/state", "dev_cla": "door", "pl_on": "open", "pl_off": "closed"}
    bus.deliver("homeassistant/binary_sensor/door1/config", json.dumps(door).encode())
    bus.deliver("tele/pow1/LWT", b"Online")
    bus.deliver("tele/pow1/SENSOR", tasmota_reading(20.0, 345.5))
    bus.deliver("door/state", b"open")
    power = registry.get("a4cf12abcdef:A4CF12ABCDEF_ENERGY_Power")
    assert power is not None and power.value == 345.5 and power.expire_after_s == 300
    assert power.availability == Availability.ONLINE and power.unit == "W"
    door_sensor = registry.get("ha_door1:door1")
    assert door_sensor is not None and door_sensor.value == 1.0
    bus.deliver("door/state", b"closed")
    assert registry.get("ha_door1:door1").value == 0.0  # type: ignore[union-attr]
    assert discovery.rejected == 0


def test_unsupported_template_marks_the_sensor_and_logs_once(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=DISCOVERY_LOG)
    config = {"name": "x", "stat_t": "dev/x", "val_tpl": "{{ value_json.a * 1000 }}", "dev": {"ids": "devx"}}
    for _ in range(3):
        bus.deliver("homeassistant/sensor/devx/x/config", json.dumps(config).encode())
    bus.deliver("dev/x", b'{"a": 1}')
    sensor = registry.get("devx:x")
    assert sensor is not None and sensor.value is None and sensor.error and "template" in sensor.error
    assert len([r for r in caplog.records if "unsupported value template" in r.getMessage()]) == 1
    assert "devx:x" in registry.snapshot() and registry.snapshot()["devx:x"]["fresh"] is False


def test_other_components_are_ignored_unknown_ones_rejected(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=DISCOVERY_LOG)
    bus.deliver("homeassistant/switch/node/relay/config", b'{"cmd_t": "node/switch/relay/command"}')
    bus.deliver("homeassistant/flux_capacitor/node/x/config", b'{"stat_t": "a"}')
    assert len(registry) == 0 and discovery.rejected == 1
    assert "'homeassistant/flux_capacitor/node/x/config'" in caplog.text


def test_tasmota_native_discovery_with_a_custom_full_topic(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery
) -> None:
    mac = "A4CF12ABCDEF"
    bus.deliver(
        f"tasmota/discovery/{mac}/sensors", json.dumps({"sn": TASMOTA_SAMPLE, "ver": 1}).encode(), True
    )
    bus.deliver(
        f"tasmota/discovery/{mac}/config", tasmota_config(mac, "pow", "Garage", "site/%topic%/%prefix%/")
    )
    assert "site/pow/tele/SENSOR" in bus.subscriptions and "site/pow/tele/LWT" in bus.subscriptions
    temp = registry.get("a4cf12abcdef:AM2301.Temperature")
    assert temp is not None and temp.unit == "°C" and temp.value is None and temp.role == "room_temp"
    assert registry.get("a4cf12abcdef:ENERGY.Total").unit == "kWh"  # type: ignore[union-attr]
    assert "a4cf12abcdef:ENERGY.TotalStartTime" not in registry  # text leaves are metadata
    bus.deliver("site/pow/tele/LWT", b"Online", True)
    bus.deliver("site/pow/tele/SENSOR", tasmota_reading(23.5, 120))
    assert registry.get("a4cf12abcdef:AM2301.Temperature").value == 23.5  # type: ignore[union-attr]
    power = registry.get("a4cf12abcdef:ENERGY.Power")
    assert power is not None and power.value == 120 and power.role == "grid_power" and power.weight == 2.0
    bus.deliver("site/pow/tele/LWT", b"Offline", True)
    assert all(s.availability == Availability.OFFLINE for s in registry.sensors())
    bus.deliver(f"tasmota/discovery/{mac}/config", b"", True)
    assert len(registry) == 0 and "site/pow/tele/SENSOR" not in bus.subscriptions
    assert discovery.rejected == 0


def test_native_format(bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery) -> None:
    now = 1_718_000_000.0
    native = SensorDiscovery(registry, bus, wall_clock=lambda: now).native
    assert native is not None
    config = {
        "name": "Roof",
        "model": "esp32-s3",
        "sensors": {"irradiance": {"unit": "W/m²", "expire_after": 30}},
    }
    native.handle("phoenyra/sensors/roof1/config", json.dumps(config).encode(), True)
    assert registry.get("roof1:irradiance").unit == "W/m²"  # type: ignore[union-attr]
    native.handle("phoenyra/sensors/roof1/status", b"online", True)
    native.handle("phoenyra/sensors/roof1/irradiance", b"812.5", False)
    native.handle(
        "phoenyra/sensors/roof1/temperature",
        json.dumps({"value": 31.2, "timestamp": now - 100}).encode(),
        False,
    )
    irr, temp = registry.get("roof1:irradiance"), registry.get("roof1:temperature")
    assert irr is not None and irr.value == 812.5 and irr.expire_after_s == 30
    assert temp is not None and temp.value == 31.2 and temp.unit == "°C" and temp.site == "wien"
    assert temp.availability == Availability.ONLINE and temp.reported_at == now - 100
    assert registry.age_s(temp) == pytest.approx(100, abs=1)
    native.handle("phoenyra/sensors/roof1/config", b"", True)
    assert len(registry) == 0


def test_listeners_see_add_update_remove(
    bus: LocalBus, registry: SensorRegistry, discovery: SensorDiscovery
) -> None:
    events: list[tuple[SensorEvent, str]] = []
    remove = registry.add_listener(lambda event, sensor: events.append((event, sensor.sensor_id)))
    registry.add_listener(lambda event, sensor: 1 / 0)  # a broken listener changes nothing
    bus.deliver("phoenyra/sensors/d1/power", b"5")
    bus.deliver("phoenyra/sensors/d1/config", b"")
    remove()
    bus.deliver("phoenyra/sensors/d1/power", b"6")
    assert events == [(SensorEvent.ADDED, "d1:power"), (SensorEvent.UPDATED, "d1:power"),
                      (SensorEvent.REMOVED, "d1:power")]  # fmt: skip


# --- fuzzing -------------------------------------------------------------------------------------

segment = st.one_of(
    st.sampled_from(
        ["node", "temperature", "a4cf12abcdef", "A4CF12ABCDEF", "x", "status", "config", "sensors"]
    ),
    st.text(
        st.characters(blacklist_categories=["Cs", "Cc", "Cn", "Co"], blacklist_characters="/+#"),
        min_size=1,
        max_size=12,
    ),
)
topics = st.one_of(
    st.builds(lambda c, n, o: f"homeassistant/{c}/{n}/{o}/config",
              st.sampled_from(["sensor", "binary_sensor", "switch", "bogus"]), segment, segment),
    st.builds(lambda c, o: f"homeassistant/{c}/{o}/config",
              st.sampled_from(["sensor", "binary_sensor"]), segment),
    st.builds(lambda d, k: f"phoenyra/sensors/{d}/{k}", segment, segment),
    st.builds(lambda m, k: f"tasmota/discovery/{m}/{k}", segment, st.sampled_from(["config", "sensors"])),
    st.sampled_from(["fuzz/sensor/temperature/state", "fuzz/status", "tele/fuzz/SENSOR", "tele/fuzz/LWT"]),
)  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
config_keys = st.sampled_from(
    ["stat_t", "avty_t", "avty", "dev", "val_tpl", "exp_aft", "unit_of_meas", "name", "uniq_id", "~", "t",
     "ft", "tp", "sn", "value", "timestamp", "sensors", "pl_on", "pl_avail", "dn", "unit"]
)  # fmt: skip
payloads = st.one_of(
    st.binary(max_size=64),
    st.just(b"x" * 70_000),
    st.just(b"{" * 70_000),
    st.just(b"[" * 50_000 + b"]" * 50_000),
    st.sampled_from([b"nan", b"NaN", b"inf", b"-Infinity", b"1e999", b'{"value": NaN}', b'{"value": 1e999}',
                     b"{", b"{}", b"[]", b'"21"', b"21.5", b"online", b"offline", b"Online", b"", b"null",
                     b"true",
                     b'{"value": "abc"}', b'{"value": true}', b'{"sn": []}', b'{"stat_t": ["a"]}', b"1_000"]),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(config_keys, json_values, max_size=6)),
    st.text(max_size=40).map(str.encode),
)  # fmt: skip

SEED_CONFIGS: list[tuple[str, bytes]] = [
    esphome_config("fuzz", "a4cf120000ff"),
    ("tasmota/discovery/A4CF120000FE/config", tasmota_config("A4CF120000FE", "fuzz", "Fuzz")),
]


def seed(bus: LocalBus) -> None:
    for topic, payload in SEED_CONFIGS:
        bus.deliver(topic, payload, True)


def assert_every_rejection_logged(
    rejections: Rejections, records: list[logging.LogRecord], since: int = 0
) -> None:
    text = "\n".join(r.getMessage() for r in records if r.levelno >= logging.WARNING)
    for topic, _ in list(rejections.recent)[since:]:
        assert repr(topic) in text, f"rejection on {topic!r} not logged"
    assert "internal error" not in text, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(topics, payloads, st.booleans()), min_size=1, max_size=8))
def test_fuzz_handlers_directly(
    messages: list[tuple[str, bytes, bool]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    caplog.set_level(logging.WARNING, logger=DISCOVERY_LOG)
    bus, registry = LocalBus(), SensorRegistry(RULES)
    rejections = Rejections(interval_s=0.0)
    SensorDiscovery(registry, bus, rejections=rejections).attach()
    seed(bus)
    assert rejections.count == 0
    for topic, payload, retain in messages:
        before = rejections.count
        bus.deliver(topic, payload, retain)  # never raises (LocalBus would log an escaped exception)
        if rejections.count > before:
            assert repr(topic[:256]) in caplog.text
    assert_every_rejection_logged(rejections, caplog.records)
    assert "handler for" not in caplog.text  # nothing escaped a discovery handler
    for sensor in registry.sensors():
        assert sensor.value is None or math.isfinite(sensor.value)


# --- end to end through mosquitto ----------------------------------------------------------------


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


class Stack:
    """What the daemon will run per broker: one connection, one registry, discovery."""

    def __init__(self, broker: Broker, rejections: Rejections | None = None) -> None:
        self.connection = MqttConnection(broker.host, broker.port, client_id="ems-test",
                                         will=("phoenyra/ems/status", "offline", True),
                                         birth=("phoenyra/ems/status", "online", True))  # fmt: skip
        self.registry = SensorRegistry(RULES)
        self.discovery = SensorDiscovery(self.registry, self.connection, rejections=rejections)
        self.discovery.attach()


@pytest.fixture
async def stack(mqtt_broker: Broker) -> AsyncIterator[Stack]:
    s = Stack(mqtt_broker)
    await s.connection.start()
    assert await s.connection.wait_connected(5)
    yield s
    await s.connection.stop()


@pytest.fixture
async def firmware(mqtt_broker: Broker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, identifier="firmware") as client:
        yield client


async def test_esphome_devices_through_the_broker(stack: Stack, firmware: aiomqtt.Client) -> None:
    registry = stack.registry
    for node, mac in (("livingroom", "a4:cf:12:00:00:01"), ("kitchen", "a4:cf:12:00:00:02")):
        topic, payload = esphome_config(node, mac)
        await firmware.publish(topic, payload, retain=True)
        await firmware.publish(f"{node}/status", "online", retain=True)
        await firmware.publish(
            f"{node}/sensor/temperature/state", "21.5" if node == "kitchen" else "20.5", retain=True
        )

    def both_known() -> bool:
        return all(
            (s := registry.get(sid)) is not None
            and s.value is not None
            and s.availability == Availability.ONLINE
            for sid in ("a4cf12000001:temperature", "a4cf12000002:temperature")
        )

    await eventually(both_known)
    assert {s.unit for s in registry.sensors()} == {"°C"} and {s.role for s in registry.sensors()} == {
        "room_temp"
    }
    result = registry.aggregate("wien", "room_temp")
    assert result.value == pytest.approx(21.0) and result.used == 2

    await firmware.publish("kitchen/status", "offline", retain=True)
    await eventually(lambda: registry.get("a4cf12000002:temperature").availability == Availability.OFFLINE)  # type: ignore[union-attr]
    assert registry.aggregate("wien", "room_temp").dropped == (("a4cf12000002:temperature", "offline"),)

    await firmware.publish("homeassistant/sensor/kitchen/temperature/config", b"", retain=True)
    await eventually(lambda: "a4cf12000002:temperature" not in registry)
    assert "a4cf12000001:temperature" in registry


async def test_tasmota_devices_through_the_broker(stack: Stack, firmware: aiomqtt.Client) -> None:
    registry = stack.registry
    mac = "A4CF12ABCDEF"
    await firmware.publish(
        f"tasmota/discovery/{mac}/config", tasmota_config(mac, "tasmota_ABCDEF", "garage"), retain=True
    )
    sample = json.dumps({"sn": TASMOTA_SAMPLE, "ver": 1})
    await firmware.publish(f"tasmota/discovery/{mac}/sensors", sample, retain=True)
    await firmware.publish("tele/tasmota_ABCDEF/LWT", "Online", retain=True)
    await eventually(lambda: "a4cf12abcdef:ENERGY.Power" in registry and "tele/tasmota_ABCDEF/SENSOR" in
                     stack.connection.subscriptions)  # fmt: skip
    # The SUBSCRIBE of the tele topic goes out in the background: until the broker has it, a reading
    # is not delivered. Tasmota repeats its telemetry (every TelePeriod): so does the test, instead
    # of guessing how long the SUBSCRIBE takes on a loaded machine.
    power = registry.get("a4cf12abcdef:ENERGY.Power")
    deadline = asyncio.get_running_loop().time() + 10.0
    while power is None or power.value != 1500:
        assert asyncio.get_running_loop().time() < deadline, "the telemetry never reached the registry"
        await firmware.publish("tele/tasmota_ABCDEF/SENSOR", tasmota_reading(24.0, 1500))
        for _ in range(20):  # 0.2 s per repetition
            await asyncio.sleep(0.01)
            if (power := registry.get("a4cf12abcdef:ENERGY.Power")) is not None and power.value == 1500:
                break
    assert power is not None and power.unit == "W" and power.role == "grid_power"
    assert power.availability == Availability.ONLINE
    temp = registry.get("a4cf12abcdef:AM2301.Temperature")
    assert temp is not None and temp.unit == "°C" and temp.value == 24.0 and temp.role == "room_temp"

    await firmware.publish("tele/tasmota_ABCDEF/LWT", "Offline", retain=True)
    await eventually(lambda: all(s.availability == Availability.OFFLINE for s in registry.sensors()))
    assert registry.values_for("wien", "grid_power") == []

    await firmware.publish(f"tasmota/discovery/{mac}/config", b"", retain=True)
    await eventually(lambda: len(registry) == 0)


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(messages=st.lists(st.tuples(topics, payloads), min_size=15, max_size=15))
def test_fuzz_through_the_broker(
    messages: list[tuple[str, bytes]], mqtt_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    caplog.set_level(logging.WARNING, logger=DISCOVERY_LOG)
    rejections = Rejections()

    async def scenario() -> None:
        s = Stack(mqtt_broker, rejections)
        await s.connection.start()
        try:
            assert await s.connection.wait_connected(5)
            async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as client:
                for topic, payload in SEED_CONFIGS:
                    await client.publish(topic, payload)
                routed = {"fuzz/status", "fuzz/sensor/temperature/state", "tele/fuzz/SENSOR", "tele/fuzz/LWT"}
                await eventually(lambda: routed <= set(s.connection.subscriptions))
                await asyncio.sleep(0.1)  # the SUBSCRIBEs of the routed topics reach the broker
                for topic, payload in messages:
                    await client.publish(topic, payload)
                await client.publish("phoenyra/sensors/sentinel/done", "1")
                await eventually(lambda: "sentinel:done" in s.registry, timeout=5)
        finally:
            await s.connection.stop()
        assert s.connection.connected is False

    asyncio.run(scenario())
    assert_every_rejection_logged(rejections, caplog.records)


@pytest.fixture(autouse=True)
def _no_leaked_handler_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    errors = [r for r in caplog.records if "MQTT handler for" in r.getMessage()]
    assert not errors, errors
