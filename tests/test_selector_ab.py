"""The A/B advantage in EUR: the daemon's selector values the finished days of its A/B log from the
site's real history file in a worker (once per local day) and serves it; the client parses it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.client import SelectorStatus
from phoenyra_ems.client.wire import dump
from phoenyra_ems.config.model import (
    AISelectionConfig,
    EmsSettings,
    GridTariffConfig,
    Location,
    StrategySelectionConfig,
)
from phoenyra_ems.core.ai_selection import ab_arm
from phoenyra_ems.history.store import HistoryStore, database_path
from phoenyra_ems.selector.service import SiteSelector
from phoenyra_ems.selector.store import save
from phoenyra_ems.selector.training import train_site_selector
from tests.conftest import make_site
from tests.test_ai_selection_daemon import write_history


async def test_the_ab_advantage_is_valued_from_the_history_once_a_day(tmp_path: Path) -> None:
    ai = AISelectionConfig(enabled=True, min_samples=20, label_tail_h=2.0, min_confidence=0.0)
    site = replace(
        make_site(
            1502,
            ems=EmsSettings(history_dir=str(tmp_path), strategies=("arbitrage", "self_consumption")),
            location=Location(city="Wien", timezone="Europe/Vienna"),
            grid_tariffs=GridTariffConfig(energy_price_markup_eur_mwh=150, feedin_pricing="spot"),
        ),
        strategy=StrategySelectionConfig(
            selection_mode="auto", ai_selection=replace(ai, ab_test=replace(ai.ab_test, enabled=True))
        ),
    )
    now = datetime.now(UTC)
    await write_history(database_path(tmp_path, site.site_id), now)
    stored = train_site_selector(site, household_2024("1h", "2024-06-01", "2024-06-02"), now, n_estimators=3)
    assert stored.selector.trained
    history = HistoryStore(database_path(tmp_path, site.site_id), retention=timedelta(days=3650))
    await history.open()
    try:
        with ThreadPoolExecutor(1) as pool:
            selector = SiteSelector(site, pool)
            save(selector.path, stored)
            selector.stored = stored
            selector._controller = SimpleNamespace(history=history)  # type: ignore[assignment]
            today = now.astimezone(ZoneInfo("Europe/Vienna")).date()
            finished = [today - timedelta(days=d) for d in (2, 1)]  # whole local days of history
            selector.ab_log = {d.isoformat(): {"arm": ab_arm(d), "switches": 1} for d in finished}
            selector.ab_log[today.isoformat()] = {"arm": ab_arm(today), "switches": 0}  # not over yet
            advantage = await selector.value_ab(now)
            assert advantage is not None
            assert (advantage["ai_days"], advantage["score_days"]) == (1, 1)
            assert advantage["eur_per_day"] is not None and advantage["paired_eur_per_day"] is not None
            assert advantage["ci_low_eur"] <= advantage["eur_per_day"] <= advantage["ci_high_eur"]
            selector.ab_log.clear()  # valued once per local day: the same day returns the same figure
            assert await selector.value_ab(now) is advantage
            status = SelectorStatus.from_dict(json.loads(json.dumps(dump(selector.status()))))
    finally:
        await history.close()
    assert status.ab_enabled and status.ab_advantage is not None
    assert status.ab_advantage.eur_per_day == advantage["eur_per_day"]
    assert status.ab_advantage.ai_days == 1 and status.ab_advantage.valued_at is not None
