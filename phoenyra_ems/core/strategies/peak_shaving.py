"""Peak shaving: hold grid import under a cap (demand charge), recharge below it."""

from __future__ import annotations

from phoenyra_ems.core.strategies.base import DecisionContext, Proposal

# Keep this share of the usable capacity for the next peak before recharging stops.
RECHARGE_HEADROOM = 0.9


class PeakShaving:
    name = "peak_shaving"

    def propose(self, ctx: DecisionContext) -> Proposal:
        cap = ctx.tariffs.peak_import_cap_kw
        if cap is None:
            cap = ctx.limits.grid_import_max_kw
        if cap is None:
            return Proposal(self.name, 0.0, 0.0, "no import cap configured")
        net = ctx.state.p_net_load
        excess = net - cap
        demand_charge = max(ctx.tariffs.demand_charge_eur_kw_month, 1.0)
        if excess > 0:
            # A new monthly peak costs the demand charge per kW: worth a lot, right now.
            return Proposal(
                self.name,
                excess,
                excess * demand_charge,
                f"import {net:.1f} kW above cap {cap:.1f} kW",
                urgent=True,
            )
        headroom = cap - net
        if ctx.room_below_max_kwh > ctx.usable_capacity_kwh * (1 - RECHARGE_HEADROOM):
            charge = min(headroom, ctx.limits.charge_max_kw)
            # Recharging for the next peak has no value of its own *now*: it never wins the
            # selection for that, but runs when peak shaving is pinned or already in charge.
            return Proposal(self.name, -charge, 0.0, f"recharging below cap {cap:.1f} kW")
        return Proposal(self.name, 0.0, 0.0, f"import {net:.1f} kW below cap {cap:.1f} kW")
