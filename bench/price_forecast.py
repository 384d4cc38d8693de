"""What the price forecast beyond publication is worth: the optimiser's backtest with and without it.

The household at 1 h steps (load and PV from the history baselines, so only the prices differ),
prices beyond publication either the last known day repeated (the plans' fallback) or the price
profile (``phoenyra_ems/forecast/price_profile.py``) with several recency weights. Printed per
period: the MAE of the plans' prices beyond publication and the % of the perfect-foresight saving.
Choose on the first half of 2024, read the second.

    .venv/bin/python bench/price_forecast.py [--step 1h] [--decays 0,0.5,1]
"""

from __future__ import annotations

import argparse

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.forecasts import BacktestForecasts, ForecastSettings
from phoenyra_ems.backtest.optimum import solve_optimum
from phoenyra_ems.backtest.replay import no_battery
from phoenyra_ems.backtest.runner import household_site, optimum_input, replay_optimiser

PERIODS = (("2024-01-01", "2024-07-01"), ("2024-07-01", "2025-01-01"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--step", choices=["1h", "15min"], default="1h")
    parser.add_argument("--decays", default="0.5", help="comma-separated recency weights to try")
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    site = household_site()
    variants = [("last known day", ForecastSettings())] + [
        (
            f"profile {args.days} d, decay {decay}",
            ForecastSettings(price_forecast=True, price_days=args.days, price_decay=float(decay)),
        )
        for decay in args.decays.split(",")
    ]
    print(f"{'period':<24}{'prices beyond publication':<28}{'MAE EUR/MWh':>12}{'% of bound':>12}")
    for start, end in PERIODS:
        data = household_2024(args.step, start, end, site.location.timezone)
        baseline = no_battery(site, data).cost_eur
        bound = baseline - solve_optimum(optimum_input(site, data)).cost_eur
        for label, settings in variants:
            inputs = BacktestForecasts(site, data, site.ems.planning_horizon_h, settings=settings)
            run = replay_optimiser(site, data, forecasts=inputs)
            share = 100.0 * (baseline - run.cost_eur) / bound
            print(f"{start + ' → ' + end:<24}{label:<28}{inputs.price_mae:>12.2f}{share:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
