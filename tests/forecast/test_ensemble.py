"""The ensemble: weights learned per horizon bucket, members that fail to fit or predict drop out."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from phoenyra_ems.forecast.base import ForecastError, InsufficientHistory, future_index
from phoenyra_ems.forecast.baselines import Persistence, RecentProfile, SameWeekdayLastWeek
from phoenyra_ems.forecast.calendar_features import day_kinds
from phoenyra_ems.forecast.ensemble import Ensemble
from phoenyra_ems.forecast.gbm import GradientBoostingForecaster
from phoenyra_ems.forecast.prophet_model import ProphetForecaster

DAY = 24
WEEK = 7 * DAY
LOGGER_NAME = "phoenyra_ems.forecast"


@pytest.fixture(autouse=True, scope="module")
def one_openmp_thread() -> Iterator[None]:
    """HistGradientBoosting's OpenMP threads spin when the cores are busy (a 0.1 s fit took 10+ s)."""
    with threadpool_limits(1):
        yield


def synthetic_load(days: int, seed: int = 0) -> pd.DataFrame:
    """Hourly load (kW): daily shape, weekend bump, noise."""
    index = pd.date_range("2024-01-01", periods=days * DAY, freq="1h", tz="UTC")
    rng = np.random.default_rng(seed)
    hour = index.hour.to_numpy()
    load = (
        1.0
        + 0.8 * np.clip(np.sin(2 * np.pi * (hour - 6) / DAY), 0.0, None)
        + 0.6 * np.exp(-((hour - 19) ** 2) / 4.0)
        + np.where(index.day_of_week.to_numpy() >= 5, 0.7, 0.0)
        + rng.normal(0.0, 0.15, len(index))
    )
    return pd.DataFrame({"y": load}, index=index)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME and r.levelno == logging.WARNING]


def bucket_of_step(steps: int, buckets: int = 4, horizon: int = 2 * DAY) -> np.ndarray:
    return np.minimum(np.arange(steps) * buckets // horizon, buckets - 1)


class BrokenFit:
    """A member whose solver always fails."""

    name = "broken"
    min_history_days = 1.0

    def fit(self, history: pd.DataFrame) -> None:
        raise RuntimeError("solver exploded")

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        raise AssertionError("never fitted, must never be asked")


class FlakyWeekAgo(SameWeekdayLastWeek):
    """Week-ago that works while the ensemble learns, then fails (a service behind it went down)."""

    def __init__(self) -> None:
        self.down = False

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        if self.down:
            raise RuntimeError("backend down")
        return super().predict(history, steps, exog)


class Oracle:
    """Knows the future exactly (so the ensemble gives it all the weight), until it goes down."""

    name = "oracle"
    min_history_days = 1.0

    def __init__(self, data: pd.DataFrame) -> None:
        self.data = data
        self.down = False

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        if self.down:
            raise RuntimeError("backend down")
        return self.data["y"].reindex(future_index(history, steps)).to_numpy()


@pytest.fixture(scope="module")
def learned() -> tuple[Ensemble, pd.DataFrame, int]:
    """Persistence, 7-day profile and GBM on 56 days: 42 to learn, 14 held back; then a test week."""
    data = synthetic_load(63)
    train_end = len(data) - WEEK
    ensemble = Ensemble(
        [Persistence(), RecentProfile(7), GradientBoostingForecaster(country=None, max_iter=120)],
        validation_days=14,
    )
    ensemble.fit(data.iloc[:train_end])
    return ensemble, data, train_end


def test_learned_weights_sum_to_one_per_bucket_and_favour_the_best_member(
    learned: tuple[Ensemble, pd.DataFrame, int],
) -> None:
    ensemble, _, _ = learned
    weights = ensemble.member_weights()
    assert set(weights) == {"persistence", "profile_7d", "gbm"}
    table = np.array(list(weights.values()))
    assert table.shape == (3, ensemble.horizon_buckets)
    assert (table >= 0).all()
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=0.01)  # rounded to 3 decimals
    # Not equal shares: the gradient boosting model, far better on this data, carries most weight.
    assert (np.array(weights["gbm"]) > 0.5).all(), weights


def test_ensemble_is_no_worse_than_its_worst_member_on_a_held_out_week(
    learned: tuple[Ensemble, pd.DataFrame, int],
) -> None:
    ensemble, data, train_end = learned
    errors: dict[str, list[np.ndarray]] = {m.name: [] for m in [ensemble, *ensemble.active]}
    for day in range(7):
        origin = train_end + day * DAY
        past, truth = data.iloc[:origin], data["y"].to_numpy()[origin : origin + DAY]
        for model in [ensemble, *ensemble.active]:
            predicted = model.predict(past, DAY)
            assert predicted.shape == (DAY,) and np.isfinite(predicted).all()
            errors[model.name].append(np.abs(predicted - truth))
    mae = {name: float(np.mean(e)) for name, e in errors.items()}
    members = [mae[m.name] for m in ensemble.active]
    assert mae["ensemble"] <= max(members), mae
    assert mae["ensemble"] < mae["persistence"], mae


def test_a_member_that_fails_to_fit_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    data = synthetic_load(20)
    ensemble = Ensemble([Persistence(), RecentProfile(7), BrokenFit()], validation_days=7)
    ensemble.fit(data)
    assert [m.name for m in ensemble.active] == ["persistence", "profile_7d"]
    assert "broken" not in ensemble.member_weights()
    assert any("broken" in w and "solver exploded" in w for w in warnings_of(caplog))
    predicted = ensemble.predict(data, 48)
    assert predicted.shape == (48,) and np.isfinite(predicted).all()


def test_a_member_that_fails_to_predict_is_skipped_and_the_others_renormalised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = synthetic_load(28)
    flaky = FlakyWeekAgo()
    # Weights fitted once on the validation window (not the recent-error default, which can give the
    # week-ago member all the weight on this weekly data and leave nothing to renormalise).
    ensemble = Ensemble([Persistence(), RecentProfile(7), flaky], validation_days=14, weighting="lad")
    ensemble.fit(data)
    weights = ensemble.weights
    assert weights["week_ago"].max() > 0  # it counted while it worked

    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    flaky.down = True
    predicted = ensemble.predict(data, 48)
    assert predicted.shape == (48,) and np.isfinite(predicted).all()
    assert any("week_ago" in w and "backend down" in w for w in warnings_of(caplog))

    bucket = bucket_of_step(48)
    w_p, w_r = weights["persistence"][bucket], weights["profile_7d"][bucket]
    covered = (w_p + w_r) > 0
    assert covered.sum() >= 24
    p = Persistence().predict(data, 48)
    r = RecentProfile(7).predict(data, 48)
    expected = (w_p * p + w_r * r)[covered] / (w_p + w_r)[covered]
    np.testing.assert_allclose(predicted[covered], expected, rtol=1e-12)


def test_the_ensemble_answers_when_its_only_weighted_member_fails() -> None:
    data = synthetic_load(30)
    oracle = Oracle(data)
    history = data.iloc[: -2 * DAY]
    ensemble = Ensemble([Persistence(), RecentProfile(7), oracle], validation_days=14)
    ensemble.fit(history)
    assert ensemble.member_weights()["oracle"] == [1.0] * 4  # perfect: LAD gives it everything
    oracle.down = True
    predicted = ensemble.predict(history, 48)  # persistence and the profile are fitted and well
    assert np.isfinite(predicted).all()


def test_short_history_drops_the_two_week_members_and_falls_back_to_equal_baselines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    data = synthetic_load(5)
    ensemble = Ensemble(
        [Persistence(), RecentProfile(7), GradientBoostingForecaster(country=None), ProphetForecaster()]
    )
    ensemble.fit(data)
    assert [m.name for m in ensemble.active] == ["persistence", "profile_7d"]
    messages = warnings_of(caplog)
    assert any("equal weights" in w for w in messages), messages
    for member in ("gbm", "prophet"):
        assert any(member in w and "14" in w for w in messages), (member, messages)
    weights = ensemble.member_weights()
    assert weights == {"persistence": [1.0] * 4, "profile_7d": [1.0] * 4}

    predicted = ensemble.predict(data, 48)
    expected = (Persistence().predict(data, 48) + RecentProfile(7).predict(data, 48)) / 2
    np.testing.assert_allclose(predicted, expected, rtol=1e-12)


def test_an_ensemble_without_any_fitting_member_refuses() -> None:
    data = synthetic_load(3)
    ensemble = Ensemble([GradientBoostingForecaster(country=None), BrokenFit()])
    with pytest.raises(InsufficientHistory):
        ensemble.fit(data)
    with pytest.raises(ForecastError, match="not fitted"):
        ensemble.predict(data, DAY)


@pytest.mark.parametrize("weighting", ["nnls", "lad", "inverse_mae"])
def test_every_weighting_gives_shares_that_sum_to_one(weighting: str) -> None:
    data = synthetic_load(24)
    ensemble = Ensemble(
        [Persistence(), RecentProfile(7), SameWeekdayLastWeek()], validation_days=10, weighting=weighting
    )
    ensemble.fit(data)
    table = np.array([ensemble.weights[name] for name in ("persistence", "profile_7d", "week_ago")])
    assert (table >= 0).all()
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-9)
    # The weekend bump makes last week's same day the best single guess: it never gets the least weight.
    assert (table[2] > table.min(axis=0)).all(), table
    assert np.isfinite(ensemble.predict(data, 48)).all()


def test_unknown_weighting_is_rejected() -> None:
    with pytest.raises(ValueError, match="weighting"):
        Ensemble([Persistence()], weighting="median")


class NoisyOracle:
    """The truth plus noise whose size switches at ``switch`` (good before, bad after, or the reverse)."""

    min_history_days = 1.0

    def __init__(self, name: str, data: pd.DataFrame, switch: pd.Timestamp, before: float, after: float):
        self.name, self.data, self.switch = name, data, switch
        self.before, self.after = before, after

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        times = future_index(history, steps)
        rng = np.random.default_rng(len(history))
        size = np.where(times < self.switch, self.before, self.after)
        return np.asarray(self.data["y"].reindex(times).to_numpy() + rng.normal(0.0, 1.0, steps) * size)


def test_recent_weights_follow_a_regime_change_between_refits() -> None:
    """A member that was best loses its weight within days when it degrades, without a refit; the
    member that has no skill against persistence recently gets none."""
    data = synthetic_load(70)
    fitted_until = len(data) - 3 * WEEK
    switch = data.index[fitted_until + DAY]
    members = [
        Persistence(),
        NoisyOracle("was_good", data, switch, before=0.02, after=0.6),
        NoisyOracle("got_good", data, switch, before=0.6, after=0.05),
        NoisyOracle("never_good", data, switch, before=5.0, after=5.0),
    ]
    ensemble = Ensemble(members, validation_days=14, recent_days=7)
    ensemble.fit(data.iloc[:fitted_until])
    before = ensemble.member_weights()
    assert min(before["was_good"]) > 0.9 and max(before["never_good"]) == 0.0
    for day in range(1, 15):  # a forecast each day, no refit
        ensemble.predict(data.iloc[: fitted_until + day * DAY], 2 * DAY)
    after = ensemble.member_weights()
    assert min(after["got_good"]) > 0.9, after
    assert max(after["never_good"]) == 0.0 and max(after["persistence"]) == 0.0
    # And its forecast follows: close to the member that is good now.
    past = data.iloc[: fitted_until + 15 * DAY]
    truth = data["y"].to_numpy()[len(past) : len(past) + 2 * DAY]
    error = np.mean(np.abs(ensemble.predict(past, 2 * DAY) - truth))
    assert error < 0.15


def test_when_the_only_weighted_member_fails_the_others_answer_with_equal_weights() -> None:
    data = synthetic_load(28)
    flaky = FlakyWeekAgo()
    ensemble = Ensemble([Persistence(), RecentProfile(7), flaky], validation_days=14)
    ensemble.fit(data)
    flaky.down = True
    predicted = ensemble.predict(data, 48)
    weighted = {n for n, w in ensemble.weights.items() if w.any()}
    others = np.vstack([Persistence().predict(data, 48), RecentProfile(7).predict(data, 48)])
    if weighted == {"week_ago"}:
        np.testing.assert_allclose(predicted, others.mean(axis=0), rtol=1e-12)
    else:  # some weight on the others: a weighted mix of their answers, never the failed member's
        assert np.isfinite(predicted).all()
        assert (predicted >= others.min(axis=0) - 1e-9).all()
        assert (predicted <= others.max(axis=0) + 1e-9).all()


class Ageing:
    """Good right after a fit, worse by ``per_day`` (noise std, kW) for every day since: a model that
    learns the recent regime (gradient boosting in the autumn)."""

    name = "ageing"
    min_history_days = 1.0

    def __init__(self, data: pd.DataFrame, per_day: float) -> None:
        self.data, self.per_day = data, per_day
        self.fitted_until: pd.Timestamp | None = None

    def fit(self, history: pd.DataFrame) -> None:
        self.fitted_until = history.index[-1]

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        assert self.fitted_until is not None
        times = future_index(history, steps)
        age = (times[0] - self.fitted_until) / pd.Timedelta(days=1)
        rng = np.random.default_rng(len(history))
        truth = self.data["y"].reindex(times).to_numpy()
        return np.asarray(truth + rng.normal(0.0, self.per_day * age, steps))


@pytest.mark.parametrize("refit_days, favoured", [(7, "ageing"), (None, "steady")])
def test_validation_refits_members_as_live_so_a_fresh_model_is_not_judged_stale(
    refit_days: int | None, favoured: str
) -> None:
    """Refitted weekly inside the held-back days (as the evaluation and the daemon refit), a model
    that is good when fresh keeps the weight; judged by forecasts 3 weeks after its fit it loses it."""
    data = synthetic_load(49)
    steady = NoisyOracle("steady", data, data.index[-1], before=0.3, after=0.3)
    ensemble = Ensemble(
        [steady, Ageing(data, 0.04)], validation_days=21, recent_days=21, validation_refit_days=refit_days
    )
    ensemble.fit(data)
    weights = ensemble.member_weights()
    assert min(weights[favoured]) > 0.5, weights


@pytest.mark.parametrize("collapse_ratio, drops_it", [(2.0, True), (None, False)])
def test_a_member_that_collapses_loses_its_weight_after_one_observed_day(
    collapse_ratio: float | None, drops_it: bool
) -> None:
    """A member with an excellent month that suddenly forecasts nonsense (gradient boosting fed lags
    below anything it was trained on: the heat-pump house in June) gets no weight once one day of its
    failure is observed; by its 28-day record alone it would keep the weight for days."""
    data = synthetic_load(70)
    fitted_until = len(data) - 3 * WEEK
    switch = data.index[fitted_until + 2 * DAY]
    members = [
        Persistence(),
        NoisyOracle("collapses", data, switch, before=0.02, after=3.0),
        NoisyOracle("steady", data, switch, before=0.3, after=0.3),
    ]
    ensemble = Ensemble(  # the flat 28-day record (the decay alone drops it a day later too)
        members, validation_days=21, recent_days=28, collapse_ratio=collapse_ratio, halflife_days=None
    )
    ensemble.fit(data.iloc[:fitted_until])
    assert min(ensemble.member_weights()["collapses"]) > 0.9
    for day in range(1, 4):  # a forecast each day: the collapse starts on day 2, day 3 sees it
        past = data.iloc[: fitted_until + day * DAY]
        predicted = ensemble.predict(past, 2 * DAY)
    weights = ensemble.member_weights()
    truth = data["y"].to_numpy()[len(past) : len(past) + 2 * DAY]
    error = float(np.mean(np.abs(predicted - truth)))
    if drops_it:
        assert max(weights["collapses"]) == 0.0 and min(weights["steady"]) == 1.0, weights
        assert error < 0.4
    else:
        assert max(weights["collapses"]) > 0.5, weights
        assert error > 1.0


class LuckyDay(NoisyOracle):
    """Poor (noise ``after``) except for one day from ``switch`` on, when it is almost exact (``before``):
    a baseline on a plant's off-day."""

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        times = future_index(history, steps)
        rng = np.random.default_rng(len(history) + 1)
        lucky = (times >= self.switch) & (times < self.switch + pd.Timedelta(days=1))
        size = np.where(lucky, self.before, self.after)
        return np.asarray(self.data["y"].reindex(times).to_numpy() + rng.normal(0.0, 1.0, steps) * size)


def test_one_members_lucky_day_does_not_take_the_weight_from_the_best_record() -> None:
    """One member far better than all the others for a day is a lucky day, not a collapse of the
    others: the member with the best record keeps the weight (before, every member more than twice
    as far off as the lucky one lost it, and the lucky one forecast the next day alone)."""
    data = synthetic_load(70)
    fitted_until = len(data) - 3 * WEEK
    lucky_day = data.index[fitted_until + DAY]
    members = [
        NoisyOracle("good", data, lucky_day, before=0.3, after=0.3),
        LuckyDay("lucky", data, lucky_day, before=0.02, after=1.0),
        NoisyOracle("poor", data, lucky_day, before=1.0, after=1.0),
    ]
    ensemble = Ensemble(members, validation_days=21, recent_days=28)
    ensemble.fit(data.iloc[:fitted_until])
    for day in range(1, 3):  # the lucky day is the first day of the forecast from day 1
        past = data.iloc[: fitted_until + day * DAY]
        predicted = ensemble.predict(past, 2 * DAY)
    weights = ensemble.member_weights()
    truth = data["y"].to_numpy()[len(past) : len(past) + 2 * DAY]
    assert min(weights["good"]) == 1.0, weights
    assert float(np.mean(np.abs(predicted - truth))) < 0.4


@pytest.mark.parametrize("halflife_days, favoured", [(5.0, "steady"), (None, "faded")])
def test_recent_days_count_more_than_the_month_before(halflife_days: float | None, favoured: str) -> None:
    """A member excellent for weeks and poor for the last four days loses the weight to a steady one
    when the error decays with a half-life of 5 days; by the flat 3-week mean it would keep it."""
    data = synthetic_load(70)
    fitted_until = len(data) - 3 * WEEK
    switch = data.index[fitted_until + 17 * DAY]
    members = [
        NoisyOracle("faded", data, switch, before=0.1, after=1.0),
        NoisyOracle("steady", data, switch, before=0.35, after=0.35),
    ]
    ensemble = Ensemble(
        members, validation_days=21, recent_days=28, collapse_ratio=None, halflife_days=halflife_days
    )
    ensemble.fit(data.iloc[:fitted_until])
    past = data.iloc[: fitted_until + 21 * DAY]
    ensemble.predict(past, 2 * DAY)
    weights = ensemble.member_weights()
    assert min(weights[favoured]) == 1.0, weights


def test_a_model_pickled_before_the_half_life_and_the_day_kinds_existed_still_predicts() -> None:
    """The daemon stores fitted models with pickle; one written by an older version lacks the
    attributes and takes the class defaults — the half-life, and day-blind weights (no site
    calendar): a restart after an upgrade must not fail to predict."""
    data = synthetic_load(40)
    ensemble = Ensemble([Persistence(), RecentProfile(7)], validation_days=14, timezone="Europe/Berlin")
    ensemble.fit(data.iloc[: -2 * DAY])
    for attribute in ("halflife_days", "timezone", "country", "_kind_weights"):
        del ensemble.__dict__[attribute]
    restored = pickle.loads(pickle.dumps(ensemble))
    assert restored.halflife_days == 5.0 and restored.timezone is None
    assert np.isfinite(restored.predict(data.iloc[:-DAY], 2 * DAY)).all()


def test_a_public_holiday_is_a_day_of_the_kind_of_a_sunday() -> None:
    """The day kinds the ensemble scores its members by: the local weekday, a public holiday of the
    site's country counting as a Sunday (Christmas Day 2024 was a Wednesday)."""
    local = pd.DatetimeIndex(["2024-12-24 23:30", "2024-12-25 12:00", "2024-12-27 00:00"]).tz_localize(
        "Europe/Berlin"
    )
    assert day_kinds(local.tz_convert("UTC"), "Europe/Berlin", "DE").tolist() == [1, 6, 4]
    assert day_kinds(local.tz_convert("UTC"), "Europe/Berlin", None).tolist() == [1, 2, 4]


def plant_with_special_wednesdays(days: int) -> pd.DataFrame:
    """Hourly load (kW) of a plant that runs every day at one level, on Wednesdays at a far higher
    one (another process), its load growing by 0.2 kW a day: repeating yesterday is right six days
    a week (0.2 kW off) and far off on Wednesdays and Thursdays; last week's day is 1.4 kW off."""
    local = pd.date_range("2024-01-08", periods=days * DAY, freq="1h", tz="Europe/Berlin")  # a Monday
    day = np.arange(len(local)) // DAY
    wednesday = np.asarray(local.day_of_week == 2)
    load = 1.0 + 0.2 * day + np.where(wednesday, 3.0, 0.0)
    return pd.DataFrame({"y": load}, index=local.tz_convert("UTC"))


class Biased:
    """The actual load plus ``bias``: a member that is always off by the same amount."""

    min_history_days = 1.0

    def __init__(self, data: pd.DataFrame, bias: float) -> None:
        self.name, self.data, self.bias = "biased", data, bias

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def predict(self, history: pd.DataFrame, steps: int, exog: pd.DataFrame | None = None) -> np.ndarray:
        return np.asarray(self.data["y"].reindex(future_index(history, steps)).to_numpy() + self.bias)


@pytest.mark.parametrize("calendar, follows", [(True, "week_ago"), (False, "persistence")])
def test_a_member_that_fails_on_every_day_of_a_kind_gets_no_weight_there(
    calendar: bool, follows: str
) -> None:
    """Persistence has the best record over all days, but it fails on every Wednesday (it repeats
    Tuesday): on a Wednesday the ensemble follows the member that is right on Wednesdays, and keeps
    persistence on the other days. Day-blind (no site calendar) it repeats Tuesday on Wednesday too."""
    data = plant_with_special_wednesdays(63)
    ensemble = Ensemble(
        [Persistence(), SameWeekdayLastWeek(), Biased(data, 2.5)],
        validation_days=21,
        timezone="Europe/Berlin" if calendar else None,
        country="DE" if calendar else None,
    )
    cut = len(data) - 6 * DAY  # forecast from a Tuesday 00:00 (Berlin): Tuesday, then Wednesday
    past = data.iloc[:cut]
    assert past.index[-1].tz_convert("Europe/Berlin").day_of_week == 0
    ensemble.fit(past)
    predicted = ensemble.predict(past, 2 * DAY)
    truth = data["y"].to_numpy()[cut : cut + 2 * DAY]
    members = {m.name: m.predict(past, 2 * DAY) for m in ensemble.active}
    tuesday, wednesday = slice(0, DAY), slice(DAY, 2 * DAY)
    np.testing.assert_allclose(predicted[tuesday], members["persistence"][tuesday])
    np.testing.assert_allclose(predicted[wednesday], members[follows][wednesday])
    error = float(np.mean(np.abs(predicted[wednesday] - truth[wednesday])))
    assert error < 2.0 if calendar else error > 2.5
    # What the API and the console show: the weights this forecast used (Wednesday: hours 24-48)
    shown = ensemble.member_weights()
    assert shown["persistence"][0] == pytest.approx(1.0)  # Tuesday
    assert shown["persistence"][2] == (0.0 if calendar else pytest.approx(1.0))
