"""Price arbitrage: charge in the cheapest slots of the known horizon, discharge in the dearest.

Prices are what the site pays and earns, not the bare day-ahead price: a purchase costs the
day-ahead price plus the grid markup, an export earns the feed-in price (fixed, or day-ahead plus
an adder). The battery needs ``k`` slots at full power to fill (or empty) its usable window. The
present slot charges from the grid when it is among the ``k`` cheapest to buy in the horizon and a
later purchase it displaces costs more than the round-trip loss plus a minimum spread. It
discharges when it is among the ``k`` dearest: as much as the site consumes when the purchase
avoided beats the cheapest refill by that margin, and at full power (exporting) only when the
export price itself does.
"""

from __future__ import annotations

import math

from phoenyra_ems.core.strategies.base import DecisionContext, Proposal

DEFAULT_MIN_SPREAD_EUR_MWH = 10.0  # covers wear and model error


class Arbitrage:
    name = "arbitrage"

    def __init__(self, min_spread_eur_mwh: float = DEFAULT_MIN_SPREAD_EUR_MWH) -> None:
        self.min_spread = min_spread_eur_mwh

    def _slots_to_fill(self, ctx: DecisionContext, power_kw: float, efficiency: float) -> int:
        if power_kw <= 0 or ctx.slot_hours <= 0:
            return 0
        hours = ctx.usable_capacity_kwh / (power_kw * efficiency)
        return max(1, math.ceil(hours / ctx.slot_hours - 1e-9))

    def propose(self, ctx: DecisionContext) -> Proposal:
        if len(ctx.prices) < 2:
            return Proposal(self.name, 0.0, 0.0, "no price forecast")
        tariffs, lim = ctx.tariffs, ctx.limits
        buy = [tariffs.buy_eur_mwh(slot.eur_mwh) for slot in ctx.prices]
        buy_now, best_later, cheapest = buy[0], max(buy[1:]), min(buy)
        sell_now = tariffs.sell_eur_mwh(ctx.prices[0].eur_mwh)
        round_trip = lim.efficiency_charge * lim.efficiency_discharge
        ascending = sorted(buy)
        k_charge = min(self._slots_to_fill(ctx, lim.charge_max_kw, lim.efficiency_charge), len(buy))
        k_discharge = min(
            self._slots_to_fill(ctx, lim.discharge_max_kw, 1 / lim.efficiency_discharge), len(buy)
        )
        if (
            k_charge
            and buy_now <= ascending[k_charge - 1]
            and best_later * round_trip - buy_now > self.min_spread
            and ctx.room_below_max_kwh > 0
        ):
            gain = best_later * round_trip - buy_now
            return Proposal(
                self.name,
                -lim.charge_max_kw,
                lim.charge_max_kw * gain / 1000.0,
                f"cheap slot {buy_now:.0f} EUR/MWh, saves {best_later:.0f} later",
            )
        if k_discharge and buy_now >= ascending[-k_discharge] and ctx.stored_above_min_kwh > 0:
            refill = cheapest / round_trip
            if sell_now - refill > self.min_spread:  # exporting pays by itself: full power
                return Proposal(
                    self.name,
                    lim.discharge_max_kw,
                    lim.discharge_max_kw * (sell_now - refill) / 1000.0,
                    f"dear slot: export at {sell_now:.0f} EUR/MWh, refill at {cheapest:.0f}",
                )
            covered = min(max(ctx.state.p_net_load, 0.0), lim.discharge_max_kw)
            if covered > 0 and buy_now - refill > self.min_spread:
                return Proposal(
                    self.name,
                    covered,
                    covered * (buy_now - refill) / 1000.0,
                    f"dear slot: covering {covered:.1f} kW at {buy_now:.0f} EUR/MWh, refill {cheapest:.0f}",
                )
        return Proposal(self.name, 0.0, 0.0, f"price {buy_now:.0f} EUR/MWh: hold")
