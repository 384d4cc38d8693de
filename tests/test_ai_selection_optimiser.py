"""AI strategy selection with the optimiser in the pool as the default arm (docs/ai-selection.md).

A few days of the shipped household at 1 h, forests of a few trees: the optimiser's windows valued
from the walk-forward's own run equal a counterfactual replay, switching needs a margin and a
confidence, and a selector that never leaves the optimiser earns exactly what the optimiser does.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from phoenyra_ems.backtest.ai_selection import WalkForward, run_ai_selection
from phoenyra_ems.backtest.ai_settings import WalkForwardSettings
from phoenyra_ems.backtest.ai_switching import (
    switch_choice,
    switching_gain,
    training_targets,
)
from phoenyra_ems.backtest.counterfactual import Labelled, WindowStart, with_pool
from phoenyra_ems.backtest.data import BacktestData, household_2024
from phoenyra_ems.backtest.forecasts import BacktestForecasts
from phoenyra_ems.backtest.replay import replay
from phoenyra_ems.backtest.runner import household_site, replay_optimiser
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.core.ai_selection import AIStrategySelector, SelectorFeatures, switching_gate

POOL = ("arbitrage", "self_consumption", "optimiser")
NOW = datetime(2024, 6, 10, tzinfo=UTC)


def features(soc: float) -> SelectorFeatures:
    return SelectorFeatures(soc, 100.0, 25.0, 0.0, 10.0, 1.0, 0.5, 12, 2, 0.0)


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return with_pool(household_site(), POOL)


@pytest.fixture(scope="module")
def days() -> BacktestData:
    return household_2024("1h", "2024-06-01", "2024-06-04")


def labelled(optimiser: float, arbitrage: float, self_consumption: float) -> Labelled:
    values = {"optimiser": optimiser, "arbitrage": arbitrage, "self_consumption": self_consumption}
    return Labelled(WindowStart(0, 50.0), features(50.0), values)


def test_another_strategy_is_a_label_only_where_it_beat_the_optimiser_by_the_margin() -> None:
    labels = [labelled(1.00, 1.01, 0.5), labelled(1.00, 1.10, 1.2), labelled(1.00, 0.2, 0.9)]
    names, weights = training_targets(labels, "optimiser", margin_eur=0.05)
    assert names == ["optimiser", "self_consumption", "optimiser"]
    assert weights == pytest.approx([0.01, 0.2, 0.1])  # what switching (or not) gained or lost


def test_the_default_arm_decides_until_trained_and_when_the_model_is_unsure() -> None:
    selector = AIStrategySelector(n_estimators=5, min_samples=10)
    assert switch_choice(selector, features(50), POOL, "optimiser", 0.6) == ("optimiser", None)
    rows = [features(s) for s in range(0, 100, 5)]
    selector.fit(rows, ["arbitrage" if f.soc_pct >= 50 else "optimiser" for f in rows], NOW)
    assert switch_choice(selector, features(90), POOL, "optimiser", 0.6)[0] == "arbitrage"
    assert switch_choice(selector, features(5), POOL, "optimiser", 0.6)[0] == "optimiser"
    # a confidence no probability reaches: never leaves the optimiser
    assert switch_choice(selector, features(90), POOL, "optimiser", 1.01)[0] == "optimiser"


def test_windows_the_optimiser_ran_are_valued_as_a_counterfactual_replay_values_them(
    site: SiteConfig, days: BacktestData
) -> None:
    settings = WalkForwardSettings(
        training_data_days=1,
        retrain_interval_days=1,
        min_samples=10,
        n_estimators=5,
        tail_h=2.0,
        switch_margin_eur=0.0,
        switch_confidence=0.0,  # switch whenever the model names another strategy
        validation_days=0.0,  # ... without first checking that switching paid
    )
    plans = BacktestForecasts(site, days, site.ems.planning_horizon_h)
    chooser = WalkForward(site, days, settings, plans)
    run = replay(site, days, None, choose=chooser, plan_inputs=plans)
    assert run.violations == 0
    ran_other = [w for w in chooser.windows if w.choice != "optimiser"]
    assert ran_other, "the model should have switched at least once"
    assert len(chooser.known) >= 12
    for index, known in list(chooser.known.items())[::6]:
        start = next(w.start for w in chooser.windows if w.start.index == index)
        assert chooser.replayer.value(start, "optimiser") == pytest.approx(known, abs=1e-9)


def test_switching_gain_counts_what_leaving_the_optimiser_won_and_lost() -> None:
    selector = AIStrategySelector(n_estimators=5, min_samples=10)
    rows = [features(s) for s in range(0, 100, 5)]
    selector.fit(rows, ["arbitrage" if f.soc_pct >= 50 else "optimiser" for f in rows], NOW)
    high = Labelled(WindowStart(0, 90.0), features(90.0), {"optimiser": 1.0, "arbitrage": 0.7})
    low = Labelled(WindowStart(1, 10.0), features(10.0), {"optimiser": 1.0, "arbitrage": 3.0})
    # at 90 % SoC it leaves the optimiser and loses 0.3; at 10 % it stays (and misses 2.0: no gain)
    assert switching_gain(selector, [high, low], "optimiser", 0.6) == pytest.approx(-0.3)
    assert switching_gain(selector, [high, low], "optimiser", 1.01) == 0.0


def test_a_selector_that_never_leaves_the_optimiser_earns_what_the_optimiser_earns(
    site: SiteConfig, days: BacktestData
) -> None:
    # trained, ready to switch at any confidence, but its switching was never validated (one day
    # of labels, fewer than min_samples before the 14-day validation span): the optimiser runs
    settings = WalkForwardSettings(
        training_data_days=1, min_samples=10, n_estimators=5, tail_h=2.0, switch_confidence=0.0
    )
    result = run_ai_selection(site, days, settings)
    alone = replay_optimiser(site, days)
    assert result.validations and result.validations_allowed == 0
    assert result.trainings == 0  # a closed gate keeps the optimiser: no model is fitted
    assert result.run.cost_eur == pytest.approx(alone.cost_eur, abs=1e-9)
    assert result.run.switches == 0
    assert result.default_arm == "optimiser"
    assert result.regret_eur == pytest.approx(result.default_regret_eur)
    assert "optimiser alone: total" in result.regret_line()


def test_the_gate_opens_only_for_a_gain_that_is_not_one_lucky_day() -> None:
    hours = 24
    lucky = [-0.02] * (13 * hours) + [0.0] * (hours - 1) + [8.0]  # 13 days lost, one hour won big
    gate = switching_gate(lucky, hours)
    assert gate.gain_eur == pytest.approx(8.0 - 0.02 * 13 * hours) and gate.gain_eur > 0
    assert gate.days == 14 and gate.lower_eur < 0 and not gate.allowed
    assert switching_gate(lucky, hours, level=0.0).allowed  # the former gate: the total alone
    steady = [0.01 if h % 6 == 0 else -0.001 for h in range(14 * hours)]  # a little, every day
    assert switching_gate(steady, hours).allowed
    assert not switching_gate(steady, hours, min_gain_eur=1.0).allowed  # ... but less than 1 EUR
    assert not switching_gate([], hours).allowed


def test_the_daemons_model_leaves_the_optimiser_only_when_its_gate_opened() -> None:
    from phoenyra_ems.selector.training import StoredSelector, TrainSummary

    selector = AIStrategySelector(n_estimators=5, min_samples=10)
    rows = [features(s) for s in range(0, 100, 5)]
    selector.fit(rows, ["arbitrage" if f.soc_pct >= 50 else "optimiser" for f in rows], NOW)

    def stored(switching: bool) -> StoredSelector:
        summary = TrainSummary("x", NOW, 20, 1.0, {}, 0.1, True, default_arm="optimiser", switching=switching)
        return StoredSelector(selector, summary, POOL, 1.0)

    opened, closed = stored(True), stored(False)
    assert opened.choose(features(90)).strategy == "arbitrage"  # confident, and switching validated
    assert opened.choose(features(5)).strategy == "optimiser"
    kept = closed.choose(features(90))
    assert kept.strategy == "optimiser" and kept.source == "ai" and "did not pay" in kept.reason


def test_the_stop_loss_closes_the_gate_once_the_switches_since_training_lost_money(
    site: SiteConfig, days: BacktestData
) -> None:
    from phoenyra_ems.backtest.ai_settings import WindowRecord

    chooser = WalkForward(site, days, WalkForwardSettings(), BacktestForecasts(site, days, 24.0))
    chooser.switching = True  # the gate opened at the last training
    won = Labelled(
        WindowStart(0, 50.0), features(50), {"optimiser": 1.0, "arbitrage": 1.3, "self_consumption": 0}
    )
    lost = Labelled(
        WindowStart(1, 50.0), features(50), {"optimiser": 1.0, "arbitrage": 0.5, "self_consumption": 0}
    )
    stayed = Labelled(
        WindowStart(2, 50.0), features(50), {"optimiser": 1.0, "arbitrage": 9, "self_consumption": 0}
    )
    chooser.windows = [
        WindowRecord(won.start, won.features, "arbitrage", 0.9),
        WindowRecord(stayed.start, stayed.features, "optimiser", 0.6),  # missed gains do not count
        WindowRecord(lost.start, lost.features, "arbitrage", 0.9),
    ]
    chooser.labels = [won, stayed]  # labelled so far (the third window's data is not past yet)
    chooser._stop_loss(0)
    assert chooser.switching and chooser.stop_losses == 0  # +0.3 EUR so far
    chooser.labels.append(lost)
    chooser._stop_loss(0)
    assert not chooser.switching and chooser.stop_losses == 1  # +0.3 − 0.5: closed until the next training


def test_the_replayer_and_its_forecasts_share_one_calendar_of_the_data(
    site: SiteConfig, days: BacktestData
) -> None:
    from phoenyra_ems.backtest.calendar import DataCalendar
    from phoenyra_ems.backtest.counterfactual import WindowReplayer

    replayer = WindowReplayer(site, days, 1, tail_steps=2)
    assert replayer.plans is not None
    assert replayer.plans.calendar is replayer.forecasts.calendar  # computed once, not three times
    own = BacktestForecasts(site, days, site.ems.planning_horizon_h)  # its own calendar: same inputs
    shared = BacktestForecasts(site, days, site.ems.planning_horizon_h, calendar=DataCalendar.of(site, days))
    for i in (0, 13, 40, len(days) - 1):
        a, b = own(i), shared(i)
        assert a.start == b.start and a.published_steps == b.published_steps
        for x, y in zip(
            (a.load_kw, a.pv_kw, a.price_eur_mwh, a.export_max_kw, a.month_index),
            (b.load_kw, b.pv_kw, b.price_eur_mwh, b.export_max_kw, b.month_index),
            strict=True,
        ):
            assert x is not None and y is not None and (x == y).all()
