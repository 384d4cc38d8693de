"""Typed view of ``GET /sites/{id}/plan`` and the WebSocket ``plan`` event: the optimiser's plan
(docs/optimiser.md).

Wire models like :mod:`phoenyra_ems.client.models`: the daemon fills them from its plan
(``api/plans.py``) and dumps them, rounded as each field's metadata says; the client parses them;
``api/openapi.py`` derives the schema from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from phoenyra_ems.client.wire import KW, PCT, PRICE, Wire, spec

__all__ = ["Plan", "PlanSlack", "PlanStatus", "PlanStep", "SitePlan"]

_SLACK = spec(digits=4)


class PlanStatus(StrEnum):
    """How a plan was solved."""

    OPTIMAL = "optimal"
    SLACK = "slack"  # a limit could not be kept (e.g. SoC below its minimum): penalised slack, alarm
    FAILED = "failed"  # no plan (solver failure or bad input): the site self-consumes instead


@dataclass(frozen=True, slots=True)
class PlanStep(Wire):
    """One step of a plan; ``soc_pct`` is the planned SoC at the END of the step."""

    PATH: ClassVar[str] = "step"
    start: datetime
    battery_kw: float = field(metadata=KW)  # + discharge / - charge
    grid_kw: float = field(metadata=KW)  # + import / - export
    soc_pct: float = field(metadata=PCT)
    price_eur_mwh: float = field(metadata=PRICE)  # purchase price
    pv_kw: float = field(metadata=KW)  # forecast
    load_kw: float = field(metadata=KW)  # forecast


@dataclass(frozen=True, slots=True)
class PlanSlack(Wire):
    """How far the plan had to leave a limit (0 when ``status`` is optimal)."""

    PATH: ClassVar[str] = "slack"
    soc_kwh: float = field(metadata=_SLACK)
    export_kw: float = field(metadata=_SLACK)
    import_kw: float = field(metadata=_SLACK)


@dataclass(frozen=True, slots=True)
class Plan(Wire):
    """The optimiser's plan: one step per ``step_s`` from ``start`` (docs/optimiser.md)."""

    PATH: ClassVar[str] = "plan"
    start: datetime
    step_s: float = field(metadata=spec(positive=True))
    status: PlanStatus
    message: str
    solve_ms: float = field(metadata=spec(digits=2))
    source: str  # where the forecasts came from ("history baselines", ...)
    slack: PlanSlack
    steps: tuple[PlanStep, ...]
    reason: str | None = None  # what the plan does now, in words (None from daemons that do not say)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * len(self.steps))

    def step_at(self, when: datetime) -> PlanStep | None:
        """The step covering ``when`` (aware), ``None`` outside the plan."""
        k = math.floor((when - self.start).total_seconds() / self.step_s)
        return self.steps[k] if 0 <= k < len(self.steps) else None

    def soc_at(self, when: datetime) -> float | None:
        """The planned SoC at ``when`` (aware): exact at step ends, linear within a step (from the
        previous step's end; the first step has no start SoC and gives its end SoC); ``None``
        outside ``(start, end]``."""
        offset = (when - self.start).total_seconds() / self.step_s
        if not self.steps or offset <= 0 or offset > len(self.steps):
            return None
        k = math.ceil(offset) - 1
        after = self.steps[k].soc_pct
        if k == 0:
            return after
        before = self.steps[k - 1].soc_pct
        return before + (after - before) * (offset - k)


@dataclass(frozen=True, slots=True)
class SitePlan(Wire):
    """``GET /sites/{id}/plan``: whether the site plans (``optimiser`` among its strategies), and
    its current plan (``None`` until the first one)."""

    PATH: ClassVar[str] = "plan"
    site_id: str
    enabled: bool
    plan: Plan | None = field(metadata=spec(present=True))
