"""``phoenyra-ems selector train|eval|report -c FILE --site X`` (docs/ai-selection.md)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phoenyra_ems.backtest.data import BacktestData
    from phoenyra_ems.config.model import SiteConfig
    from phoenyra_ems.selector.training import TrainSummary


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "selector",
        help="AI strategy selection: train now, walk-forward evaluation, A/B report",
        description="train: label the site's history by counterfactual replay and store its model "
        "(what the daemon does every retrain_interval_days). eval: walk-forward evaluation on the "
        "history (or --data) against the score selection and each strategy alone, with regret. "
        "report: the A/B test's value per arm with a bootstrap confidence interval.",
    )
    parser.add_argument("action", choices=["train", "eval", "report"])
    parser.add_argument("-c", "--config", required=True, help="the configuration file")
    parser.add_argument("--site", help="site id (default: the configuration's default site)")
    parser.add_argument("--data", help="eval/train on this CSV instead of the site's history")
    parser.add_argument("--step", choices=["15min", "1h"], default="15min")
    parser.add_argument("--from", dest="start", help="first day of the history to use")
    parser.add_argument("--to", dest="end", help="end day, exclusive")
    parser.add_argument("--trees", type=int, default=100, help="trees of the random forest (the plan's 100)")


def run(args: argparse.Namespace) -> int:
    from phoenyra_ems.backtest.data import BacktestDataError, from_csv, from_history
    from phoenyra_ems.config import load_site

    site = load_site(args.config, args.site)
    if site is None:
        return 1
    try:
        if args.data:
            data = from_csv(args.data, args.step, args.start, args.end)
        else:
            data = from_history(site, args.step, args.start, args.end)
    except (BacktestDataError, OSError) as err:
        print(f"selector: {err}", file=sys.stderr)
        return 1
    if args.action == "train":
        return _train(site, data, args.trees, keep_labels=not args.data)
    if args.action == "eval":
        return _eval(site, data, args.trees)
    return _report(site, data)


def _train(site: SiteConfig, data: BacktestData, trees: int, keep_labels: bool) -> int:
    """Train now; from the site's own history the labels are kept (and reused) as the daemon does."""
    from datetime import UTC, datetime

    from phoenyra_ems.selector.store import labels_path, save, selector_path
    from phoenyra_ems.selector.training import train_site_selector

    kept = labels_path(site.ems.history_dir, site.site_id) if keep_labels else None
    stored = train_site_selector(site, data, datetime.now(UTC), n_estimators=trees, labels_path=kept)
    summary = stored.summary
    if not summary.trained:
        print(
            f"selector: {summary.samples} windows, {site.strategy.ai_selection.min_samples} needed "
            "(strategy.ai_selection.min_samples): not trained, the score-based selection decides",
            file=sys.stderr,
        )
        return 1
    path = selector_path(site.ems.history_dir, site.site_id)
    save(path, stored)
    labels = ", ".join(f"{k} {v}" for k, v in summary.label_counts.items())
    print(
        f"site {site.site_id}: trained on {summary.samples} windows ({summary.days:.1f} days) in "
        f"{summary.train_s:.1f} s; best strategy per window: {labels}"
    )
    for name, value in sorted(summary.importances.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<18}{value:6.3f}")
    if summary.default_arm is not None:
        print(f"default arm: {summary.default_arm}; {_gate_line(summary)}")
    print(f"model: {path}")
    return 0


def _gate_line(summary: TrainSummary) -> str:
    gate = summary.gate
    if gate is None:
        return "switching off: too few labels for the validation (min_samples before 14 days)"
    verdict = "switching allowed" if gate.allowed else "switching off"
    return (
        f"{verdict}: over the last {gate.days} days the model gained {gate.gain_eur:+.2f} EUR against "
        f"it (one-sided 95 % bootstrap bound {gate.lower_eur:+.2f} EUR)"
    )


def _eval(site: SiteConfig, data: BacktestData, trees: int) -> int:
    from phoenyra_ems.backtest.ai_settings import WalkForwardSettings
    from phoenyra_ems.backtest.report import table
    from phoenyra_ems.backtest.runner import run_backtest, tariff_problem

    problem = tariff_problem(site, data)
    if problem is not None:
        print(f"selector: {problem}", file=sys.stderr)
        return 1
    settings = WalkForwardSettings.from_site(site, n_estimators=trees)
    report = run_backtest(site, data, optimiser=False, ai_selection=settings)
    print(table(report))
    return 0


def _report(site: SiteConfig, data: BacktestData) -> int:
    import json

    from phoenyra_ems.selector.report import ab_report, day_values
    from phoenyra_ems.selector.service import ab_log_path
    from phoenyra_ems.selector.store import SelectorFileError, load, selector_path

    log_path = ab_log_path(site.ems.history_dir, site.site_id)
    try:
        stored = load(selector_path(site.ems.history_dir, site.site_id))
        ab_log = json.loads(log_path.read_text())
    except (OSError, ValueError, SelectorFileError) as err:
        print(f"selector: {err}", file=sys.stderr)
        return 1
    print(ab_report(day_values(site, data, stored, ab_log)))
    return 0
