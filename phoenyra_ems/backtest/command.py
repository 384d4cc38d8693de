"""``phoenyra-ems backtest``: replay a period, print the table, save the plot."""

from __future__ import annotations

import argparse
import sys

STEP_CHOICES = ("15min", "1h")  # phoenyra_ems.backtest.data.STEPS (not imported: keeps the CLI light)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "backtest",
        help="replay real prices, load and PV through the decision logic; compare with the optimum",
        description="Each strategy alone, the score-based selection and the perfect-foresight bound "
        "(HiGHS LP) over a period. Default data: the Konstanz household on 2024's days with 2024 AT "
        "day-ahead prices.",
    )
    parser.add_argument("-c", "--config", help="take the site from this configuration file")
    parser.add_argument("--site", help="site id in --config (default: its default site)")
    parser.add_argument("--data", help="CSV: timestamp_utc, load_kw, pv_kw, price_eur_per_mwh")
    parser.add_argument(
        "--history",
        action="store_true",
        help="replay the --config site's own recorded history (its database)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        help="first day, in the site's local time (default: the data's start)",
    )
    parser.add_argument(
        "--to", dest="end", help="end day, exclusive, in the site's local time (default: the data's end)"
    )
    parser.add_argument(
        "--max-gap",
        type=float,
        default=1.0,
        metavar="HOURS",
        help="fill gaps in --data/--history up to this long (default 1 h); longer ones are refused",
    )
    parser.add_argument("--step", choices=STEP_CHOICES, default="1h")
    parser.add_argument(
        "--capacity-kwh", type=float, default=10.0, help="household battery (without --config)"
    )
    parser.add_argument("--power-kw", type=float, default=5.0)
    parser.add_argument(
        "--markup", type=float, default=150.0, help="EUR/MWh on top of day-ahead (fees, taxes)"
    )
    parser.add_argument("--strategies", help="comma-separated (default: the site's)")
    parser.add_argument("--plot", help="write a plot here (.png or .svg)")
    parser.add_argument(
        "--no-ai-selection",
        action="store_true",
        help="leave out the walk-forward ai_selection row (trains after strategy.ai_selection."
        "training_data_days, default 30)",
    )
    parser.add_argument(
        "--forecast-service",
        action="store_true",
        help="add the row 'optimiser (forecast service)': plans from the daemon's forecast service walked "
        "forward (load ensemble and pvlib PV refitted weekly, forecasts hourly from the data before "
        "them, the price profile beyond publication); slow: minutes at 1 h, tens of minutes at 15 min",
    )
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from phoenyra_ems.backtest.data import BacktestDataError, from_csv, from_history, household_2024
    from phoenyra_ems.backtest.report import plot, table
    from phoenyra_ems.backtest.runner import household_site, run_backtest, tariff_problem
    from phoenyra_ems.config import load_site
    from phoenyra_ems.core.strategies import STRATEGY_NAMES

    if args.config:
        configured = load_site(args.config, args.site)
        if configured is None:
            return 1
        site = configured
    else:
        site = household_site(args.capacity_kwh, args.power_kw, markup_eur_mwh=args.markup)
    if args.history and not args.config:
        print("backtest: --history replays a configured site: give -c/--config", file=sys.stderr)
        return 1
    if not args.max_gap >= 0:
        print(f"backtest: --max-gap must be >= 0 hours, got {args.max_gap}", file=sys.stderr)
        return 1
    zone = site.location.timezone
    try:
        if args.history:
            data = from_history(site, args.step, args.start, args.end, max_gap_h=args.max_gap)
        elif args.data:
            data = from_csv(args.data, args.step, args.start, args.end, zone, max_gap_h=args.max_gap)
        else:
            data = household_2024(args.step, args.start, args.end, zone)
    except (BacktestDataError, OSError) as err:
        print(f"backtest: {err}", file=sys.stderr)
        return 1
    strategies = tuple(s.strip() for s in args.strategies.split(",")) if args.strategies else None
    unknown = set(strategies or ()) - set(STRATEGY_NAMES)
    if unknown:
        print(f"backtest: unknown strategy {', '.join(sorted(unknown))}", file=sys.stderr)
        return 1
    runs = len(strategies or site.ems.strategies) + 2 + int(args.forecast_service)
    bar = tqdm(total=runs * len(data), unit="step", disable=args.no_progress, file=sys.stderr)
    done: dict[str, int] = {}

    def progress(label: str, i: int) -> None:
        bar.set_description(label)
        bar.update(i - done.get(label, 0))
        done[label] = i

    problem = tariff_problem(site, data)
    if problem is not None:
        print(f"backtest: {problem}", file=sys.stderr)
        return 1
    try:
        from phoenyra_ems.backtest.ai_settings import WalkForwardSettings

        ai = None if args.no_ai_selection else WalkForwardSettings.from_site(site)
        report = run_backtest(
            site, data, strategies, progress, ai_selection=ai, forecast_service=args.forecast_service
        )
    except (ValueError, RuntimeError) as err:  # the bound's LP: infeasible limits, bad data
        bar.close()
        print(f"backtest: {err}", file=sys.stderr)
        return 1
    bar.close()
    print(table(report))
    if args.plot:
        print(f"plot: {plot(report, args.plot)}")
    return 0
