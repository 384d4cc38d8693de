"""Reading a site's plan for the plan sensors: the present step, the SoC at local midnight, and a
small hourly summary (at most 24 points: attributes stay far below the recorder's 16 KiB limit and
are not recorded at all, see ``_unrecorded_attributes`` in sensor_plan.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from phoenyra_client import Plan, PlanStatus, SitePlan

HOURLY_POINTS = 24


def usable_plan(site_plan: SitePlan | None) -> Plan | None:
    """The plan the sensors show: none without the optimiser, before its first plan, or when the
    last plan failed (the site self-consumes then)."""
    if site_plan is None or site_plan.plan is None or site_plan.plan.status is PlanStatus.FAILED:
        return None
    return site_plan.plan


def end_of_today(now: datetime, timezone: str) -> datetime:
    """The next local midnight after ``now`` (aware) in the site's time zone."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def hourly(plan: Plan, now: datetime, timezone: str, points: int = HOURLY_POINTS) -> list[dict[str, Any]]:
    """Up to ``points`` hours from the hour of ``now``: mean battery power (kW, + discharge) and
    purchase price over the hour, planned SoC at its end; local times."""
    zone = ZoneInfo(timezone)
    hour = now.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    out: list[dict[str, Any]] = []
    while len(out) < points and hour < plan.end:
        end = hour + timedelta(hours=1)  # in UTC: a DST change neither skips nor repeats an hour
        steps = [s for s in plan.steps if hour <= s.start < end]
        soc = plan.soc_at(min(end, plan.end))
        if steps and soc is not None:
            out.append(
                {
                    "start": hour.astimezone(zone).isoformat(),
                    "battery_kw": round(sum(s.battery_kw for s in steps) / len(steps), 2),
                    "soc_pct": round(soc, 1),
                    "price_eur_mwh": round(sum(s.price_eur_mwh for s in steps) / len(steps), 1),
                }
            )
        hour = end
    return out
