"""The optimiser: a receding-horizon plan (HiGHS LP over up to 48 h), followed between replans.

Plans at every planning step (``ems.planning_step_s``, default 15 min) from the forecasts and prices
the caller passes in (:class:`~phoenyra_ems.core.optimiser.plan.PlanInputs` in the
``DecisionContext``), and at once when the SoC strays from the plan by more than
``ems.plan_replan_soc_pct``, the limits (operator overrides, derating) or the tariff change, or
new inputs arrive (a new plan start or newly published prices). Same inputs → same plan → same
first step: HiGHS is deterministic and nothing else varies.

Following the plan (``ems.plan_execution``):

* ``grid`` (default, chosen by the backtest, docs/optimiser.md): hold the plan's grid exchange;
  the battery absorbs what the forecasts got wrong, as far as the SoC stays within
  ``corridor_pct`` of the plan's SoC by the end of the step (the next replan corrects the rest);
* ``battery``: the plan's battery power as it is.

Score: the plan's value of the present step (EUR/h): the bill saved now plus the change of the
stored energy valued at its shadow price (the LP's dual). A plan that fails (solver failure or
time-out, no inputs) falls back to self-consumption with a reason that says so; the plan's status
is kept for alarms (:attr:`Optimiser.plan`).

Where it solves: by default inside :meth:`Optimiser.propose` (the backtest). The live controller
sets ``solve_inline = False``: ``propose`` then only follows the plan it has (or falls back), and
the controller solves off its event loop (:meth:`plan_for`, pure) and hands the result in
(:meth:`adopt`) when it lands.
"""

from __future__ import annotations

import math
from dataclasses import replace

from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.optimiser.forecast import with_present
from phoenyra_ems.core.optimiser.plan import OptimiserSettings, Plan, describe, make_plan
from phoenyra_ems.core.safety import soc_power_band
from phoenyra_ems.core.strategies.base import DecisionContext, Proposal
from phoenyra_ems.core.strategies.self_consumption import SelfConsumption


class Optimiser:
    name = "optimiser"

    def __init__(self, settings: OptimiserSettings | None = None) -> None:
        self.settings = settings or OptimiserSettings()
        self.plan: Plan | None = None
        self.replans = 0
        self.stats: dict[str, float] = {"failed": 0.0, "slack": 0.0, "solve_ms": 0.0, "simultaneous": 0.0}
        self._fallback = SelfConsumption()
        self.solve_inline = True  # False: the caller solves (plan_for) and hands plans in (adopt)
        self.replan_phase_s = 0.0  # the inputs of a new step come this late (PlanHistory.phase_s)

    # --- planning ------------------------------------------------------------------------------
    def _key(self, ctx: DecisionContext) -> tuple[object, ...]:
        inputs = ctx.plan_inputs
        assert inputs is not None
        # The derate in steps of 10 %: a battery warming slowly does not replan every cycle.
        derate = round(ctx.derate, 1)
        return (
            inputs.start, inputs.published_steps, inputs.source, ctx.limits, ctx.tariffs, derate,
            inputs.constraints_key,
        )  # fmt: skip

    def needs_plan(self, ctx: DecisionContext) -> bool:
        """Whether the present plan is stale (see module docstring)."""
        plan, inputs = self.plan, ctx.plan_inputs
        if inputs is None:
            return False
        if plan is None or plan.key != self._key(ctx):
            return True
        if (ctx.now - plan.start).total_seconds() >= self.settings.planning_step_s + self.replan_phase_s:
            return True
        expected = plan.soc_at(ctx.now)
        return expected is None or abs(ctx.state.soc - expected) > self.settings.replan_soc_deviation_pct

    def plan_for(self, ctx: DecisionContext) -> Plan | None:
        """A new plan for ``ctx`` (pure: safe in a worker thread); None without plan inputs."""
        inputs = ctx.plan_inputs
        if inputs is None:
            return None
        if self.settings.measured_present and inputs.steps:
            # The present step: what is measured now, not what was forecast (the caller's
            # forecasts start at the plan step; the controller sees the present).
            s, step_s = self.settings, inputs.step_s
            load_now, pv_now = max(ctx.state.p_load or 0.0, 0.0), max(ctx.state.p_pv or 0.0, 0.0)
            load = with_present(inputs.load_kw, load_now, step_s, s.present_decay_h)
            pv = with_present(inputs.pv_kw, pv_now, step_s, s.pv_present_decay_h, relative=True)
            inputs = replace(inputs, load_kw=load, pv_kw=pv)
        plan = make_plan(
            inputs,
            ctx.limits,
            ctx.tariffs,
            ctx.state.soc,
            self.settings,
            soh_pct=ctx.state.soh,
            derate=ctx.derate,
        )
        return replace(plan, key=self._key(ctx), made_at=ctx.now)

    def adopt(self, plan: Plan | None) -> Plan | None:
        """Follow ``plan`` from now on (None: keep the present one)."""
        if plan is None:
            return self.plan
        self.plan = plan
        self.replans += 1
        self.stats["failed"] += plan.status == "failed"
        self.stats["slack"] += plan.status == "slack"
        self.stats["solve_ms"] += plan.solve_ms
        self.stats["simultaneous"] += plan.simultaneous_found
        return plan

    def replan(self, ctx: DecisionContext) -> Plan | None:
        return self.adopt(self.plan_for(ctx))

    # --- following it --------------------------------------------------------------------------
    def propose(self, ctx: DecisionContext) -> Proposal:
        plan = self.replan(ctx) if self.solve_inline and self.needs_plan(ctx) else self.plan
        k = plan.index_at(ctx.now) if plan is not None else None
        if plan is None or not plan.ok or k is None:
            if plan is None:
                why = "no plan inputs" if ctx.plan_inputs is None else "solving"
            else:
                why = plan.message if not plan.ok else "plan expired"
            fallback = self._fallback.propose(ctx)
            return Proposal(self.name, fallback.setpoint_kw, 0.0, f"no plan ({why}): {fallback.reason}")
        setpoint = self._setpoint(ctx, plan, k)
        score = max(float(plan.value_eur_h[k]), 0.0)
        reason = describe(plan, k, setpoint)
        if plan.status == "slack":
            reason += " (outside a limit: plan uses slack)"
        return Proposal(self.name, setpoint, score, reason)

    def _setpoint(self, ctx: DecisionContext, plan: Plan, k: int) -> float:
        planned = float(plan.battery_kw[k])
        execution = self.settings.execution
        if execution == "battery":
            return planned
        actual_net = ctx.state.p_net_load
        if execution == "grid":  # hold the planned grid exchange: the battery takes the whole error
            target = actual_net - float(plan.grid_kw[k])
        else:  # "value": take the error where the plan's own prices say it pays
            target = _best_response(plan, k, planned, actual_net, ctx.limits)
        return self._in_corridor(ctx, plan, k, planned, target)

    def _in_corridor(self, ctx: DecisionContext, plan: Plan, k: int, planned: float, target: float) -> float:
        """``target`` limited so the SoC ends the step within the corridor around the plan's SoC."""
        corridor = self.settings.corridor_pct
        end_soc = float(plan.soc_pct[k])
        lim = ctx.limits
        window = replace(
            lim,
            soc_min_pct=max(lim.soc_min_pct, end_soc - corridor),
            soc_max_pct=min(lim.soc_max_pct, end_soc + corridor),
        )
        remaining = (plan.start - ctx.now).total_seconds() + (k + 1) * plan.step_s
        low, high = soc_power_band(window, ctx.state.soc, max(remaining, ctx.dt_s), ctx.state.soh)
        low, high = min(low, planned, 0.0), max(high, planned, 0.0)
        value = min(max(target, low), high)
        return value if math.isfinite(value) else planned


def _best_response(plan: Plan, k: int, planned: float, actual_net: float, limits: SiteLimits) -> float:
    """The battery power between the plan's and "battery takes the whole error" worth most now.

    Worth = the grid exchange at this step's buy/sell price plus the change of stored energy at the
    plan's shadow price of stored energy (its dual): more load than forecast is covered from the
    battery only if a stored kWh is worth less than the purchase it avoids, more PV is stored only
    if a stored kWh is worth more than the export.
    """
    # What the plan expects at the meter without the battery (its curtailment, which a controller
    # cannot execute, counts as error too).
    error = actual_net - float(plan.grid_kw[k] + plan.battery_kw[k])
    low, high = sorted((planned, planned + error))
    buy, sell = float(plan.buy_eur_mwh[k]), float(plan.sell_eur_mwh[k])
    water = float(plan.water_value_eur_kwh[k])
    eta_c, eta_d = limits.efficiency_charge, limits.efficiency_discharge

    def worth(battery: float) -> float:
        grid = actual_net - battery
        bill = (buy if grid > 0 else sell) * grid / 1000.0
        stored = -battery / eta_d if battery > 0 else -battery * eta_c
        return water * stored - bill

    candidates = {low, high, planned, min(max(actual_net, low), high), min(max(0.0, low), high)}
    return max(sorted(candidates, key=lambda b: abs(b - planned)), key=worth)
