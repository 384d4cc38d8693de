"""The planner's present: the measured step replaces the forecast's first, and its departure from
the forecast fades over the next steps (load as a difference, PV as a ratio that keeps night dark)."""

from __future__ import annotations

import numpy as np
import pytest

from phoenyra_ems.core.optimiser.forecast import with_present


def test_more_load_now_than_forecast_raises_the_next_steps_and_fades() -> None:
    forecast = np.full(12, 1.0)
    planned = with_present(forecast, 3.0, 900.0, 0.5)
    assert planned[0] == 3.0
    assert planned[1] == pytest.approx(1.0 + 2.0 * np.exp(-0.5))  # 15 min on: 61 % of the +2 kW
    assert np.all(np.diff(planned[1:]) < 0) and planned[-1] == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(forecast, np.full(12, 1.0))  # the caller's forecast is untouched


def test_less_load_than_forecast_never_plans_negative_load() -> None:
    planned = with_present(np.array([5.0, 0.5, 0.5, 5.0]), 0.0, 900.0, 2.0)
    assert planned[0] == 0.0 and np.all(planned >= 0.0) and planned[1] == 0.0


def test_no_decay_replaces_only_the_present() -> None:
    forecast = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(with_present(forecast, 9.0, 900.0, 0.0), [9.0, 2.0, 3.0])


def test_a_cloud_now_darkens_the_next_steps_but_night_stays_dark() -> None:
    pv = np.array([4.0, 4.0, 4.0, 2.0, 0.0, 0.0])  # afternoon into night, 1-h steps
    planned = with_present(pv, 1.0, 3600.0, 0.5, relative=True)  # a quarter of the forecast now
    assert planned[0] == 1.0
    assert planned[1] == pytest.approx(4.0 * (1 + np.exp(-2.0) * (0.25 - 1)))
    assert planned[1] < 4.0 and planned[2] > planned[1]
    np.testing.assert_array_equal(planned[4:], 0.0)


def test_pv_at_dawn_carries_nothing() -> None:
    pv = np.array([0.01, 1.0, 3.0, 5.0])  # the present's forecast is below 2 % of the day's
    planned = with_present(pv, 0.5, 900.0, 0.5, relative=True)  # 50x the forecast: noise at dawn
    np.testing.assert_array_equal(planned, [0.5, 1.0, 3.0, 5.0])
