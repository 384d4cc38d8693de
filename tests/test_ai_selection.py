"""AI strategy selection: the fallback to scores, counterfactual labels, no look-ahead, the model file, A/B.

Small data only: a few days of the shipped household at 1 h and forests of a few trees.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from phoenyra_ems.backtest.ai_selection import run_ai_selection
from phoenyra_ems.backtest.ai_settings import WalkForwardSettings
from phoenyra_ems.backtest.counterfactual import WindowReplayer, WindowStart, with_pool
from phoenyra_ems.backtest.data import BacktestData, household_2024
from phoenyra_ems.backtest.runner import household_site
from phoenyra_ems.config.model import AISelectionConfig, SiteConfig, StrategySelectionConfig
from phoenyra_ems.core.ai_selection import (
    AIStrategySelector,
    SelectorFeatures,
    ab_arm,
    bootstrap_difference,
)
from phoenyra_ems.selector.store import SelectorFileError, load, save, selector_path
from phoenyra_ems.selector.training import train_site_selector

POOL = ("arbitrage", "peak_shaving", "self_consumption", "load_balancing")
NOW = datetime(2024, 6, 10, tzinfo=UTC)


def features(soc: float, hour: int = 12, score: float = 0.0) -> SelectorFeatures:
    return SelectorFeatures(soc, 100.0, 25.0, 0.0, 10.0, 1.0, 0.5, hour, 2, score)


@pytest.fixture(scope="module")
def site() -> SiteConfig:
    return with_pool(household_site(), POOL)


@pytest.fixture(scope="module")
def days() -> BacktestData:
    return household_2024("1h", "2024-06-01", "2024-06-07")


def test_untrained_selector_leaves_the_choice_to_the_scores() -> None:
    choice = AIStrategySelector(n_estimators=3).choose(features(50))
    assert choice.strategy is None and choice.source == "score"


def test_too_few_samples_keep_the_score_selection_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    selector = AIStrategySelector(n_estimators=3, min_samples=100)
    with caplog.at_level(logging.INFO, logger="phoenyra_ems.core.ai_selection"):
        assert not selector.fit([features(s) for s in range(20)], ["arbitrage"] * 20, NOW)
    assert "20 samples, 100 needed" in caplog.text
    assert selector.choose(features(50)).strategy is None


def test_trained_selector_chooses_confidently_and_falls_back_when_unsure() -> None:
    rows = [features(float(s % 100)) for s in range(200)]
    labels = ["self_consumption" if f.soc_pct < 50 else "arbitrage" for f in rows]
    selector = AIStrategySelector(n_estimators=5, min_samples=100)
    assert selector.fit(rows, labels, NOW)
    low, high = selector.choose(features(10)), selector.choose(features(90))
    assert (low.strategy, high.strategy) == ("self_consumption", "arbitrage")
    assert low.confidence is not None and low.confidence > 0.9
    picky = AIStrategySelector(n_estimators=5, min_samples=100, min_confidence=1.01)
    picky.fit(rows, labels, NOW)
    assert picky.choose(features(10)).strategy is None  # not confident: the scores decide
    assert set(selector.feature_importances()) >= {"soc_pct", "hour", "score"}


def test_the_flattened_forest_predicts_what_scikit_learn_predicts() -> None:
    rng = np.random.default_rng(1)
    rows = [SelectorFeatures(*rng.random(10)) for _ in range(300)]
    labels = [("a", "b", "c")[int(f.soc_pct * 3 + f.hour) % 3] for f in rows]
    selector = AIStrategySelector(n_estimators=7, min_samples=10)
    selector.fit(rows, labels, NOW)
    for row in rows[:40]:
        expected = selector.model.predict_proba(np.array([row.vector()]))[0]
        assert list(selector.probabilities(row).values()) == pytest.approx(list(expected))


def test_counterfactual_labels_store_a_sunny_noon_in_an_empty_battery(
    site: SiteConfig, days: BacktestData
) -> None:
    replayer = WindowReplayer(site, days, window_steps=2)
    local = days.index.tz_convert("Europe/Vienna")
    noon = int(np.flatnonzero((local.hour == 12) & (days.pv_kw > days.load_kw + 2))[0])
    start = WindowStart(noon, soc_pct=15.0)
    labelled = replayer.label(start, replayer.features(start, 0.0))
    assert set(labelled.values) == set(POOL)
    # storing PV surplus beats idling (peak shaving has nothing to do without a cap)
    assert labelled.values["self_consumption"] > labelled.values["peak_shaving"] + 0.05
    assert labelled.regret(labelled.best) == 0.0
    assert labelled.regret("peak_shaving") > 0


def test_leakage_canary_features_never_see_the_future(site: SiteConfig, days: BacktestData) -> None:
    """A planted future-only signal (load, PV and unpublished prices after step k) changes no
    feature of a window that starts by k: the model cannot use what it never sees."""
    k = 70
    replayer_a = WindowReplayer(site, days, window_steps=1)
    published = int(replayer_a.known_end[k])
    planted = replace(
        days,
        load_kw=np.concatenate([days.load_kw[:k], days.load_kw[k:] + 50.0]),
        pv_kw=np.concatenate([days.pv_kw[:k], days.pv_kw[k:] * 0.0]),
        price_eur_mwh=np.concatenate([days.price_eur_mwh[:published], days.price_eur_mwh[published:] + 900]),
    )
    replayer_b = WindowReplayer(site, planted, window_steps=1)
    for i in range(k + 1):
        start = WindowStart(i, 50.0)
        assert replayer_a.features(start, 0.1) == replayer_b.features(start, 0.1), f"window {i}"


def test_leakage_canary_a_model_on_decision_time_features_cannot_learn_a_future_coin(
    site: SiteConfig, days: BacktestData
) -> None:
    """Labels planted as a coin toss that only the window's own (future) load reveals: a forest on the
    decision-time features guesses (held-out accuracy near chance), the same forest given the
    window's actual load would know it — so the canary would catch a leak."""
    coins = np.random.default_rng(7).integers(0, 2, len(days))
    planted = replace(days, load_kw=days.load_kw + 3.0 * coins)
    replayer = WindowReplayer(site, planted, window_steps=1)
    rows = [replayer.features(WindowStart(i, 50.0), 0.0).vector() for i in range(24, len(days))]
    leaky = [[*row, float(planted.load_kw[i])] for row, i in zip(rows, range(24, len(days)), strict=True)]
    labels = coins[24:]
    half = len(rows) // 2

    def held_out_accuracy(x: list[list[float]]) -> float:
        model = RandomForestClassifier(n_estimators=15, max_depth=10, random_state=0).fit(
            x[:half], labels[:half]
        )
        return float(np.mean(model.predict(x[half:]) == labels[half:]))

    assert held_out_accuracy(rows) < 0.7
    assert held_out_accuracy(leaky) > 0.9


def test_walk_forward_row_trains_on_the_past_and_reports_regret(site: SiteConfig, days: BacktestData) -> None:
    settings = WalkForwardSettings(
        training_data_days=2,
        retrain_interval_days=1,
        min_samples=20,
        n_estimators=5,
        min_confidence=0.0,
        tail_h=2.0,
        optimiser=False,  # the rule-based pool with the score fallback (the optimiser arm: its own tests)
    )
    result = run_ai_selection(site, days, settings)
    assert result.trainings >= 3
    assert result.run.violations == 0
    assert len(result.regret_eur) == 4 * 24  # every window after the first training
    assert (result.regret_eur[[w.choice is not None for w in result.windows[48:]]] >= -1e-9).all()
    assert result.ai_share > 0.9
    assert "regret against the hindsight-best strategy" in result.regret_line()
    # first trained at step 48 on the windows whose window + 24 h continuation lay in the past then
    assert result.trained_on[0] == 48 - (1 + 2) + 1
    assert result.trained_on == sorted(result.trained_on)


def test_last_best_baseline_pins_the_best_strategy_of_the_past_week(
    site: SiteConfig, days: BacktestData
) -> None:
    result = run_ai_selection(
        site, days, WalkForwardSettings(training_data_days=2, kind="last_best", tail_h=2.0, optimiser=False)
    )
    chosen = {w.choice for w in result.windows[48:]}
    assert chosen and None not in chosen and chosen <= set(POOL)


def test_model_file_round_trip_and_corrupt_file_is_named(
    site: SiteConfig, days: BacktestData, tmp_path: Path
) -> None:
    config = StrategySelectionConfig(
        ai_selection=AISelectionConfig(enabled=True, min_samples=20, label_tail_h=2.0)
    )
    stored = train_site_selector(replace(site, strategy=config), days, NOW, n_estimators=3)
    assert stored.summary.trained and stored.summary.samples == len(days)
    path = selector_path(tmp_path, "1")
    save(path, stored)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load(path).summary.samples == stored.summary.samples
    path.write_bytes(b"not a pickle")
    with pytest.raises(SelectorFileError, match=r"selector_site_1\.pkl"):
        load(path)


def test_ab_arms_alternate_by_local_day_deterministically() -> None:
    first = date(2024, 6, 1)
    arms = [ab_arm(first + timedelta(days=d)) for d in range(6)]
    assert arms == [arms[0], arms[1]] * 3 and set(arms) == {"ai", "score"}
    assert arms == [ab_arm(first + timedelta(days=d)) for d in range(6)]


def test_bootstrap_interval_brackets_a_clear_advantage() -> None:
    diff, low, high = bootstrap_difference([1.0, 1.2, 0.9, 1.1] * 5, [0.5, 0.4, 0.6, 0.5] * 5)
    assert diff == pytest.approx(0.55) and 0.4 < low < diff < high < 0.7


def _write_csv(data: BacktestData, path: Path) -> None:
    rows = [
        f"{t.isoformat()},{load:.4f},{pv:.4f},{price:.4f}"
        for t, load, pv, price in zip(data.index, data.load_kw, data.pv_kw, data.price_eur_mwh, strict=True)
    ]
    path.write_text("timestamp_utc,load_kw,pv_kw,price_eur_per_mwh\n" + "\n".join(rows) + "\n")


def test_selector_cli_trains_evaluates_and_reports(
    days: BacktestData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from phoenyra_ems.cli import main

    csv, config = tmp_path / "days.csv", tmp_path / "ems.yaml"
    _write_csv(days, csv)
    config.write_text(
        "bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}\n"
        "location: {timezone: Europe/Vienna}\n"
        f"ems: {{history_dir: '{tmp_path}', strategies: [arbitrage, self_consumption]}}\n"
        "grid_tariffs: {energy_price_markup_eur_mwh: 150, feedin_pricing: spot}\n"
        "strategy:\n  selection_mode: ai\n"
        "  ai_selection: {enabled: true, training_data_days: 2, min_samples: 20, label_tail_h: 2,\n"
        "                 ab_test: {enabled: true}}\n"
    )
    common = ["-c", str(config), "--data", str(csv), "--step", "1h", "--trees", "5"]
    assert main(["selector", "train", *common]) == 0
    out = capsys.readouterr().out
    assert "trained on 144 windows" in out and (tmp_path / "selector_site_1.pkl").exists()
    assert main(["selector", "eval", *common]) == 0
    out = capsys.readouterr().out
    assert "ai_selection" in out and "regret against the hindsight-best strategy" in out
    log = {f"2024-06-0{d}": {"arm": ab_arm(date(2024, 6, d)), "switches": d} for d in range(2, 6)}
    (tmp_path / "selector_site_1_ab.json").write_text(json.dumps(log))
    assert main(["selector", "report", *common]) == 0
    out = capsys.readouterr().out
    assert "A/B days: 2 AI, 2 score" in out and "95 % bootstrap CI" in out


def test_shared_continuations_give_the_plain_replays_values(
    site: SiteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phoenyra_ems.backtest import counterfactual

    data = household_2024("15min", "2024-06-01", "2024-06-03")
    starts = [WindowStart(i, soc) for i in range(0, 96, 8) for soc in (10.0, 50.0, 90.0)]
    shared = WindowReplayer(site, data, 4, tail_steps=40)
    fast = [shared.value(s, name) for s in starts for name in POOL]
    monkeypatch.setattr(counterfactual, "MEMO_CONTINUATIONS", frozenset())
    plain = WindowReplayer(site, data, 4, tail_steps=40)
    slow = [plain.value(s, name) for s in starts for name in POOL]
    assert fast == pytest.approx(slow, abs=1e-6)
    assert len(shared._memo) < 0.5 * len(starts) * len(POOL) * 40  # they did share


def test_labels_are_kept_and_a_retrain_labels_only_new_windows(
    site: SiteConfig,
    days: BacktestData,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from phoenyra_ems.selector.store import labels_path

    config = StrategySelectionConfig(
        ai_selection=AISelectionConfig(enabled=True, min_samples=20, label_tail_h=2.0)
    )
    site = replace(site, strategy=config)
    labelled: list[int] = []
    original = WindowReplayer.label

    def counting(self: WindowReplayer, start: WindowStart, features: SelectorFeatures) -> object:
        labelled.append(start.index)
        return original(self, start, features)

    monkeypatch.setattr(WindowReplayer, "label", counting)
    path = labels_path(tmp_path, "1")
    first = BacktestData(
        days.index[:96], days.load_kw[:96], days.pv_kw[:96], days.price_eur_mwh[:96], "4 days"
    )
    train_site_selector(site, first, NOW, n_estimators=3, labels_path=path)
    assert len(labelled) == 96 and path.stat().st_mode & 0o777 == 0o600
    labelled.clear()
    stored = train_site_selector(site, days, NOW, n_estimators=3, labels_path=path)
    assert stored.summary.samples == len(days)  # every window trains …
    assert (
        len(labelled) == len(days) - 96 + 2
    )  # … but only the new ones (+ the 2 h whose continuation was cut)
    labelled.clear()
    other = replace(
        site, strategy=StrategySelectionConfig(ai_selection=replace(config.ai_selection, label_tail_h=3.0))
    )
    train_site_selector(other, days, NOW, n_estimators=3, labels_path=path)
    assert len(labelled) == len(days)  # other labels settings: all labelled again
    path.write_bytes(b"garbage")
    labelled.clear()
    with caplog.at_level(logging.WARNING, logger="phoenyra_ems.selector"):
        train_site_selector(site, days, NOW, n_estimators=3, labels_path=path)
    assert (
        len(labelled) == len(days) and "selector_site_1_labels.pkl: not a usable label store" in caplog.text
    )


def test_the_feature_vector_is_every_field_in_order() -> None:
    from dataclasses import astuple

    from phoenyra_ems.core.ai_selection import FEATURE_NAMES

    row = SelectorFeatures(41.5, 97.0, 21.0, -0.25, 33.3, 2.5, 0.75, 13, 4, 0.12)
    assert row.vector() == [float(v) for v in astuple(row)]  # what it was, without the deep copy
    assert len(row.vector()) == len(FEATURE_NAMES)  # a new feature must be added to vector() too
