"""A site's plan as the API serves it: ``GET /sites/{id}/plan`` and the WebSocket ``plan`` event.

The shape is the client's :class:`~phoenyra_ems.client.plan.SitePlan`; this module fills it from
the optimiser's :class:`~phoenyra_ems.core.optimiser.plan.Plan`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from phoenyra_ems.client import plan as wire
from phoenyra_ems.client.wire import dump
from phoenyra_ems.controller import SiteController

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.plan import Plan


def current_plan(controller: SiteController | None) -> tuple[bool, Any]:
    """(whether the site plans — ``optimiser`` among its strategies —, its current plan or None)."""
    if controller is None:
        return False, None
    optimiser = next((s for s in controller.strategies if s.name == "optimiser"), None)
    return optimiser is not None, getattr(optimiser, "plan", None)


def plan_model(plan: Plan) -> wire.Plan:
    """The plan with ``reason``: what it does in its first step (a failed plan: its message, and no
    steps — it has nothing to follow, and its inputs may be what was not finite)."""
    from phoenyra_ems.core.optimiser.plan import describe  # numpy only when a site plans

    follow = plan.ok and len(plan.battery_kw) > 0
    steps = tuple(
        wire.PlanStep(
            start=plan.start + timedelta(seconds=plan.step_s * k),
            battery_kw=float(plan.battery_kw[k]),
            grid_kw=float(plan.grid_kw[k]),
            soc_pct=float(plan.soc_pct[k]),
            price_eur_mwh=float(plan.buy_eur_mwh[k]),
            pv_kw=float(plan.pv_kw[k]),
            load_kw=float(plan.load_kw[k]),
        )
        for k in range(len(plan.battery_kw) if follow else 0)
    )
    return wire.Plan(
        start=plan.start,
        step_s=plan.step_s,
        status=wire.PlanStatus(plan.status),
        message=plan.message,
        solve_ms=plan.solve_ms,
        source=plan.source,
        slack=wire.PlanSlack(plan.slack_soc_kwh, plan.slack_export_kw, plan.slack_import_kw),
        steps=steps,
        reason=describe(plan, 0, float(plan.battery_kw[0])) if follow else (plan.message or None),
    )


def plan_body(site_id: str, enabled: bool, plan: Plan | None) -> dict[str, Any]:
    """``{"site_id", "enabled", "plan"}`` (``plan`` null before the first one)."""
    return dump(wire.SitePlan(site_id, enabled, None if plan is None else plan_model(plan)))
