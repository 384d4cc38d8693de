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
    active = sorted(i for i, cap in caps.items() if cap > 0)  # sorted: the same split every run
    if math.fsum(caps[i] for i in active) <= remaining:  # not feasible (or exactly): all at their caps
        for i in active:
            shares[i] = sign * caps[i]
        return Split(request_kw, shares)
    top = max((w for w in weights.values() if math.isfinite(w)), default=0.0)
    weights = {i: (w / top if top > 0 and math.isfinite(w) else 0.0) for i, w in weights.items()}
    weighted = [i for i in active if weights[i] > 0]
    remaining = _fill(weighted, caps, weights, remaining, shares, sign)
    if remaining > 0:  # what the sites with energy cannot take: the others (none yet), by power
        _fill([i for i in active if shares[i] == 0.0], caps, caps, remaining, shares, sign)
    # Rounding (energies of very different magnitudes): what is still missing goes to spare capacity.
    residual = abs(request_kw) - math.fsum(abs(v) for v in shares.values())
    for i in sorted(active, key=lambda i: abs(shares[i]) - caps[i]):  # most spare first
        if residual <= 0:
            break
        take = min(caps[i] - abs(shares[i]), residual)
        if take > 0:
            shares[i] += sign * take
            residual -= take
    # ... or too much (shares of near-zero weights over a near-zero total): trimmed, largest first.
    for i in sorted(active, key=lambda i: (-abs(shares[i]), i)):
        if residual >= 0:
            break
        cut = min(abs(shares[i]), -residual)
        shares[i] -= sign * cut
        residual += cut
    return Split(request_kw, shares)


def _fill(
    ids: list[str],
    caps: dict[str, float],
    weights: dict[str, float],
    remaining: float,
    shares: dict[str, float],
    sign: float,
) -> float:
    """Water-filling of ``remaining`` over ``ids`` by ``weights``, each capped; what is left over.

    In order of cap / weight: a site that saturates at the present level is set to its cap; the
    first that does not ends the walk, and it and all after it share the rest by weight.
    """
    order = sorted(ids, key=lambda i: (caps[i] / weights[i], i))
    total = math.fsum(weights[i] for i in order)
    for k, site in enumerate(order):
        if total <= 0 or remaining <= 0:
            return max(remaining, 0.0)
        if remaining * (weights[site] / total) < caps[site]:
            given = 0.0
            for i in order[k:]:  # min(): the order can break where a share underflows
                share = min(caps[i], remaining * (weights[i] / total))
                shares[i], given = sign * share, given + share
            return max(remaining - given, 0.0)
        shares[site] = sign * caps[site]
        remaining -= caps[site]
        total -= weights[site]
    return max(remaining, 0.0)
