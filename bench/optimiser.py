"""Solve time of the optimiser's horizon plan, model building included, for 96 / 192 / 576 steps.

Each plan is what the live strategy does at a replan: ``make_plan`` (inputs checked, the LP's
vectors filled, the cached sparse structure reused, HiGHS, the plan's values and duals) for a
10 kWh / 5 kW household battery at 15-min steps, on windows of a synthetic but realistic year
(``bench/optimum_size.py``: prices with negative noon hours in summer, load peaks, cloudy PV),
with a 60 % feed-in limit and a demand charge on the month's peak above the one already reached.
Printed beside the peers' figures measured on this machine (../shared/NOTES.md): EMHASS 0.18.7
(CVXPY + HiGHS) 134 ms for 192 steps and 472 ms for 576, evcc's optimizer (PuLP + CBC) 199 ms for
192. Wall time (p50/p99/max) depends on what else runs on the machine; the CPU time of the
solving thread (``time.thread_time``, HiGHS runs in it) is what a free core would take.

    .venv/bin/python bench/optimiser.py [--repeats 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from _common import percentile
from optimum_size import synthetic_year

from phoenyra_ems.config.model import GridTariffConfig
from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.optimiser.plan import OptimiserSettings, PlanInputs, make_plan

PEERS = {
    96: "",
    192: "EMHASS 0.18.7 134 ms, evcc (PuLP+CBC) 199 ms",
    576: "EMHASS 0.18.7 472 ms",
}
LIMITS = SiteLimits(
    capacity_kwh=10.0,
    charge_max_kw=5.0,
    discharge_max_kw=5.0,
    efficiency_charge=0.95,
    efficiency_discharge=0.95,
    soc_min_pct=10.0,
    soc_max_pct=90.0,
    grid_import_max_kw=15.0,
    grid_export_max_kw=3.6,
)
TARIFFS = GridTariffConfig(
    energy_price_markup_eur_mwh=150.0,
    feedin_pricing="spot",
    demand_charge_eur_kw_month=8.0,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    year = synthetic_year(0.25, rng)
    day_ahead = year["buy"] - 180.0
    start = datetime(2024, 1, 1, tzinfo=UTC)
    print(
        f"{'steps':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'first ms':>9} {'CPU p50':>8} "
        f"{'CPU p99':>8}  status   peers (same machine)"
    )
    for steps in (96, 192, 576):
        settings = OptimiserSettings(horizon_h=steps * 0.25)
        times: list[float] = []
        cpu: list[float] = []
        statuses: set[str] = set()
        first = 0.0
        for k in range(args.repeats):
            at = (k * 37) % (len(day_ahead) - steps)
            inputs = PlanInputs(
                start=start + timedelta(minutes=15 * at),
                step_s=900.0,
                load_kw=year["load"][at : at + steps],
                pv_kw=year["pv"][at : at + steps],
                price_eur_mwh=day_ahead[at : at + steps],
                published_steps=steps,
                month_index=np.zeros(steps, dtype=np.intp),
                peak_reached_kw=2.0,
            )
            soc = float(rng.uniform(5.0, 95.0))  # sometimes outside the window: slack
            began, began_cpu = time.perf_counter(), time.thread_time()
            plan = make_plan(inputs, LIMITS, TARIFFS, soc, settings)
            elapsed = 1000.0 * (time.perf_counter() - began)
            used = 1000.0 * (time.thread_time() - began_cpu)
            statuses.add(plan.status)
            if k == 0:
                first = elapsed
            else:
                times.append(elapsed)
                cpu.append(used)
        print(
            f"{steps:>6} {percentile(times, 50):>8.1f} {percentile(times, 99):>8.1f} {max(times):>8.1f} "
            f"{first:>9.1f} {percentile(cpu, 50):>8.1f} {percentile(cpu, 99):>8.1f}  "
            f"{'/'.join(sorted(statuses)):<8} {PEERS[steps]}"
        )


if __name__ == "__main__":
    main()
