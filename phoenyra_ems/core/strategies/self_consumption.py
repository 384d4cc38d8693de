"""Self-consumption: store PV surplus, cover the deficit from the battery (no grid exchange)."""

from __future__ import annotations

from phoenyra_ems.core.strategies.base import DecisionContext, Proposal


class SelfConsumption:
    name = "self_consumption"

    def propose(self, ctx: DecisionContext) -> Proposal:
        net = ctx.state.p_net_load  # + deficit, - surplus
        buy = ctx.tariffs.buy_eur_mwh(ctx.price_now or 0.0)
        feed = ctx.tariffs.sell_eur_mwh(ctx.price_now or 0.0)
        round_trip = ctx.limits.efficiency_charge * ctx.limits.efficiency_discharge
        if net < 0:
            # Storing a kWh of surplus forgoes the feed-in tariff and later saves a purchase.
            usable = min(-net, ctx.limits.charge_max_kw) if ctx.room_below_max_kwh > 0 else 0.0
            value = usable * max(buy * round_trip - feed, 0.0) / 1000.0
            return Proposal(self.name, net, value + 1e-6 * usable, f"storing {-net:.1f} kW PV surplus")
        usable = min(net, ctx.limits.discharge_max_kw) if ctx.stored_above_min_kwh > 0 else 0.0
        value = usable * max(buy - feed / round_trip, 0.0) / 1000.0
        return Proposal(self.name, net, value + 1e-6 * usable, f"covering {net:.1f} kW load from battery")
