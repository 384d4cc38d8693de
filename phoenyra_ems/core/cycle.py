"""One cycle step: everything :func:`~phoenyra_ems.core.decision.decide` needs, built in one place.

The live controller and the backtest replay both turn what was measured into a :class:`CycleStep`
with :func:`build_step`, so a backtest result is a statement about the live controller: the same
plant state from the same measurements, the same net-load window for load balancing and the same
price horizon. What differs between them is passed in (the step length, how long the device holds
a setpoint, the derate from sensors, the optimiser's forecasts).

Rules (docs/optimiser.md, "One cycle step"):

* net-load window: the present net load and those of the steps before it within
  ``NET_LOAD_WINDOW_S`` (900 s), at least the present and the one before;
* prices: the known slots from the one containing ``now`` over ``PRICE_HORIZON_H`` (24 h).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.decision import ControlIntent, Decision, decide, decision_context
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies.base import DecisionContext, PriceSlot, Strategy
from phoenyra_ems.models import Measurements, PlantState

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.plan import PlanInputs
    from phoenyra_ems.core.vpp import VppSchedule

NET_LOAD_WINDOW_S = 900.0  # what load balancing sees of the recent past
MAX_NET_LOAD_SAMPLES = 3600
PRICE_HORIZON_H = 24.0  # the price slots the strategies see


@dataclass(frozen=True, slots=True)
class CycleStep:
    """The inputs of one ``decide()`` step (the strategies and selection state are the caller's)."""

    site: SiteConfig  # operator overrides applied
    state: PlantState
    intent: ControlIntent
    now: datetime
    local_now: datetime
    dt_s: float
    hold_s: float
    prices: tuple[PriceSlot, ...]
    slot_hours: float
    recent_net_load_kw: tuple[float, ...]  # oldest first, ends with the present
    extra_derate: float = 1.0
    plan_inputs: PlanInputs | None = None
    vpp: VppSchedule | None = None  # a committed VPP schedule (core/vpp_control.py)


def fill_missing_powers(m: Measurements, previous: PlantState) -> Measurements:
    """Fill missing powers from the balance p_grid + p_pv + p_bess = p_load (battery: the last
    setpoint, PV: 0)."""
    p_bess = m.p_bess_kw if m.p_bess_kw is not None else previous.setpoint
    p_pv = m.p_pv_kw if m.p_pv_kw is not None else 0.0
    p_load, p_grid = m.p_load_kw, m.p_grid_kw
    if p_load is None and p_grid is not None:
        p_load = max(0.0, p_grid + p_pv + p_bess)
    if p_load is None:
        p_load = 0.0
    if p_grid is None:
        p_grid = p_load - p_pv - p_bess
    return Measurements(m.soc_pct, m.soh_pct, m.temp_c, p_bess, p_pv, p_load, p_grid)


def net_load_samples(dt_s: float) -> int:
    """How many net-load samples (the present included) the window holds at this step length."""
    per_window = int(NET_LOAD_WINDOW_S / dt_s) if dt_s > 0 else MAX_NET_LOAD_SAMPLES
    return max(2, min(MAX_NET_LOAD_SAMPLES, per_window))


def price_window(prices: Sequence[PriceSlot], now: datetime, slot_hours: float) -> tuple[PriceSlot, ...]:
    """The known slots from the one containing ``now`` over ``PRICE_HORIZON_H`` (in order)."""
    length = timedelta(hours=slot_hours)
    current = [p for p in prices if p.start + length > now]
    return tuple(current[: max(1, int(PRICE_HORIZON_H / slot_hours))])


def build_step(
    site: SiteConfig,
    previous: PlantState,
    measured: Measurements,
    intent: ControlIntent,
    now: datetime,
    *,
    dt_s: float,
    hold_s: float,
    prices: Sequence[PriceSlot],
    slot_hours: float,
    past_net_load_kw: Sequence[float] = (),
    extra_derate: float = 1.0,
    plan_inputs: PlanInputs | None = None,
    extras: Mapping[str, float] | None = None,
) -> CycleStep:
    """The step's inputs from a reading (gaps filled by :func:`complete`) and the previous state.

    ``past_net_load_kw``: the previous step's ``recent_net_load_kw`` (the window moves on by one).
    """
    m = fill_missing_powers(measured, previous)
    assert m.p_load_kw is not None and m.p_pv_kw is not None and m.p_bess_kw is not None
    assert m.p_grid_kw is not None
    slots = price_window(prices, now, slot_hours)
    covering = slots and slots[0].start <= now
    state = previous.with_(
        timestamp=now,
        soc=m.soc_pct if m.soc_pct is not None else previous.soc,
        soh=m.soh_pct if m.soh_pct is not None else previous.soh,
        temp_c=m.temp_c,
        p_bess=m.p_bess_kw,
        p_pv=m.p_pv_kw,
        p_load=m.p_load_kw,
        p_grid=m.p_grid_kw,
        price=slots[0].eur_mwh if covering else None,
        mode=intent.mode,
        last_reading=now,
        extras=dict(extras or {}),
        energy=None,  # the counters are no input of a decision: the controller adds them to what it publishes
        vpp=None,  # neither is the VPP status (the schedule itself is: CycleStep.vpp)
    )
    keep = net_load_samples(dt_s) - 1
    past = tuple(past_net_load_kw)[-keep:] if keep > 0 else ()
    return CycleStep(
        site=site,
        state=state,
        intent=intent,
        now=now,
        local_now=now.astimezone(ZoneInfo(site.location.timezone)),
        dt_s=dt_s,
        hold_s=hold_s,
        prices=slots,
        slot_hours=slot_hours,
        recent_net_load_kw=(*past, m.p_load_kw - m.p_pv_kw),
        extra_derate=extra_derate,
        plan_inputs=plan_inputs,
    )


def decide_step(step: CycleStep, strategies: Sequence[Strategy], selection: SelectionState) -> Decision:
    """:func:`~phoenyra_ems.core.decision.decide` on one step's inputs."""
    return decide(
        step.site,
        step.state,
        step.intent,
        strategies,
        selection,
        step.now,
        dt_s=step.dt_s,
        prices=step.prices,
        slot_hours=step.slot_hours,
        recent_net_load_kw=step.recent_net_load_kw,
        hold_s=step.hold_s,
        local_now=step.local_now,
        extra_derate=step.extra_derate,
        plan_inputs=step.plan_inputs,
        vpp=step.vpp,
    )


def step_context(step: CycleStep) -> DecisionContext:
    """What the strategies will see in this step (for work done before ``decide``: a replan)."""
    return decision_context(
        step.site,
        step.state,
        step.now,
        step.dt_s,
        step.prices,
        step.slot_hours,
        step.recent_net_load_kw,
        step.local_now,
        step.extra_derate,
        step.plan_inputs,
    )
