"""Rolling-origin evaluation: what it scores, how it refits, and the metrics on hand-checkable cases."""

from __future__ import annotations

import logging
import math
from itertools import pairwise
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from phoenyra_ems.forecast.base import future_index
from phoenyra_ems.forecast.baselines import Persistence
from phoenyra_ems.forecast.evaluation import Evaluation, daily_origins, rolling_origin

DAY = 24


def ramp(days: int = 10) -> pd.DataFrame:
    """y = 0, 1, 2, ... hourly from 2024-01-01 00:00 UTC (persistence errors are then exact)."""
    index = pd.date_range("2024-01-01", periods=days * DAY, freq="1h", tz="UTC")
    return pd.DataFrame({"y": np.arange(len(index), dtype=float)}, index=index)


class Oracle:
    """Returns the truth: reads the future from the data it was given at construction."""

    name = "oracle"
    min_history_days = 0.0

    def __init__(self, data: pd.DataFrame) -> None:
        self.data = data

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return self.data["y"].reindex(future_index(history, steps)).to_numpy()


class Recorder:
    """Counts fits, remembers the history and exog it was shown; forecasts the exog column ``echo``."""

    instances: ClassVar[list[Recorder]] = []

    name = "recorder"
    min_history_days = 0.0

    def __init__(self) -> None:
        self.fitted_on: list[pd.DatetimeIndex] = []
        self.exog_seen: list[pd.DataFrame | None] = []
        Recorder.instances.append(self)

    def fit(self, history: pd.DataFrame) -> None:
        self.fitted_on.append(pd.DatetimeIndex(history.index))

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        self.exog_seen.append(exog)
        assert exog is not None
        return exog["echo"].to_numpy(dtype=float)


class FailsToFit:
    name = "fails"
    min_history_days = 0.0

    def fit(self, history: pd.DataFrame) -> None:
        raise RuntimeError("no convergence")

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        raise AssertionError("unfitted model asked to predict")


def test_an_oracle_scores_zero_error_and_full_skill_against_persistence() -> None:
    data = ramp(10)
    origins = daily_origins(data, 3, pd.Timedelta(hours=48))
    evaluation = rolling_origin(
        {"persistence": Persistence, "oracle": lambda: Oracle(data)}, data, origins, 48
    )
    assert evaluation.errors["oracle"].shape == (3, 48)
    assert evaluation.mae("oracle") == 0.0 and evaluation.rmse("oracle") == 0.0
    assert evaluation.skill("oracle") == 1.0
    assert evaluation.skill("persistence") == 0.0
    # On a ramp persistence is exactly one day low on day one and two days low on day two.
    np.testing.assert_array_equal(evaluation.errors["persistence"][:, :DAY], -24.0)
    np.testing.assert_array_equal(evaluation.errors["persistence"][:, DAY:], -48.0)
    assert evaluation.mae("persistence") == 36.0
    assert evaluation.rmse("persistence") == pytest.approx(math.sqrt((24**2 + 48**2) / 2))
    truth = np.concatenate([data["y"][o : o + pd.Timedelta(hours=47)].to_numpy() for o in origins])
    assert evaluation.actual_mean_abs == pytest.approx(np.mean(np.abs(truth)))
    assert evaluation.nmae("persistence") == pytest.approx(36.0 / np.mean(np.abs(truth)))
    np.testing.assert_array_equal(evaluation.mae_by_hour("persistence"), [24.0] * 24 + [48.0] * 24)
    rows = {row["model"]: row for row in evaluation.table()}
    assert set(rows) == {"persistence", "oracle"} and rows["persistence"]["mae"] == 36.0


def test_metrics_on_a_hand_checkable_case() -> None:
    evaluation = Evaluation(
        horizon_steps=2,
        step=pd.Timedelta(hours=1),
        origins=[pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC")],
        errors={
            "persistence": np.array([[1.0, -1.0], [2.0, -2.0]]),
            "model": np.array([[0.0, 1.0], [np.nan, -3.0]]),  # NaN: a step without truth, not scored
        },
        actual_mean_abs=4.0,
    )
    assert evaluation.mae("persistence") == 1.5
    assert evaluation.rmse("persistence") == pytest.approx(math.sqrt(2.5))
    assert evaluation.nmae("persistence") == pytest.approx(1.5 / 4.0)
    assert evaluation.mae("model") == pytest.approx(4.0 / 3.0)
    assert evaluation.rmse("model") == pytest.approx(math.sqrt(10.0 / 3.0))
    assert evaluation.skill("model") == pytest.approx(1.0 - (4.0 / 3.0) / 1.5)
    assert math.isnan(evaluation.skill("model", baseline="week_ago"))  # no such baseline scored
    np.testing.assert_allclose(evaluation.mae_by_hour("model"), [0.0, 2.0])


def test_mae_by_hour_groups_quarter_hours() -> None:
    errors = np.array([[1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0]])
    evaluation = Evaluation(
        8, pd.Timedelta(minutes=15), [pd.Timestamp("2024-01-01", tz="UTC")], {"m": errors}
    )
    np.testing.assert_array_equal(evaluation.mae_by_hour("m"), [1.0, 3.0])


@pytest.mark.parametrize("hour_utc", [0, 7, 23])
@pytest.mark.parametrize("horizon_h", [24, 48])
def test_daily_origins_keep_the_whole_horizon_inside_the_data(hour_utc: int, horizon_h: int) -> None:
    data = ramp(10).iloc[:-5]  # ends at 18:00, not at a day boundary
    horizon = pd.Timedelta(hours=horizon_h)
    origins = daily_origins(data, 4, horizon, hour_utc)
    assert len(origins) == 4
    assert all(o.hour == hour_utc and o.minute == 0 for o in origins)
    assert all(b - a == pd.Timedelta(days=1) for a, b in pairwise(origins))
    last = data.index[-1]
    for origin in origins:
        assert origin + horizon - pd.Timedelta(hours=1) <= last  # the horizon's last step is observed


def test_daily_origins_ignore_trailing_gaps() -> None:
    data = ramp(10)
    data.loc[data.index[-30:], "y"] = np.nan
    last_valid = data.index[-31]
    for origin in daily_origins(data, 2, pd.Timedelta(hours=24)):
        assert origin + pd.Timedelta(hours=23) <= last_valid


def test_daily_origins_end_with_the_latest_origin_that_fits() -> None:
    data = ramp(10)  # 2024-01-01 00:00 .. 2024-01-10 23:00
    origins = daily_origins(data, 2, pd.Timedelta(hours=24))
    assert origins[-1] == pd.Timestamp("2024-01-10", tz="UTC")  # covers 01-10 00:00 .. 23:00 exactly


def test_rolling_origin_refits_on_schedule_and_sees_only_the_past() -> None:
    data = ramp(20)
    data["echo"] = data["y"]  # a "recorded forecast" that happens to be perfect
    Recorder.instances.clear()
    origins = list(pd.date_range("2024-01-08", periods=10, freq="1D", tz="UTC"))
    evaluation = rolling_origin(
        {"recorder": Recorder}, data, origins, DAY, refit_every_days=7.0, exog_columns=("echo",), train_days=5
    )
    fits = [index for r in Recorder.instances for index in r.fitted_on]
    assert len(fits) == 2  # at the first origin and a week later
    for index, origin in zip(fits, [origins[0], origins[7]], strict=True):
        assert index[-1] == origin - pd.Timedelta(hours=1)  # nothing from the origin on
        assert index[0] >= origin - pd.Timedelta(days=5)  # train_days window
    # The exog handed over is the data's own column over each horizon (the future, not the past).
    seen = [e for r in Recorder.instances for e in r.exog_seen]
    assert len(seen) == 10
    assert all(list(e.columns) == ["echo"] and e.index[0] == o for e, o in zip(seen, origins, strict=True))
    assert evaluation.mae("recorder") == 0.0


def test_a_model_that_fails_to_fit_scores_nan_without_stopping_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="phoenyra_ems.forecast")
    data = ramp(10)
    origins = daily_origins(data, 3, pd.Timedelta(hours=24))
    progress: list[tuple[int, int]] = []
    evaluation = rolling_origin(
        {"persistence": Persistence, "fails": FailsToFit},
        data,
        origins,
        DAY,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert np.isnan(evaluation.errors["fails"]).all()
    assert evaluation.mae("persistence") == 24.0
    assert any("fails failed to fit" in r.getMessage() for r in caplog.records)
    assert progress[:3] == [(1, 3), (2, 3), (3, 3)]


def test_an_origin_near_the_end_scores_the_known_steps_and_nan_beyond() -> None:
    data = ramp(10)
    origin = pd.Timestamp("2024-01-10", tz="UTC")  # 24 h of data left, horizon 48 h
    evaluation = rolling_origin({"persistence": Persistence}, data, [origin], 48)
    assert evaluation.errors["persistence"].shape == (1, 48)
    np.testing.assert_array_equal(evaluation.errors["persistence"][0, :DAY], -24.0)
    assert np.isnan(evaluation.errors["persistence"][0, DAY:]).all()
