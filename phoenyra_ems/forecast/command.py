"""``phoenyra-ems forecast-eval``: rolling-origin day-ahead scores of every forecaster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parser must load without the ml extra: numpy & co. only when run
    import numpy as np
    import pandas as pd

    from phoenyra_ems.forecast.evaluation import Evaluation
    from phoenyra_ems.forecast.suites import Suite

TARGET_CHOICES = ("load", "pv", "price")  # phoenyra_ems.forecast.suites.TARGETS, kept light


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "forecast-eval",
        help="rolling-origin day-ahead evaluation of every forecaster on real data (shipped or your CSV)",
        description="Forecasts 48 h from each local midnight of the window (default: the last DAYS days; "
        "prices from 11:00, before the next day's are published), models refit weekly on the data "
        "before the origin, and prints MAE, RMSE, nMAE and skill against persistence.",
    )
    parser.add_argument("--target", choices=[*TARGET_CHOICES, "all"], default="all")
    parser.add_argument("--days", type=int, default=90, help="origins: the last N days (default 90)")
    parser.add_argument(
        "--data",
        help="your own CSV in the backtest's format: timestamp_utc, load_kw, pv_kw, price_eur_per_mwh "
        "(optional pv_forecast_kw: a PV forecast you already have); any step that divides a day",
    )
    parser.add_argument("--from", dest="start", help="first origin day YYYY-MM-DD (local, with --data)")
    parser.add_argument("--to", dest="end", help="last origin day YYYY-MM-DD (local, inclusive, with --data)")
    parser.add_argument(
        "--timezone", default="Europe/Vienna", help="the site's time zone for --data (origins, calendar)"
    )
    parser.add_argument("--models", help="comma-separated subset of the models (default: all)")
    parser.add_argument(
        "--value",
        action="store_true",
        help="judge the forecasters by money: the optimiser's backtest planned with each one's "
        "forecasts, the rest from the history baselines (default data: the household year; --data, "
        "--from/--to (exclusive end), --step; --target load: history, persistence, profile_7d, gbm, "
        "ensemble; pv: pvlib (the service's PV model without weather) and given (--data's "
        "pv_forecast_kw); price: price_profile; all: "
        "these and forecast_service (all three parts at once); perfect_load, perfect_pv, perfect_price: "
        "that input as it came, the rest as the baselines; --models picks rows; perfect, the "
        "sanity row that replays the period once more: only when named or without --models)",
    )
    parser.add_argument("--step", choices=("15min", "1h"), default="1h", help="planning step for --value")
    parser.add_argument("--plot", help="MAE per horizon hour, one panel per target (.png or .svg)")
    parser.add_argument("-c", "--config", help="evaluate on a configured site's own recorded history")
    parser.add_argument("--site", help="site id in --config (default: its default site)")
    parser.add_argument("--no-progress", action="store_true")


def format_table(title: str, unit: str, evaluation: Evaluation) -> str:
    lines = [
        title,
        f"{'model':<14}{'MAE':>10}{'RMSE':>10}{'nMAE':>8}{'skill':>8}{'fit s':>8}{'predict ms':>12}"
        + (f"{'P10-P90':>9}" if evaluation.bands else "")
        + f"   ({unit})",
    ]
    for row in evaluation.table():
        band = f"{row['coverage']:>9.1%}" if evaluation.bands and row["model"] in evaluation.bands else ""
        lines.append(
            f"{row['model']!s:<14}{row['mae']:>10.3f}{row['rmse']:>10.3f}{row['nmae']:>8.3f}"
            f"{row['skill']:>8.1%}{row['fit_s']:>8.2f}{row['predict_ms']:>12.1f}{band}"
        )
    if evaluation.bands:
        lines.append("P10-P90: share of actual values inside the band (80 % nominal; ensemble: calibrated)")
    return "\n".join(lines)


def _skill(mae: np.ndarray, baseline: np.ndarray) -> str:
    reference = float(baseline.mean())
    return f"{1 - float(mae.mean()) / reference:>8.1%}" if reference > 1e-9 else f"{'–':>8}"


def format_horizons(evaluation: Evaluation, block_h: int = 6) -> str:
    """MAE and skill against persistence per block of horizon hours (1–6 h ahead, 7–12 h, …)."""
    hours = len(evaluation.mae_by_hour(next(iter(evaluation.errors))))
    blocks = [(start, min(start + block_h, hours)) for start in range(0, hours, block_h)]
    header = f"{'hours ahead':<14}" + "".join(f"{f'{a + 1}-{b}':>8}" for a, b in blocks)
    lines = ["MAE per horizon", header]
    base = evaluation.mae_by_hour("persistence") if "persistence" in evaluation.errors else None
    skills = ["skill per horizon", header]
    for name in evaluation.errors:
        by_hour = evaluation.mae_by_hour(name)
        lines.append(f"{name:<14}" + "".join(f"{by_hour[a:b].mean():>8.3f}" for a, b in blocks))
        if base is not None:
            skills.append(f"{name:<14}" + "".join(_skill(by_hour[a:b], base[a:b]) for a, b in blocks))
    return "\n".join(lines + (["", *skills] if base is not None else []))


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from phoenyra_ems.forecast.suites import TARGETS, evaluate, suite

    targets: list[str | Suite] = list(TARGETS if args.target == "all" else (args.target,))
    windows: dict[str, list[pd.Timestamp]] = {}
    if (args.start or args.end) and not args.data:
        print("forecast-eval: --from/--to need --data (the shipped data uses --days)", file=sys.stderr)
        return 1
    if args.data:
        loaded = _csv_suites(args)
        if loaded is None:
            return 1
        targets, windows = list(loaded[0]), loaded[1]
    elif args.config:
        suites = _site_suites(args)
        if suites is None:
            return 1
        targets = [s for s in suites if args.target in ("all", s.target)]
        if not targets:
            print(f"forecast-eval: the site has no {args.target} to evaluate", file=sys.stderr)
            return 1
    results = []
    for target in targets:
        name = target if isinstance(target, str) else target.target
        bar = tqdm(desc=name, unit="forecast", disable=args.no_progress, file=sys.stderr)

        def progress(done: int, total: int, bar: tqdm = bar) -> None:
            bar.update(1)  # one forecast of one model from one origin

        if args.models:
            target = _only(suite(target) if isinstance(target, str) else target, args.models)
            if not target.factories:
                print(f"forecast-eval: none of --models {args.models} is a {name} model", file=sys.stderr)
                return 1
        chosen, evaluation = evaluate(target, args.days, progress, windows.get(name))
        bar.close()
        results.append((chosen, evaluation))
        title = (
            f"{chosen.description}: {len(evaluation.origins)} origins, 48 h ahead "
            f"({evaluation.origins[0]:%Y-%m-%d %H:%M} → {evaluation.origins[-1]:%Y-%m-%d %H:%M} UTC)"
        )
        print(format_table(title, chosen.unit, evaluation))
        print()
        print(format_horizons(evaluation))
        print()
    if args.plot:
        print(f"plot: {plot(results, args.plot)}")
    return 0


def _only(chosen: Suite, models: str) -> Suite:
    import dataclasses

    from phoenyra_ems.forecast.ensemble import Ensemble

    wanted = {m.strip() for m in models.split(",") if m.strip()}
    kept = {k: v for k, v in chosen.factories.items() if k in wanted and k != "ensemble"}
    if "ensemble" in wanted and "ensemble" in chosen.factories:  # the ensemble of the chosen members
        members, whole = dict(kept), chosen.factories["ensemble"]

        def subset() -> Ensemble:
            """The suite's ensemble (its settings and calendar) over the chosen members only."""
            ensemble = whole()
            assert isinstance(ensemble, Ensemble)
            ensemble.members = [factory() for factory in members.values()]
            return ensemble

        kept["ensemble"] = subset
    return dataclasses.replace(chosen, factories=kept)


def _csv_suites(args: argparse.Namespace) -> tuple[list[Suite], dict[str, list[pd.Timestamp]]] | None:
    """The suites of ``--data`` and each target's origins in the ``--from/--to`` window."""
    import pandas as pd

    from phoenyra_ems.forecast import csv_data
    from phoenyra_ems.forecast.suites import csv_suites

    try:
        timezone = csv_data.check_timezone(args.timezone)
        if args.target == "all":
            header = pd.read_csv(args.data, nrows=0).columns if Path(args.data).is_file() else ()
            wanted = tuple(t for t, c in csv_data.COLUMNS.items() if c in header) or TARGET_CHOICES
        else:
            wanted = (args.target,)
        data = csv_data.read(args.data, wanted)
        horizon = pd.Timedelta(hours=48)
        windows = {
            t: csv_data.origins(
                data, timezone, args.start, args.end, args.days, horizon, 11 if t == "price" else 0
            )
            for t in wanted
        }
    except csv_data.ForecastDataError as err:
        print(f"forecast-eval: {err}", file=sys.stderr)
        return None
    return csv_suites(data, wanted, timezone), windows


def _site_suites(args: argparse.Namespace) -> list[Suite] | None:
    """The suites of ``--config``/``--site`` from the site's history database (hourly)."""
    from phoenyra_ems.config import load_site
    from phoenyra_ems.forecast.suites import site_suites
    from phoenyra_ems.history.frames import read_site_history

    site = load_site(args.config, args.site)
    if site is None:
        return None
    try:
        history = read_site_history(site, 3600)
    except FileNotFoundError as err:
        print(f"forecast-eval: {err}", file=sys.stderr)
        return None
    days = len(history) / 24
    if days < 17:
        print(
            f"forecast-eval: site {site.site_id} has {days:.1f} days of history; 17 are needed "
            "(two weeks to fit, two days to forecast)",
            file=sys.stderr,
        )
        return None
    return site_suites(site, history)


def plot(results: Sequence[tuple[Suite, Evaluation]], path: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for axis, (chosen, evaluation) in zip(axes[0], results, strict=True):
        for name in evaluation.errors:
            axis.plot(evaluation.mae_by_hour(name), label=name)
        axis.set_title(chosen.description, fontsize=8)
        axis.set_xlabel("hours ahead")
        axis.set_ylabel(f"MAE ({chosen.unit})")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)
