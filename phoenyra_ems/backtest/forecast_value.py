"""What a load forecaster is worth in money: the optimiser's backtest planned with its forecasts.

For each forecaster the household (or a CSV's) period is replayed with the optimiser pinned, its load
forecast at each plan time made only from the data before it (refitted weekly), PV and prices as
the backtest's realistic inputs. Reported per forecaster: € saved against no battery, % of the
perfect-foresight bound, and the day-ahead MAE of the load forecasts it planned with.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts
from phoenyra_ems.backtest.optimum import solve_optimum
from phoenyra_ems.backtest.replay import no_battery
from phoenyra_ems.backtest.runner import optimum_input, replay_optimiser
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.forecast.base import Forecaster
from phoenyra_ems.forecast.baselines import Persistence, RecentProfile
from phoenyra_ems.forecast.calendar_features import country_for
from phoenyra_ems.forecast.gbm import GradientBoostingForecaster
from phoenyra_ems.forecast.models import load_ensemble

BASELINE = "history baseline"
PERFECT = "perfect forecasts"


def value_forecasters(timezone: str) -> dict[str, Callable[[], Forecaster] | None]:
    """The candidates: the built-in baseline (None), single models, and the daemon's ensemble."""
    country = country_for(timezone)
    return {
        BASELINE: None,
        "persistence": Persistence,
        "profile_7d": lambda: RecentProfile(7),
        "gbm": lambda: GradientBoostingForecaster("gbm", timezone=timezone, country=country),
        "ensemble": lambda: load_ensemble(timezone, country),
    }


@dataclass(frozen=True)
class Worth:
    forecaster: str
    saving_eur: float
    share_of_bound_pct: float
    mae_kw: float
    fit_s: float  # all fits of the period
    run_s: float


def worth(
    site: SiteConfig,
    data: BacktestData,
    forecasters: dict[str, Callable[[], Forecaster] | None],
    progress: Callable[[str], None] | None = None,
    *,
    perfect: bool = True,
) -> tuple[float, list[Worth]]:
    """The bound's saving and each forecaster's run, plus perfect forecasts (the sanity check, a
    whole replay of its own) unless ``perfect`` is false."""
    baseline = no_battery(site, data).cost_eur
    bound = baseline - solve_optimum(optimum_input(site, data)).cost_eur
    results = []
    runs = [*forecasters.items(), *([(PERFECT, None)] if perfect else [])]
    for name, factory in runs:
        if progress is not None:
            progress(name)
        started = time.perf_counter()
        inputs = BacktestForecasts(
            site, data, site.ems.planning_horizon_h, perfect=name == PERFECT, load_model=factory
        )
        run = replay_optimiser(site, data, forecasts=inputs, name=name)
        saving = baseline - run.cost_eur
        results.append(
            Worth(
                name,
                saving,
                100.0 * saving / bound if bound > 0.01 else float("nan"),
                0.0 if name == PERFECT else inputs.stats.mae_kw,
                inputs.stats.fit_s,
                time.perf_counter() - started,
            )
        )
    return bound, results


def format_worth(bound: float, results: list[Worth], description: str) -> str:
    lines = [
        f"{description}: the optimiser planned with each load forecaster (PV, prices: realistic)",
        f"{'forecaster':<20}{'saved EUR':>11}{'% of bound':>12}{'MAE kW':>9}{'fit s':>8}{'run s':>8}",
    ]
    for r in results:
        lines.append(
            f"{r.forecaster:<20}{r.saving_eur:>11.2f}{r.share_of_bound_pct:>12.1f}{r.mae_kw:>9.3f}"
            f"{r.fit_s:>8.1f}{r.run_s:>8.0f}"
        )
    lines.append(f"{'perfect foresight':<20}{bound:>11.2f}{100.0:>12.1f}")
    real = [r for r in results if r.forecaster != PERFECT]
    if real:
        best = max(real, key=lambda r: r.saving_eur)
        lines.append(f"earns the most: {best.forecaster} ({best.share_of_bound_pct:.1f} % of the bound)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``forecast-eval --value``: € saved and % of the bound per load forecaster (the optimiser's
    backtest); the command's parser is ``forecast.command``'s, ``cli`` sends ``--value`` here."""
    from phoenyra_ems.backtest.data import BacktestDataError, from_csv, household_2024
    from phoenyra_ems.backtest.runner import household_site

    site = household_site()
    try:
        if args.data:
            data = from_csv(args.data, args.step, args.start, args.end)
        else:
            data = household_2024(args.step, args.start or "2024-01-01", args.end or "2025-01-01")
    except BacktestDataError as err:
        print(f"forecast-eval: {err}", file=sys.stderr)
        return 1
    forecasters = value_forecasters(site.location.timezone)
    perfect = True
    if args.models:  # one forecaster per process: the perfect-forecasts row only when named
        wanted = {m.strip() for m in args.models.split(",")}
        forecasters = {k: v for k, v in forecasters.items() if k in wanted or k.split()[0] in wanted}
        perfect = PERFECT.split()[0] in wanted
        if not forecasters and not perfect:
            print(f"forecast-eval: none of --models {args.models} is judged by --value", file=sys.stderr)
            return 1

    def progress(name: str) -> None:
        if not args.no_progress:
            print(f"forecast-eval --value: {name} …", file=sys.stderr)

    bound, results = worth(site, data, forecasters, progress, perfect=perfect)
    print(format_worth(bound, results, data.description))
    return 0
