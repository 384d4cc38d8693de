"""History on real SQLite files: one database per site, WAL, batching, retention, range queries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from phoenyra_ems.history.store import HistoryRecord, HistoryStore, database_path

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def record(minute: int, soc: float = 50.0, p_bess: float = 0.0) -> HistoryRecord:
    ts = (T0 + timedelta(minutes=minute)).timestamp()
    return HistoryRecord(
        ts, soc, 100.0, 25.0, p_bess, 1.0, 2.0, 1.0 - p_bess, 80.0, p_bess, "arbitrage", "auto", "running"
    )


def test_one_database_file_per_site(tmp_path: Path) -> None:
    assert database_path(tmp_path, "wien") == tmp_path / "ems_history_site_wien.db"


async def test_batched_writes_reach_the_file_in_wal_mode(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.db", batch_size=10)
    await store.open()
    for minute in range(25):
        await store.append(record(minute))
    with sqlite3.connect(tmp_path / "h.db") as other:  # another reader sees full batches only
        assert other.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 20
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()  # flushes the rest
    with sqlite3.connect(tmp_path / "h.db") as other:
        assert other.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 25


async def test_query_by_range_and_downsampled(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.db")
    await store.open()
    for minute in range(120):
        await store.append(record(minute, soc=float(minute), p_bess=10.0 if minute < 60 else -10.0))
    rows = await store.query(T0 + timedelta(minutes=30), T0 + timedelta(minutes=40))
    assert [r.soc for r in rows] == [float(m) for m in range(30, 40)]
    hourly = await store.query(T0, T0 + timedelta(hours=2), step_s=3600)
    assert [round(r.p_bess) for r in hourly] == [10, -10]
    assert hourly[0].soc == sum(range(60)) / 60
    assert hourly[1].time == T0 + timedelta(hours=1)
    await store.close()


async def test_retention_deletes_old_samples_only(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.db", retention=timedelta(days=1))
    await store.open()
    for minute in (0, 60, 24 * 60 + 30):
        await store.append(record(minute))
    await store.flush()
    deleted = await store.apply_retention(T0 + timedelta(days=1, minutes=90))
    assert deleted == 2
    left = await store.query(T0, T0 + timedelta(days=2))
    assert len(left) == 1
    await store.close()


async def test_an_existing_database_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    store = HistoryStore(path)
    await store.open()
    await store.close()
    assert path.stat().st_mode & 0o777 == 0o600
