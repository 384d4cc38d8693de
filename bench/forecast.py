"""Forecast quality and speed on real data (issue 4's acceptance figures).

Day-ahead rolling origin (48 h from each local midnight, models refit weekly on the data before the
origin) over the last DAYS days of: the Konstanz household load, the NREL PVDAQ system with its
recorded NSRDB weather standing in for a forecast, and the 2024 AT day-ahead prices (DE-LU
generation forecasts as features). Prints MAE / RMSE / nMAE / skill against persistence for every
forecaster and the ensemble, then the fit time of one site's year of 15-min load data (VDI 4657
house) and the prediction time of its 48 h forecast.

    OMP_NUM_THREADS=1 .venv/bin/python bench/forecast.py [--days 90] [--targets load,pv,price]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import pandas as pd

from phoenyra_ems.forecast.command import format_table
from phoenyra_ems.forecast.datasets import vdi_household_load
from phoenyra_ems.forecast.models import ensemble_of, load_members
from phoenyra_ems.forecast.suites import evaluate

GOAL_FIT_S = 30.0
GOAL_PREDICT_MS = 100.0


def quality(targets: list[str], days: int) -> None:
    for target in targets:
        started = time.perf_counter()
        chosen, evaluation = evaluate(target, days)
        print(
            format_table(
                f"{chosen.description}: {len(evaluation.origins)} origins "
                f"{evaluation.origins[0]:%Y-%m-%d} → {evaluation.origins[-1]:%Y-%m-%d}, 48 h ahead",
                chosen.unit,
                evaluation,
            )
        )
        members = [n for n in evaluation.errors if n not in ("ensemble", "persistence")]
        if "ensemble" in evaluation.errors:
            best = min(members, key=evaluation.mae)
            gain = 1 - evaluation.mae("ensemble") / evaluation.mae(best)
            print(
                f"ensemble vs persistence: {evaluation.skill('ensemble'):+.1%} (goal ≥ +15 % for load); "
                f"vs best member {best}: {gain:+.1%} (goal > 0)"
            )
        print(f"({time.perf_counter() - started:.0f} s)\n")


def speed(repeats: int = 20) -> None:
    history = vdi_household_load(4.0)
    print(
        f"fit: VDI 4657 single-family house, {len(history)} rows of 15-min load "
        f"({history.index[0]:%Y-%m-%d} → {history.index[-1]:%Y-%m-%d})"
    )
    model = ensemble_of(load_members("Europe/Berlin", "DE"))
    started = time.perf_counter()
    model.fit(history)
    fit_s = time.perf_counter() - started
    steps = 192
    times = []
    for k in range(repeats):
        past = history.iloc[: len(history) - 96 * (k + 1)]
        started = time.perf_counter()
        model.predict(past, steps)
        times.append(1000 * (time.perf_counter() - started))
    print(
        f"  ensemble fit (5 members fitted twice: weight learning + final) {fit_s:.1f} s "
        f"(goal < {GOAL_FIT_S:.0f} s)"
    )
    print(
        f"  predict 48 h = {steps} steps: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
        f"(goal < {GOAL_PREDICT_MS:.0f} ms)"
    )
    print(f"  learned weights per horizon quarter: {model.member_weights()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--targets", default="load,pv,price")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    pd.set_option("display.width", 120)
    quality([t for t in args.targets.split(",") if t], args.days)
    if not args.no_speed:
        speed()


if __name__ == "__main__":
    main()
