"""The money table's helpers: bills per day, and whether a gain is more than the days' noise."""

from __future__ import annotations

import numpy as np
import pytest


def test_a_gain_within_the_noise_of_the_days_is_told_apart_from_a_steady_one() -> None:
    from phoenyra_ems.backtest.forecast_value import Worth, gain_interval

    def row(daily: list[float]) -> Worth:
        return Worth("x", 0.0, 0.0, 0.0, 0.0, 0.0, daily_cost_eur=np.array(daily))

    reference = row([10.0] * 30)
    steady = row([9.0] * 30)  # 1 EUR less every day
    assert gain_interval(reference, steady) == pytest.approx((30.0, 30.0))
    lucky = row([10.0 - 5.0 * (-1) ** d + (0.5 if d == 0 else 0.0) for d in range(30)])  # +0.5 in all
    low, high = gain_interval(reference, lucky)
    assert low < 0.0 < high


def test_the_daily_bills_of_a_run_sum_to_its_cost() -> None:
    from phoenyra_ems.backtest.data import household_2024
    from phoenyra_ems.backtest.forecast_value import daily_costs
    from phoenyra_ems.backtest.runner import household_site, replay_optimiser

    site = household_site()
    data = household_2024("1h", "2024-03-30", "2024-04-02")  # the spring clock change: a 23-h day
    run = replay_optimiser(site, data)
    daily = daily_costs(run, data, site.location.timezone)
    assert len(daily) == 3
    assert daily.sum() == pytest.approx(run.cost_eur)
