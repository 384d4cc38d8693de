"""Device profiles: every shipped file loads, unknown names and malformed files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenyra_ems.profiles.catalog import known_profiles
from phoenyra_ems.profiles.loader import (
    MEASUREMENT_NAMES,
    ModeMagnitudeControl,
    PointSum,
    ProfileError,
    RegisterPoint,
    SignedPowerControl,
    SunSpecChoice,
    SunSpecControl,
    UnknownProfileError,
    load_profile,
    parse_profile_file,
)

REQUIRED = {"generic", "sunspec", "victron_gx", "huawei_luna2000", "sungrow_sh"}


def test_required_profiles_are_shipped() -> None:
    assert set(known_profiles()) >= REQUIRED


@pytest.mark.parametrize("name", known_profiles())
def test_every_profile_loads_with_source_and_canonical_names(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.source.strip() and profile.vendor and profile.description
    assert set(profile.measurements) <= set(MEASUREMENT_NAMES)
    assert "soc_pct" in profile.measurements and "p_bess_kw" in profile.measurements
    assert profile.is_sunspec == isinstance(profile.control, SunSpecControl)


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(UnknownProfileError) as info:
        load_profile("hithium_ess_5016")
    assert isinstance(info.value, ValueError)
    for name in known_profiles():
        assert name in str(info.value)


def test_units_and_signs_are_converted_at_load() -> None:
    victron = load_profile("victron_gx")
    p_bess = victron.measurements["p_bess_kw"]
    assert isinstance(p_bess, RegisterPoint)
    assert p_bess.scale == pytest.approx(0.001) and p_bess.sign == -1  # W, + = charging
    assert isinstance(victron.measurements["p_grid_kw"], PointSum)
    assert isinstance(victron.control, SignedPowerControl)
    assert victron.control.setpoint.unit_id == 227
    sungrow = load_profile("sungrow_sh")
    assert isinstance(sungrow.control, ModeMagnitudeControl)
    assert (sungrow.control.charge, sungrow.control.discharge, sungrow.control.stop) == (0xAA, 0xBB, 0xCC)
    p_grid = sungrow.measurements["p_grid_kw"]
    assert isinstance(p_grid, RegisterPoint) and p_grid.word_order == "little" and p_grid.sign == -1
    assert isinstance(load_profile("sunspec").measurements["soc_pct"], SunSpecChoice)


GOOD = """
name: {name}
vendor: Test
description: test
source: test
measurements:
  soc_pct: {{register: 0, type: uint16}}
  p_bess_kw: {{register: 1, type: {p_type}, unit: W}}
control:
  type: signed_power
  setpoint: {{register: 10, type: int32, unit: W}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_profile_names_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", GOOD.format(name="broken", p_type="int33"))
    with pytest.raises(ProfileError, match=r"broken\.yaml: measurements\.p_bess_kw\.type: .*int33"):
        parse_profile_file(path)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD.format(name="other", p_type="int16"), "name"),
        (GOOD.format(name="bad", p_type="int16").replace("soc_pct", "state_of_charge"), "state_of_charge"),
        (GOOD.format(name="bad", p_type="int16").replace("unit: W}", "unit: V}", 1), "unit"),
        (GOOD.format(name="bad", p_type="int16").replace("signed_power", "magic"), "control.type"),
        ("name: bad\nvendor: [unclosed", "not valid YAML"),
        (
            GOOD.format(name="bad", p_type="int16") + "sensors: {Humidity: {register: 20}}\n",
            "sensors.Humidity",
        ),
        (
            GOOD.format(name="bad", p_type="int16") + "sensors: {rh: {register: 20, type: int33}}\n",
            "sensors.rh.type",
        ),
    ],
)
def test_validation_errors(tmp_path: Path, text: str, key: str) -> None:
    path = _write(tmp_path, "bad", text)
    with pytest.raises(ProfileError) as info:
        parse_profile_file(path)
    assert "bad.yaml" in str(info.value) and key in str(info.value)


def test_good_custom_profile_parses(tmp_path: Path) -> None:
    profile = parse_profile_file(_write(tmp_path, "mine", GOOD.format(name="mine", p_type="int16")))
    assert profile.revert_timeout_s is None and profile.unit_id == 1


def test_named_sensor_registers_keep_their_own_unit(tmp_path: Path) -> None:
    text = GOOD.format(name="mine", p_type="int16") + (
        "sensors:\n  pressure: {register: 30, table: input, type: uint16, scale: 0.1, unit: hPa}\n"
    )
    sensor = parse_profile_file(_write(tmp_path, "mine", text)).sensors["pressure"]
    assert (sensor.point.address, sensor.point.table, sensor.point.scale, sensor.unit) == (
        30,
        "input",
        0.1,
        "hPa",
    )


def test_the_supported_devices_doc_is_generated_from_the_profiles() -> None:
    """docs/device-profiles.md lists exactly the shipped profiles, as their files state them
    (regenerate with ``python scripts/device_table.py``)."""
    from phoenyra_ems.devices.doc_table import render_into

    doc = (Path(__file__).resolve().parents[1] / "docs" / "device-profiles.md").read_text(encoding="utf-8")
    assert render_into(doc) == doc, "run: python scripts/device_table.py"
