"""The allocation core: energy and money conserved, caps, static shares, dynamic proportions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenyra_ems.core.community.allocation import MemberMeter, allocate, internal_price_eur_kwh
from phoenyra_ems.core.community.merkle import (
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_inclusion,
)
from phoenyra_ems.core.community.settlement import settle

KWH = st.floats(min_value=0, max_value=500, allow_nan=False)
FACTOR = st.floats(min_value=0.01, max_value=1.0)


@st.composite
def community(draw: st.DrawFn) -> tuple[list[MemberMeter], dict[str, float], dict[str, float]]:
    n = draw(st.integers(min_value=1, max_value=8))
    meters = [MemberMeter(f"m{i}", draw(KWH), draw(KWH)) for i in range(n)]
    raw = [draw(st.integers(min_value=0, max_value=1000)) for _ in range(n)]  # no subnormal sums
    scale = draw(st.floats(min_value=0.1, max_value=1.0)) / (sum(raw) or 1.0)
    shares = {m.member: r * scale for m, r in zip(meters, raw, strict=True)}
    participation = {m.member: draw(FACTOR) for m in meters}
    return meters, shares, participation


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=50, deadline=None)
@given(community(), st.sampled_from(["static", "dynamic"]), st.floats(min_value=-0.2, max_value=0.5))
def test_energy_and_money_conserved_and_capped(data, key, price) -> None:  # type: ignore[no-untyped-def]
    meters, shares, participation = data
    result = allocate(meters, key, price, shares, participation)
    assert close(sum(m.received_kwh for m in result.members), sum(m.provided_kwh for m in result.members))
    assert close(sum(m.provided_kwh + m.surplus_kwh for m in result.members), result.generation_kwh)
    assert close(sum(m.paid_eur for m in result.members), sum(m.earned_eur for m in result.members))
    for meter, m in zip(meters, result.members, strict=True):
        assert 0 <= m.received_kwh <= m.consumption_kwh + 1e-12
        assert m.consumption_kwh == pytest.approx(meter.consumption_kwh * participation[meter.member])
        assert m.surplus_kwh >= -1e-9 and m.provided_kwh >= 0
        assert m.from_grid_kwh >= -1e-12


@settings(max_examples=50, deadline=None)
@given(community())
def test_static_shares_honoured(data) -> None:  # type: ignore[no-untyped-def]
    meters, shares, _ = data
    result = allocate(meters, "static", 0.1, shares)
    total = result.generation_kwh
    for m in result.members:
        assert close(m.received_kwh, min(m.consumption_kwh, shares[m.member] * total))
    # an unused share is not redistributed: it is surplus
    unused = sum(shares[m.member] * total - m.received_kwh for m in result.members)
    assert result.surplus_kwh == pytest.approx(total - sum(shares.values()) * total + unused, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(community())
def test_dynamic_proportional_to_consumption(data) -> None:  # type: ignore[no-untyped-def]
    meters, _, _ = data
    result = allocate(meters, "dynamic", 0.1)
    consumption = sum(m.consumption_kwh for m in result.members)
    assert close(result.shared_kwh, min(consumption, result.generation_kwh))
    for m in result.members:
        if consumption > 0:
            assert close(
                m.received_kwh / result.shared_kwh if result.shared_kwh else 0.0,
                m.consumption_kwh / consumption if result.shared_kwh else 0.0,
            )


def test_worked_example_static() -> None:
    meters = [MemberMeter("pv", 0, 10), MemberMeter("a", 8, 0), MemberMeter("b", 1, 0)]
    result = allocate(meters, "static", 0.10, {"a": 0.5, "b": 0.3})
    got = {m.member: m for m in result.members}
    assert got["a"].received_kwh == 5.0  # its 50 % share
    assert got["b"].received_kwh == 1.0  # capped by its consumption; its unused 2 kWh are surplus
    assert got["pv"].provided_kwh == 6.0 and got["pv"].surplus_kwh == 4.0
    assert got["pv"].earned_eur == pytest.approx(0.6) and got["a"].paid_eur == pytest.approx(0.5)


def test_bad_inputs_refused() -> None:
    with pytest.raises(ValueError, match="unknown allocation key"):
        allocate([], "fair", 0.1)
    with pytest.raises(ValueError, match="more than 100 %"):
        allocate([MemberMeter("a", 1, 1)], "static", 0.1, {"a": 0.7, "b": 0.4})


def test_dayahead_price_and_settlement_totals() -> None:
    assert internal_price_eur_kwh("dayahead", 0.12, 80.0, 1.0, 0.02) == pytest.approx(0.10)
    assert internal_price_eur_kwh("dayahead", 0.12, None, 1.0, 0.02) == 0.12
    assert internal_price_eur_kwh("fixed", 0.12, 80.0, 1.0, 0.02) == 0.12
    rows = [allocate([MemberMeter("a", 2, 0), MemberMeter("p", 0, 1)], "dynamic", 0.1).members[0]] * 4
    month = settle("c", "a", "2024-06", rows)
    assert month.received_kwh == pytest.approx(4.0) and month.from_grid_kwh == pytest.approx(4.0)
    assert month.net_eur == pytest.approx(-0.4)


def _mth(d: list[bytes]) -> bytes:  # RFC 9162 §2.1.1, literally
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return node_hash(_mth(d[:k]), _mth(d[k:]))


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_merkle_matches_rfc9162(n: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = MerkleTree(leaves)
    assert tree.root == _mth(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    assert verify_inclusion(i, n, leaves[i], tree.path(i), tree.root)
    assert not verify_inclusion(i, n, leaf_hash(b"forged"), tree.path(i), tree.root)
    if n > 1:
        assert not verify_inclusion((i + 1) % n, n, leaves[i], tree.path(i), tree.root)
