"""Walk-forward AI strategy selection on the household year: the default forest against variants.

Each variant replays the year with ``run_ai_selection`` (train after 30 days, retrain weekly on the
past only) and prints % of the perfect-foresight bound, switches per day, the regret line and the
strategy shares. Variants: ``rf`` (default: regret-weighted, no stickiness), ``rf_plain``
(unweighted, no stickiness), ``gb`` (gradient boosting), ``last_best`` (the best strategy of the
last 7 days). One variant of the year at 1 h takes minutes (the labels dominate).

    .venv/bin/python bench/ai_selection.py [--step 1h|15min] [--variants rf,rf_plain,gb,last_best]

``--holdout 2024-07-01``: the settings are chosen out of sample — a grid of regret weighting (on /
off) × stickiness (0, 0.15, 0.3, 0.5) is run on the period before that day only and the best by %
of that period's bound is picked; then the chosen settings (and the shipped default, and the
baselines) run the whole period walk-forward, and the period from that day on is reported apart
(its cost from the whole-period run, stored energy valued from the SoC on that day, against the
bound of that period alone) beside the whole period.

    .venv/bin/python bench/ai_selection.py --holdout 2024-07-01
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from phoenyra_ems.backtest.ai_selection import WalkForwardSettings, run_ai_selection
from phoenyra_ems.backtest.counterfactual import with_pool
from phoenyra_ems.backtest.data import BacktestData, household_2024
from phoenyra_ems.backtest.optimum import solve_optimum
from phoenyra_ems.backtest.replay import RunResult, no_battery, replay, storage_value_eur_kwh
from phoenyra_ems.backtest.runner import household_site, optimum_input
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.strategies import OPTIMISER

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
    parser.add_argument("--holdout", help="choose the settings before this day, report from it on")
    args = parser.parse_args()
    if args.holdout:
        holdout(args.step, args.start, args.end, args.holdout)
        return
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


def _bound(site: SiteConfig, data: BacktestData) -> tuple[float, float]:
    baseline = no_battery(site, data).cost_eur
    return baseline, baseline - solve_optimum(optimum_input(site, data)).cost_eur


def _slice(data: BacktestData, start: int) -> BacktestData:
    return replace(
        data,
        index=data.index[start:],
        load_kw=data.load_kw[start:],
        pv_kw=data.pv_kw[start:],
        price_eur_mwh=data.price_eur_mwh[start:],
    )


def _later_cost(site: SiteConfig, run: RunResult, soc_k: float, k: int, later: BacktestData) -> float:
    """The run's cost from step ``k`` on: its energy bill then, stored energy valued from its SoC at k
    (the household site has no demand charge)."""
    assert site.grid_tariffs.demand_charge_eur_kw_month == 0
    energy = float(run.cumulative_cost_eur[-1] - run.cumulative_cost_eur[k - 1])
    stored = (run.soc_end_pct - soc_k) / 100.0 * site.bess.energy_capacity_kwh
    return energy - stored * storage_value_eur_kwh(site, later)


class _SocAt:
    """A replay chooser pinning ``strategy`` (None: score selection) that notes the SoC at step k."""

    def __init__(self, strategy: str | None, k: int) -> None:
        self.strategy, self.k, self.soc = strategy, k, float("nan")

    def __call__(self, i: int, state, peak_kw, last):  # type: ignore[no-untyped-def]
        if i == self.k:
            self.soc = state.soc
        return self.strategy


def holdout(step: str, start: str, end: str, split: str) -> None:
    site = household_site()
    data = household_2024(step, start, end)
    early = household_2024(step, start, split)
    k = len(early)
    later = _slice(data, k)
    base_e, bound_e = _bound(site, early)
    print(f"choosing on {start} … {split} ({len(early)} steps, bound {bound_e:.2f} EUR):")
    grid = []
    for weighted in (True, False):
        for stickiness in (0.0, 0.15, 0.3, 0.5):
            settings = WalkForwardSettings(weighted=weighted, stickiness=stickiness)
            started = time.perf_counter()
            result = run_ai_selection(site, early, settings)
            share = 100 * (base_e - result.run.cost_eur) / bound_e
            grid.append((share, -result.run.switches_per_day, settings))
            print(
                f"  weighted {weighted!s:<5} stickiness {stickiness:.2f}: {share:5.1f} % of the bound, "
                f"{result.run.switches_per_day:.2f} switches/day ({time.perf_counter() - started:.0f} s)"
            )
    chosen = max(grid, key=lambda g: (round(g[0], 1), g[1]))[2]
    print(f"chosen: weighted {chosen.weighted}, stickiness {chosen.stickiness}")
    base_y, bound_y = _bound(site, data)
    base_l, bound_l = _bound(site, later)
    print(
        f"reported on {split} … {end} (later; bound {bound_l:.2f} EUR) and {start} … {end} "
        f"(whole; bound {bound_y:.2f} EUR):"
    )
    pool = with_pool(site, [n for n in site.ems.strategies if n != OPTIMISER])
    runs: list[tuple[str, RunResult, float]] = []
    for name, strategy in (("self_consumption alone", "self_consumption"), ("score selection", None)):
        chooser = _SocAt(strategy, k)
        runs.append((name, replay(pool, data, None, name=name, choose=chooser), chooser.soc))
    default = WalkForwardSettings()
    variants = [("ai_selection chosen on H1", chosen)]
    if (chosen.weighted, chosen.stickiness) != (default.weighted, default.stickiness):
        variants.append(("ai_selection shipped default", default))
    variants.append(("best of the last 7 days", WalkForwardSettings(kind="last_best")))
    for name, settings in variants:
        result = run_ai_selection(site, data, settings)
        soc_k = next(w.start.soc_pct for w in result.windows if w.start.index == k)
        runs.append((name, result.run, soc_k))
    for name, run, soc_k in runs:
        later_share = 100 * (base_l - _later_cost(site, run, soc_k, k, later)) / bound_l
        print(
            f"  {name:<30} later {later_share:5.1f} %  whole {100 * (base_y - run.cost_eur) / bound_y:5.1f} %"
            f"  switches/day (whole) {run.switches_per_day:.2f}  SoC at the split {soc_k:.0f} %"
        )
    print(f"  (no battery: later {base_l:.2f} EUR, whole {base_y:.2f} EUR)")


if __name__ == "__main__":
    main()
