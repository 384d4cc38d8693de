"""``community:`` in the configuration: valid blocks load, bad ones name the path and the line."""

from __future__ import annotations

import pytest

from phoenyra_ems.config import ConfigError
from phoenyra_ems.config.loader import load_config_text

SITES = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
    linz:
      bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
      modbus: {port: 5021}
"""


def test_valid_block_loads() -> None:
    config = load_config_text(
        SITES
        + """\
community:
  id: eeg-donau
  key: static
  price: {mode: dayahead, dayahead_factor: 0.8, markup_eur_kwh: 0.03}
  members:
    wien: {site: wien, share_pct: 40}
    school: {csv: school.csv, share_pct: 30, participation_pct: 60, other_communities: {eeg-b: 40}}
"""
    )
    assert config.community is not None
    assert config.community.key == "static" and config.community.price.mode == "dayahead"
    assert config.community.shares() == {"wien": 0.4, "school": 0.3}
    assert config.community.members["school"].kind == "external"


@pytest.mark.parametrize(
    ("block", "path", "line", "message"),
    [
        (
            "  members:\n    a: {site: graz}\n    b: {csv: b.csv}\n",
            "community.members.a.site",
            11,
            "not configured",
        ),
        (
            "  key: static\n  members:\n    a: {site: wien, share_pct: 70}\n"
            "    b: {csv: b.csv, share_pct: 40}\n",
            "community.members",
            11,
            "add up to 110",
        ),
        (
            "  members:\n    a: {site: wien, csv: a.csv}\n    b: {csv: b.csv}\n",
            "community.members.a",
            11,
            "exactly one of",
        ),
        (
            "  members:\n    a: {site: wien, participation_pct: 70, other_communities: {x: 50}}\n"
            "    b: {csv: b}\n",
            "community.members.a.participation_pct",
            11,
            "120 %",
        ),
        (
            "  members:\n    a: {site: wien, share_pct: 20}\n    b: {csv: b.csv}\n",
            "community.members.a.share_pct",
            11,
            "'static' only",
        ),
        (
            "  kee: static\n  members:\n    a: {site: wien}\n    b: {csv: b.csv}\n",
            "community.kee",
            10,
            "did you mean 'key'",
        ),
    ],
)
def test_errors_name_path_and_line(block: str, path: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(SITES + "community:\n  id: c\n" + block)
    issues = caught.value.issues
    assert any(i.path == path and i.line == line and message in i.message for i in issues), issues
