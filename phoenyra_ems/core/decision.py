"""One control decision, as a pure function: mode → strategy selection → safety layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.derating import thermal_derate
from phoenyra_ems.core.limits import SiteLimits, limits_at
from phoenyra_ems.core.safety import SafetyInput, SafetyResult, enforce
from phoenyra_ems.core.selection import SelectionState, select
from phoenyra_ems.core.strategies.base import DecisionContext, PriceSlot, Strategy
from phoenyra_ems.core.vpp import VppSchedule
from phoenyra_ems.core.vpp_control import committed, vpp_command, vpp_limits
from phoenyra_ems.models import PlantState, SiteMode

if TYPE_CHECKING:
    from phoenyra_ems.core.optimiser.plan import PlanInputs


@dataclass(frozen=True, slots=True)
class ControlIntent:
    """What the operator asked for."""

    mode: SiteMode = SiteMode.AUTO
    strategy: str | None = None  # pin one strategy in auto mode; None: score-based selection
    manual_setpoint_kw: float = 0.0
    manual_expires: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.mode is SiteMode.MANUAL and self.manual_expires is not None and now >= self.manual_expires

    def at(self, now: datetime) -> ControlIntent:
        """The intent in force at ``now``: an expired manual setpoint is auto with the pinned strategy.
        The one place the expiry rule lives: ``decide()`` acts on it, the controller adopts it."""
        return ControlIntent(strategy=self.strategy) if self.expired(now) else self


@dataclass(frozen=True, slots=True)
class Decision:
    setpoint_kw: float
    strategy: str  # a strategy name, or "manual" / "standby"
    reason: str
    safety: SafetyResult
    selection: SelectionState
    scores: dict[str, float]
    limits: SiteLimits


def decision_context(
    site: SiteConfig,
    state: PlantState,
    now: datetime,
    dt_s: float,
    prices: tuple[PriceSlot, ...] = (),
    slot_hours: float = 1.0,
    recent_net_load_kw: tuple[float, ...] = (),
    local_now: datetime | None = None,
    extra_derate: float = 1.0,
    plan_inputs: PlanInputs | None = None,
) -> DecisionContext:
    """What the strategies see: the limits in force (site-local time) and the derate applied."""
    return DecisionContext(
        state=state,
        limits=limits_at(site, local_now or now),
        tariffs=site.grid_tariffs,
        now=now,
        dt_s=dt_s,
        prices=prices,
        slot_hours=slot_hours,
        recent_net_load_kw=recent_net_load_kw,
        plan_inputs=plan_inputs,
        derate=thermal_derate(state.temp_c) * extra_derate,
    )


def decide(
    site: SiteConfig,
    state: PlantState,
    intent: ControlIntent,
    strategies: Sequence[Strategy],
    selection: SelectionState,
    now: datetime,
    dt_s: float,
    prices: tuple[PriceSlot, ...] = (),
    slot_hours: float = 1.0,
    recent_net_load_kw: tuple[float, ...] = (),
    hold_s: float | None = None,
    local_now: datetime | None = None,
    extra_derate: float = 1.0,
    plan_inputs: PlanInputs | None = None,
    vpp: VppSchedule | None = None,
) -> Decision:
    """The setpoint for the next step. ``hold_s``: how long the device may hold it (≥ dt_s);
    ``extra_derate``: a further power multiplier (e.g. the battery room is too hot);
    ``plan_inputs``: forecasts and prices for the optimiser strategy;
    ``vpp``: a committed VPP schedule (its active interval ranks above the strategies, below safety
    and the operator's manual / standby modes: core/vpp_control.py)."""
    ctx = decision_context(
        site, state, now, dt_s, prices, slot_hours, recent_net_load_kw, local_now, extra_derate, plan_inputs
    )
    interval = committed(vpp, now)
    limits, derate = vpp_limits(ctx.limits, interval), ctx.derate
    intent = intent.at(now)  # an expired manual setpoint: back to automatic control
    scores: dict[str, float] = {}
    dispatch = vpp_command(interval, vpp.event_id) if vpp is not None else None
    if intent.mode is SiteMode.STANDBY:
        command, name, reason = 0.0, "standby", "standby: battery idle"
    elif intent.mode is SiteMode.MANUAL:
        command, name = intent.manual_setpoint_kw, "manual"
        until = f" until {intent.manual_expires:%H:%M:%S}" if intent.manual_expires else ""
        reason = f"manual setpoint {command:.1f} kW{until}"
    elif dispatch is not None:
        (command, reason), name = dispatch, "vpp"
    else:
        pool = [s for s in strategies if intent.strategy in (None, s.name)] or list(strategies)
        chosen = select(
            list(pool),
            ctx,
            selection,
            hysteresis=site.ems.selection_hysteresis,
            min_dwell_s=site.ems.min_strategy_dwell_s,
            default=site.ems.default_strategy,
        )
        selection, scores = chosen.state, chosen.scores
        command, name, reason = chosen.proposal.setpoint_kw, chosen.proposal.strategy, chosen.proposal.reason
    result = enforce(
        SafetyInput(
            command_kw=command,
            soc_pct=state.soc,
            p_pv_kw=state.p_pv,
            p_load_kw=state.p_load,
            dt_s=dt_s,
            hold_s=hold_s or 0.0,
            previous_setpoint_kw=state.setpoint,
            soh_pct=state.soh,
            derate=derate,
        ),
        limits,
    )
    if result.clamped:
        reason += f" (limited by {', '.join(result.clamped_by)})"
    return Decision(result.setpoint_kw, name, reason, result, selection, scores, limits)
