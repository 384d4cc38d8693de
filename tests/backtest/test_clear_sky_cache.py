"""The backtest's PV model looks its clear-sky power up instead of recomputing it: same forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.backtest.forecasts import ClearSkyCache, _ClearSkyPv
from phoenyra_ems.backtest.runner import household_site
from phoenyra_ems.forecast.base import TARGET
from phoenyra_ems.forecast.pv import PvForecaster


def test_the_cached_pv_model_fits_and_forecasts_exactly_as_the_uncached_one() -> None:
    site = household_site()
    data = household_2024("15min", "2024-04-01", "2024-04-20", site.location.timezone)
    frame = pd.DataFrame({TARGET: data.pv_kw}, index=data.index)
    cache = ClearSkyCache()
    per_day = 96
    for start in (5 * per_day, 9 * per_day + 37, 14 * per_day + 5):  # refits share the cache
        plain, cached = (PvForecaster.for_site(site), PvForecaster.for_site(site))
        assert plain is not None and cached is not None
        wrapped = _ClearSkyPv(cached, cache)
        history = frame.iloc[:start]
        plain.fit(history)
        wrapped.fit(history)
        assert wrapped.model.scale == plain.scale  # type: ignore[attr-defined]
        expected = plain.predict(history, 192 + 4)
        got = wrapped.predict(history, 192 + 4)
        assert np.array_equal(got, expected)
        assert expected.max() > 0.5  # daylight in the horizon: a real comparison


def test_an_irregular_index_is_computed_not_looked_up() -> None:
    cache = ClearSkyCache()
    calls: list[int] = []

    def compute(index: pd.DatetimeIndex) -> np.ndarray:
        calls.append(len(index))
        return np.arange(len(index), dtype=float)

    gappy = pd.DatetimeIndex(["2024-05-01 10:00", "2024-05-01 10:15", "2024-05-01 11:00"], tz="UTC")
    assert list(cache.modelled_kw(compute, gappy)) == [0.0, 1.0, 2.0] and calls == [3]
    regular = pd.date_range("2024-05-01 10:00", periods=8, freq="15min", tz="UTC")
    cache.modelled_kw(compute, regular)
    cache.modelled_kw(compute, regular[2:6])  # inside the block computed before: looked up
    assert calls == [3, 30 * 96]
