"""Fleet aggregation (pure): sums, total capacity, capacity-weighted SoC."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from phoenyra_ems.models import PlantState


@dataclass(frozen=True, slots=True)
class AggregatedState:
    site_count: int
    total_capacity_kwh: float
    soc_avg_pct: float | None  # weighted by capacity; None when no site has a reading
    p_bess: float
    p_pv: float
    p_load: float
    p_grid: float
    sites: tuple[PlantState, ...]


def aggregate(sites: Iterable[tuple[PlantState, float]]) -> AggregatedState:
    """Aggregate ``(state, capacity_kwh)`` pairs; sites without a reading count in capacity only."""
    pairs = list(sites)
    measured = [(s, cap) for s, cap in pairs if s.last_reading is not None]
    weight = sum(cap for _, cap in measured)
    soc = sum(s.soc * cap for s, cap in measured) / weight if weight > 0 else None
    return AggregatedState(
        site_count=len(pairs),
        total_capacity_kwh=sum(cap for _, cap in pairs),
        soc_avg_pct=soc,
        p_bess=sum(s.p_bess for s, _ in measured),
        p_pv=sum(s.p_pv for s, _ in measured),
        p_load=sum(s.p_load for s, _ in measured),
        p_grid=sum(s.p_grid for s, _ in measured),
        sites=tuple(s for s, _ in pairs),
    )
