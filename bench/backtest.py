"""One year of a household with PV and a 10 kWh / 5 kW battery on 2024 AT day-ahead prices.

Each strategy alone, the score-based selection and the perfect-foresight bound (HiGHS LP), in EUR
and in % of the bound's saving against no battery; switches per day and battery cycles. Tariff:
day-ahead + 150 EUR/MWh (grid fees, taxes) to buy, day-ahead to sell (market-price feed-in).

    .venv/bin/python bench/backtest.py [--step 1h|15min] [--plot backtest.png]
"""

from __future__ import annotations

import argparse
import time

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.report import plot, table
from phoenyra_ems.backtest.runner import household_site, run_backtest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--step", choices=["1h", "15min"], default="1h")
    parser.add_argument("--plot")
    args = parser.parse_args()
    data = household_2024(args.step)
    site = household_site()
    started = time.perf_counter()
    report = run_backtest(site, data)
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
