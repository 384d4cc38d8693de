"""Score-based strategy selection with hysteresis: the best-scoring strategy wins, without flapping.

Every strategy scores the present situation (EUR/h of value). The incumbent keeps control unless a
challenger is worth at least ``min_gain_eur_h`` more, and then only

* at once, if the challenger is urgent (a peak above the cap) or the incumbent has nothing left to
  do (score zero: battery full or empty for it);
* otherwise, once the incumbent has held for ``min_dwell_s`` and the challenger beats its score by
  ``hysteresis`` (relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from phoenyra_ems.core.strategies.base import DecisionContext, Proposal, Strategy

DEFAULT_MIN_GAIN_EUR_H = 0.05


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


def _should_switch(
    best: Proposal,
    incumbent: Proposal,
    held_s: float,
    hysteresis: float,
    min_dwell_s: float,
    min_gain: float,
) -> bool:
    if best.score - incumbent.score <= min_gain:
        return False
    if best.urgent or incumbent.score <= 0:
        return True
    return held_s >= min_dwell_s and best.score > incumbent.score * (1 + hysteresis)


def select(
    strategies: list[Strategy],
    ctx: DecisionContext,
    previous: SelectionState,
    hysteresis: float = 0.1,
    min_dwell_s: float = 900.0,
    default: str | None = None,
    min_gain_eur_h: float = DEFAULT_MIN_GAIN_EUR_H,
) -> Selection:
    """Pick the strategy to follow now."""
    proposals = {s.name: s.propose(ctx) for s in strategies}
    scores = {name: p.score for name, p in proposals.items()}
    best = max(proposals.values(), key=lambda p: (p.score, p.strategy == default))
    if best.score <= 0 and default in proposals:
        best = proposals[default]
    incumbent = proposals.get(previous.active) if previous.active else None
    if incumbent is None:
        return Selection(best, SelectionState(best.strategy, ctx.now), True, scores)
    if incumbent.strategy == best.strategy:
        return Selection(incumbent, previous, False, scores)
    held_s = (ctx.now - previous.since).total_seconds() if previous.since else min_dwell_s
    if _should_switch(best, incumbent, held_s, hysteresis, min_dwell_s, min_gain_eur_h):
        return Selection(best, SelectionState(best.strategy, ctx.now), True, scores)
    return Selection(incumbent, previous, False, scores)
