"""Single forecasters as a site sees them: baselines, gradient boosting, Prophet and the pvlib PV model.

Load models run on a synthetic household load (seeded NumPy: daily shape, weekend bump, optional
temperature-driven heating, noise); the PV model runs on the real NREL PVDAQ system shipped in
``phoenyra_ems/data`` with its recorded satellite weather standing in for the weather forecast.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from phoenyra_ems.forecast import datasets
from phoenyra_ems.forecast.base import ForecastError, InsufficientHistory, future_index
from phoenyra_ems.forecast.baselines import Persistence, RecentProfile, SameWeekdayLastWeek
from phoenyra_ems.forecast.gbm import GradientBoostingForecaster
from phoenyra_ems.forecast.prophet_model import ProphetForecaster
from phoenyra_ems.forecast.pv import NOWCAST_DECAY_H, PvForecaster, weather_frame
from phoenyra_ems.forecast.weather import WeatherForecast

DAY = 24  # hourly steps per day
WEEK = 7 * DAY


@pytest.fixture(autouse=True, scope="module")
def one_openmp_thread() -> Iterator[None]:
    """HistGradientBoosting's OpenMP threads spin when the cores are busy (a 0.1 s fit took 10+ s)."""
    with threadpool_limits(1):
        yield


def synthetic_load(days: int = 60, seed: int = 0, heating_kw_per_k: float = 0.0) -> pd.DataFrame:
    """Hourly household load (kW) with a daily shape, a weekend bump and noise; ``temp_c`` beside it.

    The temperature moves with a daily random weather offset (persistent over the day, not
    predictable from the load's past), so a model only gets the heating right when it reads it.
    """
    index = pd.date_range("2024-01-01", periods=days * DAY, freq="1h", tz="UTC")
    rng = np.random.default_rng(seed)
    hour = index.hour.to_numpy()
    weekday = index.day_of_week.to_numpy()
    temp = 8.0 + np.repeat(rng.normal(0.0, 5.0, days), DAY) + 3.0 * np.sin(2 * np.pi * (hour - 9) / DAY)
    load = (
        1.0
        + 0.8 * np.clip(np.sin(2 * np.pi * (hour - 6) / DAY), 0.0, None)
        + 0.6 * np.exp(-((hour - 19) ** 2) / 4.0)
        + np.where(weekday >= 5, 0.7, 0.0)
        + heating_kw_per_k * np.maximum(15.0 - temp, 0.0)
        + rng.normal(0.0, 0.15, len(index))
    )
    return pd.DataFrame({"y": load, "temp_c": temp}, index=index)


def held_out_mae(
    model: object, data: pd.DataFrame, first_origin: int, days: int = 7, exog: tuple[str, ...] = ()
) -> float:
    """MAE of day-ahead forecasts from each midnight of ``days`` days starting at row ``first_origin``."""
    errors = []
    for day in range(days):
        origin = first_origin + day * DAY
        past, future = data.iloc[:origin], data.iloc[origin : origin + DAY]
        predicted = model.predict(past, DAY, future[list(exog)] if exog else None)  # type: ignore[attr-defined]
        errors.append(np.abs(predicted - future["y"].to_numpy()))
    return float(np.mean(errors))


def random_history(days: float, step: str = "1h", seed: int = 1) -> pd.DataFrame:
    index = pd.date_range(
        "2024-03-04", periods=int(days * pd.Timedelta("1D") / pd.Timedelta(step)), freq=step
    )
    values = np.random.default_rng(seed).uniform(0.0, 5.0, len(index))
    return pd.DataFrame({"y": values}, index=index.tz_localize("UTC"))


# --- baselines ------------------------------------------------------------------------------------


def test_persistence_repeats_the_last_day_over_a_48_step_horizon() -> None:
    history = random_history(3)
    model = Persistence()
    model.fit(history)
    predicted = model.predict(history, 48)
    last_day = history["y"].to_numpy()[-DAY:]
    assert predicted.shape == (48,)
    np.testing.assert_array_equal(predicted[:DAY], last_day)
    np.testing.assert_array_equal(predicted[DAY:], last_day)  # day two: the last observed day again


def test_persistence_at_15_min_steps_takes_the_same_quarter_hour_yesterday() -> None:
    history = random_history(2, "15min")
    model = Persistence()
    model.fit(history)
    predicted = model.predict(history, 10)
    times = future_index(history, 10)
    expected = history["y"].reindex(times - pd.Timedelta(days=1)).to_numpy()
    np.testing.assert_array_equal(predicted, expected)


def test_week_ago_takes_the_same_weekday_and_time_last_week() -> None:
    history = random_history(10)
    model = SameWeekdayLastWeek()
    model.fit(history)
    predicted = model.predict(history, 48)
    times = future_index(history, 48)
    source = times - pd.Timedelta(days=7)
    assert (source.day_of_week == times.day_of_week).all() and (source.hour == times.hour).all()
    np.testing.assert_array_equal(predicted, history["y"].reindex(source).to_numpy())


def test_a_gap_in_yesterday_falls_back_to_older_days_then_to_the_mean() -> None:
    history = random_history(3)
    y = history["y"].to_numpy().copy()
    y[-DAY + 5] = np.nan  # yesterday 05:00 missing: take the day before's 05:00
    y[-DAY + 9] = np.nan  # 09:00 missing yesterday and the day before: three days back
    y[-2 * DAY + 9] = np.nan
    for day in (1, 2, 3):  # 11:00 missing on every day: the last day's mean
        y[-day * DAY + 11] = np.nan
    history["y"] = y
    predicted = Persistence().predict(history, DAY)
    assert np.isfinite(predicted).all()
    assert predicted[5] == y[-2 * DAY + 5]
    assert predicted[9] == y[-3 * DAY + 9]
    assert predicted[11] == pytest.approx(np.nanmean(y[-DAY:]))
    assert predicted[6] == y[-DAY + 6]  # observed slots are untouched


def test_week_ago_gap_falls_back_to_two_weeks_ago() -> None:
    history = random_history(15)
    y = history["y"].to_numpy().copy()
    y[-WEEK + 3] = np.nan
    history["y"] = y
    predicted = SameWeekdayLastWeek().predict(history, DAY)
    assert predicted[3] == y[-2 * WEEK + 3]


def test_recent_profile_is_the_mean_of_the_same_hour_over_the_last_days() -> None:
    history = random_history(10).iloc[:-11]  # the origin at 13:00: the profile must keep the phase
    model = RecentProfile(3)
    model.fit(history)
    predicted = model.predict(history, 30)
    times = future_index(history, 30)
    y = history["y"]
    for k, t in enumerate(times):
        day = (k // DAY) * pd.Timedelta(days=1)  # steps past a day: the same profile again
        same_hour = [y[t - day - pd.Timedelta(days=d)] for d in (1, 2, 3)]
        assert predicted[k] == pytest.approx(np.mean(same_hour)), k


@pytest.mark.parametrize(
    ("model", "days"),
    [(Persistence(), 0.5), (SameWeekdayLastWeek(), 5), (RecentProfile(7), 2)],
    ids=["persistence", "week_ago", "profile"],
)
def test_too_little_history_raises_insufficient_history(model: object, days: float) -> None:
    with pytest.raises(InsufficientHistory):
        model.fit(random_history(days))  # type: ignore[attr-defined]


def test_an_all_missing_history_is_insufficient() -> None:
    history = random_history(3)
    history["y"] = np.nan
    with pytest.raises(InsufficientHistory):
        Persistence().fit(history)


# --- gradient boosting ----------------------------------------------------------------------------


def test_gbm_beats_persistence_on_a_held_out_week() -> None:
    data = synthetic_load(60)
    train_end = len(data) - WEEK
    gbm = GradientBoostingForecaster(country=None)
    gbm.fit(data.iloc[:train_end])
    persistence = Persistence()
    persistence.fit(data.iloc[:train_end])
    gbm_mae = held_out_mae(gbm, data, train_end)
    persistence_mae = held_out_mae(persistence, data, train_end)
    assert gbm_mae < 0.75 * persistence_mae, (gbm_mae, persistence_mae)

    predicted = gbm.predict(data.iloc[:train_end], 48)
    assert predicted.shape == (48,) and np.isfinite(predicted).all()


def test_gbm_uses_an_exogenous_temperature_that_drives_the_load() -> None:
    data = synthetic_load(60, seed=3, heating_kw_per_k=0.1)
    train_end = len(data) - WEEK
    plain = GradientBoostingForecaster(country=None)
    plain.fit(data.iloc[:train_end])
    with_temp = GradientBoostingForecaster(country=None, exog_columns=("temp_c",))
    with_temp.fit(data.iloc[:train_end])
    plain_mae = held_out_mae(plain, data, train_end)
    temp_mae = held_out_mae(with_temp, data, train_end, exog=("temp_c",))
    assert temp_mae < 0.7 * plain_mae, (temp_mae, plain_mae)
    # Without the forecast temperature the model still answers (the feature is NaN, trees cope).
    fallback = with_temp.predict(data.iloc[:train_end], DAY)
    assert np.isfinite(fallback).all()


def test_gbm_needs_two_weeks_and_a_fit_before_predicting() -> None:
    data = synthetic_load(10)
    model = GradientBoostingForecaster(country=None)
    with pytest.raises(ForecastError, match="not fitted"):
        model.predict(data, DAY)
    with pytest.raises(InsufficientHistory):
        model.fit(data)


# --- Prophet --------------------------------------------------------------------------------------


def test_prophet_fits_the_synthetic_load_and_forecasts_two_days(caplog: pytest.LogCaptureFixture) -> None:
    data = synthetic_load(40)
    train_end = len(data) - 2 * DAY
    model = ProphetForecaster(country="DE", timezone="Europe/Berlin")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        model.fit(data.iloc[:train_end])
        predicted = model.predict(data.iloc[:train_end], 48)
    # Quiet: no pandas deprecations from Prophet's calls, no ERROR about plotly, and cmdstanpy's
    # records go through the application's handlers (JSON in the daemon), not a plain-text one of its own.
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning | FutureWarning)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not logging.getLogger("prophet.plot").isEnabledFor(logging.ERROR)
    assert not logging.getLogger("cmdstanpy").handlers
    assert predicted.shape == (48,) and np.isfinite(predicted).all()
    # It learned the daily and weekly shape: better than persistence over those two days.
    truth = data["y"].to_numpy()[train_end : train_end + 48]
    persisted = Persistence().predict(data.iloc[:train_end], 48)
    assert np.mean(np.abs(predicted - truth)) < np.mean(np.abs(persisted - truth))


def test_prophet_refuses_short_history_and_predicting_unfitted() -> None:
    model = ProphetForecaster(country=None)
    with pytest.raises(ForecastError, match="not fitted"):
        model.predict(synthetic_load(5), DAY)
    with pytest.raises(InsufficientHistory):
        model.fit(synthetic_load(5))


# --- PV (pvlib) on the measured NREL system -------------------------------------------------------

# Origins at local midnight in Golden (MST = UTC-7), a week in June 2012.
PV_FIRST_ORIGIN = pd.Timestamp("2012-06-01 07:00", tz="UTC")
WEATHER = ["ghi_w_m2", "temp_air_c"]


def pv_model(peak_kw: float | None = None, nowcast_decay_h: float = 0.0) -> PvForecaster:
    return datasets.nrel_pv_forecaster(peak_kw, nowcast_decay_h)


@pytest.fixture(scope="module")
def pv_data() -> pd.DataFrame:
    return datasets.nrel_pv()


def pv_past(data: pd.DataFrame, origin: pd.Timestamp, days: float = 30) -> pd.DataFrame:
    return data[(data.index < origin) & (data.index >= origin - pd.Timedelta(days=days))]


def test_pv_with_recorded_weather_is_zero_at_night_and_beats_persistence(pv_data: pd.DataFrame) -> None:
    model = pv_model()
    model.fit(pv_past(pv_data, PV_FIRST_ORIGIN))
    assert 0.2 < model.scale < 1.2  # a plausible measured/modelled ratio of a 6 kW system
    pv_errors, persistence_errors = [], []
    for day in range(7):
        origin = PV_FIRST_ORIGIN + pd.Timedelta(days=day)
        past = pv_past(pv_data, origin)
        future = pv_data[(pv_data.index >= origin) & (pv_data.index < origin + pd.Timedelta(hours=DAY))]
        predicted = model.predict(past, DAY, future[WEATHER])
        assert model.last_source == "weather"
        assert (predicted >= 0).all()
        night = (future.index.hour >= 4) & (future.index.hour <= 10)  # 21:00-03:59 MST
        np.testing.assert_array_equal(predicted[night], 0.0)
        daytime = future["ghi_clearsky_w_m2"].to_numpy() > 0
        truth = future["y"].to_numpy()
        persisted = Persistence().predict(past, DAY)
        pv_errors.append(np.abs(predicted - truth)[daytime])
        persistence_errors.append(np.abs(persisted - truth)[daytime])
    pv_mae = float(np.nanmean(np.concatenate(pv_errors)))
    persistence_mae = float(np.nanmean(np.concatenate(persistence_errors)))
    assert pv_mae < 0.7 * persistence_mae, (pv_mae, persistence_mae)


def test_pv_learns_the_ratio_so_a_wrong_peak_power_corrects_itself(pv_data: pd.DataFrame) -> None:
    past = pv_past(pv_data, PV_FIRST_ORIGIN)
    future = pv_data[pv_data.index >= PV_FIRST_ORIGIN].iloc[:DAY]
    right, doubled = pv_model(), pv_model(peak_kw=12.0)
    right.fit(past)
    doubled.fit(past)
    assert doubled.scale == pytest.approx(right.scale / 2, rel=1e-9)
    np.testing.assert_allclose(
        doubled.predict(past, DAY, future[WEATHER]), right.predict(past, DAY, future[WEATHER]), atol=1e-9
    )


def test_pv_without_weather_falls_back_to_clear_sky_times_recent_ratio(
    pv_data: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    past = pv_past(pv_data, PV_FIRST_ORIGIN)
    model = pv_model()
    model.fit(past)
    caplog.set_level(logging.WARNING, logger="phoenyra_ems.forecast")
    predicted = model.predict(past, DAY)
    assert model.last_source == "clear-sky fallback"
    warnings = [
        r for r in caplog.records if r.name == "phoenyra_ems.forecast" and r.levelno == logging.WARNING
    ]
    assert warnings and "no weather forecast" in warnings[0].getMessage()
    assert predicted.shape == (DAY,) and (predicted >= 0).all()
    assert predicted.max() > 0.5  # a June day: clear sky gives power at noon
    night = (future_index(past, DAY).hour >= 4) & (future_index(past, DAY).hour <= 10)  # 21-04 MST
    np.testing.assert_array_equal(predicted[night], 0.0)
    # The ratio comes from the recent past: half the measured power, half the forecast.
    halved = past.assign(y=past["y"] / 2)
    np.testing.assert_allclose(model.predict(halved, DAY), predicted / 2, rtol=1e-9, atol=1e-12)
    # An exog frame without any irradiance or cloud information is no weather either.
    model.predict(past, DAY, pd.DataFrame({"temp_air_c": 20.0}, index=future_index(past, DAY)))
    assert model.last_source == "clear-sky fallback"


def test_pv_without_weather_follows_a_cloud_that_came_in_the_last_hour(pv_data: pd.DataFrame) -> None:
    """Clear-sky-index persistence: a dark last hour after sunny days darkens the next hours, not
    tomorrow (with only the three-day ratio the next hour would stay as bright as before)."""
    origin = PV_FIRST_ORIGIN + pd.Timedelta(hours=12)  # 13:00 MDT, the sun high
    past = pv_past(pv_data, origin)
    model = pv_model(nowcast_decay_h=NOWCAST_DECAY_H)
    model.fit(past)
    sunny = model.predict(past, DAY + 1)
    clouded = past.copy()
    clouded.iloc[-1, clouded.columns.get_loc("y")] *= 0.2  # a cloud over the last hour
    cloudy = model.predict(clouded, DAY + 1)
    assert sunny[0] > 1.0  # the sunny forecast for 13:00-14:00 gives power
    assert cloudy[0] < 0.5 * sunny[0]  # the next hour follows the cloud
    assert cloudy[DAY] == pytest.approx(sunny[DAY], rel=0.05)  # tomorrow's 13:00 barely moves
    # At night (no clear-sky power in the last hour) only the last days' ratio counts.
    night = pv_past(pv_data, PV_FIRST_ORIGIN)
    darkened = night.copy()
    darkened.iloc[-1, darkened.columns.get_loc("y")] = 0.0
    np.testing.assert_allclose(model.predict(darkened, DAY), model.predict(night, DAY), rtol=1e-9)
    # Off (the default): the cloudy last hour moves the next hour only through the 3-day ratio.
    default = pv_model()
    default.fit(past)
    assert default.predict(clouded, 1)[0] > 0.9 * default.predict(past, 1)[0]


def test_pv_full_cloud_cover_gives_less_power_than_clear(pv_data: pd.DataFrame) -> None:
    past = pv_past(pv_data, PV_FIRST_ORIGIN)
    model = pv_model()
    model.fit(past)
    times = future_index(past, DAY)
    clear = model.predict(past, DAY, pd.DataFrame({"cloud_cover_pct": 0.0, "temp_air_c": 20.0}, index=times))
    assert model.last_source == "weather"
    overcast = model.predict(
        past, DAY, pd.DataFrame({"cloud_cover_pct": 100.0, "temp_air_c": 20.0}, index=times)
    )
    assert overcast.sum() < 0.6 * clear.sum()
    assert overcast.sum() > 0  # diffuse light still produces something


def test_weather_frame_turns_a_weather_forecast_into_exog(pv_data: pd.DataFrame) -> None:
    start = datetime(2012, 6, 1, 7, tzinfo=UTC)
    times = tuple(start + timedelta(hours=h) for h in range(DAY))
    forecast = WeatherForecast(
        source="openweathermap",
        times=times,
        ghi_w_m2=(None,) * DAY,  # OpenWeatherMap has no irradiance: cloud cover must be used
        cloud_cover_pct=tuple(None if h == 3 else 20.0 for h in range(DAY)),
        temp_air_c=tuple(15.0 + h / 4 for h in range(DAY)),
        fetched_at=start,
    )
    frame = weather_frame(forecast)
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"
    assert list(frame.index) == [pd.Timestamp(t) for t in times]
    assert set(frame.columns) == {"ghi_w_m2", "cloud_cover_pct", "temp_air_c"}
    assert frame["ghi_w_m2"].isna().all()
    assert np.isnan(frame["cloud_cover_pct"].iloc[3]) and frame["cloud_cover_pct"].iloc[4] == 20.0
    assert frame["temp_air_c"].iloc[8] == 17.0

    past = pv_past(pv_data, pd.Timestamp(start))
    model = pv_model()
    model.fit(past)
    predicted = model.predict(past, DAY, frame)
    assert model.last_source == "weather"
    assert np.isfinite(predicted).all() and predicted.max() > 0.5


def test_pv_weather_shorter_than_the_horizon_does_not_zero_the_rest(pv_data: pd.DataFrame) -> None:
    past = pv_past(pv_data, PV_FIRST_ORIGIN)
    model = pv_model()
    model.fit(past)
    weather = pv_data[pv_data.index >= PV_FIRST_ORIGIN].iloc[:DAY][WEATHER]  # 24 h of a 48 h horizon
    predicted = model.predict(past, 2 * DAY, weather)
    # Second day, 10:00-14:00 MST: broad daylight in June.
    assert predicted[DAY + 10 : DAY + 15].min() > 0.3


def test_pv_rejects_a_non_positive_peak_power() -> None:
    with pytest.raises(ValueError, match="peak_kw"):
        pv_model(peak_kw=0.0)
