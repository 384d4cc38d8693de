"""One year of a household with PV and a 10 kWh / 5 kW battery on 2024 AT day-ahead prices.

Each strategy alone, the score-based selection and the perfect-foresight bound (HiGHS LP), in EUR
and in % of the bound's saving against no battery; switches per day and battery cycles. Tariff:
day-ahead + 150 EUR/MWh (grid fees, taxes) to buy, day-ahead to sell (market-price feed-in).

    .venv/bin/python bench/backtest.py [--step 1h|15min] [--plot backtest.png]
        [--forecast-service] [--from 2024-07-01 --to 2025-01-01] [--strategies self_consumption,...]
        [--only-optimiser] [--present-decay 0.5,2]

``--forecast-service`` adds the row ``optimiser (forecast service)``: the plans made from the
daemon's forecast service walked forward (docs/optimiser.md). ``--only-optimiser`` leaves out the
rule and selection rows (their figures do not depend on the optimiser; saves most of a 15-min run).
``--present-decay LOAD,PV``: the site's ``ems.plan_present_decay_h`` and
``ems.plan_pv_present_decay_h`` (hours; how the measured present is carried into the plan).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.report import plot, table
from phoenyra_ems.backtest.runner import household_site, run_backtest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--step", choices=["1h", "15min"], default="1h")
    parser.add_argument("--plot")
    parser.add_argument("--from", dest="start", help="first local day (default: the data's first)")
    parser.add_argument("--to", dest="end", help="end local day, exclusive")
    parser.add_argument("--forecast-service", action="store_true")
    parser.add_argument("--only-optimiser", action="store_true")
    parser.add_argument(
        "--only-service",
        action="store_true",
        help="only self_consumption and the forecast service row (the other optimiser rows left out)",
    )
    parser.add_argument("--strategies", help="comma-separated rule rows (default: the site's)")
    parser.add_argument("--present-decay", help="LOAD_H,PV_H: the plan's present carry (docs/optimiser.md)")
    args = parser.parse_args()
    site = household_site()
    if args.present_decay:
        load_h, pv_h = (float(v) for v in args.present_decay.split(","))
        ems = replace(site.ems, plan_present_decay_h=load_h, plan_pv_present_decay_h=pv_h)
        site = replace(site, ems=ems)
    data = household_2024(args.step, args.start, args.end, site.location.timezone)
    strategies = tuple(args.strategies.split(",")) if args.strategies else None
    if args.only_optimiser or args.only_service:
        strategies = ("self_consumption",)
    started = time.perf_counter()
    shown: dict[str, int] = {}

    def progress(label: str, i: int) -> None:  # a line per 5 % of each row, on stderr
        tenth = 20 * i // len(data)
        if shown.get(label) != tenth:
            shown[label] = tenth
            print(f"{time.strftime('%H:%M:%S')} {label}: {5 * tenth} %", file=sys.stderr, flush=True)

    report = run_backtest(
        site,
        data,
        strategies,
        progress,
        optimiser=not args.only_service,
        forecast_service=args.forecast_service or args.only_service,
    )
    elapsed = time.perf_counter() - started
    print(table(report))
    print(
        f"\n{len(data)} steps × {len(report.runs)} replays + LP in {elapsed:.1f} s "
        f"(LP {report.optimum.solve_s:.2f} s)"
    )
    if args.plot:
        print(f"plot: {plot(report, args.plot)}")


if __name__ == "__main__":
    main()
