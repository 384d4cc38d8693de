"""History of one site: WAL-mode SQLite, batched writes, retention, queries by time range.

One database per site, as in the plan: ``<history_dir>/ems_history_site_<id>.db``.
"""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite

from phoenyra_ems.models import PlantState

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    ts: float  # UNIX seconds (UTC)
    soc: float
    soh: float
    temp_c: float | None
    p_bess: float
    p_pv: float
    p_load: float
    p_grid: float
    price: float | None
    setpoint: float
    strategy: str | None
    mode: str
    status: str

    @classmethod
    def from_state(cls, state: PlantState) -> HistoryRecord:
        return cls(
            state.timestamp.timestamp(),
            state.soc,
            state.soh,
            state.temp_c,
            state.p_bess,
            state.p_pv,
            state.p_load,
            state.p_grid,
            state.price,
            state.setpoint,
            state.strategy,
            str(state.mode),
            str(state.status),
        )

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


COLUMNS = [f.name for f in fields(HistoryRecord)]
NUMERIC = ["soc", "soh", "temp_c", "p_bess", "p_pv", "p_load", "p_grid", "price", "setpoint"]
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS samples (
    ts REAL PRIMARY KEY, {", ".join(f"{c} REAL" for c in NUMERIC)},
    strategy TEXT, mode TEXT, status TEXT
) WITHOUT ROWID
"""


def database_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"ems_history_site_{site_id}.db"


class HistoryStore:
    """Buffered writer and reader of one site's samples."""

    def __init__(
        self,
        path: str | Path,
        retention: timedelta = timedelta(days=365),
        batch_size: int = 60,
    ) -> None:
        self.path = Path(path)
        self.retention = retention
        self.batch_size = batch_size
        self._buffer: list[HistoryRecord] = []
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute(SCHEMA)
        await self._db.commit()

    async def close(self) -> None:
        if self._db is None:
            return
        await self.flush()
        await self._db.close()
        self._db = None

    async def append(self, record: HistoryRecord) -> None:
        """Buffer one sample; written when the batch is full (or on flush / close)."""
        self._buffer.append(record)
        if len(self._buffer) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer or self._db is None:
            return
        batch, self._buffer = self._buffer, []
        placeholders = ", ".join("?" for _ in COLUMNS)
        await self._db.executemany(
            f"INSERT OR REPLACE INTO samples ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            [astuple(r) for r in batch],
        )
        await self._db.commit()

    async def apply_retention(self, now: datetime) -> int:
        """Delete samples older than the retention period; returns how many went."""
        if self._db is None:
            return 0
        cutoff = (now - self.retention).timestamp()
        cursor = await self._db.execute("DELETE FROM samples WHERE ts < ?", (cutoff,))
        await self._db.commit()
        return cursor.rowcount

    async def query(self, start: datetime, end: datetime, step_s: float | None = None) -> list[HistoryRecord]:
        """Samples with ``start <= ts < end``; with ``step_s``, averaged into buckets of that width."""
        await self.flush()
        assert self._db is not None, "store not open"
        lo, hi = start.timestamp(), end.timestamp()
        if not step_s:
            sql = f"SELECT {', '.join(COLUMNS)} FROM samples WHERE ts >= ? AND ts < ? ORDER BY ts"
            async with self._db.execute(sql, (lo, hi)) as cursor:
                return [HistoryRecord(*row) for row in await cursor.fetchall()]
        averages = ", ".join(f"AVG({c})" for c in NUMERIC)
        sql = (
            f"SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, {averages}, "
            "MAX(strategy), MAX(mode), MAX(status) FROM samples "
            "WHERE ts >= ? AND ts < ? GROUP BY bucket ORDER BY bucket"
        )
        async with self._db.execute(sql, (lo, step_s, lo, hi)) as cursor:
            rows = await cursor.fetchall()
        return [HistoryRecord(lo + row[0] * step_s, *row[1:]) for row in rows]
