"""Per-interval allocation of a renewable energy community's generation (pure).

Each interval, every member offers its metered generation fed in and consumption taken, scaled by
its participation factor in this community. The community's generation ``G`` is allocated to the
consumers with one of two keys:

- ``static``: member ``i`` may take ``share_i × G``, capped by its consumption; an unused share is
  *not* redistributed — it is surplus (sold to the grid by its producers).
- ``dynamic``: ``min(G, C)`` is shared in proportion to consumption ``c_i / C``.

What the consumers receive is provided by the producers in proportion to their generation; the
rest of each producer's generation is its surplus. Money flows at the interval's internal price:
each consumer pays ``received × price``, each producer earns ``provided × price``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KEYS = ("static", "dynamic")


@dataclass(frozen=True, slots=True)
class MemberMeter:
    """One member's metered energy in one interval (kWh, both ≥ 0), before the participation factor."""

    member: str
    consumption_kwh: float
    generation_kwh: float


@dataclass(frozen=True, slots=True)
class MemberAllocation:
    member: str
    consumption_kwh: float  # offered to this community (after the participation factor)
    generation_kwh: float
    received_kwh: float  # from the community; consumption - received comes from the grid
    provided_kwh: float  # own generation used by other members
    surplus_kwh: float  # own generation not used in the community (to the grid)
    paid_eur: float  # received × price
    earned_eur: float  # provided × price

    @property
    def from_grid_kwh(self) -> float:
        return self.consumption_kwh - self.received_kwh


@dataclass(frozen=True, slots=True)
class IntervalAllocation:
    price_eur_kwh: float
    members: tuple[MemberAllocation, ...]

    @property
    def generation_kwh(self) -> float:
        return sum(m.generation_kwh for m in self.members)

    @property
    def shared_kwh(self) -> float:
        return sum(m.received_kwh for m in self.members)

    @property
    def surplus_kwh(self) -> float:
        return sum(m.surplus_kwh for m in self.members)


def allocate(
    meters: Sequence[MemberMeter],
    key: str,
    price_eur_kwh: float,
    shares: Mapping[str, float] | None = None,
    participation: Mapping[str, float] | None = None,
) -> IntervalAllocation:
    """One interval's allocation. ``shares`` (static key) and ``participation`` are fractions 0..1.

    A member missing from ``participation`` takes part with 1.0; one missing from ``shares`` has
    share 0 under the static key.
    """
    if key not in KEYS:
        raise ValueError(f"unknown allocation key {key!r}; expected one of {', '.join(KEYS)}")
    if key == "static" and sum((shares or {}).values()) > 1.0 + 1e-9:
        raise ValueError("static shares add up to more than 100 %")
    factors = participation or {}
    offered = [
        (
            m.member,
            max(0.0, m.consumption_kwh) * factors.get(m.member, 1.0),
            max(0.0, m.generation_kwh) * factors.get(m.member, 1.0),
        )
        for m in meters
    ]
    total_gen = sum(g for _, _, g in offered)
    total_con = sum(c for _, c, _ in offered)
    if key == "dynamic":
        shared = min(total_gen, total_con)
        received = [c * shared / total_con if total_con > 0 else 0.0 for _, c, _ in offered]
    else:
        given = shares or {}
        received = [min(c, given.get(member, 0.0) * total_gen) for member, c, _ in offered]
        shared = sum(received)
    used = min(shared, total_gen)  # equal up to rounding; never more than generated
    members = []
    for (member, con, gen), rec in zip(offered, received, strict=True):
        rec = min(rec, con)
        provided = gen * used / total_gen if total_gen > 0 else 0.0
        members.append(
            MemberAllocation(
                member=member,
                consumption_kwh=con,
                generation_kwh=gen,
                received_kwh=rec,
                provided_kwh=provided,
                surplus_kwh=gen - provided,
                paid_eur=rec * price_eur_kwh,
                earned_eur=provided * price_eur_kwh,
            )
        )
    return IntervalAllocation(price_eur_kwh, tuple(members))


def internal_price_eur_kwh(
    mode: str, fixed_eur_kwh: float, dayahead_eur_mwh: float | None, factor: float, markup_eur_kwh: float
) -> float:
    """The community's internal price for one interval.

    ``fixed``: ``fixed_eur_kwh``. ``dayahead``: ``factor × day-ahead / 1000 + markup`` (falls back to
    ``fixed_eur_kwh`` where the day-ahead price is unknown).
    """
    if mode == "dayahead" and dayahead_eur_mwh is not None:
        return factor * dayahead_eur_mwh / 1000.0 + markup_eur_kwh
    return fixed_eur_kwh
