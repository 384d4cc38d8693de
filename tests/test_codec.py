"""Register codec: number <-> registers, and image/decode + setpoint round trips for every profile."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.devices.codec import (
    MAX_READ,
    RegisterMap,
    decode_point,
    decode_registers,
    encode_registers,
    layout_sunspec_models,
    resolve_profile,
)
from phoenyra_ems.models import Measurements
from phoenyra_ems.profiles.catalog import known_profiles
from phoenyra_ems.profiles.loader import MEASUREMENT_NAMES, RegisterPoint, load_profile
from phoenyra_ems.simulator.image import RegisterImage

PROFILES = known_profiles()
RANGES = {  # values every shipped register map can carry
    "soc_pct": (0.0, 100.0),
    "soh_pct": (0.0, 100.0),
    "temp_c": (-20.0, 60.0),
    "p_bess_kw": (-30.0, 30.0),
    "p_pv_kw": (0.0, 30.0),
    "p_load_kw": (0.0, 30.0),
    "p_grid_kw": (-30.0, 30.0),
}


def resolved(name: str) -> RegisterMap:
    profile = load_profile(name)
    return resolve_profile(profile, layout_sunspec_models(profile) if profile.is_sunspec else None)


def read_back(rmap: RegisterMap, image: dict[int, int]) -> dict[tuple[str, int], list[int]]:
    return {
        (b.table, b.address): [image.get(a, 0) for a in range(b.address, b.address + b.count)]
        for b in rmap.read_plan()
    }


# --- number <-> registers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reg_type", "order", "regs"),
    [
        (-2, "int16", "big", (0xFFFE,)),
        (-2, "int32", "big", (0xFFFF, 0xFFFE)),
        (-2, "int32", "little", (0xFFFE, 0xFFFF)),
        (0x12345678, "uint32", "big", (0x1234, 0x5678)),
        (0x12345678, "uint32", "little", (0x5678, 0x1234)),
        (1.0, "float32", "big", (0x3F80, 0x0000)),
        (1.0, "float32", "little", (0x0000, 0x3F80)),
    ],
)
def test_known_encodings(value: float, reg_type: str, order: str, regs: tuple[int, ...]) -> None:
    assert encode_registers(value, reg_type, order) == regs
    assert decode_registers(regs, reg_type, order) == value


@pytest.mark.parametrize(
    ("value", "reg_type", "clamped"),
    [(70000, "int16", 32767), (-70000, "int16", -32768), (-5, "uint16", 0), (2**40, "uint32", 2**32 - 1)],
)
def test_encoding_clamps_to_the_type(value: int, reg_type: str, clamped: int) -> None:
    assert decode_registers(encode_registers(value, reg_type), reg_type) == clamped


@given(st.data(), st.sampled_from(["int16", "uint16", "int32", "uint32"]), st.sampled_from(["big", "little"]))
def test_integer_round_trip(data: st.DataObject, reg_type: str, order: str) -> None:
    bits = 16 if reg_type.endswith("16") else 32
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if reg_type.startswith("int") else (0, 2**bits - 1)
    value = data.draw(st.integers(lo, hi))
    regs = encode_registers(value, reg_type, order)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode_registers(regs, reg_type, order) == value


@given(st.floats(width=32, allow_nan=False), st.sampled_from(["big", "little"]))
def test_float_round_trip(value: float, order: str) -> None:
    assert decode_registers(encode_registers(value, "float32", order), "float32", order) == value


def test_nan_and_invalid_markers_decode_to_none() -> None:
    nan = encode_registers(math.nan, "float32")
    point = RegisterPoint(address=0, type="float32")
    assert decode_point(point, lambda _t, a: nan[a]) is None
    invalid = RegisterPoint(address=0, type="int32", invalid=(0x7FFFFFFF,))
    assert decode_point(invalid, lambda _t, a: (0x7FFF, 0xFFFF)[a]) is None


# --- profiles: image -> decode and setpoint round trips -----------------------------------------


@st.composite
def measurements(draw: st.DrawFn) -> Measurements:
    return Measurements(**{n: draw(st.floats(*RANGES[n], allow_nan=False)) for n in MEASUREMENT_NAMES})


nameplates = st.fixed_dictionaries(
    {
        "power_charge_max_kw": st.floats(1.0, 30.0),
        "power_discharge_max_kw": st.floats(1.0, 30.0),
        "energy_capacity_kwh": st.floats(2.0, 60.0),
    }
)


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=measurements(), nameplate=nameplates)
def test_image_decode_round_trip(name: str, m: Measurements, nameplate: dict[str, float]) -> None:
    rmap = resolved(name)
    got = rmap.decode(read_back(rmap, RegisterImage(rmap).image(m, nameplate)))
    mapped = set(load_profile(name).measurements)
    for field in MEASUREMENT_NAMES:
        value = getattr(got, field)
        if field not in mapped:
            assert value is None
            continue
        step = rmap.resolution(field)
        assert step is not None and value is not None, field
        assert value == pytest.approx(getattr(m, field), abs=step / 2 + 1e-9), field


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=60, deadline=None)
@given(kw=st.floats(-80.0, 80.0, allow_nan=False), nameplate=nameplates)
def test_setpoint_round_trip(name: str, kw: float, nameplate: dict[str, float]) -> None:
    rmap = resolved(name)
    device = RegisterImage(rmap)
    image = device.image(Measurements(soc_pct=50.0, p_bess_kw=0.0), nameplate)
    rmap.decode(read_back(rmap, image))  # SunSpec needs WChaMax / scale factors from a read
    lo, hi = rmap.setpoint_range_kw()
    commanded = None
    for write in rmap.encode_setpoint(kw):
        assert all(0 <= v <= 0xFFFF for v in write.values)
        result = device.decode_setpoint_write(write.address, list(write.values), image)
        image.update(enumerate(write.values, write.address))
        commanded = result if result is not None else commanded
    assert commanded is not None
    step = 0.0011
    if load_profile(name).is_sunspec:  # 124: rates in 0.01 % steps of WChaMax / WDisChaMax
        step = max(nameplate["power_charge_max_kw"], nameplate["power_discharge_max_kw"]) * 1e-4 + 1e-9
    assert commanded == pytest.approx(min(max(kw, lo), hi), abs=step)


@pytest.mark.parametrize("name", PROFILES)
def test_safe_writes_command_zero(name: str) -> None:
    rmap = resolved(name)
    device = RegisterImage(rmap)
    image = device.image(
        Measurements(soc_pct=50.0),
        {"power_charge_max_kw": 5, "power_discharge_max_kw": 5, "energy_capacity_kwh": 10},
    )
    rmap.decode(read_back(rmap, image))
    for write in rmap.encode_setpoint(-3.0):
        device.decode_setpoint_write(write.address, list(write.values), image)
        image.update(enumerate(write.values, write.address))
    results = []
    for write in rmap.safe_writes():
        results.append(device.decode_setpoint_write(write.address, list(write.values), image))
        image.update(enumerate(write.values, write.address))
    assert [r for r in results if r is not None][-1] == 0.0


@pytest.mark.parametrize("name", PROFILES)
def test_read_plan_is_few_contiguous_blocks(name: str) -> None:
    rmap = resolved(name)
    plan = rmap.read_plan()
    assert all(0 < b.count <= MAX_READ for b in plan)
    keys = [(b.table, b.address) for b in plan]
    assert len(keys) == len(set(keys))
    for a, b in itertools.pairwise(plan):
        if (a.unit, a.table) == (b.unit, b.table):
            assert b.address > a.address + a.count + 8  # neighbours within 8 registers are merged
    assert len(plan) <= 6


def test_generic_map_is_two_reads() -> None:
    assert len(resolved("generic").read_plan()) == 2  # measurements (input) + mode (holding)


def test_vendor_setpoint_registers() -> None:
    sungrow = resolved("sungrow_sh")
    (write,) = sungrow.encode_setpoint(-3.0)  # EMS mode, command and power in one request
    assert write.address == 13049 and write.values == (2, 0xAA, 3000)
    assert sungrow.encode_setpoint(0.0)[0].values == (2, 0xCC, 0)
    huawei = resolved("huawei_luna2000")
    power, command = huawei.encode_setpoint(4.2)  # power first, then the command that starts it
    assert (power.address, power.values) == (47249, (0, 4200))
    assert (command.address, command.values) == (47100, (2,))
    victron = resolved("victron_gx")
    (write,) = victron.encode_setpoint(2.0)  # discharge 2 kW = feed 2000 W back through AC-in
    assert write.address == 37 and write.unit == 227
    assert decode_registers(write.values[:1], "int16") == -2000 and write.values[1:] == (0, 0)
    assert victron.extra_unit_ids() == {227}


def test_sign_from_status_bits() -> None:
    sungrow = resolved("sungrow_sh")
    nameplate = {"power_charge_max_kw": 5, "power_discharge_max_kw": 5, "energy_capacity_kwh": 10}
    image = RegisterImage(sungrow).image(Measurements(p_bess_kw=-2.0), nameplate)
    assert image[13021] == 2000 and image[13000] & 0x0006 == 0x0002  # charging bit
    image[13000] = 0x0004  # discharging bit
    assert sungrow.decode(read_back(sungrow, image)).p_bess_kw == pytest.approx(2.0)
    image[13000] = 0
    assert sungrow.decode(read_back(sungrow, image)).p_bess_kw == 0.0


def test_huawei_invalid_values_are_none() -> None:
    huawei = resolved("huawei_luna2000")
    nameplate = {"power_charge_max_kw": 5, "power_discharge_max_kw": 5, "energy_capacity_kwh": 10}
    image = RegisterImage(huawei).image(Measurements(soc_pct=None, p_pv_kw=None), nameplate)
    got = huawei.decode(read_back(huawei, image))
    assert got.soc_pct is None and got.p_pv_kw is None


def test_on_connect_writes_put_the_device_in_remote_mode() -> None:
    generic = resolved("generic")
    device = RegisterImage(generic)
    nameplate = {"power_charge_max_kw": 5, "power_discharge_max_kw": 5, "energy_capacity_kwh": 10}
    image = device.image(Measurements(), nameplate)
    for write in generic.on_connect_writes():
        device.decode_setpoint_write(write.address, list(write.values), image)
    mode = generic.profile.mode
    assert mode is not None and isinstance(mode.point, RegisterPoint)
    assert mode.values[device.image(Measurements(), nameplate)[mode.point.address]] == "remote"
