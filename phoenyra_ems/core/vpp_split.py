"""Fleet dispatch: one setpoint for an aggregated resource split across its sites (pure).

Each site gets a share proportional to the energy it has for the request's direction (available
energy for a discharge, headroom for a charge), capped at the power it can hold for the duration
(:class:`~phoenyra_ems.core.vpp.Flexibility`, which already accounts for SoC, power limits, grid
connection and own use); what a capped site cannot take is redistributed over the others by the same
rule (water-filling). Sites that dropped out (communication loss, fault) are simply not passed in:
calling again with the remaining sites is the rebalance. Whenever the request is within the sum of
the sites' capacities the shares add up to it exactly; beyond, every site runs at its cap and the
shortfall is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from phoenyra_ems.core.vpp import Flexibility


@dataclass(frozen=True, slots=True)
class Split:
    requested_kw: float
    shares: dict[str, float]  # site id -> kW (+ discharge / - charge)

    @property
    def allocated_kw(self) -> float:
        return math.fsum(self.shares.values())

    @property
    def shortfall_kw(self) -> float:
        """How much of the request the sites cannot take (>= 0)."""
        return max(0.0, abs(self.requested_kw) - abs(self.allocated_kw))


def split_setpoint(request_kw: float, sites: Sequence[Flexibility]) -> Split:
    """Shares of ``request_kw`` for ``sites`` (each within its own limits); see the module docstring."""
    shares = {s.site_id: 0.0 for s in sites}
    if not math.isfinite(request_kw) or request_kw == 0.0 or not sites:
        return Split(request_kw if math.isfinite(request_kw) else 0.0, shares)
    sign = 1.0 if request_kw > 0 else -1.0
    caps = {
        s.site_id: max(0.0, s.max_discharge_kw if sign > 0 else s.max_charge_kw)
        for s in sites
        if math.isfinite(s.max_discharge_kw if sign > 0 else s.max_charge_kw)
    }
    weights = {
        s.site_id: max(0.0, s.available_energy_kwh if sign > 0 else s.headroom_energy_kwh) for s in sites
    }
    remaining = abs(request_kw)
    active = {i for i, cap in caps.items() if cap > 0}
    if math.fsum(caps[i] for i in active) <= remaining:  # not feasible (or exactly): all at their caps
        for i in active:
            shares[i] = sign * caps[i]
        return Split(request_kw, shares)
    while active and remaining > 0:
        w = {i: weights[i] if math.isfinite(weights[i]) else 0.0 for i in active}
        total = math.fsum(w.values())
        if total <= 0:  # no energy figure tells them apart: by power
            w, total = {i: caps[i] for i in active}, math.fsum(caps[i] for i in active)
        saturated = {i for i in active if remaining * (w[i] / total) >= caps[i]}
        if not saturated:
            for i in active:
                shares[i] = sign * remaining * (w[i] / total)
            break
        for i in saturated:
            shares[i] = sign * caps[i]
            remaining -= caps[i]
        active -= saturated
    return Split(request_kw, shares)
