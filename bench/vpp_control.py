"""What the VPP control side costs: the fleet split, and a plan with a committed event vs without.

* ``split_setpoint`` for 1 / 10 / 100 / 1000 sites (each with its own power and energy), median and
  p99 over the repeats — it runs at every event and again whenever a site drops out or comes back;
* ``make_plan`` for a 192-step horizon (48 h at 15 min) of a 200 kWh / 100 kW site, with and
  without a 2-hour dispatch event plus an import cap as constraints (``core/optimiser/vpp.py``):
  the event fixes 8 steps' battery power, which must not make the solve slower.

    .venv/bin/python bench/vpp_control.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from _common import percentile

from phoenyra_ems.config.model import GridTariffConfig
from phoenyra_ems.core.limits import SiteLimits
from phoenyra_ems.core.optimiser.plan import OptimiserSettings, PlanInputs, make_plan
from phoenyra_ems.core.optimiser.vpp import constrain
from phoenyra_ems.core.vpp import Flexibility, VppInterval, VppSchedule
from phoenyra_ems.core.vpp_split import split_setpoint

T0 = datetime(2026, 6, 1, tzinfo=UTC)
LIMITS = SiteLimits(200.0, 100.0, 100.0, 0.95, 0.95, 10.0, 90.0, grid_import_max_kw=150.0)


def bench_split(repeats: int) -> None:
    rng = random.Random(1)
    for n in (1, 10, 100, 1000):
        sites = [
            Flexibility(f"s{i}", rng.uniform(0, 100), rng.uniform(0, 100), 900.0, rng.uniform(0, 200), 50.0)
            for i in range(n)
        ]
        request = 0.6 * sum(s.max_discharge_kw for s in sites)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            split_setpoint(request, sites)
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"split {n:5d} sites: median {percentile(times, 50):7.3f} ms  p99 {percentile(times, 99):7.3f} ms"
        )


def bench_plan(repeats: int) -> None:
    n = 192
    hours = np.arange(n) / 4
    inputs = PlanInputs(
        start=T0,
        step_s=900.0,
        load_kw=30 + 10 * np.sin(hours / 24 * 2 * np.pi),
        pv_kw=np.maximum(0, 60 * np.sin((hours % 24 - 6) / 12 * np.pi)),
        price_eur_mwh=80 + 40 * np.sin((hours - 3) / 24 * 2 * np.pi),
        published_steps=n,
    )
    start = T0 + timedelta(hours=18)
    event = VppSchedule("ev", "p", (VppInterval(start, start + timedelta(hours=2), 80.0, 20.0),))
    tariffs = GridTariffConfig(energy_price_markup_eur_mwh=60, feedin_tariff_eur_mwh=50)
    settings = OptimiserSettings()
    for label, plan_inputs in (("without event", inputs), ("with event", constrain(inputs, event))):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            plan = make_plan(plan_inputs, LIMITS, tariffs, 50.0, settings)
            times.append((time.perf_counter() - started) * 1000)
        assert plan.ok, plan.message
        median, p99 = percentile(times, 50), percentile(times, 99)
        print(f"plan 192 steps {label:13s}: median {median:6.1f} ms  p99 {p99:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    bench_split(args.repeats)
    bench_plan(max(10, args.repeats // 4))


if __name__ == "__main__":
    main()
