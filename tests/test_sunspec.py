"""SunSpec: model definitions, the discovery scan (fake in-memory reads) and resolution."""

from __future__ import annotations

import importlib.util
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from phoenyra_ems.devices.codec import RegisterMap, SetpointUnavailable, resolve_profile
from phoenyra_ems.devices.sunspec import (
    DEFAULT_MODELS,
    SunSpecNotFound,
    header_image,
    layout_sunspec_models,
    model_definition,
    model_definitions,
    scan_sunspec,
    sunspec_point,
)
from phoenyra_ems.models import Measurements
from phoenyra_ems.profiles.loader import load_profile
from phoenyra_ems.simulator.image import RegisterImage

NAMEPLATE = {"power_charge_max_kw": 5.0, "power_discharge_max_kw": 5.0, "energy_capacity_kwh": 10.0}


def fake_read(
    image: dict[int, int], *, illegal_outside: bool = True
) -> Callable[[int, int], Awaitable[list[int] | None]]:
    """read(address, count) over an image; None (illegal address) outside it, like a device."""
    lo, hi = (min(image), max(image)) if image else (0, -1)

    async def read(address: int, count: int) -> list[int] | None:
        if illegal_outside and (address < lo or address + count - 1 > hi):
            return None
        return [image.get(a, 0) for a in range(address, address + count)]

    return read


@pytest.mark.parametrize(
    ("model_id", "length"),
    [(1, 66), (103, 50), (124, 24), (701, 153), (702, 50), (704, 65), (713, 7), (714, 18), (802, 62)],
)
def test_model_lengths_match_the_official_definitions(model_id: int, length: int) -> None:
    assert model_definition(model_id).length() == length


def _official_points(model_id: int) -> list[tuple[str, str, int, str | None, str | None]]:
    """(name, type, size, sf, units) of every point, as pysunspec2 defines the model."""
    sunspec2_device = pytest.importorskip("sunspec2.device")
    top = sunspec2_device.get_model_def(model_id)["group"]
    out = [(p["name"], p["type"], int(p["size"]), p.get("sf"), p.get("units")) for p in top["points"]]
    for group in top.get("groups", []):
        prefix = "" if "count" in group else f"{group['name']}."
        out += [
            (prefix + p["name"], p["type"], int(p["size"]), p.get("sf"), p.get("units"))
            for p in group["points"]
        ]
    return out


@pytest.mark.parametrize("model_id", sorted(model_definitions()))
def test_shipped_models_equal_pysunspec2s_definitions(model_id: int) -> None:
    """Every shipped model matches the official definition point by point (713: Pct_SF)."""
    md = model_definition(model_id)
    official = _official_points(model_id)
    fixed = [p for p in official[: len(md.points)]]
    assert [(p.name, p.type, p.size, p.sf, p.units) for p in md.points.values()] == fixed
    repeat = official[len(md.points) :]
    assert md.repeat_size == sum(size for _, _, size, _, _ in repeat)


def test_shipped_json_is_what_the_script_generates() -> None:
    pytest.importorskip("sunspec2")
    script = Path(__file__).resolve().parent.parent / "scripts" / "update_sunspec_models.py"
    spec = importlib.util.spec_from_file_location("update_sunspec_models", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


def test_default_models_and_every_model_the_code_references_are_shipped() -> None:
    from phoenyra_ems.devices.codec import WDISCHAMAX_CANDIDATES, WMAX_CANDIDATES
    from phoenyra_ems.profiles.loader import SunSpecChoice, SunSpecRef

    profile = load_profile("sunspec")
    refs = [
        r
        for spec in profile.measurements.values()
        if isinstance(spec, SunSpecChoice)
        for r in spec.candidates
    ]
    if profile.mode is not None and isinstance(profile.mode.point, SunSpecRef):
        refs.append(profile.mode.point)
    pairs = [(r.model, r.point) for r in refs] + list(WDISCHAMAX_CANDIDATES) + list(WMAX_CANDIDATES)
    for model_id, name in pairs:
        model_definition(model_id).point(name)
    assert set(DEFAULT_MODELS) <= set(model_definitions())


def _device_713_704_image(pct_sf: int = -1) -> dict[int, int]:
    """A DER with 713 (official layout, L = 7) and 704 but no 802, written out by hand (not by our
    codec): WHRtg 10000 Wh, WHAvail 5230 Wh, SoC 523 and SoH 987 with Pct_SF."""
    image = {40000: 0x5375, 40001: 0x6E53, 40002: 1, 40003: 66}
    image.update(dict.fromkeys(range(40004, 40070), 0))
    a = 40070  # 713: ID, L, WHRtg, WHAvail, SoC, SoH, Sta, WH_SF, Pct_SF
    image.update(enumerate((713, 7, 10000, 5230, 523, 987, 0, 0, pct_sf & 0xFFFF), a))
    a += 9
    image.update(enumerate((704, 65, *([0] * 65)), a))
    a += 67
    image.update({a: 0xFFFF, a + 1: 0})
    return image


async def test_713_soc_applies_pct_sf() -> None:
    """The outdated 713 (6 registers, no Pct_SF) read this device's SoC as 523 %."""
    image = _device_713_704_image()
    models = await scan_sunspec(fake_read(image))
    assert models[713] == 40070
    rmap = resolve_profile(load_profile("sunspec"), models)
    got = rmap.decode(_blocks(rmap, image))
    assert got.soc_pct == pytest.approx(52.3)
    assert got.soh_pct == pytest.approx(98.7)
    image[40078] = 0x8000  # Pct_SF not implemented: the SoC is unusable, never 523 %
    assert rmap.decode(_blocks(rmap, image)).soc_pct is None


def _blocks(rmap: RegisterMap, image: dict[int, int]) -> dict[tuple[str, int], list[int]]:
    return {
        (b.table, b.address): [image.get(a, 0) for a in range(b.address, b.address + b.count)]
        for b in rmap.read_plan()
    }


def test_point_offsets_from_the_json() -> None:
    assert model_definition(124).point("InWRte").offset == 13
    assert model_definition(124).point("InOutWRte_SF").offset == 25
    assert model_definition(704).point("WSet").offset == 24 and model_definition(704).point("WSet").size == 2
    assert model_definition(802).point("W").offset == 47
    assert model_definition(802).point("W_SF").offset == 63


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_scan_finds_the_marker_at_each_base(base: int) -> None:
    layout = layout_sunspec_models(DEFAULT_MODELS, base=base)
    models = await scan_sunspec(fake_read(header_image(layout)))
    assert models == layout
    assert models[1] == base + 2


async def test_scan_without_marker_raises() -> None:
    with pytest.raises(SunSpecNotFound):
        await scan_sunspec(fake_read({40000: 1, 40001: 2, 0: 7}))
    with pytest.raises(SunSpecNotFound):
        await scan_sunspec(fake_read({}, illegal_outside=True))


async def test_scan_walks_unknown_models_and_stops_at_end_marker() -> None:
    # SunS, model 1 (L=66), vendor model 64001 (L=10), model 802 (L=62), end; junk after the end
    image = header_image({1: 40002})
    image.pop(40002 + 68)
    image.pop(40002 + 69)
    image.update({40070: 64001, 40071: 10, 40082: 802, 40083: 62, 40146: 0xFFFF, 40147: 0})
    image.update({40148: 124, 40149: 24})
    models = await scan_sunspec(fake_read(image))
    assert models == {1: 40002, 64001: 40070, 802: 40082}


async def test_scan_tolerates_failed_reads_mid_chain() -> None:
    image = header_image({1: 2})
    image.pop(2 + 68)  # no end marker: the read after model 1 fails (outside the image)
    image.pop(2 + 69)
    assert await scan_sunspec(fake_read(image)) == {1: 2}


async def test_resolution_from_a_scan_matches_the_layout() -> None:
    profile = load_profile("sunspec")
    layout = layout_sunspec_models(profile)
    rmap = resolve_profile(profile, layout)
    image = _device(rmap).image(Measurements(soc_pct=40.0, p_bess_kw=1.0), NAMEPLATE)
    scanned = await scan_sunspec(fake_read(image))
    assert scanned == layout
    assert resolve_profile(profile, scanned).read_plan() == resolve_profile(profile, layout).read_plan()


def test_sunspec_profile_needs_a_scan() -> None:
    with pytest.raises(ValueError, match="scan"):
        resolve_profile(load_profile("sunspec"))


_DEVICES: weakref.WeakKeyDictionary[RegisterMap, RegisterImage] = weakref.WeakKeyDictionary()


def _device(rmap: RegisterMap) -> RegisterImage:
    """The simulator's side of ``rmap`` (one per map: it remembers the writes it received)."""
    return _DEVICES.setdefault(rmap, RegisterImage(rmap))


def _decode(
    models: tuple[int, ...], m: Measurements, nameplate: dict[str, float] = NAMEPLATE
) -> tuple[RegisterMap, dict[int, int], Measurements]:
    rmap = resolve_profile(load_profile("sunspec"), layout_sunspec_models(models))
    image = _device(rmap).image(m, nameplate)
    blocks = {
        (b.table, b.address): [image[a] for a in range(b.address, b.address + b.count)]
        for b in rmap.read_plan()
    }
    return rmap, image, rmap.decode(blocks)


def test_not_implemented_values_are_none() -> None:
    _, image, got = _decode(DEFAULT_MODELS, Measurements(soc_pct=None, soh_pct=80.0, p_bess_kw=None))
    assert got.soc_pct is None and got.p_bess_kw is None and got.soh_pct == pytest.approx(80.0)
    assert got.p_pv_kw is None  # the SunSpec profile maps no PV point
    rmap = resolve_profile(load_profile("sunspec"), layout_sunspec_models())
    w_sf = sunspec_point(layout_sunspec_models(), 802, "W").sf_address
    assert w_sf is not None
    image = _device(rmap).image(Measurements(soc_pct=50.0, p_bess_kw=2.0), NAMEPLATE)
    image[w_sf] = 0x8000  # scale factor not implemented -> the value is unusable
    blocks = {
        (b.table, b.address): [image[a] for a in range(b.address, b.address + b.count)]
        for b in rmap.read_plan()
    }
    assert rmap.decode(blocks).p_bess_kw is None


def test_candidates_fall_back_in_order() -> None:
    _, _, got = _decode((1, 713, 124), Measurements(soc_pct=61.7, soh_pct=90.0, p_bess_kw=1.0))
    assert got.soc_pct == pytest.approx(61.7)  # 713 SoC with Pct_SF = -1
    assert got.soh_pct == pytest.approx(90.0)
    assert got.p_bess_kw is None  # no 802, 714, 701 or 103 -> no battery power point
    _, _, got = _decode((1, 124), Measurements(soc_pct=61.7))
    assert got.soc_pct == pytest.approx(61.7)  # 124 ChaState with ChaState_SF = -1


def test_scale_factor_follows_the_nameplate() -> None:
    big = {"power_charge_max_kw": 60.0, "power_discharge_max_kw": 60.0, "energy_capacity_kwh": 120.0}
    rmap, _, got = _decode(DEFAULT_MODELS, Measurements(soc_pct=50.0, p_bess_kw=-45.678), big)
    assert got.p_bess_kw == pytest.approx(-45.68, abs=0.006)  # W_SF = 1: 10 W steps
    assert rmap.resolution("p_bess_kw") == pytest.approx(0.01)


@pytest.mark.parametrize(("models", "control_model"), [(DEFAULT_MODELS, 124), ((1, 704, 802), 704)])
def test_control_model_preference(models: tuple[int, ...], control_model: int) -> None:
    rmap, image, _ = _decode(models, Measurements(soc_pct=50.0, p_bess_kw=0.0))
    writes = rmap.encode_setpoint(-2.5)
    base = layout_sunspec_models(models)[control_model]
    assert all(base <= w.address < base + model_definition(control_model).fixed_length for w in writes)
    for w in writes:
        image.update(enumerate(w.values, w.address))
    last = [_device(rmap).decode_setpoint_write(w.address, list(w.values), image) for w in writes]
    assert last[-1] == pytest.approx(-2.5, abs=1e-3)


def test_storage_control_registers() -> None:
    rmap, _, _ = _decode(DEFAULT_MODELS, Measurements(soc_pct=50.0))
    base = layout_sunspec_models()[124]
    writes = {w.address: w.values for w in rmap.encode_setpoint(2.5)}  # 50 % of WChaMax = 5 kW
    assert writes[base + 5] == (3,)  # StorCtl_Mod: charge and discharge limits active
    out_rte, in_rte, _win, rvrt, _rmp = writes[base + 12]
    assert out_rte == 5000 and in_rte == (-5000) & 0xFFFF  # InOutWRte_SF = -2
    assert rvrt == 60  # InOutWRte_RvrtTms = revert_timeout_s


def test_setpoint_needs_a_read_first() -> None:
    rmap = resolve_profile(load_profile("sunspec"), layout_sunspec_models())
    with pytest.raises(SetpointUnavailable):
        rmap.encode_setpoint(1.0)
    assert rmap.safe_writes()  # the safe state never needs device values


POWER_SOURCES = {802: "W", 714: "DCW", 701: "W", 103: "W"}


@pytest.mark.parametrize(
    ("models", "source"),
    [
        ((1, 103, 124, 701, 704, 713, 714, 802), 802),
        ((1, 103, 124, 701, 704, 713, 714), 714),
        ((1, 103, 701, 704, 713), 701),
        ((1, 103, 124), 103),
    ],
)
def test_battery_power_without_802_falls_back_to_714_then_701_then_103(
    models: tuple[int, ...], source: int
) -> None:
    rmap, image, got = _decode(models, Measurements(soc_pct=50.0, p_bess_kw=-3.2))
    assert got.p_bess_kw == pytest.approx(-3.2, abs=0.01)
    layout = layout_sunspec_models(models)
    for model_id, name in POWER_SOURCES.items():  # spoil every other source: the chosen one is read
        if model_id in layout and model_id != source:
            image[sunspec_point(layout, model_id, name).address] = 1234
    assert rmap.decode(_blocks(rmap, image)).p_bess_kw == pytest.approx(-3.2, abs=0.01)


UNEVEN = {"power_charge_max_kw": 5.0, "power_discharge_max_kw": 10.0, "energy_capacity_kwh": 20.0}


@pytest.mark.parametrize(
    ("models", "wdis_kw"), [(DEFAULT_MODELS, 10.0), ((1, 124, 702, 713, 714), 10.0), ((1, 103, 124), 5.0)]
)
def test_outwrte_is_a_percentage_of_wdischamax(models: tuple[int, ...], wdis_kw: float) -> None:
    """OutWRte % of WDisChaMax (802 or 702 WDisChaRteMax), InWRte % of WChaMax; without a
    WDisChaMax the base is WChaMax."""
    rmap, _, _ = _decode(models, Measurements(soc_pct=50.0), UNEVEN)
    off = layout_sunspec_models(models)[124]
    for kw in (2.5, -2.5):
        writes = {w.address: w.values for w in rmap.encode_setpoint(kw)}
        out_rte, in_rte = (v - 0x10000 if v & 0x8000 else v for v in writes[off + 12][:2])
        assert out_rte == round(kw / wdis_kw * 100 * 100)  # InOutWRte_SF = -2
        assert in_rte == round(-kw / 5.0 * 100 * 100)
    assert rmap.setpoint_range_kw() == pytest.approx((-5.0, wdis_kw), abs=0.001)


def _write_124(
    rmap: RegisterMap, image: dict[int, int], base: int, mode: int, out_pct: float, in_pct: float
) -> float | None:
    values = ((round(out_pct * 100) & 0xFFFF), (round(in_pct * 100) & 0xFFFF), 0, 0, 0)
    _device(rmap).decode_setpoint_write(base + 12, list(values), image)
    image.update(enumerate(values, base + 12))
    return _device(rmap).decode_setpoint_write(base + 5, [mode], image)


def test_device_side_storctl_mod_bits() -> None:
    """What a 124 device does with StorCtl_Mod bits: it holds 0 kW within the window left by the
    active limits (bit 0 CHARGE: InWRte % of WChaMax, bit 1 DISCHARGE: OutWRte % of WDisChaMax)."""
    rmap, image, _ = _decode(DEFAULT_MODELS, Measurements(soc_pct=50.0), UNEVEN)
    base = layout_sunspec_models()[124]
    assert _write_124(rmap, image, base, 1, 100.0, -40.0) == pytest.approx(2.0)  # forced discharge
    assert _write_124(rmap, image, base, 2, -30.0, 100.0) == pytest.approx(-3.0)  # forced charge
    assert _write_124(rmap, image, base, 1, -30.0, 50.0) == 0.0  # only the charge limit counts
    assert _write_124(rmap, image, base, 3, 20.0, -20.0) == pytest.approx(1.0)  # 1..2 kW: the least
    assert _write_124(rmap, image, base, 0, -50.0, -50.0) == 0.0  # no limit active: it holds


async def test_legacy_713_without_pct_sf_is_read_in_whole_percent() -> None:
    """A device still on the old 713 (L = 6, no Pct_SF): the register after the model (here the
    next model's ID) is not its scale factor; a point beyond a model's reported length is one
    the device's (older) definition does not have."""
    image = {40000: 0x5375, 40001: 0x6E53, 40002: 1, 40003: 66}
    image.update(dict.fromkeys(range(40004, 40070), 0))
    image.update(enumerate((713, 6, 10000, 5200, 52, 99, 0, 0), 40070))  # ..., Sta, WH_SF
    image.update(enumerate((704, 65, *([0] * 65)), 40078))
    image.update({40145: 0xFFFF, 40146: 0})
    models = await scan_sunspec(fake_read(image))
    assert models == {1: 40002, 713: 40070, 704: 40078}
    rmap = resolve_profile(load_profile("sunspec"), models)
    got = rmap.decode(_blocks(rmap, image))
    assert got.soc_pct == pytest.approx(52.0)
    assert got.soh_pct == pytest.approx(99.0)


def test_wdischamax_not_implemented_in_702_falls_back_to_802_then_wchamax() -> None:
    models = (1, 124, 702, 802)
    layout = layout_sunspec_models(models)
    rmap, image, _ = _decode(models, Measurements(soc_pct=50.0), UNEVEN)
    image[sunspec_point(layout, 702, "WDisChaRteMax").address] = 0xFFFF  # not implemented
    rmap.decode(_blocks(rmap, image))
    assert rmap.setpoint_range_kw() == pytest.approx((-5.0, 10.0), abs=0.001)  # 802's 10 kW
    image[sunspec_point(layout, 802, "WDisChaRteMax").address] = 0xFFFF
    rmap.decode(_blocks(rmap, image))
    assert rmap.setpoint_range_kw() == pytest.approx((-5.0, 5.0), abs=0.001)  # WChaMax
