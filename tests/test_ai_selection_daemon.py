"""A daemon site with ``strategy.ai_selection.enabled`` and the optimiser in its pool: trained from its real
history file in the worker process (labels by counterfactual replay, the optimiser's included), its choice
served over the API (and by the client), with real Modbus simulators."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from phoenyra_ems.backtest.data import household_2024
from phoenyra_ems.client import PhoenyraClient
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.model import (
    AISelectionConfig,
    ApiConfig,
    EmsConfig,
    EmsSettings,
    GridTariffConfig,
    Location,
    StrategySelectionConfig,
)
from phoenyra_ems.core.strategies import OPTIMISER, RULE_STRATEGIES
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path
from phoenyra_ems.selector.store import labels_path, load_labels
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, make_site, simulator_config

DAYS = 3


async def write_history(path: Path, end: datetime) -> None:
    """Three June days of the Konstanz house with 2024 AT prices as the site's history (15 min)."""
    data = household_2024("15min", "2024-06-01", "2024-06-04")
    store = HistoryStore(path, retention=timedelta(days=3650), batch_size=10_000)
    await store.open()
    start = end - timedelta(days=DAYS)
    for k in range(len(data)):
        load, pv, price = float(data.load_kw[k]), float(data.pv_kw[k]), float(data.price_eur_mwh[k])
        when = start + timedelta(minutes=15 * k)
        await store.append(
            HistoryRecord(when.timestamp(), 50, 100, 25, 0, pv, load, load - pv, price, 0, None, "auto", "ok")
        )
    await store.close()


async def test_the_daemon_trains_the_selector_in_the_worker_and_serves_its_choice(tmp_path: Path) -> None:
    selection = StrategySelectionConfig(
        selection_mode="auto",
        ai_selection=AISelectionConfig(
            enabled=True, training_data_days=2, min_samples=20, min_confidence=0.0, label_tail_h=2.0
        ),
    )
    site = replace(
        make_site(
            free_port(),
            ems=EmsSettings(cycle_s=0.5, history_dir=str(tmp_path), strategies=(*RULE_STRATEGIES, OPTIMISER)),
            location=Location(city="Wien", timezone="Europe/Vienna"),
            grid_tariffs=GridTariffConfig(energy_price_markup_eur_mwh=150, feedin_pricing="spot"),
        ),
        strategy=selection,
    )
    await write_history(database_path(tmp_path, site.site_id), datetime.now(UTC))
    config = EmsConfig(
        sites={site.site_id: site},
        default_site_id=site.site_id,
        api=ApiConfig(port=0, auth_db=str(tmp_path / "auth.db")),
    )
    simulator = BatterySimulator(simulator_config(site), SystemClock())
    await simulator.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        await daemon.auth.add_user("admin", "admin")
        token = await daemon.auth.create_token("admin")
        assert daemon.port is not None
        async with PhoenyraClient("127.0.0.1", daemon.port, token=token) as client:
            status = await client.selector(site.site_id)
            # spawn the worker, label 3 days by counterfactual replay (the optimiser plans at every
            # step of each window), fit 100 trees
            for _ in range(1200):
                status = await client.selector(site.site_id)
                if status.trained and status.source == "ai":
                    break
                await asyncio.sleep(0.25)
            assert status.mode == "auto" and status.ai_enabled and status.trained, status
            assert 60 <= status.samples <= DAYS * 24, status
            # the optimiser is the default arm; leaving it needs a validation over 14 days of labels
            # that 3 days of history cannot give: the model keeps the optimiser
            assert status.source == "ai" and status.strategy == OPTIMISER, status
            assert status.reason is not None and "did not pay" in status.reason, status
            assert status.confidence is not None and 0 <= status.confidence <= 1  # the optimiser's
            assert abs(sum(status.feature_importances.values()) - 1.0) < 1e-6
            state = await client.state(site.site_id)
            assert state.strategy == status.strategy  # the controller follows the model's choice
        assert (tmp_path / f"selector_site_{site.site_id}.pkl").exists()
        stored = load_labels(labels_path(tmp_path, site.site_id))
        assert stored is not None and len(stored.labels) >= 48
        assert all(set(x.values) == set(site.ems.strategies) for x in stored.labels)  # optimiser included
    finally:
        await daemon.stop()
        await simulator.stop()
