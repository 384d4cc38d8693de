"""MQTT: one reconnecting connection per broker, sensor discovery (three formats), the registry.

See docs/mqtt.md.  Aggregation of redundant sensors is pure and lives in
``phoenyra_ems.core.sensor_aggregation``.
"""

from __future__ import annotations

from .connection import Handler, LastMessage, LocalBus, MqttConnection, Subscription
from .discovery import DiscoveryConfig, SensorDiscovery
from .registry import (
    AssignmentRule,
    Availability,
    Sensor,
    SensorEvent,
    SensorRegistry,
    SensorSpec,
    sensor_id,
)
from .topics import topic_matches

__all__ = [
    "AssignmentRule",
    "Availability",
    "DiscoveryConfig",
    "Handler",
    "LastMessage",
    "LocalBus",
    "MqttConnection",
    "Sensor",
    "SensorDiscovery",
    "SensorEvent",
    "SensorRegistry",
    "SensorSpec",
    "Subscription",
    "sensor_id",
    "topic_matches",
]
