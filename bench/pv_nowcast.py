"""The PV forecast without weather: the three-day ratio alone against the last hour's ratio near the
present (clear-sky-index persistence), by the decay of the last hour's weight.

Chosen on the NREL PVDAQ system in Golden (2012, hourly; the tuning set), reported on the Konstanz
house (2016, hourly; never used for the choice). A 48-h forecast from every hour's start (from the
3rd day on) with the daemon's own ``PvForecaster.predict`` (no weather); MAE in kW over the first
6 h and over the 48 h, nights included (both forecasts give 0 there).

    .venv/bin/python bench/pv_nowcast.py [--sites golden,konstanz] [--decays 0,1,2,3,4,6,12]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd
from _common import print_decay_sweep  # bench/ is the script's directory

from phoenyra_ems.backtest.forecasts import ClearSkyCache
from phoenyra_ems.forecast import datasets
from phoenyra_ems.forecast.base import TARGET
from phoenyra_ems.forecast.pv import PvForecaster

HORIZON = 48
FIRST_HOURS = 6


def site(name: str) -> tuple[PvForecaster, pd.DataFrame]:
    if name == "golden":
        model = datasets.nrel_pv_forecaster()
        frame = datasets.nrel_pv()[[TARGET]].loc["2012-01-01":"2012-12-31"]
    else:  # the backtest's household: ~10 kWp, the config's default tilt 30° south
        model = PvForecaster(47.66, 9.18, 10.0)
        frame = datasets.konstanz_pv().to_frame(TARGET).loc["2016-01-01":"2016-12-31"]
    frame = frame.fillna(0.0)
    cache = ClearSkyCache()
    compute = model.modelled_kw

    def cached(index: pd.DatetimeIndex, ghi: object = None, temp_air_c: object = None) -> np.ndarray:
        return cache.modelled_kw(compute, index)

    model.modelled_kw = cached  # type: ignore[method-assign]  # same values, computed once
    return model, frame


def errors(model: PvForecaster, frame: pd.DataFrame, decay_h: float) -> tuple[float, float]:
    model.nowcast_decay_h = decay_h
    actual = frame[TARGET].to_numpy(dtype=float)
    first, whole, count = 0.0, 0.0, 0
    for i in range(3 * 24, len(frame) - HORIZON):
        forecast = model.predict(frame.iloc[i - 3 * 24 : i], HORIZON)
        error = np.abs(forecast - actual[i : i + HORIZON])
        first += float(error[:FIRST_HOURS].sum())
        whole += float(error.sum())
        count += 1
    return first / (count * FIRST_HOURS), whole / (count * HORIZON)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", default="golden,konstanz")
    parser.add_argument("--decays", default="0,1,2,3,4,6,12", help="hours; 0 = the three-day ratio alone")
    args = parser.parse_args()
    logging.getLogger("phoenyra_ems.forecast").setLevel(logging.ERROR)  # the per-forecast warning
    first, whole = f"MAE 0-{FIRST_HOURS} h kW", f"MAE 0-{HORIZON} h kW"
    print(f"| site | decay h | {first} | vs 3-day ratio | {whole} | vs 3-day ratio |")
    print("|---|---|---|---|---|---|")
    for name in args.sites.split(","):
        model, frame = site(name)
        started = time.perf_counter()
        print_decay_sweep(
            name,
            [float(d) for d in args.decays.split(",")],
            lambda decay, m=model, f=frame: errors(m, f, decay),
            "3-day ratio alone",
        )
        print(f"<!-- {name}: {time.perf_counter() - started:.0f} s -->")


if __name__ == "__main__":
    main()
