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
from pathlib import Path

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import TARGET
from phoenyra_ems.forecast.command import format_table
from phoenyra_ems.forecast.datasets import LOAD_SETS, LoadSet, vdi_household_load
from phoenyra_ems.forecast.ensemble import Ensemble
from phoenyra_ems.forecast.evaluation import Evaluation, rolling_origin
from phoenyra_ems.forecast.models import load_ensemble, load_members
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


def ensemble_with_members(
    data: pd.DataFrame,
    origins: list[pd.Timestamp],
    steps: int,
    timezone: str,
    country: str | None,
    collapse_ratio: float | None = 2.0,
) -> Evaluation:
    """The daemon's load ensemble (gbm with P10/P90) and each of its members, rolling origin, refit
    weekly: the members' rows are the ensemble's own members (fitted on the same history as a
    stand-alone model would be, deterministic), so each refit costs one ensemble fit, not two."""
    evaluation = Evaluation(steps, pd.Timedelta(data.index[1] - data.index[0]), origins)
    names = [*load_members(timezone, country), "ensemble"]
    errors: dict[str, list[np.ndarray]] = {name: [] for name in names}
    bands: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"gbm": ([], []), "ensemble": ([], [])}
    target = data[TARGET].to_numpy(dtype=float)
    model: Ensemble | None = None
    fitted_at: pd.Timestamp | None = None
    for origin in origins:
        cut = int(data.index.searchsorted(origin))
        past = data.iloc[:cut]
        truth = np.full(steps, np.nan)
        known = target[cut : cut + steps]
        truth[: len(known)] = known
        if model is None or fitted_at is None or origin - fitted_at >= pd.Timedelta(days=7):
            model = load_ensemble(timezone, country, bands=True)
            model.collapse_ratio = collapse_ratio
            model.fit(past)
            fitted_at = origin
        errors["ensemble"].append(model.predict(past, steps) - truth)
        low, high = sorted(model.predict_quantiles(past, steps).items())
        bands["ensemble"][0].append(low[1] - truth)
        bands["ensemble"][1].append(high[1] - truth)
        active = {m.name: m for m in model.active}
        for name in names[:-1]:
            if name not in active:
                errors[name].append(np.full(steps, np.nan))
            elif name == "gbm":
                central, raw = active[name].predict_with_bands(past, steps)  # type: ignore[attr-defined]
                errors[name].append(central - truth)
                bands["gbm"][0].append(raw[min(raw)] - truth)
                bands["gbm"][1].append(raw[max(raw)] - truth)
            else:
                errors[name].append(np.asarray(active[name].predict(past, steps), dtype=float) - truth)
    evaluation.errors = {name: np.vstack(rows) for name, rows in errors.items()}
    evaluation.bands = {name: (np.vstack(lo), np.vstack(hi)) for name, (lo, hi) in bands.items() if lo}
    return evaluation


def load_set_quality(
    chosen: LoadSet,
    season: str,
    prophet: bool,
    save: str | None = None,
    days: int | None = None,
    collapse_ratio: float | None = 2.0,
) -> dict[str, float | str]:
    data = chosen.load()
    first, last = getattr(chosen, season)
    origins = [
        pd.Timestamp(day.date(), tz=chosen.timezone).tz_convert("UTC") for day in pd.date_range(first, last)
    ][:days]
    steps = int(pd.Timedelta(hours=48) / (data.index[1] - data.index[0]))
    started = time.perf_counter()
    evaluation = ensemble_with_members(data, origins, steps, chosen.timezone, chosen.country, collapse_ratio)
    if prophet:
        factories = load_factories(chosen.timezone, chosen.country)
        evaluation.errors["prophet"] = rolling_origin(
            {"prophet": factories["prophet"]}, data, origins, steps
        ).errors["prophet"]
    if save:  # the forecast errors (forecast − actual, origin x step) for later analysis
        arrays = dict(evaluation.errors)
        arrays.update({f"{n}_low": b[0] for n, b in evaluation.bands.items()})
        arrays.update({f"{n}_high": b[1] for n, b in evaluation.bands.items()})
        np.savez(Path(save) / f"{chosen.name}_{season}.npz", **arrays)  # type: ignore[arg-type]
    members = [n for n in evaluation.errors if n not in ("ensemble", "persistence", "prophet")]
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
        "coverage_raw": evaluation.coverage("gbm"),
        "coverage": evaluation.coverage("ensemble"),
        "seconds": time.perf_counter() - started,
    }
    others = ", ".join(f"{n} {evaluation.skill(n):+.1%}" for n in evaluation.errors if n != "persistence")
    print(
        f"{chosen.name:<18} {season:<6} {row['origins']}: persistence MAE {row['persistence_mae']:.4f}; "
        f"ensemble {row['ensemble_skill']:+.1%} (vs best member {best} {row['vs_best']:+.1%}); "
        f"P10–P90 coverage {row['coverage']:.1%} (uncalibrated {row['coverage_raw']:.1%}); all: {others} "
        f"({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def prophet_rows(names: str, seasons: str, days: int | None) -> None:
    """Prophet (not a member) and persistence alone on each row's origins: the Prophet column without
    refitting the ensemble."""
    print("Prophet against persistence (same origins as the ensemble rows)")
    for chosen in [s for s in LOAD_SETS if names == "all" or s.name in names.split(",")]:
        data = chosen.load()
        steps = int(pd.Timedelta(hours=48) / (data.index[1] - data.index[0]))
        factories = {
            "persistence": load_members(chosen.timezone, chosen.country)["persistence"],
            "prophet": load_members(chosen.timezone, chosen.country, prophet=True)["prophet"],
        }
        for season in seasons.split(","):
            first, last = getattr(chosen, season)
            origins = [
                pd.Timestamp(day.date(), tz=chosen.timezone).tz_convert("UTC")
                for day in pd.date_range(first, last)
            ][:days]
            started = time.perf_counter()
            evaluation = rolling_origin(factories, data, origins, steps)
            print(
                f"{chosen.name:<18} {season:<6} {origins[0]:%Y-%m-%d} → {origins[-1]:%Y-%m-%d} "
                f"({len(origins)}): persistence MAE {evaluation.mae('persistence'):.4f}; prophet "
                f"{evaluation.skill('prophet'):+.1%} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


def load_sets(
    names: str,
    seasons: str,
    prophet: bool,
    save: str | None,
    days: int | None,
    collapse_ratio: float | None = 2.0,
) -> None:
    chosen = [s for s in LOAD_SETS if names == "all" or s.name in names.split(",")]
    print("load data sets (tuned on vdi_efh winter; goals: ≥ +15 % winter, ≥ +10 % summer, ≥ −1 % vs best)")
    rows = [
        load_set_quality(data_set, season, prophet, save, days, collapse_ratio)
        for data_set in chosen
        for season in seasons.split(",")
    ]
    print(
        "\n| data set | season | origins | persistence MAE kW | best member | ensemble skill | vs best "
        "| Prophet | P10–P90 raw | calibrated |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        prophet = "–" if np.isnan(r["prophet_skill"]) else f"{r['prophet_skill']:+.1%}"  # --no-prophet
        print(
            f"| {r['set']} | {r['season']} | {r['origins']} | {r['persistence_mae']:.4f} | {r['best']} "
            f"{r['best_skill']:+.1%} | {r['ensemble_skill']:+.1%} | {r['vs_best']:+.1%} | "
            f"{prophet} | {r['coverage_raw']:.1%} | {r['coverage']:.1%} |"
        )


def speed(repeats: int = 20) -> None:
    history = vdi_household_load(4.0)
    print(
        f"fit: VDI 4657 single-family house, {len(history)} rows of 15-min load "
        f"({history.index[0]:%Y-%m-%d} → {history.index[-1]:%Y-%m-%d})"
    )
    for bands in (False, True):
        model = load_ensemble("Europe/Berlin", "DE", bands=bands)
        started, cpu = time.perf_counter(), time.process_time()
        model.fit(history)
        fit_s, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
        steps = 192
        times, cpu_times = [], []
        for k in range(repeats):
            past = history.iloc[: len(history) - 96 * (repeats - k)]
            started, cpu = time.perf_counter(), time.process_time()
            model.predict(past, steps)
            if bands:
                model.predict_quantiles(past, steps)
            times.append(1000 * (time.perf_counter() - started))
            cpu_times.append(1000 * (time.process_time() - cpu))
        what = "with P10/P90 (3 gbm models)" if bands else "the daemon's (no bands)"
        print(
            f"  ensemble {what}, fit (gbm fitted 4 times: 3 validation folds + final) {fit_s:.1f} s wall, "
            f"{fit_cpu:.1f} s CPU (goal < {GOAL_FIT_S:.0f} s; wall > CPU when the cores are shared)"
        )
        print(
            f"  predict 48 h = {steps} steps{' + calibrated band' if bands else ''}: median "
            f"{statistics.median(times):.1f} ms wall ({statistics.median(cpu_times):.1f} ms CPU), "
            f"max {max(times):.1f} ms (goal < {GOAL_PREDICT_MS:.0f} ms)"
        )
        print(f"  weights per horizon quarter: {model.member_weights()}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--targets", default="load,pv,price")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--load-sets", default="", help="'all' or comma-separated names of LOAD_SETS")
    parser.add_argument("--save", help="--load-sets: a directory for each row's forecast errors (.npz)")
    parser.add_argument(
        "--season-days", type=int, help="--load-sets: only the first N origin days of each window (of 42)"
    )
    parser.add_argument("--seasons", default="winter,summer", help="--load-sets: winter, summer or both")
    parser.add_argument("--no-prophet", action="store_true", help="--load-sets without the Prophet row")
    parser.add_argument(
        "--no-collapse-gate",
        action="store_true",
        help="--load-sets: the ensemble without its collapse gate (Ensemble.collapse_ratio=None)",
    )
    parser.add_argument(
        "--prophet-only", action="store_true", help="--load-sets: Prophet and persistence only (no ensemble)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    pd.set_option("display.width", 120)
    quality([t for t in args.targets.split(",") if t], args.days)
    if args.load_sets and args.prophet_only:
        prophet_rows(args.load_sets, args.seasons, args.season_days)
    elif args.load_sets:
        load_sets(
            args.load_sets,
            args.seasons,
            not args.no_prophet,
            args.save,
            args.season_days,
            None if args.no_collapse_gate else 2.0,
        )
    if not args.no_speed:
        speed()


if __name__ == "__main__":
    main()
