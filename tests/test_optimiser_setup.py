"""`optimiser` is the default strategy of new configurations (the shipped examples); files written
before keep their behaviour; without numpy/scipy a site with the optimiser is refused at load time
with the site's key named."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pytest

from phoenyra_ems.config import ConfigError, load_config, load_config_text, site_schema

ROOT = Path(__file__).resolve().parent.parent
SITE = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
      ems:
        strategies: [optimiser, self_consumption]
        default_strategy: optimiser
"""


@pytest.mark.parametrize("name", ["ems.yaml", "single-site.yaml"])
def test_new_configurations_plan_with_the_optimiser(name: str) -> None:
    for site in load_config(ROOT / "examples" / name).sites.values():
        assert site.ems.default_strategy == "optimiser" and "optimiser" in site.ems.strategies


def test_the_home_template_plans_with_the_forecaster_that_earns_the_most() -> None:
    """docs/forecasting.md "Judged by money": over the two houses measured, the planner's history
    baseline earns more than the forecast service (its load ensemble, pvlib PV and price profile):
    the homeowner's template leaves the service off, as the schema does."""
    (site,) = load_config(ROOT / "examples" / "single-site.yaml").sites.values()
    assert not site.forecast.enabled
    assert site.ems.default_strategy == "optimiser"


def test_an_existing_configuration_without_the_key_keeps_self_consumption() -> None:
    old = SITE.replace(
        "        strategies: [optimiser, self_consumption]\n        default_strategy: optimiser\n", ""
    )
    old = old.replace("      ems:\n", "")
    ems = load_config_text(old).sites["wien"].ems
    assert ems.default_strategy == "self_consumption" and "optimiser" not in ems.strategies


def test_without_scipy_the_optimiser_is_a_configuration_error_naming_site_and_strategy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(site_schema, "missing_optimiser_modules", lambda: ["scipy"])
    with pytest.raises(ConfigError) as info:
        load_config_text(textwrap.dedent(SITE))
    (issue,) = info.value.issues
    assert issue.path == "sites.sites.wien.ems.strategies" and issue.line == 6
    assert "strategy 'optimiser' needs scipy" in str(issue) and "phoenyra-ems[server]" in str(issue)
    without = SITE.replace("[optimiser, self_consumption]", "[self_consumption]").replace(
        "default_strategy: optimiser", "default_strategy: self_consumption"
    )
    assert load_config_text(without).sites["wien"].ems.strategies == ("self_consumption",)


def test_the_daemon_extra_brings_what_the_optimiser_needs() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {dep.split(">")[0].split("=")[0] for dep in extras["server"]}
    assert {"numpy", "scipy"} <= names
