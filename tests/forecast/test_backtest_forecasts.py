"""The backtest planning with a forecast service model: only the past, refitted on schedule."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts, ForecastSettings
from phoenyra_ems.backtest.runner import household_site
from phoenyra_ems.forecast.base import TARGET

DAY = 24


class Spy:
    """Remembers the last instant of every history it is shown; forecasts a constant per fit."""

    name = "spy"
    min_history_days = 0.0
    fits: ClassVar[list[pd.Timestamp]] = []
    predictions: ClassVar[list[pd.Timestamp]] = []

    def fit(self, history: pd.DataFrame) -> None:
        Spy.fits.append(history.index[-1])
        self.level = float(len(Spy.fits))

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        assert list(history.columns) == [TARGET]
        Spy.predictions.append(history.index[-1])
        return np.full(steps, self.level)


def test_the_load_model_sees_only_the_past_and_is_refitted_weekly() -> None:
    index = pd.date_range("2024-03-01", periods=25 * DAY, freq="1h", tz="UTC")
    load = 0.5 + np.arange(len(index)) % DAY / 10.0
    data = BacktestData(index, load, np.zeros(len(index)), np.full(len(index), 80.0), "spy data")
    Spy.fits, Spy.predictions = [], []
    forecasts = BacktestForecasts(household_site(), data, 24.0, load_model=Spy, settings=ForecastSettings())
    for i in range(14 * DAY, len(index) - DAY):
        inputs = forecasts(i)
        if i < 15 * DAY:  # two whole weeks of history first: the baseline plans
            assert not Spy.fits and inputs.source == "forecast service models"
            continue
        plan_time = index[i]
        assert Spy.fits[-1] < plan_time and Spy.predictions[-1] < plan_time
        # the model's forecast from the present step on: the planner puts the measured present in
        # and carries its departure from this forecast (as live; core/optimiser/forecast.with_present)
        assert np.all(inputs.load_kw == float(len(Spy.fits)))
    # Fitted at day 15, then every 7 days: days 15 and 22.
    assert Spy.fits == [index[15 * DAY - 1], index[22 * DAY - 1]]
    assert len(Spy.predictions) == len(index) - DAY - 15 * DAY  # one per hour
    assert forecasts.stats.fits == 2 and forecasts.stats.mae_kw > 0


def test_prices_beyond_publication_come_from_the_profile_of_the_known_prices() -> None:
    index = pd.date_range("2024-03-01", periods=10 * DAY, freq="1h", tz="UTC")
    days = np.repeat(np.arange(10, dtype=float) * 10.0, DAY)  # each day's price: 10 x its number
    data = BacktestData(index, np.ones(len(index)), np.zeros(len(index)), days, "price data")
    settings = ForecastSettings(price_forecast=True, price_days=2, price_decay=0.5)
    forecasts = BacktestForecasts(household_site(), data, 48.0, settings=settings)
    i = 5 * DAY + 1  # 02:00 in Vienna: published until local midnight
    inputs = forecasts(i)
    p = inputs.published_steps
    assert np.array_equal(inputs.price_eur_mwh[:p], days[i : i + p])
    beyond = inputs.price_eur_mwh[p:]
    plain = BacktestForecasts(household_site(), data, 48.0)(i)
    assert np.array_equal(plain.price_eur_mwh[p : p + DAY], days[i + p - DAY : i + p])  # the last known day
    assert np.all((beyond >= days[i - 2 * DAY]) & (beyond <= days[i]))  # a profile of the last 2 days
    assert beyond.mean() < plain.price_eur_mwh[p:].mean() and beyond.mean() > days[i - DAY]
    assert inputs.source.endswith("price forecast beyond")
    assert forecasts.price_mae > 0
