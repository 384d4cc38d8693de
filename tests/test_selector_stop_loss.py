"""The stop-loss on leaving the optimiser: one pure rule (``core.ai_selection.StopLoss``) that the
walk-forward backtest and the daemon both apply. The daemon notes each window its model switched,
values it in its worker process from the site's real history file once the window and its
continuation are past, closes switching when the switches lost money, keeps that across a restart
(next to the model) and says so over the API."""

from __future__ import annotations

import json
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from phoenyra_ems.client import SelectorStatus
from phoenyra_ems.client.wire import dump
from phoenyra_ems.config.model import (
    AISelectionConfig,
    EmsSettings,
    GridTariffConfig,
    Location,
    StrategySelectionConfig,
)
from phoenyra_ems.core.ai_selection import AIStrategySelector, SelectorFeatures, StopLoss
from phoenyra_ems.core.strategies import PriceSlot
from phoenyra_ems.history.store import HistoryStore, database_path
from phoenyra_ems.models import PlantState
from phoenyra_ems.selector.service import SiteSelector
from phoenyra_ems.selector.stop_loss import read_log
from phoenyra_ems.selector.store import save
from phoenyra_ems.selector.training import StoredSelector, TrainSummary
from tests.conftest import make_site
from tests.faults.harness import TinyFs
from tests.test_ai_selection_daemon import write_history
from tests.test_wire import _served

POOL = ("arbitrage", "self_consumption", "optimiser")
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)  # the history's end: 28 November 12:00 … 1 December 12:00
TRAINED_AT = NOW - timedelta(days=2)


def test_the_stop_loss_closes_once_the_switches_lost_money_and_stays_closed() -> None:
    fresh = StopLoss()
    assert fresh.book([]) is fresh and not fresh.closed
    won = fresh.book([0.30])
    assert (won.realised_eur, won.windows, won.closed) == (0.30, 1, False)
    lost = won.book([-0.25, -0.10])  # the batch's total decides: 0.30 − 0.35 < 0
    assert lost.closed and lost.windows == 3 and abs(lost.realised_eur + 0.05) < 1e-12
    assert lost.book([5.0]).closed  # a later gain does not reopen it before the next training
    assert not fresh.book([0.0]).closed  # a tie is no loss


def _site(tmp_path: Path) -> Any:
    return replace(
        make_site(
            1504,
            ems=EmsSettings(history_dir=str(tmp_path), strategies=POOL),
            location=Location(city="Wien", timezone="Europe/Vienna"),
            grid_tariffs=GridTariffConfig(energy_price_markup_eur_mwh=150, feedin_pricing="spot"),
        ),
        strategy=StrategySelectionConfig(
            selection_mode="auto",
            ai_selection=AISelectionConfig(enabled=True, min_samples=10, label_tail_h=2.0),
        ),
    )


def _always_arbitrage() -> StoredSelector:
    """A model whose validation gate opened at training and that names arbitrage everywhere."""
    selector = AIStrategySelector(n_estimators=3, min_samples=10)
    rows = [SelectorFeatures(s, 100.0, 25.0, 0.0, 10.0, 1.0, 0.5, 12, 2, 0.0) for s in range(0, 100, 5)]
    assert selector.fit(rows, ["arbitrage"] * len(rows), TRAINED_AT)
    summary = TrainSummary(
        "x", TRAINED_AT, len(rows), 2.0, {}, 0.1, True, default_arm="optimiser", switching=True
    )
    return StoredSelector(selector, summary, POOL, 1.0)


def _state(soc: float) -> PlantState:
    return PlantState(site_id="x", timestamp=NOW, soc=soc, soh=100.0, temp_c=25.0, setpoint=0.0)


def _switch(selector: SiteSelector, when: datetime, soc: float) -> str | None:
    """The controller's question at ``when`` (a window's start) with the battery at ``soc``."""
    prices = (PriceSlot(when, 100.0), PriceSlot(when + timedelta(hours=1), 120.0))
    return selector.choose(_state(soc), when, prices, None)


def _status(selector: SiteSelector) -> SelectorStatus:
    body = json.loads(json.dumps(dump(selector.status())))
    _served("/api/v1/sites/{site_id}/selector").validate(body)  # as the OpenAPI document says
    return SelectorStatus.from_dict(body)


async def test_the_daemon_closes_switching_when_its_switches_lost_money_and_keeps_it_closed(
    tmp_path: Path,
) -> None:
    site = _site(tmp_path)
    await write_history(database_path(site.ems.history_dir, site.site_id), NOW)
    history = HistoryStore(database_path(tmp_path, site.site_id), retention=timedelta(days=3650))
    await history.open()
    spawn = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(1, mp_context=spawn) as worker:  # the daemon's worker
            selector = SiteSelector(site, worker)
            save(selector.path, _always_arbitrage())
            await selector.load_stored()
            selector._controller = SimpleNamespace(history=history)  # type: ignore[assignment]
            status = _status(selector)
            assert status.switching is not None and status.switching.allowed
            # 29 November 18:00 UTC at 20 % SoC (arbitrage a little better than the optimiser here)
            # and the present window, whose data is not past yet
            assert _switch(selector, datetime(2026, 11, 29, 18, tzinfo=UTC), 20.0) == "arbitrage"
            assert _switch(selector, NOW, 50.0) == "arbitrage"
            log = await selector.check_stop_loss(NOW)
            assert log is not None
            first = _status(selector).switching
            assert first is not None and (first.windows_valued, first.windows_pending) == (1, 1)
            assert first.realised_eur > 0 and first.allowed and not first.stopped_by_loss
            # 30 November 00:00 UTC at 80 %: arbitrage loses against the optimiser by far more
            assert _switch(selector, datetime(2026, 11, 30, 0, tzinfo=UTC), 80.0) == "arbitrage"
            await selector.check_stop_loss(NOW)
            second = _status(selector).switching
            assert second is not None and (second.windows_valued, second.windows_pending) == (2, 1)
            assert second.realised_eur < 0 and second.stopped_by_loss and not second.allowed
            # switching is closed: the optimiser from the next window on, and the choice says why
            kept = _switch(selector, NOW + timedelta(hours=1), 50.0)
            assert kept == "optimiser"
            reason = _status(selector).reason
            assert reason is not None and "stop-loss" in reason
            await selector.stop()

            # a restart keeps the model and, with it, the closed gate
            again = SiteSelector(site, worker)
            await again.load_stored()
            restored = _status(again).switching
            assert restored is not None and restored.stopped_by_loss
            assert restored.realised_eur == second.realised_eur
            assert _switch(again, NOW + timedelta(hours=2), 50.0) == "optimiser"

            # a new training starts afresh: the stored log belongs to the model it was kept for
            retrained = _always_arbitrage()
            later = replace(retrained.summary, trained_at=NOW)
            save(again.path, replace(retrained, summary=later))
            fresh = SiteSelector(site, worker)
            await fresh.load_stored()
            renewed = _status(fresh).switching
            assert renewed is not None and renewed.allowed and renewed.windows_valued == 0
            assert _switch(fresh, NOW + timedelta(hours=2), 50.0) == "arbitrage"
    finally:
        await history.close()


async def test_a_full_disk_keeps_the_stop_loss_log_in_memory_and_writes_it_once_there_is_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fs = TinyFs(tmp_path / "tiny", size="1m")
    reason = fs.mount()
    if reason is not None:
        pytest.skip(reason)
    try:
        site = _site(tmp_path)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as worker:
            selector = SiteSelector(site, worker)
            save(selector.path, _always_arbitrage())
            await selector.load_stored()
            selector.stop_loss_path = fs.path / "stop_loss.json"  # the logs live on the small disk
            selector.ab_path = fs.path / "ab.json"
            selector._controller = SimpleNamespace(history=object())  # type: ignore[assignment]
            fs.fill()
            assert _switch(selector, NOW, 50.0) == "arbitrage"  # a switch: the log has news
            with caplog.at_level(logging.WARNING):
                log = await selector.check_stop_loss(NOW)  # the window is not past: only the write
            assert log is not None and len(log.pending) == 1, "the switch is kept in memory"
            status = _status(selector)
            assert status.last_error is not None and "No space left" in status.last_error
            assert "stop_loss.json" in caplog.text
            assert sorted(p.name for p in fs.path.iterdir()) == ["filler.bin"], "no partial file"
            assert _switch(selector, NOW + timedelta(hours=1), 50.0) == "arbitrage"  # it decides on

            fs.free()
            await selector.check_stop_loss(NOW)
            assert read_log(selector.stop_loss_path, TRAINED_AT).pending == log.pending
    finally:
        fs.unmount()
