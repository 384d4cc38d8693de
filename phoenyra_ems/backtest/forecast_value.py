"""What a forecaster is worth in money: the optimiser's backtest planned with its forecasts.

For each candidate the household (or a CSV's) period is replayed with the optimiser pinned. A load
forecaster's forecast at each plan time is made only from the data before it (refitted weekly), PV
and prices as the backtest's realistic inputs (the history baselines). The forecast service's other
parts are judged the same way, one at a time against those baselines: its pvlib PV model (without
weather: clear sky x the last three days' ratio) and its price profile beyond publication, and so
is a CSV's own ``pv_forecast_kw`` (row ``given``: a PV forecast the user already has); the
``forecast_service`` row is all three parts at once (the backtest's service row). Reported per row: €
saved against no battery, % of the perfect-foresight bound, and the day-ahead MAE of the load, PV
and price forecasts it planned with. The ``perfect_load``, ``perfect_pv`` and ``perfect_price``
rows bound what a better forecast of each input can earn; each row's gain over the first one comes
with its 90 % bootstrap interval over days.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import PERFECT_PARTS, BacktestForecasts, service_forecasts
from phoenyra_ems.backtest.optimum import solve_optimum
from phoenyra_ems.backtest.replay import RunResult, no_battery
from phoenyra_ems.backtest.runner import optimum_input, replay_optimiser
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.forecast.base import Forecaster
from phoenyra_ems.forecast.baselines import Persistence, RecentProfile
from phoenyra_ems.forecast.calendar_features import country_for
from phoenyra_ems.forecast.gbm import GradientBoostingForecaster
from phoenyra_ems.forecast.models import load_ensemble

BASELINE = "history baseline"
PERFECT = "perfect forecasts"
PV_MODEL = "pvlib"
GIVEN_PV = "given"  # the CSV's pv_forecast_kw: a PV forecast the user already has
PRICE_PROFILE = "price_profile"
SERVICE = "forecast_service"

Inputs = Callable[[SiteConfig, BacktestData], BacktestForecasts]


def value_forecasters(timezone: str) -> dict[str, Callable[[], Forecaster] | None]:
    """The load candidates: the built-in baseline (None), single models, and the daemon's ensemble."""
    country = country_for(timezone)
    return {
        BASELINE: None,
        "persistence": Persistence,
        "profile_7d": lambda: RecentProfile(7),
        "gbm": lambda: GradientBoostingForecaster("gbm", timezone=timezone, country=country),
        "ensemble": lambda: load_ensemble(timezone, country),
    }


def _load_row(factory: Callable[[], Forecaster] | None) -> Inputs:
    def inputs(site: SiteConfig, data: BacktestData) -> BacktestForecasts:
        return BacktestForecasts(site, data, site.ems.planning_horizon_h, load_model=factory)

    return inputs


def _service_row(load: bool, pv: bool, prices: bool) -> Inputs:
    def inputs(site: SiteConfig, data: BacktestData) -> BacktestForecasts:
        return service_forecasts(site, data, site.ems.planning_horizon_h, load=load, pv=pv, prices=prices)

    return inputs


def _given_pv(site: SiteConfig, data: BacktestData) -> BacktestForecasts:
    return BacktestForecasts(site, data, site.ems.planning_horizon_h, given_pv=True)


def _perfect_part(part: str) -> Inputs:
    def inputs(site: SiteConfig, data: BacktestData) -> BacktestForecasts:
        return BacktestForecasts(site, data, site.ems.planning_horizon_h, perfect_parts=(part,))

    return inputs


def _perfect(site: SiteConfig, data: BacktestData) -> BacktestForecasts:
    return BacktestForecasts(site, data, site.ems.planning_horizon_h, perfect=True)


def value_candidates(
    timezone: str, target: str = "all", *, given_pv: bool = False
) -> dict[str, tuple[str, Inputs]]:
    """Each row's name -> (the target it judges, how its plans get their inputs). ``target``: "load"
    (the baseline and the load forecasters), "pv" or "price" (the baseline and that part of the
    forecast service; with ``given_pv`` also the data's own PV forecast, "given"), "all" (every row
    and the whole service); each target's ``perfect_<target>``
    row plans with that input as it actually came and the rest as the baselines: what a perfect
    forecast of it alone would be worth (the most any forecaster of it can earn here)."""
    rows: dict[str, tuple[str, Inputs]] = {
        name: ("load", _load_row(factory)) for name, factory in value_forecasters(timezone).items()
    }
    rows[PV_MODEL] = ("pv", _service_row(load=False, pv=True, prices=False))
    if given_pv:  # the data's own pv_forecast_kw: a forecast the user already has
        rows[GIVEN_PV] = ("pv", _given_pv)
    rows[PRICE_PROFILE] = ("price", _service_row(load=False, pv=False, prices=True))
    rows[SERVICE] = ("all", _service_row(load=True, pv=True, prices=True))
    for part in PERFECT_PARTS:
        rows[f"perfect_{part}"] = (part, _perfect_part(part))
    return {
        name: row for name, row in rows.items() if target == "all" or name == BASELINE or row[0] == target
    }


@dataclass(frozen=True)
class Worth:
    forecaster: str
    saving_eur: float
    share_of_bound_pct: float
    mae_kw: float  # load, day ahead
    fit_s: float  # all fits of the period (load and PV models)
    run_s: float
    pv_mae_kw: float = float("nan")  # day ahead
    price_mae_eur_mwh: float = float("nan")  # beyond publication
    daily_cost_eur: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False)


def daily_costs(run: RunResult, data: BacktestData, timezone: str) -> np.ndarray:
    """A run's bill per local day of the site; the period's demand charges and the value of the
    stored energy's change count on its last day, so that the days sum to its cost."""
    steps = np.diff(run.cumulative_cost_eur, prepend=0.0)
    days = pd.DatetimeIndex(data.index).tz_convert(timezone).date
    daily = np.array(pd.Series(steps).groupby(days).sum().to_numpy(), dtype=float)
    if len(daily):
        daily[-1] += run.demand_charge_eur + run.storage_adjustment_eur
    return daily


def gain_interval(reference: Worth, other: Worth, level: float = 0.9) -> tuple[float, float]:
    """The interval of what ``other`` saved over ``reference`` in total, resampling days
    (percentile bootstrap, 2,000 resamples, seeded): whether a difference of a few EUR over the
    period is more than which days happened to be in it."""
    gains = reference.daily_cost_eur - other.daily_cost_eur
    if len(gains) < 2 or not np.any(gains):
        return (0.0, 0.0)
    result = bootstrap(
        (gains,),
        np.sum,
        confidence_level=level,
        n_resamples=2000,
        method="percentile",
        random_state=0,
        vectorized=False,
    )
    interval = result.confidence_interval
    return float(interval.low), float(interval.high)


def worth(
    site: SiteConfig,
    data: BacktestData,
    candidates: dict[str, tuple[str, Inputs]],
    progress: Callable[[str], None] | None = None,
    *,
    perfect: bool = True,
) -> tuple[float, list[Worth]]:
    """The bound's saving and each candidate's run, plus perfect forecasts (the sanity check, a
    whole replay of its own) unless ``perfect`` is false."""
    baseline = no_battery(site, data).cost_eur
    bound = baseline - solve_optimum(optimum_input(site, data)).cost_eur
    results = []
    runs: list[tuple[str, tuple[str, Inputs]]] = [*candidates.items()]
    if perfect:
        runs.append((PERFECT, ("all", _perfect)))
    for name, (_, make) in runs:
        if progress is not None:
            progress(name)
        started = time.perf_counter()
        inputs = make(site, data)
        run = replay_optimiser(site, data, forecasts=inputs, name=name)
        saving = baseline - run.cost_eur
        exact = inputs.exact_parts
        results.append(
            Worth(
                name,
                saving,
                100.0 * saving / bound if bound > 0.01 else float("nan"),
                0.0 if "load" in exact else inputs.stats.mae_kw,
                inputs.stats.fit_s + inputs.pv_stats.fit_s,
                time.perf_counter() - started,
                0.0 if "pv" in exact else inputs.pv_stats.mae_kw,
                0.0 if "price" in exact else inputs.price_mae,
                daily_costs(run, data, site.location.timezone),
            )
        )
    return bound, results


def format_worth(bound: float, results: list[Worth], description: str) -> str:
    """The table; each row's gain over the first row with its 90 % interval over days."""
    first = results[0] if results else None
    lines = [
        f"{description}: the optimiser planned with each forecaster (the rest: the history baselines)",
        f"{'forecaster':<20}{'saved EUR':>11}{'% of bound':>12}{'load MAE kW':>13}{'PV MAE kW':>11}"
        f"{'price MAE':>11}{'fit s':>8}{'run s':>8}   vs first row: EUR (90 % over days)",
    ]
    for r in results:
        line = (
            f"{r.forecaster:<20}{r.saving_eur:>11.2f}{r.share_of_bound_pct:>12.1f}{r.mae_kw:>13.3f}"
            f"{r.pv_mae_kw:>11.3f}{r.price_mae_eur_mwh:>11.1f}{r.fit_s:>8.1f}{r.run_s:>8.0f}"
        )
        if first is not None and r is not first:
            low, high = gain_interval(first, r)
            line += f"   {r.saving_eur - first.saving_eur:+.2f} ({low:+.2f} … {high:+.2f})"
        lines.append(line)
    lines.append(f"{'perfect foresight':<20}{bound:>11.2f}{100.0:>12.1f}")
    lines.append("MAE: day ahead (load, PV: kW); price: EUR/MWh beyond publication")
    real = [r for r in results if not r.forecaster.startswith("perfect")]  # bounds, not forecasters
    if real:
        best = max(real, key=lambda r: r.saving_eur)
        text = f"earns the most: {best.forecaster} ({best.share_of_bound_pct:.1f} % of the bound)"
        others = [r for r in real if r is not best]
        if others:
            runner_up = max(others, key=lambda r: r.saving_eur)
            low, _ = gain_interval(runner_up, best)
            text += (
                f"; ahead of {runner_up.forecaster} by {best.saving_eur - runner_up.saving_eur:.2f} EUR, "
                + ("more than" if low > 0 else "within")
                + " the noise of the days (90 % interval)"
            )
        lines.append(text)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``forecast-eval --value``: € saved and % of the bound per forecaster of ``--target`` (the
    optimiser's backtest); the command's parser is ``forecast.command``'s, ``cli`` sends ``--value`` here."""
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
    given = data.pv_forecast_kw is not None
    candidates = value_candidates(site.location.timezone, args.target, given_pv=given)
    perfect = True
    if args.models:  # one forecaster per process: the perfect-forecasts row only when named
        wanted = {m.strip() for m in args.models.split(",")}
        candidates = {k: v for k, v in candidates.items() if k in wanted or k.split()[0] in wanted}
        perfect = PERFECT.split()[0] in wanted
        if not candidates and not perfect:
            rows = ", ".join(value_candidates(site.location.timezone, given_pv=given))
            print(
                f"forecast-eval: none of --models {args.models} is judged by --value"
                f" --target {args.target} (rows: {rows})",
                file=sys.stderr,
            )
            return 1

    def progress(name: str) -> None:
        if not args.no_progress:
            print(f"forecast-eval --value: {name} …", file=sys.stderr)

    bound, results = worth(site, data, candidates, progress, perfect=perfect)
    print(format_worth(bound, results, data.description))
    return 0
