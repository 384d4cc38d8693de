"""The four strategies of the plan, by name."""

from __future__ import annotations

from phoenyra_ems.core.strategies.arbitrage import Arbitrage
from phoenyra_ems.core.strategies.base import DecisionContext, PriceSlot, Proposal, Strategy
from phoenyra_ems.core.strategies.load_balancing import LoadBalancing
from phoenyra_ems.core.strategies.peak_shaving import PeakShaving
from phoenyra_ems.core.strategies.self_consumption import SelfConsumption

STRATEGY_TYPES: dict[str, type[Strategy]] = {
    "arbitrage": Arbitrage,
    "peak_shaving": PeakShaving,
    "self_consumption": SelfConsumption,
    "load_balancing": LoadBalancing,
}


def build_strategies(names: tuple[str, ...] | list[str]) -> list[Strategy]:
    """Instantiate the named strategies (KeyError on an unknown name)."""
    return [STRATEGY_TYPES[name]() for name in names]


__all__ = [
    "STRATEGY_TYPES",
    "Arbitrage",
    "DecisionContext",
    "LoadBalancing",
    "PeakShaving",
    "PriceSlot",
    "Proposal",
    "SelfConsumption",
    "Strategy",
    "build_strategies",
]
