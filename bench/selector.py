"""AI strategy selection: training time for 30 / 90 / 365 days of 15-min history, prediction time.

Training = labelling every 1-h window by counterfactual replay of the pool (4 strategies, each over
the window plus a 24-h continuation; continuations that reach the same state share the rest) and
fitting the plan's random forest (100 trees, depth 10, regret-weighted as the daemon trains).
"cold": no stored labels (a site's first training); "weekly": the retrain a week later, with the
labels of the earlier windows kept (the daemon's label store) — only the new week is labelled.
Prediction: one decision (features → strategy) with the flattened forest, and scikit-learn's own
``predict_proba`` as the baseline. The issue's goals: training < 30 s for a year, prediction < 1 ms.
Before (per-window labels from scratch, no shared continuation): run this file from a checkout of
commit 0fdc71b.

    .venv/bin/python bench/selector.py [--days 30,90,365] [--trees 100]

``--optimiser-windows N``: what the optimiser in the pool adds to labelling. Its counterfactual
value of one 1-h window (4 plans over 48 h at 15 min, from the recorded state) timed over N windows
spread over the year, against valuing a window the walk-forward's own run played (its grid cost is
known; only the shared continuation is computed), and both extrapolated to a year's 8,784 windows.

    .venv/bin/python bench/selector.py --days 365 --optimiser-windows 200

``--optimiser DAYS``: the daemon's training (``train_site_selector``, label store kept) with the
optimiser in the household's pool: a cold training on ``DAYS − 7`` days, then the weekly retrain on
``DAYS`` days that labels only the new week (+ the last day, whose continuation had been cut).

    .venv/bin/python bench/selector.py --optimiser 14

``--cold-labels FILE`` (with ``--optimiser``): the cold training's label store is copied to FILE,
and taken from there (not timed) when FILE exists — a year's weekly retrain without labelling the
year again (e.g. before and after a change that leaves the labels as they are). Wall and CPU time
(this process) are printed; CPU time is what to compare on a machine shared with other jobs.

    .venv/bin/python bench/selector.py --optimiser 365 --cold-labels /tmp/year_labels.pkl
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from _common import percentile

from phoenyra_ems.backtest.counterfactual import Labelled
from phoenyra_ems.backtest.data import BacktestData, household_2024
from phoenyra_ems.backtest.runner import household_site
from phoenyra_ems.core.ai_selection import AIStrategySelector
from phoenyra_ems.selector.training import LabelStore, label_history


def _data(days: int) -> BacktestData:
    end = (pd.Timestamp("2024-01-01") + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
    return household_2024("15min", "2024-01-01", min(end, "2025-01-01"))


def _train(
    days: int, trees: int, store: LabelStore | None, what: str
) -> tuple[AIStrategySelector, list[Labelled], LabelStore]:
    data = _data(days)
    kept = len(store.labels) if store is not None else 0
    started = time.perf_counter()
    labels, store = label_history(household_site(), data, store=store)
    label_s = time.perf_counter() - started
    selector = AIStrategySelector(n_estimators=trees)
    started = time.perf_counter()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    selector.fit([x.features for x in labels], [x.best for x in labels], now, [x.spread for x in labels])
    fit_s = time.perf_counter() - started
    total = label_s + fit_s
    goal = "" if days < 365 else ("met" if total < 30 else "missed")
    print(
        f"{days:>7} d {what:<7}{len(labels):>9}{len(labels) - kept:>9}{label_s:>10.1f}{fit_s:>8.2f}"
        f"{total:>9.1f}{goal:>8}"
    )
    return selector, labels, store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", default="30,90,365")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--optimiser-windows", type=int, default=0)
    parser.add_argument("--optimiser", type=int, default=0, metavar="DAYS")
    parser.add_argument("--cold-labels", metavar="FILE", help="--optimiser: cold labels kept here")
    args = parser.parse_args()
    if args.optimiser:
        optimiser_training(args.optimiser, args.trees, args.cold_labels)
        return
    if args.optimiser_windows:
        optimiser_windows(args.optimiser_windows)
        return
    print(
        f"{'history':>10} {'labels':<7}{'windows':>9}{'new':>9}{'label s':>10}{'fit s':>8}{'total s':>9}"
        f"{'goal':>8}"
    )
    selector = None
    labels: list[Labelled] = []
    days_list = [int(d) for d in args.days.split(",")]
    for days in days_list:
        selector, labels, _ = _train(days, args.trees, None, "cold")
    last = days_list[-1]
    if last > 7:  # the weekly retrain: the labels of the history a week ago are kept
        _, _, store = _train(last - 7, args.trees, None, "(prep)")
        selector, labels, _ = _train(last, args.trees, store, "weekly")
    assert selector is not None and selector.model is not None
    rows = [x.features for x in labels[:1000]]
    flat, sk = [], []
    for row in rows:
        started = time.perf_counter()
        selector.choose(row)
        flat.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        selector.model.predict_proba(np.array([row.vector()]))
        sk.append(1000 * (time.perf_counter() - started))
    print(
        f"\nprediction per decision ({len(rows)} decisions): flattened forest median "
        f"{percentile(flat, 50):.3f} ms, p99 {percentile(flat, 99):.3f} ms (goal < 1 ms); "
        f"scikit-learn predict_proba median {percentile(sk, 50):.3f} ms"
    )


def optimiser_training(days: int, trees: int, cold_labels: str | None = None) -> None:
    import shutil
    import tempfile
    from pathlib import Path

    from phoenyra_ems.backtest.counterfactual import with_pool
    from phoenyra_ems.selector.store import load_labels
    from phoenyra_ems.selector.training import train_site_selector

    site = with_pool(household_site(), [*household_site().ems.strategies, "optimiser"])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    print(f"the daemon's training with the optimiser in the pool ({', '.join(site.ems.strategies)}):")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.pkl"
        kept = 0
        for what, span in (("cold", days - 7), ("weekly", days)):
            if what == "cold" and cold_labels is not None and Path(cold_labels).exists():
                shutil.copy(cold_labels, path)  # the cold labels of an earlier run (same data, pool)
                store = load_labels(path)
                kept = len(store.labels) if store is not None else 0
                print(f"  cold   {span:>4} d: {kept} windows from {cold_labels} (not timed)")
                import sklearn.ensemble  # noqa: F401 - imported by the cold training otherwise, and
                # by the daemon's worker at its first training: not part of a weekly retrain

                continue
            started, cpu = time.perf_counter(), time.process_time()
            stored = train_site_selector(site, _data(span), now, n_estimators=trees, labels_path=path)
            total, cpu = time.perf_counter() - started, time.process_time() - cpu
            summary = stored.summary
            print(
                f"  {what:<7}{span:>4} d: {summary.samples} windows ({summary.samples - kept} labelled), "
                f"{total:.1f} s wall, {cpu:.1f} s CPU "
                f"({1000 * total / max(1, summary.samples - kept):.0f} ms per new window); "
                f"best per window {summary.label_counts}; gate {summary.gate}"
            )
            if what == "cold" and cold_labels is not None:
                shutil.copy(path, cold_labels)
            store = load_labels(path)
            kept = len(store.labels) if store is not None else 0  # complete windows: not labelled again


def optimiser_windows(count: int) -> None:
    from phoenyra_ems.backtest.counterfactual import WindowReplayer, WindowStart, with_pool
    from phoenyra_ems.core.battery import BatteryState

    data = _data(366)
    site = with_pool(household_site(), [*household_site().ems.strategies, "optimiser"])
    replayer = WindowReplayer(site, data, 4, tail_steps=96)
    starts = np.linspace(14 * 96, len(data) - 200, count).astype(int) // 4 * 4
    timed: dict[str, list[float]] = {"optimiser": [], "self_consumption": [], "from the run": []}
    for i in starts:
        start = WindowStart(int(i), 50.0)
        for name in ("optimiser", "self_consumption"):
            started = time.perf_counter()
            replayer.value(start, name)
            timed[name].append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        replayer.value_of_path(start, 0.1, 0.0, BatteryState(soc_pct=60.0), 0.0)
        timed["from the run"].append(1000 * (time.perf_counter() - started))
    windows = 8784
    print(f"per 1-h window at 15 min ({count} windows over 2024; 24-h continuation):")
    for name, values in timed.items():
        mean = float(np.mean(values))
        print(
            f"  {name:<18} mean {mean:7.2f} ms  p95 {percentile(values, 95):7.2f} ms  "
            f"a year's windows {mean * windows / 1000:6.1f} s  a week's {mean * 192 / 1000:5.1f} s"
        )
    print(f"  optimiser plans solved: {replayer.strategies['optimiser'].replans}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
