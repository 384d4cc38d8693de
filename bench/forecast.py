"""Forecast quality and speed on real data (issues 4 and 19's acceptance figures).

``--load-sets``: every load data set (VDI 4657 households, the Konstanz house, commercial loads) in a
winter and a summer window of 6 weeks of origins (local midnights, 48 h ahead, refit weekly):
persistence MAE, the best member, the ensemble's skill and its gap to the best member, Prophet
beside them (not a member), and the coverage of the gradient-boosting P10–P90 band. The ensemble's
settings were tuned on vdi_efh in winter only; every other row is as it comes.

Day-ahead rolling origin (48 h from each local midnight, models refit weekly on the data before the
origin) over the last DAYS days of: the Konstanz household load, the NREL PVDAQ system with its
recorded NSRDB weather standing in for a forecast, and the 2024 AT day-ahead prices (DE-LU
generation forecasts as features). Prints MAE / RMSE / nMAE / skill against persistence for every
forecaster and the ensemble, then the fit time of one site's year of 15-min load data (VDI 4657
house) and the prediction time of its 48 h forecast.

    OMP_NUM_THREADS=1 .venv/bin/python bench/forecast.py [--days 90] [--targets load,pv,price]
    OMP_NUM_THREADS=1 .venv/bin/python bench/forecast.py --targets "" --no-speed --load-sets all
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import Forecaster
from phoenyra_ems.forecast.command import format_table
from phoenyra_ems.forecast.datasets import LOAD_SETS, LoadSet, vdi_household_load
from phoenyra_ems.forecast.evaluation import Evaluation, rolling_origin
from phoenyra_ems.forecast.gbm import GradientBoostingForecaster
from phoenyra_ems.forecast.models import ensemble_of, load_members
from phoenyra_ems.forecast.suites import evaluate, load_factories

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


class Band:
    """P10 or P90 of gradient boosting's quantile models; one fit serves both names."""

    min_history_days = 14.0
    _fitted: ClassVar[dict[tuple[str, pd.Timestamp], GradientBoostingForecaster]] = {}

    def __init__(self, quantile: float, timezone: str, country: str | None) -> None:
        self.quantile, self.timezone, self.country = quantile, timezone, country
        self.name = f"gbm_p{round(100 * quantile)}"

    def fit(self, history: pd.DataFrame) -> None:
        key = (self.timezone, pd.Timestamp(history.index[-1]))
        if key not in Band._fitted:
            model = GradientBoostingForecaster(
                "gbm_band", timezone=self.timezone, country=self.country, quantiles=(0.1, 0.9), max_iter=100
            )
            model.fit(history)
            Band._fitted = {key: model}  # only the latest: the other band is fitted on the same history
        self.model = Band._fitted[key]

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return self.model.predict_quantiles(history, steps, exog)[self.quantile]


def coverage(evaluation: Evaluation) -> float:
    """Share of actual values inside the P10–P90 band (errors are forecast − actual)."""
    low, high = evaluation.errors["gbm_p10"], evaluation.errors["gbm_p90"]
    ok = np.isfinite(low) & np.isfinite(high)
    return float(np.mean((low[ok] <= 0) & (high[ok] >= 0)))


def load_set_quality(chosen: LoadSet, season: str, prophet: bool) -> dict[str, float | str]:
    data = chosen.load()
    first, last = getattr(chosen, season)
    origins = [
        pd.Timestamp(day.date(), tz=chosen.timezone).tz_convert("UTC") for day in pd.date_range(first, last)
    ]
    factories: dict[str, Callable[[], Forecaster]] = dict(load_factories(chosen.timezone, chosen.country))
    if not prophet:
        factories.pop("prophet")
    for q in (0.1, 0.9):
        factories[f"gbm_p{round(100 * q)}"] = lambda q=q: Band(q, chosen.timezone, chosen.country)
    steps = int(pd.Timedelta(hours=48) / (data.index[1] - data.index[0]))
    started = time.perf_counter()
    evaluation = rolling_origin(factories, data, origins, steps)
    members = [
        n for n in evaluation.errors if n not in ("ensemble", "persistence", "prophet", "gbm_p10", "gbm_p90")
    ]
    best = min(members, key=evaluation.mae)
    row: dict[str, float | str] = {
        "set": chosen.name,
        "season": season,
        "origins": f"{origins[0]:%Y-%m-%d} → {origins[-1]:%Y-%m-%d} ({len(origins)})",
        "persistence_mae": evaluation.mae("persistence"),
        "best": best,
        "best_skill": evaluation.skill(best),
        "ensemble_mae": evaluation.mae("ensemble"),
        "ensemble_skill": evaluation.skill("ensemble"),
        "vs_best": 1 - evaluation.mae("ensemble") / evaluation.mae(best),
        "prophet_skill": evaluation.skill("prophet") if "prophet" in evaluation.errors else float("nan"),
        "coverage": coverage(evaluation),
        "seconds": time.perf_counter() - started,
    }
    others = ", ".join(
        f"{n} {evaluation.skill(n):+.1%}"
        for n in evaluation.errors
        if n not in ("persistence", "gbm_p10", "gbm_p90")
    )
    print(
        f"{chosen.name:<18} {season:<6} {row['origins']}: persistence MAE {row['persistence_mae']:.4f}; "
        f"ensemble {row['ensemble_skill']:+.1%} (vs best member {best} {row['vs_best']:+.1%}); "
        f"P10–P90 coverage {row['coverage']:.1%}; all: {others} ({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def load_sets(names: str, prophet: bool) -> None:
    chosen = [s for s in LOAD_SETS if names == "all" or s.name in names.split(",")]
    print("load data sets (tuned on vdi_efh winter; goals: ≥ +15 % winter, ≥ +10 % summer, ≥ −1 % vs best)")
    for data_set in chosen:
        for season in ("winter", "summer"):
            load_set_quality(data_set, season, prophet)


def speed(repeats: int = 20) -> None:
    history = vdi_household_load(4.0)
    print(
        f"fit: VDI 4657 single-family house, {len(history)} rows of 15-min load "
        f"({history.index[0]:%Y-%m-%d} → {history.index[-1]:%Y-%m-%d})"
    )
    model = ensemble_of(load_members("Europe/Berlin", "DE"))
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(history)
    fit_s, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    steps = 192
    times, cpu_times = [], []
    for k in range(repeats):
        past = history.iloc[: len(history) - 96 * (k + 1)]
        started, cpu = time.perf_counter(), time.process_time()
        model.predict(past, steps)
        times.append(1000 * (time.perf_counter() - started))
        cpu_times.append(1000 * (time.process_time() - cpu))
    print(
        f"  ensemble fit (4 members fitted twice: weight learning + final) {fit_s:.1f} s wall, "
        f"{fit_cpu:.1f} s CPU (goal < {GOAL_FIT_S:.0f} s; wall > CPU when the cores are shared)"
    )
    print(
        f"  predict 48 h = {steps} steps: median {statistics.median(times):.1f} ms wall "
        f"({statistics.median(cpu_times):.1f} ms CPU), max {max(times):.1f} ms "
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
    parser.add_argument("--load-sets", default="", help="'all' or comma-separated names of LOAD_SETS")
    parser.add_argument("--no-prophet", action="store_true", help="--load-sets without the Prophet row")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    pd.set_option("display.width", 120)
    quality([t for t in args.targets.split(",") if t], args.days)
    if args.load_sets:
        load_sets(args.load_sets, not args.no_prophet)
    if not args.no_speed:
        speed()


if __name__ == "__main__":
    main()
