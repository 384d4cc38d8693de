"""A committed VPP schedule as constraints of the optimiser's plan (pure; docs/vpp.md "Control")."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from phoenyra_ems.core.optimiser.plan import PlanInputs
from phoenyra_ems.core.vpp import VppSchedule
from phoenyra_ems.core.vpp_control import plan_bounds


def constrain(inputs: PlanInputs, schedule: VppSchedule | None) -> PlanInputs:
    """``inputs`` with the schedule's setpoints fixed and its capacity limits as per-step caps.

    The same inputs for the same schedule (so the optimiser replans only when either changes).
    """
    if schedule is None:
        return inputs
    bounds = plan_bounds(schedule, inputs.start, inputs.step_s, inputs.steps)
    if bounds.empty:
        return inputs
    export = np.asarray(bounds.export_max_kw, dtype=np.float64)
    if inputs.export_max_kw is not None:
        given = np.asarray(inputs.export_max_kw, dtype=np.float64)[: inputs.steps]
        export[: len(given)] = np.minimum(export[: len(given)], np.where(np.isnan(given), np.inf, given))
    return replace(
        inputs,
        export_max_kw=export,
        import_max_kw=np.asarray(bounds.import_max_kw, dtype=np.float64),
        battery_fixed_kw=np.asarray(bounds.battery_kw, dtype=np.float64),
        constraints_key=bounds.key,
    )
