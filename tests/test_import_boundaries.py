"""The core package must never pull in Home Assistant or Textual, and the client part stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "phoenyra_ems"
MODULES = sorted(
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py")
    if path.name != "__main__.py"
)


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("forbidden", ["homeassistant", "textual"])
def test_no_module_of_the_core_imports_homeassistant_or_textual(forbidden: str) -> None:
    statement = "; ".join(f"import {module}" for module in MODULES)
    loaded = imported_after(statement)
    assert not {m for m in loaded if m == forbidden or m.startswith(forbidden + ".")}


def test_config_and_models_need_only_the_light_dependencies() -> None:
    """What Home Assistant installs: aiohttp, voluptuous, pyyaml — no pymodbus, no aiosqlite."""
    loaded = imported_after("import phoenyra_ems.config, phoenyra_ems.models")
    assert not {m for m in loaded if m.split(".")[0] in {"pymodbus", "aiosqlite", "numpy", "scipy"}}


def test_decision_core_does_no_io() -> None:
    loaded = imported_after("import phoenyra_ems.core.decision")
    assert not {m for m in loaded if m.split(".")[0] in {"pymodbus", "aiosqlite", "aiohttp", "asyncio"}}


def test_the_daemon_and_the_cli_load_without_the_ml_extra() -> None:
    """Forecasting is optional: pandas, scikit-learn, Prophet … load only for sites that enable it."""
    loaded = imported_after("import phoenyra_ems.daemon, phoenyra_ems.cli; phoenyra_ems.cli.build_parser()")
    heavy = {"numpy", "pandas", "scipy", "sklearn", "prophet", "pvlib", "matplotlib", "torch"}
    assert not {m for m in loaded if m.split(".")[0] in heavy}


def test_the_demo_loads_with_the_demo_extra_alone() -> None:
    """``make demo`` installs ``.[demo]`` (server + tui): the demo must not need forecasting or dev tools."""
    loaded = imported_after("import phoenyra_ems.demo, phoenyra_ems.cli; phoenyra_ems.cli.build_parser()")
    not_in_demo = {"pandas", "sklearn", "prophet", "pvlib", "matplotlib", "torch", "schemathesis"}
    assert not {m for m in loaded if m.split(".")[0] in not_in_demo}
