"""A site's plan as the API serves it: ``GET /sites/{id}/plan`` and the WebSocket ``plan`` event."""

from __future__ import annotations

from typing import Any

from phoenyra_ems.controller import SiteController


def current_plan(controller: SiteController | None) -> tuple[bool, Any]:
    """(whether the site plans — ``optimiser`` among its strategies —, its current plan or None)."""
    if controller is None:
        return False, None
    optimiser = next((s for s in controller.strategies if s.name == "optimiser"), None)
    return optimiser is not None, getattr(optimiser, "plan", None)


def plan_body(site_id: str, enabled: bool, plan: Any) -> dict[str, Any]:
    """``{"site_id", "enabled", "plan"}``; the plan with ``reason``: what it does in its first step
    (a failed plan: its message, and no steps)."""
    body: dict[str, Any] = {"site_id": site_id, "enabled": enabled, "plan": None}
    if plan is not None:
        from phoenyra_ems.core.optimiser.plan import describe, plan_document  # numpy only when a site plans

        document = plan_document(plan)
        if plan.ok and len(plan.battery_kw):
            document["reason"] = describe(plan, 0, float(plan.battery_kw[0]))
        else:  # a failed plan has nothing to follow (and its inputs may be what was not finite)
            document["reason"] = plan.message or None
            document["steps"] = []
        body["plan"] = document
    return body
