"""Sensor auto-discovery: Phoenyra's own format, Home Assistant discovery, Tasmota native discovery.

``SensorDiscovery(registry, connection).attach()`` subscribes what the enabled formats need; each
format subscribes the state and availability topics its discovered sensors name.  Every malformed
message is logged at WARNING with its topic (at most once per topic and minute) and dropped —
no handler ever raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..registry import SensorRegistry
from .common import MAX_PAYLOAD_BYTES, Rejections, Subscriber
from .ha import HaDiscovery
from .native import NativeDiscovery
from .tasmota import TasmotaDiscovery
from .templates import TemplateError, compile_template

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "DiscoveryConfig",
    "HaDiscovery",
    "NativeDiscovery",
    "Rejections",
    "SensorDiscovery",
    "Subscriber",
    "TasmotaDiscovery",
    "TemplateError",
    "compile_template",
]


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    native: bool = True
    native_prefix: str = "phoenyra/sensors"
    home_assistant: bool = True
    ha_prefix: str = "homeassistant"
    tasmota: bool = True
    tasmota_prefix: str = "tasmota/discovery"


class SensorDiscovery:
    """The enabled formats, all feeding one registry through one connection."""

    def __init__(
        self,
        registry: SensorRegistry,
        subscriber: Subscriber,
        config: DiscoveryConfig = DiscoveryConfig(),
        *,
        rejections: Rejections | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.config = config
        self.rejections = rejections or Rejections()
        self.native = (
            NativeDiscovery(registry, subscriber, self.rejections, config.native_prefix, wall_clock)
            if config.native
            else None
        )
        self.ha = (
            HaDiscovery(registry, subscriber, self.rejections, config.ha_prefix)
            if config.home_assistant
            else None
        )
        self.tasmota = (
            TasmotaDiscovery(registry, subscriber, self.rejections, config.tasmota_prefix)
            if config.tasmota
            else None
        )

    @property
    def filters(self) -> list[str]:
        """The wildcard filters ``attach`` subscribes."""
        return [f for h in (self.native, self.ha, self.tasmota) if h is not None for f in h.filters]

    def attach(self) -> None:
        for handler in (self.native, self.ha, self.tasmota):
            if handler is not None:
                handler.attach()

    @property
    def rejected(self) -> int:
        """Messages rejected so far (each logged, rate-limited per topic)."""
        return self.rejections.count
