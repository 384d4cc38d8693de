"""Replay ensemble weighting rules and P10/P90 calibrations offline on recorded member forecasts.

``collect`` scores the load members (gradient boosting with its P10/P90 band) from each local
midnight of a data set's season window, extended by 35 days before it so every scored origin has
a month of earlier forecasts, refitted weekly, and saves their errors. ``replay`` then combines
them the way the ensemble would at each origin — weights from the errors of the previous D days'
forecasts, only the steps already observed — and calibrates the band the same way: a minute per
rule instead of a refit of every model. How issue 19's settings were chosen (on vdi_efh winter
only, docs/forecasting.md).

    OMP_NUM_THREADS=1 .venv/bin/python bench/ensemble_replay.py collect vdi_efh winter /tmp/replay
    .venv/bin/python bench/ensemble_replay.py replay /tmp/replay/vdi_efh_winter.npz
    .venv/bin/python bench/ensemble_replay.py compare /tmp/replay/*.npz [--first 21]
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.conformal import side_offset
from phoenyra_ems.forecast.datasets import LOAD_SETS
from phoenyra_ems.forecast.ensemble import recent_skill_weights
from phoenyra_ems.forecast.evaluation import rolling_origin
from phoenyra_ems.forecast.models import load_members

MEMBERS = ["persistence", "week_ago", "profile_7d", "gbm"]
LEAD_DAYS = 35
Rule = Callable[[np.ndarray, dict[str, list[Any]]], np.ndarray]


def collect(name: str, season: str, out: Path, days: int | None = None) -> Path:
    """``days``: only the first N origin days of the season (the 21-origin rows of the docs)."""
    chosen = next(s for s in LOAD_SETS if s.name == name)
    data = chosen.load()
    first, last = getattr(chosen, season)
    if days is not None:
        last = str((pd.Timestamp(first) + pd.Timedelta(days=days - 1)).date())
    start = pd.Timestamp(first) - pd.Timedelta(days=LEAD_DAYS)
    origins = [
        pd.Timestamp(d.date(), tz=chosen.timezone).tz_convert("UTC") for d in pd.date_range(start, last)
    ]
    steps = int(pd.Timedelta(hours=48) / (data.index[1] - data.index[0]))
    evaluation = rolling_origin(
        dict(load_members(chosen.timezone, chosen.country, bands=True)), data, origins, steps
    )
    low, high = evaluation.bands["gbm"]
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}_{season}.npz"
    np.savez(path, per_day=steps // 2, gbm_p10=low, gbm_p90=high, **evaluation.errors)  # type: ignore[arg-type]
    return path


def _known(k: int, days: int, steps: int, per_day: int) -> np.ndarray:
    """Which steps of the forecasts from origins k-days … k-1 were observed by origin k."""
    s = np.arange(steps)
    return np.array([s < (k - j) * per_day for j in range(k - days, k)])


def _recent_mae(
    err: dict[str, np.ndarray], k: int, days: int, per_day: int, buckets: np.ndarray
) -> np.ndarray:
    known = _known(k, days, len(buckets), per_day)
    out = np.full((len(MEMBERS), buckets.max() + 1), np.nan)
    for m, name in enumerate(MEMBERS):
        e = np.abs(err[name][k - days : k])
        for b in range(out.shape[1]):
            sel = known & (buckets == b)[None, :] & np.isfinite(e)
            out[m, b] = e[sel].mean() if sel.any() else np.nan
    return out


def _last_day_mae(err: dict[str, np.ndarray], k: int, per_day: int) -> np.ndarray:
    """Per member: MAE over the day before origin k, from every earlier forecast of it (all steps)."""
    out = np.full(len(MEMBERS), np.nan)
    for m, name in enumerate(MEMBERS):
        # origin k-1 forecast that day with its first day, origin k-2 with its second
        parts = [err[name][k - lag, (lag - 1) * per_day : lag * per_day] for lag in (1, 2) if k - lag >= 0]
        values = np.abs(np.concatenate(parts))
        out[m] = values[np.isfinite(values)].mean() if np.isfinite(values).any() else np.nan
    return out


def replay_rule(
    err: dict[str, np.ndarray], rule: Rule, days: int, buckets_n: int = 4, first: int | None = None
) -> dict[str, float]:
    """The ensemble's MAE at each origin of the season (the first ``first`` days) with ``rule``."""
    per_day, steps = int(err["per_day"]), err["gbm"].shape[1]
    buckets = np.minimum(np.arange(steps) * buckets_n // steps, buckets_n - 1)
    state: dict[str, list[Any]] = {}
    combined = []
    end = err["gbm"].shape[0] if first is None else min(err["gbm"].shape[0], LEAD_DAYS + first)
    for k in range(LEAD_DAYS, end):
        last_day = _last_day_mae(err, k, per_day)
        state["last_day"] = list(last_day)  # the last day's MAE per member (the collapse gate)
        w = rule(_recent_mae(err, k, days, per_day, buckets), state)
        combined.append(sum(w[m][buckets] * err[name][k] for m, name in enumerate(MEMBERS)))
    result = {name: float(np.nanmean(np.abs(err[name][LEAD_DAYS:end]))) for name in MEMBERS}
    result["ensemble"] = float(np.nanmean(np.abs(np.array(combined))))
    return result


def inverse_mae(power: float, margin: float, collapse: float | None = None) -> Rule:
    """The ensemble's rule (``recent_skill_weights``); ``collapse``: a member whose MAE on the last
    day exceeds that many times the best member's gets no weight (``Ensemble.collapse_ratio``)."""

    def rule(mae: np.ndarray, state: dict[str, list[Any]]) -> np.ndarray:
        collapsed = None
        if collapse is not None:
            last = np.array(state["last_day"], dtype=float)
            if np.isfinite(last).any():
                collapsed = ~(last <= collapse * np.nanmin(last))
        return recent_skill_weights(mae, MEMBERS, power, 0.0, margin, collapsed)

    return rule


def switch_back(margin: float) -> Rule:
    """The recent best alone, but a new leader must beat the incumbent by ``margin``."""

    def rule(mae: np.ndarray, state: dict[str, list[Any]]) -> np.ndarray:
        w = np.zeros_like(mae)
        incumbent = state.setdefault("incumbent", [None] * mae.shape[1])
        for b in range(mae.shape[1]):
            best = int(np.nanargmin(mae[:, b]))
            current = incumbent[b]
            if current is None or mae[best, b] < mae[current, b] * (1 - margin):
                incumbent[b] = current = best
            w[current, b] = 1.0
        return w

    return rule


def replay_band(err: dict[str, np.ndarray], days: int, buckets_n: int, symmetric: bool) -> float:
    per_day, (n, steps) = int(err["per_day"]), err["gbm_p10"].shape
    low, high = err["gbm_p10"], err["gbm_p90"]  # band − actual
    buckets = np.minimum(np.arange(steps) * buckets_n // steps, buckets_n - 1)
    inside = []
    for k in range(LEAD_DAYS, n):
        known = _known(k, days, steps, per_day)
        lo, hi = low[k].copy(), high[k].copy()
        for b in range(buckets_n):
            sel = known & (buckets == b)[None, :]
            below, above = low[k - days : k][sel], -high[k - days : k][sel]
            if symmetric:  # CQR: one offset from the larger excess
                c_lo = c_hi = side_offset(np.maximum(below, above), 0.2)
            else:
                c_lo, c_hi = side_offset(below, 0.1), side_offset(above, 0.1)
            lo[buckets == b] -= c_lo
            hi[buckets == b] += c_hi
        inside.append((lo <= 0) & (hi >= 0))
    return float(np.mean(np.array(inside)))


def replay(path: Path) -> None:
    err = {k: v for k, v in np.load(path).items()}
    maes = {n: round(float(np.nanmean(np.abs(err[n][LEAD_DAYS:]))), 4) for n in MEMBERS}
    print(f"{path.name}: member MAE {maes}")
    rules: list[tuple[str, Rule, int]] = [
        (f"inverse MAE^{p} margin {m:.0%} {d} d", inverse_mae(p, m), d)
        for p, m, d in itertools.product([2.0, 8.0, np.inf], [0.0, 0.02, 0.05, 0.1], [14, 28])
    ]
    rules += [
        (f"switch-back margin {m:.0%} {d} d", switch_back(m), d)
        for m, d in itertools.product([0.02, 0.05, 0.1], [14, 28])
    ]
    for label, rule, days in rules:
        r = replay_rule(err, rule, days)
        best = min(MEMBERS, key=r.__getitem__)
        print(
            f"  {label:<32} ensemble vs best member ({best}) {1 - r['ensemble'] / r[best]:+.1%}, "
            f"skill {1 - r['ensemble'] / r['persistence']:+.1%}"
        )
    raw = float(np.mean((err["gbm_p10"][LEAD_DAYS:] <= 0) & (err["gbm_p90"][LEAD_DAYS:] >= 0)))
    print(f"  P10–P90 coverage raw {raw:.1%}")
    for days, buckets_n, symmetric in itertools.product([14, 28], [1, 4], [False, True]):
        form = "symmetric (CQR)" if symmetric else "per side"
        coverage = replay_band(err, days, buckets_n, symmetric)
        print(f"  calibrated on {days} d, {buckets_n} bucket(s), {form}: {coverage:.1%}")


def compare(paths: list[Path], first: int | None) -> None:
    """The daemon's rule (inverse MAE², 5 % margin, 28 days) with and without the collapse gate, on
    every recorded row: ensemble vs its best member and skill against persistence."""
    rules = [("no collapse gate", None), *[(f"collapse × {c:g}", c) for c in (1.5, 2.0, 3.0)]]
    span = "every origin" if first is None else f"the first {first} origin days"
    print(f"ensemble vs best member / skill, {span} (tuning set: vdi_efh_winter)")
    print(f"{'row':<26}" + "".join(f"{label:>22}" for label, _ in rules))
    for path in paths:
        err = {k: v for k, v in np.load(path).items()}
        cells = []
        for _, collapse in rules:
            r = replay_rule(err, inverse_mae(2.0, 0.05, collapse), 28, first=first)
            best = min(MEMBERS, key=r.__getitem__)
            cells.append(f"{1 - r['ensemble'] / r[best]:+.1%} / {1 - r['ensemble'] / r['persistence']:+.1%}")
        print(f"{path.stem:<26}" + "".join(f"{c:>22}" for c in cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("set")
    c.add_argument("season", choices=("winter", "summer"))
    c.add_argument("out", type=Path)
    c.add_argument("--days", type=int, help="only the first N origin days of the season")
    r = sub.add_parser("replay")
    r.add_argument("npz", type=Path)
    m = sub.add_parser("compare")
    m.add_argument("npz", type=Path, nargs="+")
    m.add_argument("--first", type=int, help="only the first N origin days of the season")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.command == "collect":
        print(collect(args.set, args.season, args.out, args.days))
    elif args.command == "compare":
        compare(args.npz, args.first)
    else:
        replay(args.npz)


if __name__ == "__main__":
    main()
