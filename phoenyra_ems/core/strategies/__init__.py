"""The strategies of the pool, by name."""

from __future__ import annotations

from phoenyra_ems.config.model import EmsSettings
from phoenyra_ems.core.optimiser.plan import OptimiserSettings
from phoenyra_ems.core.strategies.arbitrage import Arbitrage
from phoenyra_ems.core.strategies.base import DecisionContext, PriceSlot, Proposal, Strategy
from phoenyra_ems.core.strategies.load_balancing import LoadBalancing
from phoenyra_ems.core.strategies.optimiser import Optimiser
from phoenyra_ems.core.strategies.peak_shaving import PeakShaving
from phoenyra_ems.core.strategies.self_consumption import SelfConsumption

STRATEGY_TYPES: dict[str, type[Strategy]] = {
    "arbitrage": Arbitrage,
    "peak_shaving": PeakShaving,
    "self_consumption": SelfConsumption,
    "load_balancing": LoadBalancing,
    "optimiser": Optimiser,
}


def build_strategies(names: tuple[str, ...] | list[str], ems: EmsSettings | None = None) -> list[Strategy]:
    """Instantiate the named strategies (KeyError on an unknown name); ``ems`` configures the optimiser."""
    strategies: list[Strategy] = []
    for name in names:
        if name == "optimiser":
            strategies.append(Optimiser(OptimiserSettings.from_ems(ems) if ems else None))
        else:
            strategies.append(STRATEGY_TYPES[name]())
    return strategies


__all__ = [
    "STRATEGY_TYPES",
    "Arbitrage",
    "DecisionContext",
    "LoadBalancing",
    "Optimiser",
    "PeakShaving",
    "PriceSlot",
    "Proposal",
    "SelfConsumption",
    "Strategy",
    "build_strategies",
]
