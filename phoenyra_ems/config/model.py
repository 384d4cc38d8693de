"""Typed configuration of a Phoenyra EMS installation (the result of validation).

The YAML schema lives in ``schema.py``; ``loader.py`` turns a file into an ``EmsConfig``.
Defaults here are the documented defaults (docs/configuration.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from phoenyra_ems.config.community_model import CommunityConfig
from phoenyra_ems.config.vpp_model import VppConfig
from phoenyra_ems.enums import SelectionMode


@dataclass(frozen=True, slots=True)
class Location:
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    timezone: str = "Europe/Vienna"  # IANA name; feed-in time windows are read in this zone


@dataclass(frozen=True, slots=True)
class BessConfig:
    energy_capacity_kwh: float
    power_charge_max_kw: float
    power_discharge_max_kw: float
    efficiency_charge: float = 0.95
    efficiency_discharge: float = 0.95
    soc_min_pct: float = 10.0
    soc_max_pct: float = 90.0
    ramp_rate_kw_per_s: float | None = None  # None: no ramp limit


@dataclass(frozen=True, slots=True)
class ModbusConfig:
    enabled: bool = True
    connection_type: str = "tcp"
    host: str = "127.0.0.1"
    port: int = 502
    unit_id: int = 1
    profile: str = "generic"
    timeout_s: float = 1.0
    retries: int = 0
    setpoint_refresh_s: float = 30.0  # re-assert the setpoint at least this often
    # A device without a revert timer holds a setpoint until told otherwise: the SoC window is
    # kept for this long after the last write if the link is lost (docs/safety.md).
    assumed_hold_s: float = 900.0
    # the device profile's parameters (``parameters:`` in its YAML, e.g. ``power_scale``)
    parameters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MqttTopics:
    """``mqtt.topics``: exact topics instead of the prefix scheme ("" = from the prefix)."""

    telemetry: str = ""
    commands: str = ""
    status: str = ""  # default: ``status`` beside the telemetry topic
    ack: str = ""  # default: ``<commands>/ack``


@dataclass(frozen=True, slots=True)
class SiteTopics:
    """The four topics a site's MQTT link uses, resolved (see ``SiteConfig.mqtt_topics``)."""

    telemetry: str
    commands: str
    status: str
    ack: str


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    topic_prefix: str = ""  # default: phoenyra/site<id>
    telemetry_interval_s: float = 1.0  # at most one retained telemetry message per interval
    commands: bool = True  # accept control commands on <prefix>/commands (signed with command_key)
    command_key: str | None = field(default=None, repr=False)  # HMAC key of signed commands; None: refused
    command_max_age_s: float = 30.0  # a command's ts may differ this much from the EMS clock
    topics: MqttTopics = field(default_factory=MqttTopics)
    ha_discovery: bool = False  # publish Home Assistant MQTT discovery configs (mqtt/ha_publish.py)
    ha_discovery_prefix: str = "homeassistant"


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    pv_peak_power_kw: float = 0.0
    latitude: float | None = None
    longitude: float | None = None
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    enabled: bool = False  # learn load (and PV) forecasts from the site's own history
    retrain_interval_h: float = 24.0
    history_days: float = 365.0  # how much history a retraining reads
    step_s: int = 900  # the forecast's step
    horizon_h: float = 48.0
    weather_source: str = "none"  # none | open-meteo | openweathermap
    openweathermap_api_key: str | None = None


@dataclass(frozen=True, slots=True)
class GridConnectionConfig:
    max_power_kw: float | None = None  # import and export cap at the connection point
    max_export_kw: float | None = None  # defaults to max_power_kw


@dataclass(frozen=True, slots=True)
class FeedinRule:
    start: time
    end: time  # exclusive; a rule with end <= start wraps past midnight
    limit_pct: float


@dataclass(frozen=True, slots=True)
class FeedinLimitationConfig:
    enabled: bool = False
    mode: str = "fixed"  # fixed | dynamic
    fixed_limit_pct: float = 70.0  # % of forecast.pv_peak_power_kw
    dynamic_rules: tuple[FeedinRule, ...] = ()


@dataclass(frozen=True, slots=True)
class GridTariffConfig:
    energy_price_markup_eur_mwh: float = 0.0  # grid fees and taxes on top of day-ahead
    feedin_tariff_eur_mwh: float = 0.0
    # fixed: exports earn feedin_tariff_eur_mwh; spot: the day-ahead price plus feedin_tariff_eur_mwh
    feedin_pricing: str = "fixed"

    def buy_eur_mwh(self, day_ahead: float) -> float:
        return day_ahead + self.energy_price_markup_eur_mwh

    def sell_eur_mwh(self, day_ahead: float) -> float:
        if self.feedin_pricing == "spot":
            return day_ahead + self.feedin_tariff_eur_mwh
        return self.feedin_tariff_eur_mwh

    demand_charge_eur_kw_month: float = 0.0
    peak_import_cap_kw: float | None = None  # peak-shaving target


# The strategies a site can name (``ems.strategies``): the one list. ``core.strategies`` maps each
# rule-based name to its class (and checks at import that the two agree); the optimiser is the last.
RULE_STRATEGIES = ("arbitrage", "peak_shaving", "self_consumption", "load_balancing")
OPTIMISER = "optimiser"
STRATEGY_NAMES = (*RULE_STRATEGIES, OPTIMISER)

# The present's carry (docs/optimiser.md "The present's carry"). Load: chosen on the real 15-min
# load of the VDI 4657 single-family house (bench/present_persistence.py). PV: chosen by money on
# the household's first half of 2024 at 15 min among 0 / 0.5 / 2 / 4 h; the second half and the
# year are reported, not tuned on.
PRESENT_DECAY_H = 0.5
PV_PRESENT_DECAY_H = 2.0


@dataclass(frozen=True, slots=True)
class EmsSettings:
    cycle_s: float = 1.0
    strategies: tuple[str, ...] = RULE_STRATEGIES
    default_strategy: str = "self_consumption"
    selection_hysteresis: float = 0.1  # a challenger must beat the incumbent's score by this
    min_strategy_dwell_s: float = 900.0
    history_dir: str = "data"
    history_retention_days: int = 365
    price_source: str = "simulator"  # simulator | file | none
    price_file: str | None = None
    comm_timeout_cycles: int = 1  # cycles without a reading before the safe state
    soc_missing_cycles: int = 3  # cycles with a "not available" SoC before the safe state
    history_flush_s: float = 2.0  # buffered history rows are written at least this often
    # The optimiser strategy (docs/optimiser.md)
    planning_step_s: float = 900.0  # plan step and replanning interval
    planning_horizon_h: float = 48.0  # capped by the forecasts and prices at hand
    plan_execution: str = "value"  # value | grid | battery (docs/optimiser.md)
    plan_replan_soc_pct: float = 5.0  # replan at once when the SoC strays this far from the plan
    wear_cost_eur_kwh: float = 0.0  # battery wear per kWh charged and per kWh discharged
    # the measured present's departure from the forecast fades over the next steps: exp(-lead / this)
    plan_present_decay_h: float = PRESENT_DECAY_H  # load (as a difference)
    plan_pv_present_decay_h: float = PV_PRESENT_DECAY_H  # PV (as a ratio)


# --- AI strategy selection (issue 13, docs/ai-selection.md) --------------------------------------
SELECTION_MODES = tuple(m.value for m in SelectionMode)  # auto | score | ai | fixed


@dataclass(frozen=True, slots=True)
class ABTestConfig:
    enabled: bool = False
    split: str = "alternate_days"  # the only split: even local days (ordinal) AI, odd days score


@dataclass(frozen=True, slots=True)
class AISelectionConfig:
    enabled: bool = False
    training_data_days: int = 30
    retrain_interval_days: int = 7
    min_samples: int = 100
    min_confidence: float = 0.5
    window_h: float = 1.0  # one decision per window; labels replay each strategy over it
    label_tail_h: float = 24.0  # then self-consumption this long, so later consequences count
    ab_test: ABTestConfig = field(default_factory=ABTestConfig)


@dataclass(frozen=True, slots=True)
class StrategySelectionConfig:
    """``auto``: the AI when enabled and trained, else scores; ``score``; ``ai`` (scores until
    trained); ``fixed``: always ``ems.default_strategy``."""

    selection_mode: str = "auto"
    ai_selection: AISelectionConfig = field(default_factory=AISelectionConfig)

    @property
    def uses_ai(self) -> bool:
        return self.selection_mode == "ai" or (self.selection_mode == "auto" and self.ai_selection.enabled)


@dataclass(frozen=True, slots=True)
class SiteConfig:
    site_id: str
    name: str
    bess: BessConfig
    location: Location = field(default_factory=Location)
    modbus: ModbusConfig = field(default_factory=ModbusConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    grid_connection: GridConnectionConfig = field(default_factory=GridConnectionConfig)
    feedin_limitation: FeedinLimitationConfig = field(default_factory=FeedinLimitationConfig)
    grid_tariffs: GridTariffConfig = field(default_factory=GridTariffConfig)
    ems: EmsSettings = field(default_factory=EmsSettings)
    strategy: StrategySelectionConfig = field(default_factory=StrategySelectionConfig)
    vpp: VppConfig = field(default_factory=VppConfig)  # VPP participation (docs/vpp.md)

    @property
    def coordinates(self) -> tuple[float, float] | None:
        """Where the PV array is: forecast.latitude/longitude, else the location's; None if unknown."""
        latitude = self.forecast.latitude if self.forecast.latitude is not None else self.location.latitude
        longitude = (
            self.forecast.longitude if self.forecast.longitude is not None else self.location.longitude
        )
        return None if latitude is None or longitude is None else (latitude, longitude)

    @property
    def mqtt_topics(self) -> SiteTopics:
        """Where the site's MQTT link publishes and listens: ``mqtt.topics`` where given, else
        ``<prefix>/telemetry``, ``<prefix>/commands``, ``<prefix>/status``, ``<commands>/ack`` with
        the prefix ``mqtt.topic_prefix`` (default ``phoenyra/site<id>``)."""
        mqtt = self.mqtt
        prefix = mqtt.topic_prefix.rstrip("/") or f"phoenyra/site{self.site_id}"
        telemetry = mqtt.topics.telemetry or f"{prefix}/telemetry"
        commands = mqtt.topics.commands or f"{prefix}/commands"
        if mqtt.topics.status:
            status = mqtt.topics.status
        elif mqtt.topics.telemetry:
            parent, slash, _ = telemetry.rpartition("/")
            status = f"{parent}/status" if slash else f"{telemetry}/status"
        else:
            status = f"{prefix}/status"
        return SiteTopics(telemetry, commands, status, mqtt.topics.ack or f"{commands}/ack")


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: str | None = None
    tls_key: str | None = None
    auth_db: str = "data/auth.db"  # users, hashed tokens, site grants (SQLite)
    ws_max_rate_hz: float = 2.0  # state pushes per site and subscriber, at most
    max_connections: int = 256  # open HTTP/WebSocket connections, at most (docs/api.md)
    header_timeout_s: float = 10.0  # to send complete request headers (also after a response)
    login_max_failures: int = 5  # failed logins per client address and window, then 429
    login_failure_window_s: float = 60.0
    zeroconf: bool = True  # announce the API over mDNS as _phoenyra._tcp (api/announce.py)


@dataclass(frozen=True, slots=True)
class SensorRuleConfig:
    """Assign discovered sensors to a site and a role (first matching rule wins)."""

    site: str
    role: str
    device: str | None = None  # glob on the device key (MAC) or name
    topic: str | None = None  # MQTT filter or glob on the state topic
    sensor: str | None = None  # glob on the sensor id / object id
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class SensorRoleConfig:
    method: str | None = None  # avg | max | min | weighted_avg | sum; None: by type (``method_for``)
    outlier_min_deviation: float = 0.0  # readings this close to the median are never outliers


SENSOR_TYPES = (
    "temperature",
    "humidity",
    "power",
    "energy",
    "voltage",
    "current",
    "frequency",
    "soc",
    "other",
)


@dataclass(frozen=True, slots=True)
class ExplicitSensorConfig:
    """One sensor listed in ``sensors.sensors`` (the product plan's format)."""

    id: str
    type: str  # one of SENSOR_TYPES; chooses the aggregation method (``aggregation.<type>_method``)
    site: str
    source: str  # mqtt | modbus
    topic: str | None = None  # source mqtt: the state topic (a plain number or JSON)
    value_path: str | None = None  # JSON: dotted path to the value, e.g. "sensor.temperature"
    role: str | None = None  # default: the type; battery_room_temperature / grid_power feed control
    weight: float = 1.0
    unit: str | None = None  # source modbus with a named register: the profile's unit if not given
    expire_after_s: float | None = None  # None: sensors.default_expire_after_s
    # source modbus: a named register of the site's device profile (str) or an address (int) read
    # as ``raw * scale`` of ``data_type`` from ``table``; every ``interval_s`` on the site's endpoint
    register: str | int | None = None
    table: str = "holding"
    data_type: str = "uint16"
    scale: float = 1.0
    word_order: str = "big"
    interval_s: float = 30.0

    @property
    def sensor_role(self) -> str:
        return self.role or self.type


@dataclass(frozen=True, slots=True)
class SensorsConfig:
    """Edge sensors discovered on an MQTT broker (docs/mqtt.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    native: bool = True  # phoenyra/sensors/<device>/<type>
    home_assistant: bool = True  # <ha_prefix>/<component>/[<node>/]<object>/config (ESPHome, Tasmota)
    ha_prefix: str = "homeassistant"
    tasmota: bool = True  # tasmota/discovery/<MAC>/config + /sensors
    default_expire_after_s: float | None = 300.0
    rules: tuple[SensorRuleConfig, ...] = ()
    roles: dict[str, SensorRoleConfig] = field(default_factory=dict)
    room_temp_derate_above_c: float = 40.0  # battery_room_temperature above this derates power
    sensors: tuple[ExplicitSensorConfig, ...] = ()  # listed explicitly (plan format), beside discovery
    aggregation: dict[str, str] = field(default_factory=dict)  # sensor type -> method

    def method_for(self, role: str) -> str:
        """The aggregation method of a role: ``roles.<role>.method``, else ``aggregation`` by the
        role's sensor type, else ``max`` for the battery room temperature and ``avg`` otherwise."""
        spec = self.roles.get(role)
        if spec is not None and spec.method is not None:
            return spec.method
        kind = role_type(role, self.sensors)
        if kind in self.aggregation:
            return self.aggregation[kind]
        if spec is None and role == "battery_room_temperature":
            return "max"
        return "avg"  # also for a role listed in ``roles`` without a method (as before)


def role_type(role: str, sensors: tuple[ExplicitSensorConfig, ...] = ()) -> str | None:
    """The sensor type of a role: that of its listed sensors, else read from its name
    (``temperature``, ``battery_room_temperature``, ``grid_power`` …)."""
    for sensor in sensors:
        if sensor.sensor_role == role:
            return sensor.type
    for kind in SENSOR_TYPES:
        if role == kind or role.endswith(f"_{kind}"):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class EmsConfig:
    sites: dict[str, SiteConfig]
    default_site_id: str
    api: ApiConfig = field(default_factory=ApiConfig)
    sensors: SensorsConfig = field(default_factory=SensorsConfig)
    source: str | None = None  # file the config came from
    community: CommunityConfig | None = None  # energy sharing (docs/community.md)
