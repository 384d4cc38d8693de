"""How a committed VPP schedule enters one site's decision (pure, no I/O; docs/vpp.md "Control").

Priority, strongest first: the safety layer > the committed VPP schedule > the site's own
optimisation. In practice:

* an active interval's ``IMPORT_CAPACITY_LIMIT`` / ``EXPORT_CAPACITY_LIMIT`` tighten the grid limits
  the strategies plan with *and* the safety layer enforces (:func:`vpp_limits`);
* an active interval's ``DISPATCH_SETPOINT`` replaces the strategy's command in automatic mode
  (:func:`vpp_command`); the safety layer still clamps it;
* for the optimiser, the schedule's setpoints and limits are per-step bounds of its plan
  (:func:`plan_bounds`), so its own plan keeps the energy the event needs and uses the rest
  of the horizon for the site's bill;
* the operator's manual and standby modes stay above the schedule (the person on site decides);
  what the site does then is reported as a deviation.

A schedule the site cannot follow (SoC, power limits) is followed as far as possible; the
difference between what was asked and what the battery does is the deviation
(:func:`site_status`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.vpp import Flexibility, VppInterval, VppSchedule, VppSiteStatus

STEP_COVERED_SHARE = 0.5  # a plan step at least this much covered by setpoints is bound to them


def _tighter(cap: float | None, vpp_cap: float | None) -> float | None:
    if vpp_cap is None or not math.isfinite(vpp_cap):
        return cap
    vpp_cap = max(0.0, vpp_cap)
    return vpp_cap if cap is None else min(cap, vpp_cap)


def vpp_limits(limits: SiteLimits, interval: VppInterval | None) -> SiteLimits:
    """``limits`` with the interval's import / export capacity limits at the connection applied."""
    if interval is None or (interval.import_limit_kw is None and interval.export_limit_kw is None):
        return limits
    return replace(
        limits,
        grid_import_max_kw=_tighter(limits.grid_import_max_kw, interval.import_limit_kw),
        grid_export_max_kw=_tighter(limits.grid_export_max_kw, interval.export_limit_kw),
    )


def vpp_command(interval: VppInterval | None, event_id: str = "") -> tuple[float, str] | None:
    """The committed battery command and its reason, or None when the interval asks for no power."""
    if interval is None or interval.setpoint_kw is None or not math.isfinite(interval.setpoint_kw):
        return None
    until = f" until {interval.end:%H:%M:%S}"
    event = f" {event_id}" if event_id else ""
    return interval.setpoint_kw, f"VPP event{event}: dispatch {interval.setpoint_kw:.1f} kW{until}"


@dataclass(frozen=True, slots=True)
class PlanBounds:
    """The schedule on a plan's steps: per step a fixed battery power (NaN: free) and grid caps."""

    battery_kw: tuple[float, ...]  # + discharge / - charge; NaN where the plan is free
    import_max_kw: tuple[float, ...]  # inf: no VPP limit
    export_max_kw: tuple[float, ...]
    key: tuple[object, ...]  # changes when the bounds do (the optimiser replans)

    @property
    def empty(self) -> bool:
        return all(math.isnan(b) for b in self.battery_kw) and all(
            math.isinf(c) for c in (*self.import_max_kw, *self.export_max_kw)
        )


def plan_bounds(schedule: VppSchedule | None, start: datetime, step_s: float, steps: int) -> PlanBounds:
    """The schedule on ``steps`` plan steps of ``step_s`` from ``start``.

    A step covered by setpoint intervals for at least ``STEP_COVERED_SHARE`` of its length is bound
    to their time-weighted mean; a capacity limit applies to every step it overlaps (the tightest).
    """
    fixed = [math.nan] * steps
    imp = [math.inf] * steps
    exp = [math.inf] * steps
    if schedule is None or step_s <= 0:
        return PlanBounds(tuple(fixed), tuple(imp), tuple(exp), ())
    for k in range(steps):
        a = start + timedelta(seconds=k * step_s)
        b = a + timedelta(seconds=step_s)
        covered = weighted = 0.0
        for interval in schedule.intervals:
            overlap = (min(b, interval.end) - max(a, interval.start)).total_seconds()
            if overlap <= 0:
                continue
            if interval.setpoint_kw is not None and math.isfinite(interval.setpoint_kw):
                covered += overlap
                weighted += overlap * interval.setpoint_kw
            if interval.import_limit_kw is not None:
                imp[k] = min(imp[k], max(0.0, interval.import_limit_kw))
            if interval.export_limit_kw is not None:
                exp[k] = min(exp[k], max(0.0, interval.export_limit_kw))
        if covered >= STEP_COVERED_SHARE * step_s:
            fixed[k] = weighted / covered
    key = (schedule.event_id, schedule.intervals)
    return PlanBounds(tuple(fixed), tuple(imp), tuple(exp), key)


def feasible_setpoints(
    fixed_kw: Sequence[float],
    limits: SiteLimits,
    soc_pct: float,
    step_s: float,
    *,
    soh_pct: float = 100.0,
    derate: float = 1.0,
) -> tuple[float, ...]:
    """Bound setpoints (NaN: free) clipped to what power limits and the SoC window allow.

    Free steps are assumed idle, so the result is feasible whatever the plan does around them:
    the plan may still charge before an event, the bound never depends on it.
    """
    capacity = limits.capacity_kwh * min(max(soh_pct, 1.0), 100.0) / 100.0
    derate = min(max(derate, 0.0), 1.0) if math.isfinite(derate) else 0.0
    e_min = limits.soc_min_pct / 100.0 * capacity
    e_max = limits.soc_max_pct / 100.0 * capacity
    energy = min(max(soc_pct / 100.0 * capacity, e_min), e_max)
    h = step_s / 3600.0
    out: list[float] = []
    for value in fixed_kw:
        if math.isnan(value) or h <= 0:
            out.append(math.nan)
            continue
        kw = min(max(value, -limits.charge_max_kw * derate), limits.discharge_max_kw * derate)
        if kw > 0:
            kw = min(kw, (energy - e_min) * limits.efficiency_discharge / h)
            energy -= kw * h / limits.efficiency_discharge
        else:
            kw = max(kw, -(e_max - energy) / (limits.efficiency_charge * h))
            energy -= kw * h * limits.efficiency_charge
        out.append(max(kw, 0.0) if value > 0 else min(kw, 0.0))
    return tuple(out)


def committed(schedule: VppSchedule | None, now: datetime) -> VppInterval | None:
    """The schedule's interval in force at ``now`` (None: none, or the schedule has ended)."""
    return None if schedule is None else schedule.active(now)


def expired(schedule: VppSchedule | None, now: datetime) -> bool:
    """Whether ``schedule`` has ended (an empty schedule ends at once)."""
    if schedule is None:
        return False
    end = schedule.end
    return end is None or now >= end


@dataclass(frozen=True, slots=True)
class Deviation:
    """Running figures of how well a site follows its committed setpoints (per event)."""

    event_id: str = ""
    samples: int = 0
    abs_sum_kw: float = 0.0
    max_abs_kw: float = 0.0
    last_kw: float | None = None

    @property
    def mean_abs_kw(self) -> float | None:
        return self.abs_sum_kw / self.samples if self.samples else None

    def add(self, event_id: str, committed_kw: float, actual_kw: float) -> Deviation:
        base = self if event_id == self.event_id else Deviation(event_id)
        d = actual_kw - committed_kw
        return Deviation(
            event_id, base.samples + 1, base.abs_sum_kw + abs(d), max(base.max_abs_kw, abs(d)), d
        )


def site_status(
    site_id: str,
    schedule: VppSchedule | None,
    now: datetime,
    actual_kw: float | None,
    *,
    offered: Flexibility | None = None,
    notes: tuple[str, ...] = (),
) -> VppSiteStatus:
    """The site's VPP state at ``now``: the event in progress (None before its first interval and
    after its end), what it commits to, and the deviation."""
    interval = committed(schedule, now)
    if schedule is None or interval is None:  # between two intervals the event is still on
        started = schedule is not None and bool(schedule.intervals) and schedule.intervals[0].start <= now
        event_id = (
            schedule.event_id if schedule is not None and started and not expired(schedule, now) else None
        )
        remaining = _remaining(schedule, now) if event_id is not None else None
        return VppSiteStatus(site_id, event_id, None, actual_kw, None, remaining, offered, notes)
    setpoint = interval.setpoint_kw
    deviation = None if setpoint is None or actual_kw is None else actual_kw - setpoint
    return VppSiteStatus(
        site_id,
        schedule.event_id,
        setpoint,
        actual_kw,
        deviation,
        _remaining(schedule, now),
        offered,
        notes,
    )


def _remaining(schedule: VppSchedule | None, now: datetime) -> float | None:
    end = None if schedule is None else schedule.end
    return None if end is None else max(0.0, (end - now).total_seconds())
