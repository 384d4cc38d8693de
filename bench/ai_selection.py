"""Walk-forward AI strategy selection on the household year: the default forest against variants.

Each variant replays the year with ``run_ai_selection`` (train after 30 days, retrain weekly on the
past only) and prints % of the perfect-foresight bound, switches per day, the regret line and the
strategy shares. Variants: ``rf`` (default: regret-weighted, stickiness 0.15), ``rf_plain``
(unweighted, no stickiness), ``gb`` (gradient boosting), ``last_best`` (the best strategy of the
last 7 days). One variant of the year at 1 h takes minutes (the labels dominate).

    .venv/bin/python bench/ai_selection.py [--step 1h|15min] [--variants rf,rf_plain,gb,last_best]
"""

from __future__ import annotations

import argparse
import time

from phoenyra_ems.backtest.ai_selection import WalkForwardSettings, run_ai_selection
from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.optimum import solve_optimum
from phoenyra_ems.backtest.replay import no_battery
from phoenyra_ems.backtest.runner import household_site, optimum_input

VARIANTS = {
    "rf": WalkForwardSettings(),
    "rf_plain": WalkForwardSettings(weighted=False, stickiness=0.0),
    "gb": WalkForwardSettings(kind="gradient_boosting"),
    "last_best": WalkForwardSettings(kind="last_best"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--step", choices=["1h", "15min"], default="1h")
    parser.add_argument("--from", dest="start", default="2024-01-01")
    parser.add_argument("--to", dest="end", default="2025-01-01")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    data = household_2024(args.step, args.start, args.end)
    site = household_site()
    baseline = no_battery(site, data).cost_eur
    bound = baseline - solve_optimum(optimum_input(site, data)).cost_eur
    for name in args.variants.split(","):
        started = time.perf_counter()
        result = run_ai_selection(site, data, VARIANTS[name])
        share = 100 * (baseline - result.run.cost_eur) / bound
        print(
            f"{name}: cost {result.run.cost_eur:.2f} EUR, {share:.1f} % of the bound, "
            f"{result.run.switches_per_day:.2f} switches/day, {time.perf_counter() - started:.0f} s"
        )
        print(f"  {result.regret_line()}")
        print(f"  shares {', '.join(f'{k} {v:.2f}' for k, v in result.run.strategy_share.items())}")


if __name__ == "__main__":
    main()
