"""The price forecast beyond publication: a recency-weighted same-time-of-day profile, served by the
forecast service as published prices followed by the profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from phoenyra_ems.core.strategies.base import PriceSlot
from phoenyra_ems.forecast.base import TARGET
from phoenyra_ems.forecast.price_profile import PriceProfile, price_profile
from phoenyra_ems.forecast.service import price_series

DAY = 24


def test_decay_zero_repeats_the_last_known_day_and_one_is_the_flat_mean() -> None:
    days = np.concatenate([np.full(DAY, 100.0), np.full(DAY, 40.0), np.arange(DAY, dtype=float)])
    assert np.array_equal(price_profile(days, DAY, 30, days=3, decay=0.0), np.resize(np.arange(DAY), 30))
    flat = price_profile(days, DAY, DAY, days=3, decay=1.0)
    assert np.allclose(flat, (100.0 + 40.0 + np.arange(DAY)) / 3)
    half = price_profile(days, DAY, 1, days=3, decay=0.5)  # weights 1, 0.5, 0.25 for the last days
    assert half[0] == pytest.approx((0.0 + 0.5 * 40.0 + 0.25 * 100.0) / 1.75)


def test_gaps_are_skipped_and_no_prices_give_zeros() -> None:
    known = np.concatenate([np.full(DAY, 60.0), np.full(DAY, np.nan)])
    assert np.all(price_profile(known, DAY, DAY, days=2) == 60.0)
    assert np.all(price_profile(np.full(DAY, np.nan), DAY, 5) == 0.0)
    with pytest.raises(ValueError, match="decay"):
        PriceProfile(decay=1.5)


def test_the_forecaster_interface_reads_the_steps_of_its_history() -> None:
    index = pd.date_range("2024-03-01", periods=2 * 96, freq="15min", tz="UTC")
    frame = pd.DataFrame({TARGET: np.tile(np.arange(96, dtype=float), 2)}, index=index)
    model = PriceProfile(days=2)
    model.fit(frame)
    assert np.array_equal(model.predict(frame, 100), np.resize(np.arange(96, dtype=float), 100))


def test_the_service_serves_published_prices_then_the_profile() -> None:
    start = datetime(2024, 3, 3, 10, tzinfo=UTC)
    index = pd.date_range(start - timedelta(days=2), start - timedelta(hours=1), freq="1h")
    recorded = pd.Series(np.asarray(index.hour, dtype=float), index=index)  # the hour of day (UTC)
    slots = tuple(PriceSlot(start + timedelta(hours=k), 500.0 + k) for k in range(14))  # until midnight
    prices = price_series(recorded, slots, 1.0, start, 36)
    assert prices is not None and len(prices) == 36
    assert prices[:14] == tuple(500.0 + k for k in range(14))
    # beyond: 00:00 UTC onwards; the last known day mixes the recorded hours and the published ones
    assert prices[14] == pytest.approx(0.0)
    assert prices[24 + 0] == pytest.approx((500.0 + 10.0 + 10.0) / 3)  # 10:00 next day: 3 known days
    assert price_series(recorded * np.nan, (), 1.0, start, 36) is None
