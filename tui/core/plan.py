"""The site's plan for the dashboard: the next 24 h as chart series, and one line of text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from phoenyra_ems.client import PlanStatus, Site, SitePlan

PLAN_WINDOW = timedelta(hours=24)
NO_OPTIMISER = "no plan (optimiser not in this site's strategies)"


@dataclass(frozen=True, slots=True)
class PlanSeries:
    x: list[float]  # hours from now (0 … 24), each step's start
    battery_kw: list[float]  # + discharge / - charge
    soc_pct: list[float]  # at the end of the step
    price_eur_mwh: list[float]

    @property
    def empty(self) -> bool:
        return not self.x


def plan_series(site_plan: SitePlan | None, now: datetime, window: timedelta = PLAN_WINDOW) -> PlanSeries:
    """The steps of the plan that end after ``now`` and start before ``now + window``; a step
    already under way starts at 0."""
    plan = None if site_plan is None else site_plan.plan
    series = PlanSeries([], [], [], [])
    if plan is None or plan.status is PlanStatus.FAILED:
        return series
    step = timedelta(seconds=plan.step_s)
    for s in plan.steps:
        if s.start + step <= now or s.start >= now + window:
            continue
        series.x.append(max(0.0, (s.start - now).total_seconds() / 3600))
        series.battery_kw.append(s.battery_kw)
        series.soc_pct.append(s.soc_pct)
        series.price_eur_mwh.append(s.price_eur_mwh)
    return series


def plan_line(site: Site | None, site_plan: SitePlan | None) -> str:
    """What the dashboard says about the plan: its reason, or why there is none."""
    if site is not None and "optimiser" not in site.strategies:
        return NO_OPTIMISER
    if site_plan is None or not site_plan.enabled:
        return "plan: not loaded yet" if site_plan is None else NO_OPTIMISER
    plan = site_plan.plan
    if plan is None:
        return "plan: waiting for the first plan"
    if plan.status is PlanStatus.FAILED:
        return f"plan failed: {plan.message or 'no reason given'} (self-consumption instead)"
    reason = plan.reason or "plan"
    slack = " · outside a limit (slack)" if plan.status is PlanStatus.SLACK else ""
    return f"{reason}{slack} · {plan.source or 'forecast'}, solved in {plan.solve_ms:.0f} ms"
