"""The daemon records the community's quarter-hours live: a site's real history file and an external
meter's CSV, an accelerated clock (a quarter-hour in half a second), a real ledger file."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from phoenyra_ems.clock import AcceleratedClock
from phoenyra_ems.community.recorder import CommunityRecorder
from phoenyra_ems.community.verify import verify_ledger
from phoenyra_ems.config.community_model import CommunityConfig, CommunityMember, LedgerConfig
from phoenyra_ems.config.model import EmsConfig, EmsSettings
from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path
from tests.conftest import free_port, make_site

T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)


async def _config(tmp_path: Path) -> EmsConfig:
    site = make_site(free_port(), ems=EmsSettings(history_dir=str(tmp_path)))
    store = HistoryStore(database_path(tmp_path, "wien"))
    await store.open()
    for minute in range(30):  # 4 kW imported for half an hour: 1 kWh per quarter-hour
        ts = (T0 + timedelta(minutes=minute)).timestamp()
        await store.append(HistoryRecord(ts, 50, 100, None, 0, 0, 4, 4, None, 0, None, "auto", "running"))
    await store.close()
    (tmp_path / "farm.csv").write_text(
        "timestamp_utc,generation_kwh\n2024-06-12T10:00:00Z,2.0\n2024-06-12T10:15:00Z,2.0\n"
    )
    community = CommunityConfig(
        "eeg",
        {"wien": CommunityMember("wien", site="wien"), "farm": CommunityMember("farm", csv="farm.csv")},
        ledger=LedgerConfig(str(tmp_path / "ledger.db"), str(tmp_path / "keys")),
    )
    return EmsConfig(
        sites={"wien": site}, default_site_id="wien", community=community, source=str(tmp_path / "ems.yaml")
    )


def _intervals(path: Path) -> dict[str, dict[str, list[float]]]:
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT period, body FROM records WHERE kind = 'interval'").fetchall()
    except sqlite3.OperationalError:  # the recorder is creating the file at this moment
        return {}
    finally:
        db.close()
    return {period: json.loads(body)["data"]["members"] for period, body in rows}


async def test_each_quarter_hour_is_recorded_once_it_has_ended(tmp_path: Path) -> None:
    config = await _config(tmp_path)
    ledger_path = tmp_path / "ledger.db"
    clock = AcceleratedClock(T0 + timedelta(minutes=14, seconds=50), speed=1800)  # 15 min in 0.5 s
    recorder = CommunityRecorder(lambda: config, clock, grace_s=5)
    assert recorder.delay_s(T0 + timedelta(minutes=14, seconds=50)) == 15  # boundary + grace
    task = asyncio.create_task(recorder.run())
    try:
        await asyncio.sleep(0.002)
        assert _intervals(ledger_path) == {}  # 10:00 has not ended yet: nothing recorded
        for _ in range(200):
            if len(_intervals(ledger_path)) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    intervals = _intervals(ledger_path)
    assert sorted(intervals) == ["2024-06-12T10:00:00Z", "2024-06-12T10:15:00Z"]
    for members in intervals.values():  # consumption, generation, received, provided, surplus, ...
        assert members["wien"][:3] == [1.0, 0.0, 1.0]
        assert members["farm"][1:5] == [2.0, 0.0, 1.0, 1.0]
    assert recorder.failures == 0
    assert verify_ledger(ledger_path).ok
    await recorder.run_once()  # running again appends nothing
    assert len(_intervals(ledger_path)) == 2


async def test_a_failure_is_logged_and_retried_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = await _config(tmp_path)
    (tmp_path / "farm.csv").rename(tmp_path / "later.csv")  # the operator's file is not there yet
    clock = AcceleratedClock(T0 + timedelta(minutes=20), speed=1)
    recorder = CommunityRecorder(lambda: config, clock)
    with caplog.at_level(logging.ERROR):
        assert await recorder.run_once() == []
    assert recorder.failures == 1
    assert "community eeg: recording failed (retried later)" in caplog.text and "farm.csv" in caplog.text
    (tmp_path / "later.csv").rename(tmp_path / "farm.csv")
    runs = await recorder.run_once()
    assert sum(r.appended for r in runs) == 1  # 10:00 (10:15 has not ended)
    no_community = replace(config, community=None)
    assert await CommunityRecorder(lambda: no_community, clock).run_once() == []


async def test_the_running_daemon_records_without_a_command(tmp_path: Path) -> None:
    from phoenyra_ems.clock import SystemClock
    from phoenyra_ems.daemon import Daemon
    from phoenyra_ems.simulator.server import BatterySimulator
    from tests.conftest import simulator_config
    from tests.daemon_fixtures import two_site_config

    ended = (int(datetime.now(UTC).timestamp()) // 900 - 1) * 900  # the last ended quarter-hour
    stamp = datetime.fromtimestamp(ended, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "farm.csv").write_text(f"timestamp_utc,consumption_kwh\n{stamp},1.5\n")
    base = two_site_config(tmp_path)
    site = base.sites["wien"]
    community = CommunityConfig(
        "eeg",
        {"farm": CommunityMember("farm", csv="farm.csv")},
        ledger=LedgerConfig(str(tmp_path / "ledger.db"), str(tmp_path / "keys")),
    )
    config = replace(base, sites={"wien": site}, community=community, source=str(tmp_path / "ems.yaml"))
    simulator = BatterySimulator(simulator_config(site), SystemClock())
    await simulator.start()
    daemon = Daemon(config, SystemClock())
    try:
        await daemon.start()
        for _ in range(100):
            if _intervals(tmp_path / "ledger.db"):
                break
            await asyncio.sleep(0.05)
        assert list(_intervals(tmp_path / "ledger.db")) == [stamp]
        assert _intervals(tmp_path / "ledger.db")[stamp]["farm"][:3] == [1.5, 0.0, 0.0]
    finally:
        await daemon.stop()
        await simulator.stop()
    assert daemon._community_task is None  # stopped with the daemon
