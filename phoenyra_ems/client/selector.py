"""Typed view of ``GET /sites/{id}/selector``: who chooses a site's strategy (docs/ai-selection.md).

Wire models like :mod:`phoenyra_ems.client.models`: the daemon fills and dumps them, the client
parses them, ``api/openapi.py`` derives the schema from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from phoenyra_ems.client.wire import Wire, spec
from phoenyra_ems.enums import ChoiceSource, SelectionMode

__all__ = [
    "AbAdvantage",
    "AbTest",
    "ChoiceSource",
    "SelectionMode",
    "SelectorChoice",
    "SelectorStatus",
    "SelectorSwitching",
]


@dataclass(frozen=True, slots=True)
class AbAdvantage(Wire):
    """The A/B test's value: the AI days' mean minus the score days' mean, EUR per day, with its
    95 % bootstrap interval (None while an arm has no whole day), valued by counterfactual replay."""

    PATH: ClassVar[str] = "advantage"
    ai_days: int
    score_days: int
    eur_per_day: float | None
    ci_low_eur: float | None = None
    ci_high_eur: float | None = None
    paired_eur_per_day: float | None = None
    valued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SelectorChoice(Wire):
    """The selector's choice for the present window."""

    PATH: ClassVar[str] = "current"
    strategy: str | None  # None: the score-based selection decides
    source: ChoiceSource
    confidence: float | None  # the AI's, for its choice
    reason: str | None = field(default=None, metadata=spec(sent=True))
    arm: str | None = None  # the A/B test's arm of the day
    window_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class AbTest(Wire):
    """The A/B test (AI days against score days): per arm its days, switches, switches per day."""

    PATH: ClassVar[str] = "ab_test"
    enabled: bool = field(default=False, metadata=spec(sent=True))
    tally: dict[str, dict[str, float]] = field(default_factory=dict, metadata=spec(sent=True))
    advantage: AbAdvantage | None = None  # None until valued


@dataclass(frozen=True, slots=True)
class SelectorSwitching(Wire):
    """Leaving the default arm (the optimiser, when in the pool): whether the validation gate opened
    at the last training, and whether the stop-loss closed it again since (the windows the model
    switched, valued once their data lies in the past, lost money in total)."""

    PATH: ClassVar[str] = "switching"
    default_arm: str
    validated: bool  # the validation gate opened at the last training
    stopped_by_loss: bool  # the stop-loss closed switching until the next training
    realised_eur: float  # what the switched windows valued so far gained against the default arm
    windows_valued: int
    windows_pending: int  # switched windows whose data (window + continuation) is not past yet

    @property
    def allowed(self) -> bool:
        """Whether the model may leave the default arm now."""
        return self.validated and not self.stopped_by_loss


@dataclass(frozen=True, slots=True)
class SelectorStatus(Wire):
    """``GET /sites/{id}/selector``: who chooses the strategy (score / AI / pinned) and the A/B tally.

    The current choice (``current``) and the A/B test (``ab_test``) are also readable as flat
    properties (``strategy``, ``source``, ``confidence`` …, ``ab_enabled``, ``ab_tally``,
    ``ab_advantage``)."""

    PATH: ClassVar[str] = "selector"
    site_id: str
    mode: SelectionMode
    ai_enabled: bool
    trained: bool
    trained_at: datetime | None
    samples: int
    current: SelectorChoice | None  # None before the first decision
    ab_test: AbTest = field(default_factory=AbTest, metadata=spec(sent=True))
    feature_importances: dict[str, float] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    switching: SelectorSwitching | None = None  # None: no default arm (no optimiser) or untrained

    @property
    def strategy(self) -> str | None:
        """The strategy chosen now; None: the score-based selection (or no decision yet)."""
        return None if self.current is None else self.current.strategy

    @property
    def source(self) -> ChoiceSource | None:
        """Who chose (ai | score | fixed); None before the first decision."""
        return None if self.current is None else self.current.source

    @property
    def confidence(self) -> float | None:
        return None if self.current is None else self.current.confidence

    @property
    def reason(self) -> str | None:
        return None if self.current is None else self.current.reason

    @property
    def arm(self) -> str | None:
        return None if self.current is None else self.current.arm

    @property
    def window_start(self) -> datetime | None:
        return None if self.current is None else self.current.window_start

    @property
    def ab_enabled(self) -> bool:
        return self.ab_test.enabled

    @property
    def ab_tally(self) -> dict[str, dict[str, float]]:
        return self.ab_test.tally

    @property
    def ab_advantage(self) -> AbAdvantage | None:
        return self.ab_test.advantage
