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
    .venv/bin/python bench/ensemble_replay.py rules /tmp/replay/*.npz [--first 21] [--long a,b]
    .venv/bin/python bench/ensemble_replay.py noise /tmp/replay/*.npz [--rule LABEL]
    .venv/bin/python bench/ensemble_replay.py halves /tmp/replay/*.npz [--only LABEL]

``rules`` replays the daemon's window exactly (after each weekly refit the ensemble has the 21
validation days' anchors plus one per day since, so 21–27 days, not ``recent_days``): it reproduced
``bench/forecast.py``'s ensemble figures to the 0.1 point on the summer rows checked (issue 19, third
pass); the first origins of a winter window can differ (the daemon's validation anchors before the
October clock change sit an hour off the local midnights collected here). ``CHOSEN_RULE`` (the
daemon's since the fifth pass: the collapse gate also per weekday of the target day) reproduced
``bench/forecast.py`` on the electroplating plant in winter origin by origin (42 origins, each day's
ensemble MAE equal to 0.001 kW). The day kinds of a recorded row come from its set's zone and
country (``day_types``: origin k is the season's first day - 35 days + k).
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.calendar_features import day_kinds
from phoenyra_ems.forecast.conformal import side_offset
from phoenyra_ems.forecast.datasets import LOAD_SETS
from phoenyra_ems.forecast.ensemble import recent_skill_weights
from phoenyra_ems.forecast.evaluation import rolling_origin
from phoenyra_ems.forecast.models import load_members
from phoenyra_ems.forecast.weighting import lad_weights

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


def day_types(stem: str, origins: int) -> np.ndarray:
    """Per season day of a recorded row (origin k's date: the season's first day - LEAD_DAYS + k, and
    one more for the last origin's second day): its kind as the daemon sees it (``day_kinds``: the
    weekday, a public holiday of the set's country counting as a Sunday)."""
    name, season = stem.rsplit("_", 1)
    chosen = next(s for s in LOAD_SETS if s.name == name)
    start = pd.Timestamp(getattr(chosen, season)[0]) - pd.Timedelta(days=LEAD_DAYS)
    days = pd.date_range(start, periods=origins + 1, freq="D", tz=chosen.timezone)
    return day_kinds(pd.DatetimeIndex(days), chosen.timezone, chosen.country)


def _load(path: Path) -> dict[str, np.ndarray]:
    """A recorded row's errors with its day kinds: ``weekday`` (0 = Monday, a public holiday counts
    as a Sunday) and ``day_off`` (weekend or public holiday)."""
    err = {k: v for k, v in np.load(path).items()}
    err["weekday"] = day_types(path.stem, err["gbm"].shape[0])
    err["day_off"] = err["weekday"] >= 5
    return err


def replay(path: Path) -> None:
    err = _load(path)
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
        err = _load(path)
        cells = []
        for _, collapse in rules:
            r = replay_rule(err, inverse_mae(2.0, 0.05, collapse), 28, first=first)
            best = min(MEMBERS, key=r.__getitem__)
            cells.append(f"{1 - r['ensemble'] / r[best]:+.1%} / {1 - r['ensemble'] / r['persistence']:+.1%}")
        print(f"{path.stem:<26}" + "".join(f"{c:>22}" for c in cells), flush=True)


@dataclass(frozen=True)
class WeightRule:
    """A weighting rule for ``rules``: inverse recent MAE^power within ``margin`` of the best, per
    horizon block (``edges_h``: the blocks' ends in hours), the error of each observed step weighted
    0.5^(age / ``halflife``) (None: flat), the collapse gate over ``gate_days`` (``gate_worst``: only
    the worst member can be collapsed), ``combiner`` "lad" (the MAE-optimal convex mix of the
    members) or "ftl" (the recent best alone), ``fallback_days``: the recent best alone when the
    rule's mix did worse than it over that many days; ``like``: see the field."""

    label: str
    days: int = 28
    power: float = 2.0
    margin: float = 0.05
    gate: float | None = 2.0
    gate_days: int = 1
    gate_worst: bool = False
    edges_h: tuple[float, ...] = (12.0, 24.0, 36.0, 48.0)
    halflife: float | None = None
    combiner: str = "inverse"
    fallback_days: int | None = None
    # Scores by the kind of the target day (issue 19, fifth pass; None: day-blind). ``like``: which
    # past target days are like the one forecast: "day_off" (both workdays, or both days off:
    # weekend or public holiday), "weekday" (the same weekday, a public holiday counting as a
    # Sunday: the daemon's ``day_kinds``) or "context" (the same day_off kind of the target day, of
    # the last day before the forecast (what persistence repeats) and of the day a week before the
    # target (what week_ago repeats)). ``use``: how their score enters: "score" (it replaces the
    # all-days score), "blend" (the mean of both), "shrink" (toward the all-days score as if that
    # had ``shrink_days`` days' weight), "gate" (the all-days score weights, but a member more than
    # ``like_gate`` times behind the best on the like days gets no weight; ``like_gate_worst``: only
    # the worst one, as the collapse gate). Fewer than ``min_like_days`` days' worth of like steps
    # observed: day-blind. ``typed_age``: the half-life counts only the days of the target's kind.
    like: str | None = None
    use: str = "score"
    min_like_days: float = 1.0
    shrink_days: float = 0.0
    like_gate: float = 2.0
    like_gate_worst: bool = False
    typed_age: bool = False


OLD_RULE = WeightRule("before (flat 28 d, gate)")
PREVIOUS_RULE = WeightRule("chosen (half-life 5 d, gate: worst only)", halflife=5.0, gate_worst=True)
# The daemon's since issue 19's fifth pass (Ensemble with the site's timezone and country).
CHOSEN_RULE = WeightRule(
    "chosen + weekday gate x 2, worst only",
    halflife=5.0,
    gate_worst=True,
    like="weekday",
    use="gate",
    like_gate_worst=True,
)
VALIDATION_DAYS = 21  # Ensemble.validation_days: the anchors a refit starts with


def _window(err: dict[str, np.ndarray], k: int, days: int, per_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Errors (origin, member, step) of the origins k-days … k-1, NaN where not observed by origin k,
    and each step's age at k in days."""
    steps = err["gbm"].shape[1]
    e = np.stack([np.stack([err[n][k - days + j] for n in MEMBERS]) for j in range(days)])
    age = (days - np.arange(days))[:, None] - np.arange(steps)[None, :] / per_day
    return np.where((age > 0)[:, None, :], e, np.nan), age


def _like_days(
    like: str, err: dict[str, np.ndarray], k: int, o: int, past: np.ndarray, span: int
) -> np.ndarray:
    """Whether each window step's target day (``past``: season days, origin x step) is like day k + o
    (``WeightRule.like``)."""
    if like == "weekday":
        return np.asarray(err["weekday"][past] == err["weekday"][k + o])
    off = err["day_off"]
    same = off[past] == off[k + o]
    if like == "context":
        origin = (k - span + np.arange(span))[:, None]
        same &= (off[origin - 1] == off[k - 1]) & (off[past - 7] == off[k + o - 7])
    return np.asarray(same)


def rule_weights(rule: WeightRule, err: dict[str, np.ndarray], k: int, buckets: np.ndarray) -> np.ndarray:
    """The weights (member, step) ``rule`` gives at origin k (season day k - LEAD_DAYS; the ensemble
    refitted weekly from the first season day, as bench/forecast.py does)."""
    per_day, m = int(err["per_day"]), len(MEMBERS)
    available = VALIDATION_DAYS + (k - LEAD_DAYS) % 7
    days = min(rule.days, available)
    span = max(days, min(rule.gate_days, available - 1) + 1, min(rule.fallback_days or 0, available))
    e, age = _window(err, k, span, per_day)
    collapsed = None
    if rule.gate is not None:
        last = np.abs(np.where((age <= min(rule.gate_days, available - 1))[:, None, :], e, np.nan))
        mae = np.array(
            [np.nanmean(last[:, i]) if np.isfinite(last[:, i]).any() else np.nan for i in range(m)]
        )
        if np.isfinite(mae).any():
            collapsed = ~(mae <= rule.gate * np.nanmin(mae))
            if rule.gate_worst:
                collapsed &= mae == np.nanmax(mae)
    in_window = np.broadcast_to((span - np.arange(span) <= days)[:, None], age.shape)
    decay = np.ones_like(age) if rule.halflife is None else 0.5 ** (age / rule.halflife)
    weights = np.zeros((m, len(buckets)))
    offset = np.arange(len(buckets)) // per_day  # the forecast step's target day after the origin
    # each past step's target day: (origin k - span + j) + its own day offset, as a season day
    target_day = (k - span + np.arange(span))[:, None] + offset[None, :]
    for b, o in sorted({(int(b), int(o)) for b, o in zip(buckets, offset, strict=True)}):
        cols = (buckets == b) & (offset == o) if rule.like else buckets == b
        if not cols.any() or weights[:, cols].any():
            continue
        ok = in_window[:, cols] & np.isfinite(e[:, :, cols]).all(axis=1)
        if not ok.any():
            weights[:, cols] = weights[:, np.argmax(buckets == b - 1)][:, None] if b else 1.0 / m
            continue
        x = np.stack([e[:, i, :][:, cols][ok] for i in range(m)], axis=1)
        d = decay[:, cols][ok]
        mae = d @ np.abs(x) / d.sum()
        gone = collapsed
        if rule.like is not None:
            like = _like_days(rule.like, err, k, o, target_day[:, cols], span)[ok]
            if like.sum() >= rule.min_like_days * cols.sum():
                dl = d[like]
                if rule.typed_age and rule.halflife is not None:  # age counted in days of that kind
                    kind = err["day_off"] != err["day_off"][k + o]
                    other = np.concatenate([np.cumsum(kind[::-1])[::-1], [0]])  # other days from i on
                    between = other[np.minimum(target_day[:, cols] + 1, k)] - other[k]
                    dl = (0.5 ** ((age[:, cols] - between) / rule.halflife))[ok][like]
                typed = dl @ np.abs(x[like]) / dl.sum()
                if rule.use == "gate":
                    far = ~(typed <= rule.like_gate * np.nanmin(typed))
                    if rule.like_gate_worst:
                        far &= typed == np.nanmax(typed)
                    gone = far if collapsed is None else far | collapsed
                elif rule.use == "shrink":
                    n = dl.sum() / cols.sum()  # decay-weighted days of that kind
                    mae = (n * typed + rule.shrink_days * mae) / (n + rule.shrink_days)
                elif rule.use == "blend":
                    mae = (typed + mae) / 2
                else:
                    mae = typed
        if rule.combiner == "lad":
            keep = np.ones(m, bool) if gone is None or gone.all() else ~gone
            w = np.zeros(m)
            w[keep] = lad_weights(x[:, keep] * d[:, None], np.zeros(len(x)))
        elif rule.combiner == "ftl":
            w = np.zeros(m)
            usable = gone is None or gone.all()
            w[int(np.argmin(mae if usable else np.where(gone, np.inf, mae)))] = 1.0
        else:
            w = recent_skill_weights(mae[:, None], MEMBERS, rule.power, 0.0, rule.margin, gone)[:, 0]
        if rule.fallback_days:
            recent = (age[:, cols] <= rule.fallback_days)[ok]
            if recent.any() and np.abs(x[recent] @ w).mean() > np.abs(x[recent]).mean(axis=0).min():
                w = np.zeros(m)
                w[int(np.argmin(np.abs(x[recent]).mean(axis=0)))] = 1.0
        weights[:, cols] = (w / w.sum())[:, None]
    return weights


def replay_weight_rule(
    err: dict[str, np.ndarray], rule: WeightRule, first: int | None
) -> tuple[float, float, str]:
    """The ensemble vs its best member and its skill against persistence with ``rule``."""
    combined, members = per_origin_errors(err, rule, first)
    mae = {n: float(np.nanmean(members[n])) for n in MEMBERS}
    ensemble = float(np.nanmean(combined))
    best = min(MEMBERS, key=mae.__getitem__)
    return 1 - ensemble / mae[best], 1 - ensemble / mae["persistence"], best


def per_origin_errors(
    err: dict[str, np.ndarray], rule: WeightRule, first: int | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Absolute errors (origin, step) of the ensemble with ``rule`` and of each member."""
    per_day, steps = int(err["per_day"]), err["gbm"].shape[1]
    hours = np.arange(steps) * 24.0 / per_day
    buckets = np.searchsorted(np.array(rule.edges_h), hours, side="right").clip(0, len(rule.edges_h) - 1)
    end = err["gbm"].shape[0] if first is None else min(err["gbm"].shape[0], LEAD_DAYS + first)
    combined = []
    for k in range(LEAD_DAYS, end):
        w = rule_weights(rule, err, k, buckets)
        e = np.stack([err[n][k] for n in MEMBERS])
        with np.errstate(invalid="ignore"):
            combined.append(np.nansum(w * e, axis=0) / np.sum(w * np.isfinite(e), axis=0))
    return np.abs(np.array(combined)), {n: np.abs(err[n][LEAD_DAYS:end]) for n in MEMBERS}


def noise(paths: list[Path], rule: WeightRule = CHOSEN_RULE, resamples: int = 2000, seed: int = 0) -> None:
    """``rule``'s gap to the best member with a 90 % paired bootstrap interval over the
    origin days (each resample picks days with replacement and takes its own best member): whether
    a gap is more than the noise of a season's 21–42 origins."""
    rng = np.random.default_rng(seed)
    print(f"{rule.label}: ensemble vs best member, 90 % bootstrap interval over origin days")
    print(f"{'row':<28}{'origins':>8}{'gap':>8}{'P5':>8}{'P95':>8}  best member")
    for path in paths:
        err = _load(path)
        combined, members = per_origin_errors(err, rule, None)
        daily = np.nanmean(combined, axis=1)
        member_daily = np.stack([np.nanmean(members[n], axis=1) for n in MEMBERS])
        gap = 1 - daily.mean() / member_daily.mean(axis=1).min()
        picks = rng.integers(0, len(daily), size=(resamples, len(daily)))
        gaps = 1 - daily[picks].mean(axis=1) / member_daily[:, picks].mean(axis=2).min(axis=0)
        low, high = np.percentile(gaps, [5, 95])
        best = MEMBERS[int(np.argmin(member_daily.mean(axis=1)))]
        print(f"{path.stem:<28}{len(daily):>8}{gap:>+8.1%}{low:>+8.1%}{high:>+8.1%}  {best}", flush=True)


RULES = [
    OLD_RULE,
    WeightRule("no gate", gate=None),
    WeightRule("gate over 2 days", gate_days=2),
    WeightRule("gate over 3 days", gate_days=3),
    WeightRule("blocks 0-6 h | 6-48 h", edges_h=(6.0, 48.0)),
    WeightRule("blocks 6|12|24|36|48 h", edges_h=(6.0, 12.0, 24.0, 36.0, 48.0)),
    WeightRule("half-life 7 d", halflife=7.0),
    WeightRule("half-life 14 d", halflife=14.0),
    WeightRule("best of 7 d as fallback", fallback_days=7),
    WeightRule("best of 7 d alone", combiner="ftl", days=7),
    WeightRule("LAD convex mix 28 d", combiner="lad"),
    WeightRule("gate: worst only", gate_worst=True),
    WeightRule("half-life 3 d, gate worst", halflife=3.0, gate_worst=True),
    WeightRule("half-life 4 d, gate worst", halflife=4.0, gate_worst=True),
    PREVIOUS_RULE,
    WeightRule("half-life 7 d, gate worst", halflife=7.0, gate_worst=True),
    WeightRule("half-life 10 d, gate worst", halflife=10.0, gate_worst=True),
    WeightRule("chosen + blocks 0-6|6-48 h", halflife=5.0, gate_worst=True, edges_h=(6.0, 48.0)),
    # issue 19, fifth pass: scores by the kind of the target day (tuning set: vdi_efh_winter)
    WeightRule("day off: score", halflife=5.0, gate_worst=True, like="day_off"),
    WeightRule("day off: score, min 2 d", halflife=5.0, gate_worst=True, like="day_off", min_like_days=2.0),
    WeightRule("day off: score, min 3 d", halflife=5.0, gate_worst=True, like="day_off", min_like_days=3.0),
    WeightRule("day off: score, half-life 10 d", halflife=10.0, gate_worst=True, like="day_off"),
    WeightRule("day off: score, flat 28 d", gate_worst=True, like="day_off"),
    WeightRule(
        "day off: score, typed half-life", halflife=5.0, gate_worst=True, like="day_off", typed_age=True
    ),
    WeightRule("day off: blend", halflife=5.0, gate_worst=True, like="day_off", use="blend"),
    WeightRule(
        "day off: blend, typed half-life",
        halflife=5.0,
        gate_worst=True,
        like="day_off",
        use="blend",
        typed_age=True,
    ),
    *[
        WeightRule(
            f"day off: shrink {n:g} d",
            halflife=5.0,
            gate_worst=True,
            like="day_off",
            use="shrink",
            shrink_days=n,
        )
        for n in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    ],
    *[
        WeightRule(
            f"day off: gate x {g:g}", halflife=5.0, gate_worst=True, like="day_off", use="gate", like_gate=g
        )
        for g in (1.25, 1.5, 2.0, 3.0)
    ],
    WeightRule("context: score", halflife=5.0, gate_worst=True, like="context"),
    WeightRule("context: score, min 3 d", halflife=5.0, gate_worst=True, like="context", min_like_days=3.0),
    *[
        WeightRule(
            f"context: shrink {n:g} d",
            halflife=5.0,
            gate_worst=True,
            like="context",
            use="shrink",
            shrink_days=n,
        )
        for n in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    ],
    *[
        WeightRule(
            f"context: gate x {g:g}", halflife=5.0, gate_worst=True, like="context", use="gate", like_gate=g
        )
        for g in (1.05, 1.1, 1.25, 1.5, 2.0)
    ],
    WeightRule("weekday: score", halflife=5.0, gate_worst=True, like="weekday"),
    WeightRule("weekday: blend", halflife=5.0, gate_worst=True, like="weekday", use="blend"),
    *[
        WeightRule(
            f"weekday: gate x {g:g}", halflife=5.0, gate_worst=True, like="weekday", use="gate", like_gate=g
        )
        for g in (1.25, 1.5, 2.0, 3.0)
    ],
    *[
        WeightRule(
            f"weekday: gate x {g:g}, worst only",
            halflife=5.0,
            gate_worst=True,
            like="weekday",
            use="gate",
            like_gate=g,
            like_gate_worst=True,
        )
        for g in (1.25, 1.5, 3.0)
    ],
    CHOSEN_RULE,
    # the daemon's rule averaging every member (no margin to the best) by inverse MAE^power
    *[
        replace(CHOSEN_RULE, label=f"chosen, every member, power {p:g}", margin=1.0, power=p)
        for p in (1.0, 2.0, 4.0)
    ],
]


def rules(paths: list[Path], first: int | None, long: set[str], only: str | None) -> None:
    """Every rule of ``RULES`` (or those whose label contains ``only``) on every row: ensemble vs its
    best member / skill. ``long``: rows scored on every origin (the 42-origin rows), the others on
    the first ``first``."""
    chosen = [r for r in RULES if only is None or only in r.label]
    print(f"ensemble vs best member / skill (tuning set: vdi_efh_winter); first {first} origins but {long}")
    print(f"{'rule':<42}" + "".join(f"{p.stem[:17]:>19}" for p in paths))
    data = {p: _load(p) for p in paths}
    for rule in chosen:
        cells = []
        for path in paths:
            gap, skill, _ = replay_weight_rule(data[path], rule, None if path.stem in long else first)
            cells.append(f"{gap:+.1%} / {skill:+.1%}")
        print(f"{rule.label:<42}" + "".join(f"{c:>19}" for c in cells), flush=True)


def halves(paths: list[Path], only: str | None) -> None:
    """Every rule on each half of every row's origins (the first and the last half, each with its
    own best member in hindsight): how many rows miss "never more than 1 % behind the best member"
    in each half, the worst gap and the mean gap — whether any rule meets the goal on three weeks
    of origins, and whether one that does better on one half does so on the other."""
    chosen = [r for r in RULES if only is None or only in r.label]
    data = [_load(p) for p in paths]
    print(f"{len(paths)} rows, each in halves of its origins; a miss: more than 1 % behind the best member")
    print(
        f"{'rule':<46}{'misses 1st':>11}{'2nd':>5}{'both':>6}{'worst 1st':>11}{'2nd':>8}"
        f"{'mean 1st':>10}{'2nd':>8}"
    )
    for rule in chosen:
        gaps = []
        for err in data:
            combined, members = per_origin_errors(err, rule, None)
            daily = np.nanmean(combined, axis=1)
            member_daily = np.stack([np.nanmean(members[n], axis=1) for n in MEMBERS])
            half = len(daily) // 2
            parts = (slice(0, half), slice(half, None))
            gaps.append([1 - daily[p].mean() / member_daily[:, p].mean(axis=1).min() for p in parts])
        g = np.array(gaps)
        misses = (g < -0.01).sum(axis=0)
        print(
            f"{rule.label[:45]:<46}{misses[0]:>11}{misses[1]:>5}{misses.sum():>6}{g[:, 0].min():>+11.1%}"
            f"{g[:, 1].min():>+8.1%}{g[:, 0].mean():>+10.2%}{g[:, 1].mean():>+8.2%}",
            flush=True,
        )


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
    w = sub.add_parser("rules")
    w.add_argument("npz", type=Path, nargs="+")
    w.add_argument("--first", type=int, help="only the first N origin days of the season")
    w.add_argument("--long", default="", help="rows (file stems) scored on every origin despite --first")
    w.add_argument("--only", help="only the rules whose label contains this")
    n = sub.add_parser("noise")
    n.add_argument("npz", type=Path, nargs="+")
    n.add_argument("--rule", help="the first rule of RULES whose label contains this (default: the daemon's)")
    h = sub.add_parser("halves")
    h.add_argument("npz", type=Path, nargs="+")
    h.add_argument("--only", help="only the rules whose label contains this")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.command == "collect":
        print(collect(args.set, args.season, args.out, args.days))
    elif args.command == "rules":
        rules(args.npz, args.first, set(args.long.split(",")), args.only)
    elif args.command == "compare":
        compare(args.npz, args.first)
    elif args.command == "halves":
        halves(args.npz, args.only)
    elif args.command == "noise":
        noise(args.npz, next(r for r in RULES if args.rule in r.label) if args.rule else CHOSEN_RULE)
    else:
        replay(args.npz)


if __name__ == "__main__":
    main()
