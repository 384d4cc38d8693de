"""The strategies of the pool, by name.

The optimiser needs numpy and scipy (the ``ml`` extra): it is imported only when a site uses it, so
a daemon without that extra still loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phoenyra_ems.config.model import OPTIMISER, RULE_STRATEGIES, STRATEGY_NAMES
from phoenyra_ems.core.strategies.arbitrage import Arbitrage
from phoenyra_ems.core.strategies.base import DecisionContext, PriceSlot, Proposal, Strategy
from phoenyra_ems.core.strategies.load_balancing import LoadBalancing
from phoenyra_ems.core.strategies.peak_shaving import PeakShaving
from phoenyra_ems.core.strategies.self_consumption import SelfConsumption

if TYPE_CHECKING:
    from phoenyra_ems.config.model import EmsSettings

# The names are config.model.STRATEGY_NAMES (what a config may list); each class states its own.
STRATEGY_TYPES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Arbitrage, PeakShaving, SelfConsumption, LoadBalancing)
}
if tuple(STRATEGY_TYPES) != RULE_STRATEGIES:  # pragma: no cover - a developer's mistake, caught at import
    raise ImportError(f"strategy classes {tuple(STRATEGY_TYPES)} differ from config {RULE_STRATEGIES}")


def build_strategies(names: tuple[str, ...] | list[str], ems: EmsSettings | None = None) -> list[Strategy]:
    """Instantiate the named strategies (KeyError on an unknown name); ``ems`` configures the optimiser."""
    strategies: list[Strategy] = []
    for name in names:
        if name == OPTIMISER:
            from phoenyra_ems.core.optimiser.plan import OptimiserSettings
            from phoenyra_ems.core.strategies.optimiser import Optimiser

            strategies.append(Optimiser(OptimiserSettings.from_ems(ems) if ems else None))
        else:
            strategies.append(STRATEGY_TYPES[name]())
    return strategies


__all__ = [
    "OPTIMISER",
    "STRATEGY_NAMES",
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
