"""Home Assistant MQTT discovery of a site's own entities (``mqtt.ha_discovery: true``).

Each site publishes one retained config per entity to
``<ha_discovery_prefix>/sensor/phoenyra_<site_id>/<key>/config``: one device per site (the same
identifiers, entities, units and unique ids as the custom integration: ``<instance>_<site>_<key>``),
state from the site's retained telemetry (the API's state JSON), availability from its status
topic (``online`` / ``offline``, the link's birth and last will). openHAB and ioBroker read the same
format. When a site is removed (reload) its configs are replaced by empty retained payloads, which
deletes the entities.

Commands are not offered as MQTT entities: the commands topic takes only HMAC-signed commands
(``mqtt.command_key``, docs/mqtt.md) and Home Assistant's templates cannot sign; control from Home
Assistant goes through the custom integration (API token and roles) or a signing script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from phoenyra_ems import __version__
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.models import SiteStatus


@dataclass(frozen=True, slots=True)
class Entity:
    key: str
    name: str
    value_template: str
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    category: str | None = None  # "diagnostic"
    precision: int | None = None
    options: tuple[str, ...] = ()
    enabled: bool = True


def _energy(field: str) -> str:
    # null until the daemon has read its history file: "None" is Home Assistant's "unknown"
    return f"{{{{ value_json.energy.{field} if value_json.energy else None }}}}"


ENTITIES: tuple[Entity, ...] = (
    Entity("soc", "State of charge", "{{ value_json.soc }}", "%", "battery", "measurement", precision=1),
    Entity(
        "soh",
        "State of health",
        "{{ value_json.soh }}",
        "%",
        None,
        "measurement",
        "diagnostic",
        1,
        enabled=False,
    ),
    Entity(
        "battery_temperature",
        "Battery temperature",
        "{{ value_json.temp_c }}",
        "°C",
        "temperature",
        "measurement",
        "diagnostic",
        1,
    ),
    Entity(
        "battery_power", "Battery power", "{{ value_json.p_bess }}", "kW", "power", "measurement", precision=2
    ),
    Entity("pv_power", "PV power", "{{ value_json.p_pv }}", "kW", "power", "measurement", precision=2),
    Entity("load_power", "Load power", "{{ value_json.p_load }}", "kW", "power", "measurement", precision=2),
    Entity("grid_power", "Grid power", "{{ value_json.p_grid }}", "kW", "power", "measurement", precision=2),
    Entity(
        "energy_charged",
        "Energy charged",
        _energy("charged_kwh"),
        "kWh",
        "energy",
        "total_increasing",
        None,
        3,
    ),
    Entity(
        "energy_discharged",
        "Energy discharged",
        _energy("discharged_kwh"),
        "kWh",
        "energy",
        "total_increasing",
        None,
        3,
    ),
    Entity(
        "energy_imported",
        "Energy imported",
        _energy("imported_kwh"),
        "kWh",
        "energy",
        "total_increasing",
        None,
        3,
    ),
    Entity(
        "energy_exported",
        "Energy exported",
        _energy("exported_kwh"),
        "kWh",
        "energy",
        "total_increasing",
        None,
        3,
    ),
    Entity(
        "price", "Electricity price", "{{ value_json.price }}", "EUR/MWh", None, "measurement", precision=2
    ),
    Entity("strategy", "Active strategy", "{{ value_json.strategy or value_json.mode }}"),
    Entity(
        "status",
        "Status",
        "{{ value_json.status }}",
        None,
        "enum",
        None,
        "diagnostic",
        options=tuple(s.value for s in SiteStatus),
        enabled=False,
    ),
    Entity(
        "active_alarms",
        "Active alarms",
        "{{ value_json.alarms | count }}",
        None,
        None,
        "measurement",
        "diagnostic",
    ),
)


def node_id(site: SiteConfig) -> str:
    return f"phoenyra_{site.site_id}"


def config_topic(site: SiteConfig, entity: Entity) -> str:
    prefix = site.mqtt.ha_discovery_prefix.rstrip("/")
    return f"{prefix}/sensor/{node_id(site)}/{entity.key}/config"


def discovery_configs(site: SiteConfig, instance_id: str) -> dict[str, dict[str, Any]]:
    """Topic -> config payload for every entity of ``site``."""
    topics = site.mqtt_topics
    bess = site.bess
    device = {
        "identifiers": [f"{instance_id}_{site.site_id}"],
        "name": site.name,
        "manufacturer": "Phoenyra",
        "model": f"BESS {bess.energy_capacity_kwh:g} kWh / {bess.power_discharge_max_kw:g} kW",
        "sw_version": __version__,
    }
    configs: dict[str, dict[str, Any]] = {}
    for entity in ENTITIES:
        config: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{instance_id}_{site.site_id}_{entity.key}",
            "state_topic": topics.telemetry,
            "value_template": entity.value_template,
            "availability_topic": topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": {"name": "Phoenyra EMS", "sw_version": __version__},
        }
        optional = {
            "unit_of_measurement": entity.unit,
            "device_class": entity.device_class,
            "state_class": entity.state_class,
            "entity_category": entity.category,
            "suggested_display_precision": entity.precision,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        if entity.options:
            config["options"] = list(entity.options)
        if not entity.enabled:
            config["enabled_by_default"] = False
        configs[config_topic(site, entity)] = config
    return configs


def config_payloads(site: SiteConfig, instance_id: str) -> dict[str, bytes]:
    return {
        topic: json.dumps(config, ensure_ascii=False).encode()
        for topic, config in discovery_configs(site, instance_id).items()
    }
