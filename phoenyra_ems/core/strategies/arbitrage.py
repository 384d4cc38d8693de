"""Price arbitrage: charge in the cheapest slots of the known horizon, discharge in the dearest.

The battery needs ``k`` slots at full power to fill (or empty) its usable window. The present slot
charges when it is among the ``k`` cheapest of the horizon and a later slot pays more than the
round-trip loss plus a minimum spread; it discharges when it is among the ``k`` dearest and beats
the cheapest refill in the horizon by the same margin.
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
        prices = [slot.eur_mwh for slot in ctx.prices]
        if len(prices) < 2:
            return Proposal(self.name, 0.0, 0.0, "no price forecast")
        now, later = prices[0], prices[1:]
        lim = ctx.limits
        round_trip = lim.efficiency_charge * lim.efficiency_discharge
        ascending = sorted(prices)
        k_charge = min(self._slots_to_fill(ctx, lim.charge_max_kw, lim.efficiency_charge), len(prices))
        k_discharge = min(
            self._slots_to_fill(ctx, lim.discharge_max_kw, 1 / lim.efficiency_discharge), len(prices)
        )
        best_later, cheapest = max(later), min(prices)
        if (
            k_charge
            and now <= ascending[k_charge - 1]
            and best_later * round_trip - now > self.min_spread
            and ctx.room_below_max_kwh > 0
        ):
            gain = best_later * round_trip - now
            return Proposal(
                self.name,
                -lim.charge_max_kw,
                lim.charge_max_kw * gain / 1000.0,
                f"cheap slot {now:.0f} EUR/MWh, sells later at {best_later:.0f}",
            )
        if (
            k_discharge
            and now >= ascending[-k_discharge]
            and now - cheapest / round_trip > self.min_spread
            and ctx.stored_above_min_kwh > 0
        ):
            gain = now - cheapest / round_trip
            return Proposal(
                self.name,
                lim.discharge_max_kw,
                lim.discharge_max_kw * gain / 1000.0,
                f"dear slot {now:.0f} EUR/MWh, refill at {cheapest:.0f}",
            )
        return Proposal(self.name, 0.0, 0.0, f"price {now:.0f} EUR/MWh: hold")
