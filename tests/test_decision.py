"""Modes through the whole decision: manual with expiry, standby, pinned strategy, limits always on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from phoenyra_ems.core.decision import ControlIntent, decide
from phoenyra_ems.core.selection import SelectionState
from phoenyra_ems.core.strategies import build_strategies
from phoenyra_ems.models import PlantState, SiteMode
from tests.conftest import make_site

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
SITE = make_site(5020)
STRATEGIES = build_strategies(SITE.ems.strategies)


def run(intent: ControlIntent, now: datetime = NOW, **state: float) -> tuple[float, str]:
    plant = PlantState(
        "wien", now, soc=state.get("soc", 50.0), p_pv=state.get("pv", 0.0), p_load=state.get("load", 20.0)
    )
    decision = decide(SITE, plant, intent, STRATEGIES, SelectionState(), now, dt_s=1.0)
    return decision.setpoint_kw, decision.strategy


def test_manual_setpoint_holds_until_it_expires() -> None:
    intent = ControlIntent(
        SiteMode.MANUAL, manual_setpoint_kw=-40.0, manual_expires=NOW + timedelta(minutes=15)
    )
    assert run(intent) == (-40.0, "manual")
    setpoint, strategy = run(intent, now=NOW + timedelta(minutes=16))
    assert strategy != "manual"  # back to automatic control
    assert setpoint == 20.0  # self-consumption covers the 20 kW load


def test_manual_setpoint_is_still_clamped_by_the_safety_layer() -> None:
    intent = ControlIntent(SiteMode.MANUAL, manual_setpoint_kw=-500.0)
    setpoint, _ = run(intent)
    assert setpoint == -60.0  # 100 kW charge limit, but the 80 kW peak cap with 20 kW load allows 60


def test_standby_is_zero_unless_a_grid_limit_forces_charging() -> None:
    assert run(ControlIntent(SiteMode.STANDBY)) == (0.0, "standby")
    setpoint, _ = run(ControlIntent(SiteMode.STANDBY), pv=110.0, load=10.0)
    assert setpoint == -40.0  # 100 kW surplus, 60 kW feed-in limit (50 % of 120 kWp)


def test_pinned_strategy_is_used_even_when_another_scores_higher() -> None:
    plant = PlantState("wien", NOW, soc=50.0, p_pv=0.0, p_load=20.0)
    free = decide(SITE, plant, ControlIntent(), STRATEGIES, SelectionState(), NOW, dt_s=1.0)
    best = max(free.scores, key=free.scores.__getitem__)
    assert best != "load_balancing" and free.scores[best] > free.scores["load_balancing"]
    _, strategy = run(ControlIntent(strategy="load_balancing"), load=20.0)
    assert strategy == "load_balancing"
