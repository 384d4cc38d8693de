"""AI strategy selection: training time for 30 / 90 / 365 days of 15-min history, prediction time.

Training = labelling every 1-h window by counterfactual replay of the pool (4 strategies, each over
the window plus a 24-h continuation) and fitting the plan's random forest (100 trees, depth 10).
Both are printed apart: the fit alone is what the goal "< 30 s for a year" was written for; the
labels are the cost of honest labels. Prediction: one decision (features → strategy) with the
flattened forest, and scikit-learn's own ``predict_proba`` as the baseline. The issue's goals:
training < 30 s for a year, prediction < 1 ms.

    .venv/bin/python bench/selector.py [--days 30,90,365] [--trees 100]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from _common import percentile

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.runner import household_site
from phoenyra_ems.core.ai_selection import AIStrategySelector
from phoenyra_ems.selector.training import label_history


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", default="30,90,365")
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args()
    site = household_site()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    print(f"{'history':>10}{'windows':>9}{'label s':>10}{'fit s':>8}{'total s':>9}{'goal':>8}")
    selector = None
    labels = []
    for days in (int(d) for d in args.days.split(",")):
        end = (pd.Timestamp("2024-01-01") + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
        data = household_2024("15min", "2024-01-01", min(end, "2025-01-01"))
        started = time.perf_counter()
        labels = label_history(site, data)
        label_s = time.perf_counter() - started
        selector = AIStrategySelector(n_estimators=args.trees)
        started = time.perf_counter()
        selector.fit([x.features for x in labels], [x.best for x in labels], now)
        fit_s = time.perf_counter() - started
        total = label_s + fit_s
        goal = "" if days < 365 else ("met" if total < 30 else "missed")
        print(f"{days:>7} d{len(labels):>9}{label_s:>10.1f}{fit_s:>8.2f}{total:>9.1f}{goal:>8}")
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


if __name__ == "__main__":
    main()
