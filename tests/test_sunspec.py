"""SunSpec: model definitions, the discovery scan (fake in-memory reads) and resolution."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from phoenyra_ems.devices.codec import RegisterMap, SetpointUnavailable, resolve_profile
from phoenyra_ems.devices.profile import load_profile
from phoenyra_ems.devices.sunspec import (
    DEFAULT_MODELS,
    SunSpecNotFound,
    header_image,
    layout_sunspec_models,
    model_definition,
    scan_sunspec,
    sunspec_point,
)
from phoenyra_ems.models import Measurements

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
    ("model_id", "length"), [(1, 66), (124, 24), (704, 65), (713, 6), (714, 18), (802, 62)]
)
def test_model_lengths_match_the_official_definitions(model_id: int, length: int) -> None:
    assert model_definition(model_id).length() == length


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
    image = resolve_profile(profile, layout).image(Measurements(soc_pct=40.0, p_bess_kw=1.0), NAMEPLATE)
    scanned = await scan_sunspec(fake_read(image))
    assert scanned == layout
    assert resolve_profile(profile, scanned).read_plan() == resolve_profile(profile, layout).read_plan()


def test_sunspec_profile_needs_a_scan() -> None:
    with pytest.raises(ValueError, match="scan"):
        resolve_profile(load_profile("sunspec"))


def _decode(
    models: tuple[int, ...], m: Measurements, nameplate: dict[str, float] = NAMEPLATE
) -> tuple[RegisterMap, dict[int, int], Measurements]:
    rmap = resolve_profile(load_profile("sunspec"), layout_sunspec_models(models))
    image = rmap.image(m, nameplate)
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
    image = rmap.image(Measurements(soc_pct=50.0, p_bess_kw=2.0), NAMEPLATE)
    image[w_sf] = 0x8000  # scale factor not implemented -> the value is unusable
    blocks = {
        (b.table, b.address): [image[a] for a in range(b.address, b.address + b.count)]
        for b in rmap.read_plan()
    }
    assert rmap.decode(blocks).p_bess_kw is None


def test_candidates_fall_back_in_order() -> None:
    _, _, got = _decode((1, 713, 124), Measurements(soc_pct=61.7, soh_pct=90.0, p_bess_kw=1.0))
    assert got.soc_pct == pytest.approx(62.0)  # 713 SoC: whole percent
    assert got.p_bess_kw is None  # no 802 -> no battery power point
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
    last = [rmap.decode_setpoint_write(w.address, list(w.values), image) for w in writes]
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
