"""What a planning site's controller adds to its cycle: the forecast to plan from, the plan's alarms.

The solve itself runs off the event loop in ``SiteController._plan`` (docs/optimiser.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.strategies import Strategy
from phoenyra_ems.site_faults import SiteAlarms

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.live import ServiceForecast
    from phoenyra_ems.site_ports import Attachment

FORECAST_MAX_AGE_S = 3 * 3600.0  # an older forecast is not planned from (the baselines are)


def service_forecast(
    site: SiteConfig, attachments: Sequence[Attachment], now: datetime
) -> tuple[ServiceForecast | None, str]:
    """The forecast service's latest forecast for the plans, or None and why (docs/optimiser.md).

    None without ``forecast.enabled`` (the plans use the history baselines, nothing to say),
    before its first forecast, or when the latest is older than ``FORECAST_MAX_AGE_S``.
    """
    if not site.forecast.enabled:
        return None, ""
    from phoenyra_ems.core.optimiser.live import ServiceForecast
    from phoenyra_ems.forecast.service import SiteForecaster  # installed where forecasts are on

    service = next((a for a in attachments if isinstance(a, SiteForecaster)), None)
    latest = service.latest if service is not None else None
    if latest is None or (now - latest.made_at).total_seconds() > FORECAST_MAX_AGE_S:
        error = service.last_error if service is not None else None
        state = "stale" if latest is not None else "none yet"
        return None, f"forecast service: {state}" + (f", {error}" if error else "")
    forecast = ServiceForecast(
        made_at=latest.made_at,
        start=latest.start,
        step_s=float(latest.step_s),
        load_kw=latest.load_kw,
        pv_kw=latest.pv_kw,
        price_eur_mwh=getattr(latest, "price_eur_mwh", None),  # where the service forecasts prices
    )
    return forecast, ""


def plan_alarms(strategies: Sequence[Strategy], alarms: SiteAlarms) -> None:
    """``plan_failed`` (the optimiser fell back to self-consumption) and ``plan_slack``."""
    plan = next((getattr(s, "plan", None) for s in strategies if s.name == "optimiser"), None)
    if plan is not None and plan.status == "failed":
        alarms.raise_("plan_failed", f"no plan, self-consumption instead: {plan.message}")
    else:
        alarms.clear("plan_failed")
    if plan is not None and plan.status == "slack":
        alarms.raise_(
            "plan_slack",
            f"the plan cannot keep every limit (SoC {plan.slack_soc_kwh:.2f} kWh, export "
            f"{plan.slack_export_kw:.2f} kW, import {plan.slack_import_kw:.2f} kW outside)",
        )
    else:
        alarms.clear("plan_slack")
