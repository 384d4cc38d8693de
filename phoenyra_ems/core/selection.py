"""Score-based strategy selection with hysteresis: the best-scoring strategy wins, without flapping.

Every strategy scores the present situation (EUR/h of value). A challenger replaces the incumbent
only when its score beats the incumbent's by ``hysteresis`` (relative) and the incumbent has held for
``min_dwell_s`` — except when the incumbent's score drops to zero (it has nothing left to do).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from phoenyra_ems.core.strategies.base import DecisionContext, Proposal, Strategy


@dataclass(frozen=True, slots=True)
class SelectionState:
    active: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    proposal: Proposal
    state: SelectionState
    switched: bool
    scores: dict[str, float]


def select(
    strategies: list[Strategy],
    ctx: DecisionContext,
    previous: SelectionState,
    hysteresis: float = 0.1,
    min_dwell_s: float = 900.0,
    default: str | None = None,
) -> Selection:
    """Pick the strategy to follow now."""
    proposals = {s.name: s.propose(ctx) for s in strategies}
    scores = {name: p.score for name, p in proposals.items()}
    best = max(proposals.values(), key=lambda p: (p.score, p.strategy == default))
    if best.score <= 0 and default in proposals:
        best = proposals[default]
    incumbent = proposals.get(previous.active) if previous.active else None
    if incumbent is not None and incumbent.strategy != best.strategy:
        held_s = (ctx.now - previous.since).total_seconds() if previous.since else min_dwell_s
        clearly_better = best.score > incumbent.score * (1 + hysteresis) + 1e-9
        dwelling = held_s < min_dwell_s and not best.urgent
        no_gain = best.score <= incumbent.score
        if no_gain or (incumbent.score > 0 and (dwelling or not clearly_better)):
            return Selection(incumbent, previous, False, scores)
    if incumbent is not None and incumbent.strategy == best.strategy:
        return Selection(best, previous, False, scores)
    return Selection(best, SelectionState(best.strategy, ctx.now), True, scores)
