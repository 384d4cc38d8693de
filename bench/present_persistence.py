"""How long the measured present's departure from the forecast lasts: the choice of
``PRESENT_DECAY_H`` (``core/optimiser/forecast.py``, the planner's ``with_present``).

Real 15-min load of the VDI 4657 single-family house (2019, 4.5 MWh/a) and real 15-min PV of the
NREL PVDAQ system in Golden (2012) — neither is the household year the optimiser's acceptance is
measured on. At every 15-min origin: the planner's profile forecast of the next 2 h (load: 7 days,
PV: 3 days), its first step replaced by the measured present, and the present's departure carried
into the next steps with weight exp(-lead / decay) (PV as a ratio); MAE of the next 1 h and 2 h
(PV: daytime origins only, where the present's forecast is above 2 % of the day's).

    .venv/bin/python bench/present_persistence.py [--decays 0,0.25,0.5,1,2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import print_decay_sweep  # bench/ is the script's directory

from phoenyra_ems.core.optimiser.forecast import profile, with_present
from phoenyra_ems.forecast import datasets

PER_DAY = 96
STEP_S = 900.0
AHEAD = 8  # 2 h of 15-min steps after the present


def errors(series: np.ndarray, decay_h: float, days: int, relative: bool) -> tuple[float, float]:
    total = np.zeros(AHEAD)
    count = 0
    for i in range(8 * PER_DAY, len(series) - AHEAD - 1):
        actual = series[i : i + 1 + AHEAD]
        if not np.isfinite(actual).all():
            continue
        forecast = profile(series[:i], PER_DAY, AHEAD + 1, days)
        if relative and forecast[0] < 0.02 * max(float(forecast.max()), 1e-9):
            continue
        planned = with_present(forecast, float(actual[0]), STEP_S, decay_h, relative=relative)
        total += np.abs(planned[1:] - actual[1:])
        count += 1
    mean = total / count
    return float(mean[:4].mean()), float(mean.mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decays", default="0,0.25,0.5,1,2", help="hours; 0 = the present step only")
    args = parser.parse_args()
    sets = (
        ("VDI house load", datasets.vdi_household_load(4.5)["y"].to_numpy(dtype=float), 7, False),
        ("PVDAQ Golden PV", datasets.nrel_pv_15min().to_numpy(dtype=float), 3, True),
    )
    print("| series | decay h | MAE next 1 h kW | vs present only | MAE next 2 h kW | vs present only |")
    print("|---|---|---|---|---|---|")
    for name, series, days, relative in sets:
        started = time.perf_counter()
        print_decay_sweep(
            name,
            [float(d) for d in args.decays.split(",")],
            lambda decay, s=series, d=days, r=relative: errors(s, decay, d, r),
            "present step only",
        )
        print(f"<!-- {name}: {time.perf_counter() - started:.0f} s, {len(series)} steps -->")


if __name__ == "__main__":
    main()
