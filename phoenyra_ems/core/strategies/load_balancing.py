"""Load balancing: flatten the grid exchange towards its recent mean (smooths load swings)."""

from __future__ import annotations

from statistics import fmean

from phoenyra_ems.core.strategies.base import DecisionContext, Proposal

# Value of one kW of smoothing, as a share of the grid fee per kWh (a proxy: network benefit).
SMOOTHING_VALUE_SHARE = 0.1


class LoadBalancing:
    name = "load_balancing"

    def propose(self, ctx: DecisionContext) -> Proposal:
        history = ctx.recent_net_load_kw
        if len(history) < 2:
            return Proposal(self.name, 0.0, 0.0, "not enough history")
        target = fmean(history)
        deviation = ctx.state.p_net_load - target  # + above mean: discharge
        fee = ctx.tariffs.energy_price_markup_eur_mwh / 1000.0
        value = abs(deviation) * fee * SMOOTHING_VALUE_SHARE
        return Proposal(self.name, deviation, value, f"grid towards mean {target:.1f} kW")
