"""The site sections of the configuration (``bess:``, ``modbus:``, ``ems:`` ...) and one site as a whole."""

from __future__ import annotations

import importlib.util
from collections.abc import Hashable, Iterator
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.model import (
    STRATEGY_NAMES,
    ApiConfig,
    BessConfig,
    EmsSettings,
    FeedinLimitationConfig,
    FeedinRule,
    ForecastConfig,
    GridConnectionConfig,
    GridTariffConfig,
    Location,
    ModbusConfig,
    SiteConfig,
)
from phoenyra_ems.config.mqtt_schema import (
    MQTT,
)
from phoenyra_ems.config.selection_schema import STRATEGY_SELECTION
from phoenyra_ems.config.validators import (
    PCT,
    PORT,
    POSITIVE,
    SLUG_RE,
    Validator,
    _fmt,
    boolean,
    integer,
    list_of,
    mapping,
    number,
    one_of,
    optional,
    rule_time,
    section,
    string,
    text,
    timezone,
)
from phoenyra_ems.config.vpp_schema import VPP
from phoenyra_ems.profiles import catalog

STRATEGIES = STRATEGY_NAMES  # the one list, in config.model
SITE_SECTIONS = (
    "location",
    "bess",
    "modbus",
    "mqtt",
    "forecast",
    "grid_connection",
    "feedin_limitation",
    "grid_tariffs",
    "ems",
)


def profile(value: Any) -> str:
    """A device profile shipped in ``phoenyra_ems/profiles``."""
    known = catalog.known_profiles()
    if isinstance(value, str) and value in known:
        return value
    listed = ", ".join(known) if known else "(none installed)"
    raise vol.Invalid(
        f"unknown device profile {value!r}; known profiles: {listed} "
        "(to add one, see docs/device-profiles.md)"
    )


def site_id(value: Any) -> str:
    """A site id: a non-negative int or a slug ``[a-z0-9_-]+``; normalised to str."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and SLUG_RE.fullmatch(value):
        if value in RESERVED_SITE_IDS:
            raise vol.Invalid(f"site id {value!r} is reserved (it is an API path: /api/v1/sites/{value})")
        return value
    raise vol.Invalid(f"invalid site id {value!r}: use a number or lowercase letters, digits, '_' and '-'")


RESERVED_SITE_IDS = frozenset({"aggregated"})


# --- sections ----------------------------------------------------------------------------


def _check_bess(bess: BessConfig) -> Iterator[vol.Invalid]:
    if bess.soc_min_pct >= bess.soc_max_pct:
        yield vol.Invalid(
            f"soc_min_pct ({_fmt(bess.soc_min_pct)}) must be below soc_max_pct ({_fmt(bess.soc_max_pct)})",
            path=["soc_min_pct"],
        )


def _check_grid(grid: GridConnectionConfig) -> Iterator[vol.Invalid]:
    if (
        grid.max_power_kw is not None
        and grid.max_export_kw is not None
        and grid.max_export_kw > grid.max_power_kw
    ):
        yield vol.Invalid("max_export_kw must not exceed max_power_kw", path=["max_export_kw"])


def _check_feedin(feedin: FeedinLimitationConfig) -> Iterator[vol.Invalid]:
    if feedin.mode == "dynamic" and not feedin.dynamic_rules:
        yield vol.Invalid("mode 'dynamic' needs at least one rule", path=["dynamic_rules"])


FORECAST_STEPS_S = (300, 900, 1800, 3600)


def _forecast_step(value: Any) -> int:
    step: int = integer()(value)
    if step not in FORECAST_STEPS_S:
        raise vol.Invalid(f"step_s must be one of {', '.join(map(str, FORECAST_STEPS_S))}")
    return step


def _check_forecast(forecast: ForecastConfig) -> Iterator[vol.Invalid]:
    if forecast.weather_source == "openweathermap" and not forecast.openweathermap_api_key:
        yield vol.Invalid(
            "weather_source 'openweathermap' needs openweathermap_api_key", path=["openweathermap_api_key"]
        )


def _check_ems(ems: EmsSettings) -> Iterator[vol.Invalid]:
    if ems.default_strategy not in ems.strategies:
        yield vol.Invalid(
            f"default_strategy {ems.default_strategy!r} is not in strategies ({', '.join(ems.strategies)})",
            path=["default_strategy"],
        )
    if ems.price_source == "file" and not ems.price_file:
        yield vol.Invalid("price_source 'file' needs price_file", path=["price_file"])
    missing = missing_optimiser_modules() if "optimiser" in ems.strategies else []
    if missing:
        yield vol.Invalid(
            f"strategy 'optimiser' needs {' and '.join(missing)}, not installed: "
            "pip install 'phoenyra-ems[server]' (or remove optimiser from strategies)",
            path=["strategies"],
        )


def missing_optimiser_modules() -> list[str]:
    """What the optimiser strategy needs (the LP on HiGHS) and this Python lacks; not imported here."""
    return [name for name in ("numpy", "scipy") if importlib.util.find_spec(name) is None]


def _check_modbus(modbus: ModbusConfig) -> Iterator[vol.Invalid]:
    if not modbus.enabled:
        yield vol.Invalid(
            "false is not supported: a site is controlled through its Modbus device "
            "(remove the site, or the key)",
            path=["enabled"],
        )
    if modbus.parameters:
        from phoenyra_ems.profiles.loader import ProfileError, apply_parameters, load_profile

        profile = load_profile(modbus.profile)
        for name, value in modbus.parameters.items():
            try:
                apply_parameters(profile, {name: value})
            except ProfileError as err:
                yield vol.Invalid(str(err), path=["parameters", name])


def _profile_parameters(value: Any) -> dict[str, float]:
    """``modbus.parameters``: parameter name -> positive number (checked against the profile)."""
    out: dict[str, float] = {}
    for key, item in mapping(value).items():
        try:
            out[string(key)] = POSITIVE(item)
        except vol.Invalid as err:
            raise vol.Invalid(err.msg, path=[key]) from err
    return out


def _check_api(api: ApiConfig) -> Iterator[vol.Invalid]:
    if (api.tls_cert is None) != (api.tls_key is None):
        missing = "tls_key" if api.tls_key is None else "tls_cert"
        yield vol.Invalid("tls_cert and tls_key must be given together", path=[missing])


def _build_rule(**fields: Any) -> FeedinRule:
    start, end = fields["time"]
    return FeedinRule(start=start, end=end, limit_pct=fields["limit_pct"])


LOCATION = section(
    {
        vol.Optional("city"): text,
        vol.Optional("latitude"): optional(number(ge=-90, le=90)),
        vol.Optional("longitude"): optional(number(ge=-180, le=180)),
        vol.Optional("timezone"): timezone,
    },
    Location,
)

BESS = section(
    {
        vol.Required("energy_capacity_kwh"): POSITIVE,
        vol.Required("power_charge_max_kw"): POSITIVE,
        vol.Required("power_discharge_max_kw"): POSITIVE,
        vol.Optional("efficiency_charge"): number(gt=0, le=1),
        vol.Optional("efficiency_discharge"): number(gt=0, le=1),
        vol.Optional("soc_min_pct"): PCT,
        vol.Optional("soc_max_pct"): PCT,
        vol.Optional("ramp_rate_kw_per_s"): optional(POSITIVE),
    },
    BessConfig,
    [_check_bess],
)


def _build_modbus(**fields: Any) -> ModbusConfig:
    """Without ``unit_id`` the device profile's own (``unit_id:`` in its YAML) applies."""
    if "unit_id" not in fields:
        from phoenyra_ems.profiles.loader import load_profile  # yaml only, no I/O library

        fields["unit_id"] = load_profile(fields.get("profile", ModbusConfig().profile)).unit_id
    return ModbusConfig(**fields)


MODBUS = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("connection_type"): one_of(["tcp"], "connection_type"),
        vol.Optional("host"): string,
        vol.Optional("port"): PORT,
        vol.Optional("unit_id"): integer(ge=0, le=247),
        vol.Optional("profile"): profile,
        vol.Optional("timeout_s"): POSITIVE,
        vol.Optional("retries"): integer(ge=0),
        vol.Optional("setpoint_refresh_s"): POSITIVE,
        vol.Optional("assumed_hold_s"): POSITIVE,
        vol.Optional("parameters"): _profile_parameters,
    },
    _build_modbus,
    [_check_modbus],
)


FORECAST = section(
    {
        vol.Optional("pv_peak_power_kw"): number(ge=0),
        vol.Optional("latitude"): optional(number(ge=-90, le=90)),
        vol.Optional("longitude"): optional(number(ge=-180, le=180)),
        vol.Optional("tilt_deg"): number(ge=0, le=90),
        vol.Optional("azimuth_deg"): number(ge=0, le=360),
        vol.Optional("enabled"): boolean,
        vol.Optional("retrain_interval_h"): number(gt=0),
        vol.Optional("history_days"): number(ge=1),
        vol.Optional("step_s"): _forecast_step,
        vol.Optional("horizon_h"): number(gt=0, le=48),  # the models are trained for 48 h
        vol.Optional("weather_source"): one_of(["none", "open-meteo", "openweathermap"], "weather_source"),
        vol.Optional("openweathermap_api_key"): optional(text),
    },
    ForecastConfig,
    [_check_forecast],
)

GRID_CONNECTION = section(
    {
        vol.Optional("max_power_kw"): optional(POSITIVE),
        vol.Optional("max_export_kw"): optional(number(ge=0)),
    },
    GridConnectionConfig,
    [_check_grid],
)

FEEDIN_RULE = section(
    {vol.Required("time"): rule_time, vol.Required("limit_pct"): PCT},
    _build_rule,
)

FEEDIN_LIMITATION = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("mode"): one_of(["fixed", "dynamic"], "mode"),
        vol.Optional("fixed_limit_pct"): PCT,
        vol.Optional("dynamic_rules"): list_of(FEEDIN_RULE),
    },
    FeedinLimitationConfig,
    [_check_feedin],
)

GRID_TARIFFS = section(
    {
        vol.Optional("energy_price_markup_eur_mwh"): number(),
        vol.Optional("feedin_tariff_eur_mwh"): number(),
        vol.Optional("feedin_pricing"): one_of(["fixed", "spot"], "feedin_pricing"),
        vol.Optional("demand_charge_eur_kw_month"): number(ge=0),
        vol.Optional("peak_import_cap_kw"): optional(POSITIVE),
    },
    GridTariffConfig,
)


def _strategies(value: Any) -> tuple[str, ...]:
    result: tuple[str, ...] = list_of(one_of(STRATEGIES, "strategy"), unique=True)(value)
    if not result:
        raise vol.Invalid("at least one strategy is required")
    return result


EMS = section(
    {
        vol.Optional("cycle_s"): POSITIVE,
        vol.Optional("strategies"): _strategies,
        vol.Optional("default_strategy"): one_of(STRATEGIES, "strategy"),
        vol.Optional("selection_hysteresis"): number(ge=0),
        vol.Optional("min_strategy_dwell_s"): number(ge=0),
        vol.Optional("history_dir"): string,
        vol.Optional("history_retention_days"): integer(ge=1),
        vol.Optional("price_source"): one_of(["simulator", "file", "none"], "price_source"),
        vol.Optional("price_file"): optional(string),
        vol.Optional("comm_timeout_cycles"): integer(ge=1),
        vol.Optional("soc_missing_cycles"): integer(ge=1, le=60),
        vol.Optional("history_flush_s"): number(gt=0, le=5),
        vol.Optional("planning_step_s"): number(ge=60, le=3600),
        vol.Optional("planning_horizon_h"): number(ge=1, le=168),
        vol.Optional("plan_execution"): one_of(["grid", "battery", "value"], "plan_execution"),
        vol.Optional("plan_replan_soc_pct"): number(gt=0, le=100),
        vol.Optional("wear_cost_eur_kwh"): number(ge=0),
        vol.Optional("plan_present_decay_h"): number(ge=0, le=24),
        vol.Optional("plan_pv_present_decay_h"): number(ge=0, le=24),
    },
    EmsSettings,
    [_check_ems],
)

API = section(
    {
        vol.Optional("host"): string,
        vol.Optional("port"): PORT,
        vol.Optional("tls_cert"): optional(string),
        vol.Optional("tls_key"): optional(string),
        vol.Optional("auth_db"): string,
        vol.Optional("ws_max_rate_hz"): POSITIVE,
        vol.Optional("max_connections"): integer(ge=1),
        vol.Optional("header_timeout_s"): POSITIVE,
        vol.Optional("login_max_failures"): integer(ge=1),
        vol.Optional("login_failure_window_s"): POSITIVE,
        vol.Optional("zeroconf"): boolean,
    },
    ApiConfig,
    [_check_api],
)


SITE_FIELDS: dict[Any, Validator] = {
    vol.Optional("name"): string,
    vol.Optional("location"): LOCATION,
    vol.Required("bess"): BESS,
    vol.Optional("modbus"): MODBUS,
    vol.Optional("mqtt"): MQTT,
    vol.Optional("forecast"): FORECAST,
    vol.Optional("grid_connection"): GRID_CONNECTION,
    vol.Optional("feedin_limitation"): FEEDIN_LIMITATION,
    vol.Optional("grid_tariffs"): GRID_TARIFFS,
    vol.Optional("ems"): EMS,
}
SITE_FIELDS[vol.Optional("strategy")] = STRATEGY_SELECTION
SITE_FIELDS[vol.Optional("vpp")] = VPP
_SITE = section(SITE_FIELDS)


def _check_site_topics(site: SiteConfig) -> Iterator[vol.Invalid]:
    """The four topics of a site's link are four different topics (as resolved)."""
    resolved = site.mqtt_topics
    seen: dict[str, str] = {}
    for name in ("telemetry", "commands", "status", "ack"):
        topic = getattr(resolved, name)
        if topic in seen:
            path: list[Hashable] = (
                ["mqtt", "topics", name] if getattr(site.mqtt.topics, name) else ["mqtt", "topics"]
            )
            yield vol.Invalid(f"{topic!r} is also this site's {seen[topic]} topic", path=path)
        else:
            seen[topic] = name


def _check_site(site: SiteConfig) -> Iterator[vol.Invalid]:
    yield from _check_site_topics(site)
    if site.forecast.weather_source != "none" and site.coordinates is None:
        yield vol.Invalid(
            f"weather_source {site.forecast.weather_source!r} needs forecast.latitude/longitude "
            "or location.latitude/longitude",
            path=["forecast", "weather_source"],
        )
    if site.feedin_limitation.enabled and site.forecast.pv_peak_power_kw <= 0:
        yield vol.Invalid(
            "feed-in limitation needs forecast.pv_peak_power_kw > 0 (limits are % of PV peak)",
            path=["feedin_limitation", "enabled"],
        )


def validate_site(sid: str, value: Any) -> SiteConfig:
    """One site's mapping -> ``SiteConfig``; errors carry paths relative to the site."""
    fields = _SITE(value)
    site = SiteConfig(site_id=sid, name=fields.pop("name", sid), **fields)
    errors = list(_check_site(site))
    if errors:
        raise vol.MultipleInvalid(errors)
    return site
