"""The ``vpp:`` block of a site: the plan's keys, secrets via !secret, errors naming key and line,
and the daemon's grouping of sites into VEN connections."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenyra_ems.config.loader import ConfigError, load_config
from phoenyra_ems.vpp.runtime import ven_settings

SITES = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 200, power_charge_max_kw: 100, power_discharge_max_kw: 80}
      vpp:
        enabled: true
        aggregator: entelios
        protocol: openadr3
        site_id: phoenyra_001
        vtn_url: https://vtn.example/openadr3/3.0.1/
        client_id: ven-phoenyra
        client_secret: !secret vtn_secret
        webhook_url: https://ems.example/api/v1/vpp/openadr3/notify
        flexibility: {max_power_kw: 100.0, min_power_kw: -100.0}
    linz:
      bess: {energy_capacity_kwh: 100, power_charge_max_kw: 50, power_discharge_max_kw: 50}
      modbus: {port: 1502}
      vpp:
        enabled: true
        site_id: phoenyra_001
        vtn_url: https://vtn.example/openadr3/3.0.1
        client_id: ven-phoenyra
        client_secret: !secret vtn_secret
        poll_interval_s: 5
        flexibility: {response_time_s: 2}
"""


def test_plan_keys_secret_and_fleet_grouping(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("vtn_secret: top-secret-42\n")
    path = tmp_path / "ems.yaml"
    path.write_text(SITES)
    config = load_config(path)
    vpp = config.sites["wien"].vpp
    assert (vpp.aggregator, vpp.vtn_url, vpp.flexibility.response_time_s) == (
        "entelios",
        "https://vtn.example/openadr3/3.0.1",
        5.0,
    )
    assert vpp.client_secret == "top-secret-42" and "top-secret-42" not in repr(config)
    assert config.sites["linz"].vpp.verify_tls is True
    (ven,) = ven_settings(config.sites)  # one VTN + client id: one VEN; both sites one aggregated resource
    assert dict(ven.resources) == {"phoenyra_001": ("wien", "linz")}
    assert (ven.poll_interval_s, ven.response_time_s) == (5.0, 2.0)
    assert "top-secret-42" not in repr(ven)


def test_errors_name_key_path_and_line(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("vtn_secret: x\n")
    path = tmp_path / "ems.yaml"
    path.write_text(
        SITES.replace("aggregator: entelios", "aggregator: tibber")
        .replace("max_power_kw: 100.0", "max_power_kw: -1")
        .replace("vtn_url: https://vtn.example/openadr3/3.0.1\n", "vtn_url: ftp://vtn\n")
        .replace("        poll_interval_s: 5\n", "        poll_intervall_s: 5\n")
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = {(i.path, i.line) for i in info.value.issues}
    messages = " | ".join(i.message for i in info.value.issues)
    assert ("sites.sites.wien.vpp.aggregator", 7) in found and "entelios, next_kraftwerke, custom" in messages
    assert ("sites.sites.wien.vpp.flexibility.max_power_kw", 14) in found
    assert ("sites.sites.linz.vpp.vtn_url", 21) in found and "http(s) URL" in messages
    assert ("sites.sites.linz.vpp.poll_intervall_s", 24) in found and "poll_interval_s" in messages


def test_enabled_openadr3_needs_its_credentials(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("vtn_secret: x\n")
    path = tmp_path / "ems.yaml"
    path.write_text(SITES.split("    linz:")[0].replace("        client_secret: !secret vtn_secret\n", ""))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.path == "sites.sites.wien.vpp.client_secret" and "needs client_secret" in issue.message


def test_disabled_by_default(tmp_path: Path) -> None:
    path = tmp_path / "ems.yaml"
    path.write_text(SITES.split("      vpp:")[0])
    config = load_config(path)
    assert config.sites["wien"].vpp.enabled is False and ven_settings(config.sites) == []


def test_polling_only_polls_within_the_response_time_unless_told_otherwise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a webhook an event waits for the next poll: the default interval is half the
    promised response time; an explicit longer one is kept, with a warning saying why it is late."""
    (tmp_path / "secrets.yaml").write_text("vtn_secret: s\n")
    path = tmp_path / "ems.yaml"
    polling_only = SITES.replace("        webhook_url: https://ems.example/api/v1/vpp/openadr3/notify\n", "")
    path.write_text(polling_only.replace("        poll_interval_s: 5\n", ""))
    config = load_config(path)
    assert config.sites["wien"].vpp.effective_poll_interval_s == 2.5  # response_time_s 5 by default
    (ven,) = ven_settings(config.sites)
    assert ven.poll_interval_s == 1.0 and not caplog.records  # linz promises 2 s: 1 s polls
    path.write_text(polling_only)  # linz: poll_interval_s 5 against a 2 s response time
    with caplog.at_level("WARNING"):
        (ven,) = ven_settings(load_config(path).sites)
    assert ven.poll_interval_s == 2.5  # the VEN polls for both: wien's default, linz's 5 s is longer
    assert "polling only" in caplog.text and "within 2 s" in caplog.text
    path.write_text(SITES.replace("        poll_interval_s: 5\n", ""))  # webhook: polling is a fallback
    assert load_config(path).sites["wien"].vpp.effective_poll_interval_s == 10.0
