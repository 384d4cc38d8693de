"""Configuration loading: both formats, secrets, env vars, error paths + lines, check-config."""

from __future__ import annotations

import io
import textwrap
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.config import ConfigError, ConfigIssue, load_config, load_config_text
from phoenyra_ems.config.check import check_config_main
from phoenyra_ems.config.model import (
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
    MqttConfig,
    SiteTopics,
)
from phoenyra_ems.profiles import catalog

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(text: str, **kwargs: Any) -> Any:
    return load_config_text(textwrap.dedent(text), **kwargs)


def issues_of(text: str, **kwargs: Any) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load(text, **kwargs)
    assert info.value.issues, "ConfigError without issues"
    return info.value.issues


MINIMAL_MULTI = """\
sites:
  sites:
    wien:
      bess:
        energy_capacity_kwh: 200
        power_charge_max_kw: 100
        power_discharge_max_kw: 80
"""


# --- valid configs ------------------------------------------------------------------------


def test_minimal_multi_site_uses_model_defaults() -> None:
    cfg = load(MINIMAL_MULTI, source="mem.yaml")
    assert cfg.default_site_id == "wien"
    assert cfg.source == "mem.yaml"
    assert cfg.api == ApiConfig()
    site = cfg.sites["wien"]
    assert site.site_id == "wien"
    assert site.name == "wien"
    assert site.bess == BessConfig(200.0, 100.0, 80.0)
    assert site.location == Location()
    assert site.modbus == ModbusConfig()
    assert site.mqtt == MqttConfig()
    assert site.forecast == ForecastConfig()
    assert site.grid_connection == GridConnectionConfig()
    assert site.feedin_limitation == FeedinLimitationConfig()
    assert site.grid_tariffs == GridTariffConfig()
    assert site.ems == EmsSettings()


def test_example_multi_site() -> None:
    cfg = load_config(EXAMPLES / "ems.yaml")
    assert cfg.source == str(EXAMPLES / "ems.yaml")
    assert list(cfg.sites) == ["wien", "linz"]
    assert cfg.default_site_id == "wien"
    assert cfg.api == ApiConfig(host="127.0.0.1", port=8080)
    wien, linz = cfg.sites["wien"], cfg.sites["linz"]
    assert wien.name == "Wien" and linz.name == "Linz"
    assert wien.bess == BessConfig(200, 100, 100, 0.95, 0.95, 10, 90)
    assert (wien.modbus.host, wien.modbus.port, wien.modbus.profile) == ("127.0.0.1", 5020, "generic")
    assert wien.forecast.pv_peak_power_kw == 120
    assert wien.grid_connection.max_power_kw == 150
    assert wien.feedin_limitation == FeedinLimitationConfig(enabled=True, mode="fixed", fixed_limit_pct=70)
    assert wien.grid_tariffs.peak_import_cap_kw == 80
    assert wien.ems.cycle_s == 1.0
    assert linz.bess.energy_capacity_kwh == 300 and linz.bess.power_charge_max_kw == 150
    assert (linz.modbus.port, linz.modbus.profile) == (5021, "sungrow_sh")
    assert linz.forecast.pv_peak_power_kw == 180
    assert linz.grid_connection.max_power_kw == 250
    assert linz.feedin_limitation.mode == "dynamic"
    assert linz.feedin_limitation.dynamic_rules == (
        FeedinRule(time(10), time(16), 50.0),
        FeedinRule(time(16), time(10), 100.0),
    )
    assert linz.location.latitude == pytest.approx(48.3069)
    assert linz.location.timezone == "Europe/Vienna"


def test_example_single_site() -> None:
    cfg = load_config(EXAMPLES / "single-site.yaml")
    assert list(cfg.sites) == ["1"] and cfg.default_site_id == "1"
    site = cfg.sites["1"]
    assert site.bess.energy_capacity_kwh == 10
    assert site.bess.power_charge_max_kw == site.bess.power_discharge_max_kw == 5
    assert (site.modbus.host, site.modbus.port) == ("127.0.0.1", 5020)


@pytest.mark.parametrize("name", ["ems.yaml", "single-site.yaml"])
def test_examples_use_shipped_profiles(name: str) -> None:
    load_config(EXAMPLES / name)


def test_single_site_format() -> None:
    cfg = load(
        """\
        bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
        modbus: {host: 10.0.0.5, port: 1502, unit_id: 3}
        ems: {strategies: [arbitrage], default_strategy: arbitrage, cycle_s: 2}
        api: {port: 9000}
        """
    )
    site = cfg.sites["1"]
    assert site.name == "1"
    assert site.modbus == ModbusConfig(host="10.0.0.5", port=1502, unit_id=3)
    assert site.ems.strategies == ("arbitrage",) and site.ems.cycle_s == 2.0
    assert cfg.api.port == 9000


def test_the_profile_states_the_default_unit_id() -> None:
    """A Victron GX answers as unit 100 (its profile's ``unit_id``) unless the site says otherwise."""
    base = "bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
    victron = load(base + "modbus: {profile: victron_gx}\n").sites["1"].modbus
    assert victron.unit_id == 100
    assert load(base + "modbus: {profile: victron_gx, unit_id: 7}\n").sites["1"].modbus.unit_id == 7
    assert load(base + "modbus: {profile: generic}\n").sites["1"].modbus.unit_id == 1


def test_int_site_ids_are_strings_and_default_site() -> None:
    cfg = load(
        """\
        sites:
          default_site_id: 2
          sites:
            1: {bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}}
            2:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus: {port: 5021}
        """
    )
    assert list(cfg.sites) == ["1", "2"]
    assert cfg.default_site_id == "2"
    assert cfg.sites["2"].site_id == "2"


def test_empty_sections_mean_defaults() -> None:
    cfg = load(MINIMAL_MULTI + "      mqtt:\n      ems:\n")
    assert cfg.sites["wien"].mqtt == MqttConfig()
    assert cfg.sites["wien"].ems == EmsSettings()


def test_secret(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("mqtt_password: hunter2\nmqtt_user: 1234\n")
    path = tmp_path / "ems.yaml"
    path.write_text(
        MINIMAL_MULTI
        + "      mqtt:\n        username: !secret mqtt_user\n        password: !secret mqtt_password\n"
    )
    mqtt = load_config(path).sites["wien"].mqtt
    assert (mqtt.username, mqtt.password) == ("1234", "hunter2")


def test_mqtt_command_key_from_secrets_and_its_window(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("wien_command_key: 7f3a9c0e5b2d4f61a8c9e0d1\n")
    path = tmp_path / "ems.yaml"
    path.write_text(
        MINIMAL_MULTI
        + "      mqtt:\n        enabled: true\n        command_key: !secret wien_command_key\n"
        + "        command_max_age_s: 10\n"
    )
    mqtt = load_config(path).sites["wien"].mqtt
    assert (mqtt.command_key, mqtt.command_max_age_s) == ("7f3a9c0e5b2d4f61a8c9e0d1", 10.0)
    assert "7f3a9c0e" not in repr(mqtt)  # never in a logged config
    out = io.StringIO()
    assert check_config_main(str(path), out=out, err=io.StringIO()) == 0
    assert "note:" not in out.getvalue()


@pytest.mark.parametrize(
    ("mqtt", "key", "fragment"),
    [
        ("{command_key: short}", "command_key", "at least 16 characters"),
        ("{command_key: 12345678901234567890}", "command_key", "expected a string"),
        ("{command_max_age_s: 0}", "command_max_age_s", "at least 1"),
        ("{command_max_age_s: 86400}", "command_max_age_s", "at most 3600"),
    ],
)
def test_bad_mqtt_command_settings_name_the_key(mqtt: str, key: str, fragment: str) -> None:
    (issue,) = issues_of(MINIMAL_MULTI + f"      mqtt: {mqtt}\n")
    assert issue.path == f"sites.sites.wien.mqtt.{key}" and fragment in issue.message, issue


def test_check_config_notes_mqtt_commands_without_a_key(tmp_path: Path) -> None:
    path = tmp_path / "ems.yaml"
    path.write_text(MINIMAL_MULTI + "      mqtt: {enabled: true}\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_config_main(str(path), out=out, err=err) == 0  # telemetry still works
    assert "note: site wien: MQTT commands will be refused: set mqtt.command_key" in out.getvalue()
    path.write_text(MINIMAL_MULTI + "      mqtt: {enabled: true, commands: false}\n")
    out = io.StringIO()
    assert check_config_main(str(path), out=out, err=err) == 0
    assert "note:" not in out.getvalue()


def test_missing_secret_names_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("other: x\n")
    path = tmp_path / "ems.yaml"
    path.write_text(MINIMAL_MULTI + "      mqtt:\n        password: !secret mqtt_password\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.path == "sites.sites.wien.mqtt.password"
    assert issue.line == 9
    assert "mqtt_password" in issue.message
    assert str(issue).startswith(f"{path}:9: sites.sites.wien.mqtt.password: ")


def test_secret_without_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "ems.yaml"
    path.write_text(MINIMAL_MULTI + "      mqtt: {password: !secret pw}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [(i.path, i.line) for i in info.value.issues] == [("sites.sites.wien.mqtt.password", 8)]


def test_env_substitution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMS_HOST", "10.1.2.3")
    monkeypatch.setenv("EMS_UNIT", "7")
    monkeypatch.delenv("EMS_PORT", raising=False)
    cfg = load(
        MINIMAL_MULTI
        + "      modbus:\n"
        + "        host: ${EMS_HOST}\n"
        + "        port: ${EMS_PORT:-5020}\n"
        + "        unit_id: ${EMS_UNIT}\n"
        + "      mqtt: {topic_prefix: 'ems/${EMS_UNIT}', password: '${EMS_PORT:-}'}\n"
    )
    site = cfg.sites["wien"]
    assert site.modbus.host == "10.1.2.3"
    assert site.modbus.port == 5020  # plain scalar: typed after substitution
    assert site.modbus.unit_id == 7
    assert site.mqtt.topic_prefix == "ems/7"
    assert site.mqtt.password == ""  # quoted: stays a string


def test_missing_env_var_names_key_and_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMS_NO_SUCH_VAR", raising=False)
    issues = issues_of(MINIMAL_MULTI + "      modbus:\n        host: ${EMS_NO_SUCH_VAR}\n")
    assert [(i.path, i.line) for i in issues] == [("sites.sites.wien.modbus.host", 9)]
    assert "EMS_NO_SUCH_VAR" in issues[0].message


def test_all_errors_are_collected() -> None:
    issues = issues_of(
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: -1
                power_charge_max_kw: 0
                power_discharge_max_kw: 100
                soc_max_pct: 101
              modbus: {port: 0, unit_id: 248}
            linz:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              ems: {cycle_s: 0}
        api: {port: 99999}
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("sites.sites.wien.bess.energy_capacity_kwh", 5),
        ("sites.sites.wien.bess.power_charge_max_kw", 6),
        ("sites.sites.wien.bess.soc_max_pct", 8),
        ("sites.sites.wien.modbus.port", 9),
        ("sites.sites.wien.modbus.unit_id", 9),
        ("sites.sites.linz.ems.cycle_s", 12),
        ("api.port", 13),
    ]


def test_unknown_profile_lists_known_profiles() -> None:
    issues = issues_of(MINIMAL_MULTI + "      modbus: {profile: hithium_ess_5016}\n")
    (issue,) = issues
    assert issue.path == "sites.sites.wien.modbus.profile"
    assert "hithium_ess_5016" in issue.message
    for name in catalog.known_profiles():
        assert name in issue.message


def test_a_site_with_modbus_disabled_is_refused_instead_of_silently_doing_nothing() -> None:
    (issue,) = issues_of(MINIMAL_MULTI + "      modbus: {enabled: false}\n")
    assert issue.path == "sites.sites.wien.modbus.enabled"
    assert "not supported" in issue.message


# --- malformed configs: key path + line ---------------------------------------------------
# Each text marks the line the error must point at with "# <-".

BAD: list[tuple[str, str, str, str]] = [
    (
        "soc_min_over_100",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: 200
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
                soc_min_pct: 150  # <-
        """,
        "sites.sites.wien.bess.soc_min_pct",
        "at most 100",
    ),
    (
        "soc_min_not_below_max",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: 200
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
                soc_min_pct: 80  # <-
                soc_max_pct: 20
        """,
        "sites.sites.wien.bess.soc_min_pct",
        "must be below soc_max_pct",
    ),
    (
        "efficiency_zero",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: 200
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
                efficiency_charge: 0  # <-
        """,
        "sites.sites.wien.bess.efficiency_charge",
        "greater than 0",
    ),
    (
        "efficiency_above_one",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: 200
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
                efficiency_discharge: 1.2  # <-
        """,
        "sites.sites.wien.bess.efficiency_discharge",
        "at most 1",
    ),
    (
        "negative_power",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: 200
                power_charge_max_kw: -5  # <-
                power_discharge_max_kw: 100
        """,
        "sites.sites.wien.bess.power_charge_max_kw",
        "greater than 0",
    ),
    (
        "missing_capacity_points_at_section",
        """\
        sites:
          sites:
            wien:
              bess:  # <-
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
        """,
        "sites.sites.wien.bess.energy_capacity_kwh",
        "required",
    ),
    (
        "typo_in_key",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: 200
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
                soc_mni_pct: 10  # <-
        """,
        "sites.sites.wien.bess.soc_mni_pct",
        "did you mean 'soc_min_pct'",
    ),
    (
        "string_for_number",
        """\
        sites:
          sites:
            wien:
              bess:
                energy_capacity_kwh: lots  # <-
                power_charge_max_kw: 100
                power_discharge_max_kw: 100
        """,
        "sites.sites.wien.bess.energy_capacity_kwh",
        "expected a number",
    ),
    (
        "port_out_of_range",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus:
                host: 127.0.0.1
                port: 70000  # <-
        """,
        "sites.sites.wien.modbus.port",
        "at most 65535",
    ),
    (
        "unit_id_out_of_range",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus:
                unit_id: 248  # <-
        """,
        "sites.sites.wien.modbus.unit_id",
        "at most 247",
    ),
    (
        "connection_type_rtu",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus:
                connection_type: rtu  # <-
        """,
        "sites.sites.wien.modbus.connection_type",
        "expected one of: tcp",
    ),
    (
        "proprietary_profile",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus:
                profile: wstech_pcs  # <-
        """,
        "sites.sites.wien.modbus.profile",
        "generic",
    ),
    (
        "rule_hour_25",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              forecast: {pv_peak_power_kw: 10}
              feedin_limitation:
                enabled: true
                mode: dynamic
                dynamic_rules:
                  - {time: "10:00-16:00", limit_pct: 50}
                  - {time: "16:00-25:00", limit_pct: 100}  # <-
        """,
        "sites.sites.wien.feedin_limitation.dynamic_rules[1].time",
        "invalid time 25:00",
    ),
    (
        "rule_minute_61",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              feedin_limitation:
                mode: dynamic
                dynamic_rules:
                  - time: "10:61-12:00"  # <-
                    limit_pct: 50
        """,
        "sites.sites.wien.feedin_limitation.dynamic_rules[0].time",
        "invalid time",
    ),
    (
        "rule_bad_format",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              feedin_limitation:
                mode: dynamic
                dynamic_rules:
                  - limit_pct: 50
                    time: 10-16  # <-
        """,
        "sites.sites.wien.feedin_limitation.dynamic_rules[0].time",
        "10:00-16:00",
    ),
    (
        "rule_limit_over_100",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              feedin_limitation:
                mode: dynamic
                dynamic_rules:
                  - time: "10:00-16:00"
                    limit_pct: 120  # <-
        """,
        "sites.sites.wien.feedin_limitation.dynamic_rules[0].limit_pct",
        "at most 100",
    ),
    (
        "dynamic_without_rules",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              feedin_limitation:  # <-
                mode: dynamic
        """,
        "sites.sites.wien.feedin_limitation.dynamic_rules",
        "at least one rule",
    ),
    (
        "feedin_mode_unknown",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              feedin_limitation:
                mode: auto  # <-
        """,
        "sites.sites.wien.feedin_limitation.mode",
        "fixed, dynamic",
    ),
    (
        "feedin_without_pv_peak",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              feedin_limitation:
                enabled: true  # <-
                fixed_limit_pct: 70
        """,
        "sites.sites.wien.feedin_limitation.enabled",
        "pv_peak_power_kw",
    ),
    (
        "unknown_strategy",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              ems:
                strategies:
                  - arbitrage
                  - moon_phase  # <-
        """,
        "sites.sites.wien.ems.strategies[1]",
        "moon_phase",
    ),
    (
        "default_strategy_not_enabled",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              ems:
                strategies: [arbitrage, peak_shaving]
                default_strategy: self_consumption  # <-
        """,
        "sites.sites.wien.ems.default_strategy",
        "not in strategies",
    ),
    (
        "cycle_zero",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              ems:
                cycle_s: 0  # <-
        """,
        "sites.sites.wien.ems.cycle_s",
        "greater than 0",
    ),
    (
        "shared_modbus_endpoint",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus: {host: 127.0.0.1, port: 5020}
            linz:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus: {host: 127.0.0.1, port: 5020, unit_id: 1}  # <-
        """,
        "sites.sites.linz.modbus",
        "already used by site 'wien'",
    ),
    (
        "default_site_unknown",
        """\
        sites:
          default_site_id: graz  # <-
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
        """,
        "sites.default_site_id",
        "not a configured site",
    ),
    (
        "bad_site_id",
        """\
        sites:
          sites:
            Wien Mitte:  # <-
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
        """,
        "sites.sites.Wien Mitte",
        "invalid site id",
    ),
    (
        "no_sites",
        """\
        api: {port: 8080}
        sites:  # <-
          default_site_id: wien
        """,
        "sites.sites",
        "at least one site",
    ),
    (
        "site_settings_at_top_level_with_sites",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
        modbus: {port: 5020}  # <-
        """,
        "modbus",
        "belong under sites.sites.<id>",
    ),
    (
        "api_port_zero",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
        api:
          host: 0.0.0.0
          port: 0  # <-
        """,
        "api.port",
        "at least 1",
    ),
    (
        "api_cert_without_key",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
        api:  # <-
          tls_cert: /etc/ems/cert.pem
        """,
        "api.tls_key",
        "together",
    ),
    (
        "mqtt_port_bool",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              mqtt:
                enabled: true
                port: yes  # <-
        """,
        "sites.sites.wien.mqtt.port",
        "expected an integer",
    ),
    (
        "single_site_soc_max",
        """\
        name: Home
        bess:
          energy_capacity_kwh: 10
          power_charge_max_kw: 5
          power_discharge_max_kw: 5
          soc_max_pct: 101  # <-
        """,
        "bess.soc_max_pct",
        "at most 100",
    ),
    (
        "single_site_unknown_section",
        """\
        bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
        modbsu:  # <-
          port: 5020
        """,
        "modbsu",
        "did you mean 'modbus'",
    ),
    (
        "single_site_missing_bess",
        """\
        name: Home
        modbus: {port: 5020}
        """,
        "bess",
        "required",
    ),
    (
        "unknown_timezone",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              location:
                city: Wien
                timezone: Europe/Wein  # <-
        """,
        "sites.sites.wien.location.timezone",
        "unknown time zone",
    ),
    (
        "timezone_is_a_region_not_a_zone",  # a directory in the tz database, not a zone file
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              location:
                city: Wien
                timezone: Europe  # <-
        """,
        "sites.sites.wien.location.timezone",
        "unknown time zone",
    ),
    (
        "section_not_a_mapping",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              grid_connection: 150  # <-
        """,
        "sites.sites.wien.grid_connection",
        "expected a mapping",
    ),
    (
        "duplicate_key",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1, power_discharge_max_kw: 1}
              modbus: {port: 5020}
              modbus: {port: 5021}  # <-
        """,
        "sites.sites.wien.modbus",
        "duplicate key (first on line 5)",
    ),
    (
        "yaml_syntax_error",
        """\
        sites:
          sites:
            wien:
              bess: {energy_capacity_kwh: 1, power_charge_max_kw: 1
              modbus: [port  # <-
        """,
        "",
        "YAML syntax error",
    ),
]


def _expected_line(text: str) -> int:
    return next((n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith("# <-")), 1)


@pytest.mark.parametrize(("text", "path", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_config_names_path_and_line(text: str, path: str, fragment: str, tmp_path: Path) -> None:
    text = textwrap.dedent(text)
    line = _expected_line(text)
    issues = issues_of(text)
    assert [(i.path, i.line) for i in issues if fragment in i.message] == [(path, line)], issues

    file = tmp_path / "ems.yaml"
    file.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert check_config_main(str(file), out=out, err=err) == 1
    assert out.getvalue() == ""
    prefix = f"{file}:{line}: {path}: " if path else f"{file}:{line}: "
    assert any(row.startswith(prefix) and fragment in row for row in err.getvalue().splitlines())


def test_bad_table_is_big_enough() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize(
    "text",
    ["", "# nothing\n", "- a\n- b\n", "just a string\n", "sites: [1, 2]\n", "a: b\n---\nc: d\n"],
)
def test_degenerate_documents(text: str) -> None:
    issues_of(text)


def test_unknown_tag_and_python_tags_are_rejected() -> None:
    for bad in ("!include other.yaml", "!!python/object:os.system x"):
        issues = issues_of(MINIMAL_MULTI + f"      name: {bad}\n")
        assert [(i.path, i.line) for i in issues] == [("sites.sites.wien.name", 8)]


# --- check-config ---------------------------------------------------------------------------


def test_check_config_ok() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert check_config_main(str(EXAMPLES / "ems.yaml"), out=out, err=err) == 0
    assert err.getvalue() == ""
    text = out.getvalue()
    assert "2 sites (default: wien)" in text
    wien = next(line for line in text.splitlines() if line.split()[0] == "wien")
    for part in ("Wien", "200 kWh", "100/100 kW", "generic", "127.0.0.1:5020"):
        assert part in wien
    assert "127.0.0.1:5021" in text and "300 kWh" in text


def test_check_config_reports_every_issue(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("bess:\n  energy_capacity_kwh: 0\n  power_charge_max_kw: 5\nfoo: 1\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_config_main(str(file), out=out, err=err) == 1
    assert err.getvalue().splitlines() == [
        f"{file}:1: bess.power_discharge_max_kw: required key is missing",
        f"{file}:2: bess.energy_capacity_kwh: value must be greater than 0",
        f"{file}:4: foo: unknown key 'foo'",
    ]


def test_check_config_missing_file(tmp_path: Path) -> None:
    err = io.StringIO()
    assert check_config_main(str(tmp_path / "nope.yaml"), out=io.StringIO(), err=err) == 1
    assert "nope.yaml" in err.getvalue() and "cannot read" in err.getvalue()


# --- robustness -----------------------------------------------------------------------------

_VALID = (EXAMPLES / "ems.yaml").read_text()
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["generic", "tcp", "dynamic", "10:00-16:00", "${X}", "!secret a", "wien"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_ROBUST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _ok_or_config_error(text: str) -> None:
    try:
        load_config_text(text)
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert isinstance(str(issue), str)


@_ROBUST
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}!&*|>'\"#%@`,?\n\t $\\0123."))) | st.text())
def test_garbage_never_crashes(text: str) -> None:
    _ok_or_config_error(text)


@_ROBUST
@given(st.integers(0, len(_VALID)), st.integers(0, 20), st.text(max_size=5))
def test_text_mutations_never_crash(pos: int, delete: int, insert: str) -> None:
    _ok_or_config_error(_VALID[:pos] + insert + _VALID[pos + delete :])


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@_ROBUST
@given(st.data())
def test_structural_mutations_never_crash(data: st.DataObject) -> None:
    doc = yaml.safe_load(_VALID)
    path = data.draw(st.sampled_from(_paths(doc)))
    value = data.draw(_VALUES)
    if not path:
        doc = value
    else:
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    _ok_or_config_error(yaml.safe_dump(doc, allow_unicode=True))


def test_site_id_aggregated_is_reserved_for_the_api() -> None:
    bess = "{energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}"
    text = f"sites:\n  sites:\n    aggregated:\n      bess: {bess}\n"
    with pytest.raises(ConfigError) as err:
        load_config_text(text)
    assert any("reserved" in str(issue) and issue.line == 3 for issue in err.value.issues), err.value.issues


# --- mqtt.broker and mqtt.topics (the plan's per-site format, issue 20) ---------------------


@pytest.mark.parametrize(
    ("broker", "host", "port", "tls"),
    [
        ("mqtt.wien.local", "mqtt.wien.local", 1883, False),
        ("mqtt.wien.local:1884", "mqtt.wien.local", 1884, False),
        ("mqtt://10.0.0.5", "10.0.0.5", 1883, False),
        ("mqtt://10.0.0.5:2883", "10.0.0.5", 2883, False),
        ("mqtts://mqtt.linz.local", "mqtt.linz.local", 8883, True),
        ("MQTTS://mqtt.linz.local:9883/", "mqtt.linz.local", 9883, True),
        ("[::1]:1885", "::1", 1885, False),
    ],
)
def test_mqtt_broker_address_forms(broker: str, host: str, port: int, tls: bool) -> None:
    mqtt = load(MINIMAL_MULTI + f"      mqtt: {{enabled: true, broker: '{broker}'}}\n").sites["wien"].mqtt
    assert (mqtt.host, mqtt.port, mqtt.tls) == (host, port, tls)


def test_mqtt_broker_without_port_takes_the_port_key() -> None:
    mqtt = load(MINIMAL_MULTI + "      mqtt: {broker: mqtt.wien.local, port: 1999, tls: true}\n")
    assert (mqtt.sites["wien"].mqtt.port, mqtt.sites["wien"].mqtt.tls) == (1999, True)


@pytest.mark.parametrize(
    ("mqtt", "key", "fragment"),
    [
        ("{broker: 'ws://x.local'}", "broker", "unknown scheme 'ws'"),
        ("{broker: 'mqtt://user:pw@x.local'}", "broker", "credentials do not belong"),
        ("{broker: 'x.local:99999'}", "broker", "invalid broker address"),
        ("{broker: 'x.local/path'}", "broker", "invalid broker address"),
        ("{broker: 'mqtt://'}", "broker", "no host"),
        ("{broker: 7}", "broker", "expected a string"),
        ("{broker: x.local, host: y.local}", "host", "either broker or host"),
        ("{broker: 'x.local:1884', port: 1883}", "port", "contradicts"),
        ("{broker: 'mqtts://x.local', tls: false}", "tls", "contradicts"),
        ("{brokr: x.local}", "brokr", "did you mean 'broker'"),
        ("{topics: {telemetry: 'a/+/b'}}", "topics.telemetry", "is a filter"),
        ("{topics: {commands: 'a/#'}}", "topics.commands", "is a filter"),
        ("{topics: {telemetry: ''}}", "topics.telemetry", "must not be empty"),
        ("{topics: {telemetri: a/b}}", "topics.telemetri", "did you mean 'telemetry'"),
        ("{topics: {telemetry: a/x, commands: a/x}}", "topics.commands", "also this site's telemetry"),
        ("{topics: {telemetry: a/status}}", "topics", "also this site's telemetry"),
        ("{topics: [a]}", "topics", "expected a mapping"),
    ],
)
def test_bad_mqtt_broker_or_topics_name_the_key(mqtt: str, key: str, fragment: str) -> None:
    issues = issues_of(MINIMAL_MULTI + f"      mqtt: {mqtt}\n")
    assert any(i.path == f"sites.sites.wien.mqtt.{key}" and fragment in i.message for i in issues), issues
    assert all(i.line == 8 for i in issues), issues


def test_mqtt_topics_are_where_the_link_publishes_with_status_and_ack_beside_them() -> None:
    cfg = load(
        MINIMAL_MULTI
        + "      mqtt:\n"
        + "        topics: {telemetry: phoenyra/site1/telemetry, commands: phoenyra/site1/commands}\n"
    )
    topics = cfg.sites["wien"].mqtt_topics
    assert topics == SiteTopics(
        "phoenyra/site1/telemetry",
        "phoenyra/site1/commands",
        "phoenyra/site1/status",
        "phoenyra/site1/commands/ack",
    )
    default = load(MINIMAL_MULTI).sites["wien"].mqtt_topics
    assert default == SiteTopics(
        "phoenyra/sitewien/telemetry",
        "phoenyra/sitewien/commands",
        "phoenyra/sitewien/status",
        "phoenyra/sitewien/commands/ack",
    )
    only_commands = (
        load(MINIMAL_MULTI + "      mqtt: {topic_prefix: ems/w, topics: {commands: cmd/w, ack: cmd/w-ack}}\n")
        .sites["wien"]
        .mqtt_topics
    )
    assert only_commands == SiteTopics("ems/w/telemetry", "cmd/w", "ems/w/status", "cmd/w-ack")
    flat = load(MINIMAL_MULTI + "      mqtt: {topics: {telemetry: tele}}\n").sites["wien"].mqtt_topics
    assert flat.status == "tele/status"


TWO_SITES_MQTT = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 200, power_charge_max_kw: 100, power_discharge_max_kw: 80}
      modbus: {port: 5020}
      mqtt: {enabled: true, broker: %s, topics: {commands: shared/commands}}
    linz:
      bess: {energy_capacity_kwh: 200, power_charge_max_kw: 100, power_discharge_max_kw: 80}
      modbus: {port: 5021}
      mqtt: {enabled: true, broker: %s, topics: {commands: shared/commands}}
"""


def test_two_sites_on_one_broker_must_not_share_a_topic() -> None:
    (issue,) = issues_of(TWO_SITES_MQTT % ("mqtt.local", "mqtt.local:1883"))
    assert issue.path == "sites.sites.linz.mqtt" and issue.line == 10
    assert (
        "'shared/commands' on mqtt.local:1883 is already the commands topic of site 'wien'" in issue.message
    )
    cfg = load(TWO_SITES_MQTT % ("mqtt.wien.local", "mqtt.linz.local"))  # two brokers: fine
    assert cfg.sites["linz"].mqtt_topics.commands == "shared/commands"


# --- the plan's sensors list and aggregation methods (issue 20) -------------------------------

SENSORS_BLOCK = """\
sensors:
  aggregation:
    temperature_method: max
    power_method: sum
  sensors:
    - {id: temp_1, type: temperature, source: mqtt, topic: site/temp1, weight: 2}
    - {id: temp_2, type: temperature, source: mqtt, topic: site/temp2, value_path: sensor.t}
    - {id: meter, type: power, source: mqtt, topic: site/meter, role: grid_power, unit: W}
"""


def test_listed_sensors_in_the_single_site_format_belong_to_the_site() -> None:
    single = "bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
    cfg = load(single + SENSORS_BLOCK)
    sensors = cfg.sensors
    assert sensors.enabled  # listing sensors turns them on
    assert [(s.id, s.site, s.sensor_role, s.weight) for s in sensors.sensors] == [
        ("temp_1", "1", "temperature", 2.0),
        ("temp_2", "1", "temperature", 1.0),
        ("meter", "1", "grid_power", 1.0),
    ]
    assert sensors.sensors[1].value_path == "sensor.t" and sensors.sensors[2].unit == "W"
    assert sensors.aggregation == {"temperature": "max", "power": "sum"}
    assert sensors.method_for("temperature") == "max"
    assert sensors.method_for("grid_power") == "sum"  # by its sensors' type
    assert sensors.method_for("battery_room_temperature") == "max"  # by its name's type
    assert sensors.method_for("humidity") == "avg"
    assert not load(single + SENSORS_BLOCK + "  enabled: false\n").sensors.enabled


def test_a_role_method_beats_the_type_method_and_rules_stay() -> None:
    cfg = load(
        MINIMAL_MULTI
        + "sensors:\n  aggregation: {temperature_method: min}\n"
        + "  roles: {battery_room_temperature: {method: max}, room: {outlier_min_deviation: 1}}\n"
        + "  rules: [{site: wien, role: room, sensor: '*temp*'}]\n"
        + "  sensors: [{id: a, type: temperature, source: mqtt, topic: x/a, role: room}]\n"
    )
    assert cfg.sensors.method_for("battery_room_temperature") == "max"
    assert cfg.sensors.method_for("room") == "min"  # roles.room gives no method: the type's
    assert cfg.sensors.sensors[0].site == "wien" and cfg.sensors.rules[0].role == "room"


@pytest.mark.parametrize(
    ("sensor", "path", "fragment"),
    [
        ("{id: a, type: temperature, source: mqtt}", "sensors.sensors[0].topic", "needs a topic"),
        ("{id: a, type: temp, source: mqtt, topic: x}", "sensors.sensors[0].type", "unknown sensor type"),
        ("{id: a, type: power, source: http, topic: x}", "sensors.sensors[0].source", "unknown source"),
        (
            "{id: a, type: humidity, source: modbus, register: humidity_outdor}",
            "sensors.sensors[0].register",
            "no sensor register 'humidity_outdor' (its named registers: humidity_outdoor, temperature_",
        ),
        ("{id: a, type: power, source: modbus}", "sensors.sensors[0].register", "needs a register"),
        ("{id: a, type: power, source: modbus, register: 70000}", "sensors.sensors[0].register", "0…65535"),
        (
            "{id: a, type: power, source: modbus, register: 5, data_type: int33}",
            "sensors.sensors[0].data_type",
            "unknown data type",
        ),
        (
            "{id: a, type: humidity, source: modbus, register: humidity_outdoor, scale: 0.1}",
            "sensors.sensors[0].scale",
            "takes it from the device profile",
        ),
        (
            "{id: a, type: power, source: modbus, register: 5, topic: x}",
            "sensors.sensors[0].topic",
            "not used",
        ),
        (
            "{id: a, type: power, source: mqtt, topic: x, register: 5}",
            "sensors.sensors[0].register",
            "not used",
        ),
        ("{id: 'a b', type: power, source: mqtt, topic: x}", "sensors.sensors[0].id", "invalid sensor id"),
        ("{id: a, type: power, source: mqtt, topic: x/+}", "sensors.sensors[0].topic", "is a filter"),
        (
            "{id: a, type: power, source: mqtt, topic: x, site: graz}",
            "sensors.sensors[0].site",
            "not configured",
        ),
        (
            "{id: a, type: power, source: mqtt, topic: x, weight: 0}",
            "sensors.sensors[0].weight",
            "greater than 0",
        ),
        (
            "{id: a, type: power, source: mqtt, topic: x, value_path: 'a..b'}",
            "sensors.sensors[0].value_path",
            "dotted",
        ),
        (
            "{id: a, type: power, source: mqtt, topic: x, topc: y}",
            "sensors.sensors[0].topc",
            "did you mean 'topic'",
        ),
    ],
)
def test_bad_listed_sensor_names_the_key_and_line(sensor: str, path: str, fragment: str) -> None:
    issues = issues_of(MINIMAL_MULTI + f"sensors:\n  sensors:\n    - {sensor}\n")
    assert any(i.path == path and fragment in i.message and i.line == 10 for i in issues), issues


def test_listed_sensors_need_a_site_with_several_sites_and_unique_ids() -> None:
    two = TWO_SITES_MQTT % ("a.local", "b.local") + "sensors:\n  sensors:\n"
    (issue,) = issues_of(two + "    - {id: a, type: power, source: mqtt, topic: x}\n")
    assert (issue.path, issue.line) == ("sensors.sensors[0]", 13) and "needs a 'site'" in issue.message
    (issue,) = issues_of(
        two
        + "    - {id: a, type: power, source: mqtt, topic: x, site: wien}\n"
        + "    - {id: a, type: power, source: mqtt, topic: y, site: linz}\n"
    )
    assert (issue.path, issue.line) == ("sensors.sensors[1].id", 14) and "listed twice" in issue.message


def test_bad_aggregation_method_names_the_key() -> None:
    (issue,) = issues_of(MINIMAL_MULTI + "sensors:\n  aggregation: {power_method: median}\n")
    assert issue.path == "sensors.aggregation.power_method" and "unknown method 'median'" in issue.message
    (issue,) = issues_of(MINIMAL_MULTI + "sensors:\n  aggregation: {temprature_method: max}\n")
    assert "did you mean 'temperature_method'" in issue.message


def test_role_methods_without_aggregation_are_unchanged() -> None:
    cfg = load(MINIMAL_MULTI + "sensors:\n  roles: {battery_room_temperature: {outlier_min_deviation: 1}}\n")
    assert cfg.sensors.roles["battery_room_temperature"].method is None
    assert cfg.sensors.method_for("battery_room_temperature") == "avg"  # as before issue 20
    assert load(MINIMAL_MULTI).sensors.method_for("battery_room_temperature") == "max"
    assert load(MINIMAL_MULTI).sensors.method_for("grid_power") == "avg"
