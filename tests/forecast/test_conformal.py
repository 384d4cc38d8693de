"""The P10/P90 band, calibrated on recent out-of-sample errors (conformal.py, Ensemble.predict_quantiles)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from phoenyra_ems.forecast.base import future_index
from phoenyra_ems.forecast.baselines import Persistence
from phoenyra_ems.forecast.conformal import calibrate, side_offset
from phoenyra_ems.forecast.ensemble import Ensemble
from phoenyra_ems.forecast.evaluation import rolling_origin

DAY = 24


def noisy_load(days: int, seed: int = 0) -> pd.DataFrame:
    """A known daily shape plus skewed noise (exponential: evening peaks overshoot, nights do not)."""
    index = pd.date_range("2024-01-01", periods=days * DAY, freq="1h", tz="UTC")
    rng = np.random.default_rng(seed)
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * index.hour.to_numpy() / DAY)
    return pd.DataFrame({"y": shape + rng.exponential(0.4, len(index))}, index=index)


class Overconfident:
    """Knows the daily shape; its P10/P90 band is far too narrow (what quantile trees do out of sample)."""

    name = "shape"
    min_history_days = 1.0
    quantiles = (0.1, 0.9)

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def _shape(self, history: pd.DataFrame, steps: int) -> np.ndarray:
        hours = future_index(history, steps).hour.to_numpy()
        return np.asarray(1.0 + 0.8 * np.sin(2 * np.pi * hours / DAY) + 0.28)  # + the noise's median

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return self._shape(history, steps)

    def predict_with_bands(
        self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        central = self._shape(history, steps)
        return central, {0.1: central - 0.05, 0.9: central + 0.05}

    def predict_quantiles(
        self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None
    ) -> dict[float, np.ndarray]:
        return self.predict_with_bands(history, steps, exog)[1]


def test_side_offset_keeps_the_asked_share_beyond_the_side() -> None:
    excess = np.arange(-50.0, 50.0)  # 100 values, half of them beyond the side
    offset = side_offset(excess, 0.1)
    assert np.mean(excess > offset) <= 0.1
    assert np.mean(excess > offset - 2.0) > 0.1  # and not more than needed
    assert side_offset(np.array([np.nan]), 0.1) == 0.0


def test_calibrate_widens_a_narrow_band_and_never_crosses() -> None:
    low, high = np.array([1.0, 1.0]), np.array([1.2, 1.2])
    wide_low, wide_high = calibrate(low, high, np.full(50, 0.5), np.full(50, 0.5), 0.1, 0.9)
    assert np.allclose(wide_low, 0.5) and np.allclose(wide_high, 1.7)
    # A far too wide band narrows, but its sides meet rather than cross.
    narrow_low, narrow_high = calibrate(low, high, np.full(50, -5.0), np.full(50, -5.0), 0.1, 0.9)
    assert (narrow_low <= narrow_high).all()


def test_ensemble_band_covers_about_80_percent_out_of_sample() -> None:
    """The raw band holds ~10 % of the actual values; calibrated on the previous 28 days it holds
    close to the nominal 80 % on 21 later days the calibration never saw."""
    data = noisy_load(80)
    origins = list(data.index[-23 * DAY :: DAY][:21])
    factories = {
        "shape": Overconfident,
        "ensemble": lambda: Ensemble([Persistence(), Overconfident()], validation_days=21),
    }
    evaluation = rolling_origin(factories, data, origins, 2 * DAY)
    low, high = evaluation.bands["shape"]
    raw = float(np.mean((low <= 0) & (high >= 0)))
    assert raw < 0.2
    assert 0.72 <= evaluation.coverage("ensemble") <= 0.88, evaluation.coverage("ensemble")
    assert np.isnan(evaluation.coverage("persistence"))  # a model without a band reports none


def test_ensemble_without_band_members_has_no_band() -> None:
    data = noisy_load(30)
    ensemble = Ensemble([Persistence()], validation_days=7)
    ensemble.fit(data)
    assert ensemble.predict_quantiles(data, 48) == {}
