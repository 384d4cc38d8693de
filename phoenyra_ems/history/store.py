"""History of one site: WAL-mode SQLite, batched writes, retention, queries by time range.

One database per site, as in the plan: ``<history_dir>/ems_history_site_<id>.db`` (mode 0600).

Writing never stops control: rows are buffered and written when ``batch_size`` rows are waiting or
``flush_interval_s`` has passed since the last write, whichever comes first (so a SIGKILL loses at
most that long of rows). When the file cannot be opened or written (full disk, read-only or missing
directory), ``error`` says why, rows wait in a bounded in-memory backlog (the oldest are dropped
beyond ``max_backlog`` and counted in ``dropped``), and the store retries every ``RETRY_S``.
Queries answer from the file plus the rows still waiting.

The site's energy counters (``core.energy``) are written in the same transaction as the samples they
include (table ``energy``, one row), so after a restart they continue exactly where the stored
samples end; ``stored_energy`` is what the file held when it was opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite

from phoenyra_ems.core.energy import EnergyTotals
from phoenyra_ems.models import PlantState

LOG = logging.getLogger(__name__)
RETRY_S = 5.0  # a failing file is retried at most this often
STORAGE_ERRORS = (sqlite3.Error, OSError)


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
ENERGY_SCHEMA = """
CREATE TABLE IF NOT EXISTS energy (
    id INTEGER PRIMARY KEY CHECK (id = 0), ts REAL, since REAL,
    charged_kwh REAL, discharged_kwh REAL, imported_kwh REAL, exported_kwh REAL
)
"""


def database_path(history_dir: str | Path, site_id: str) -> Path:
    return Path(history_dir) / f"ems_history_site_{site_id}.db"


class HistoryStore:
    """Buffered writer and reader of one site's samples (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        retention: timedelta = timedelta(days=365),
        batch_size: int = 60,
        flush_interval_s: float = 2.0,
        max_backlog: int = 86_400,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.retention = retention
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.error: str | None = None  # why the file cannot be written now; None when healthy
        self.dropped = 0  # rows lost because the backlog was full
        self._buffer: deque[HistoryRecord] = deque(maxlen=max_backlog)
        self._db: aiosqlite.Connection | None = None
        self._monotonic = monotonic
        self._last_write = monotonic()
        self._last_attempt = -float("inf")
        self._lock = asyncio.Lock()
        self._energy: tuple[float, EnergyTotals] | None = None  # to write with the next batch
        self.stored_energy: EnergyTotals | None = None  # the file's totals when it was opened
        self.energy_loaded = False  # True once the file has been read (stored_energy is known)

    @property
    def healthy(self) -> bool:
        return self._db is not None and self.error is None

    @property
    def backlog(self) -> int:
        """Rows waiting to be written."""
        return len(self._buffer)

    async def open(self) -> None:
        """Open (and create) the file; raises on failure (``start`` is the writer's tolerant variant)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _private_file(self.path)
        db = await aiosqlite.connect(self.path)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute(SCHEMA)
            await db.execute(ENERGY_SCHEMA)
            await db.commit()
            stored = await _read_energy(db)
        except BaseException:
            await db.close()
            raise
        self._db = db
        self.error = None
        if not self.energy_loaded:
            self.stored_energy, self.energy_loaded = stored, True

    async def start(self) -> bool:
        """Open for writing; on failure note the error and retry later. True when open."""
        self._last_attempt = self._monotonic()
        try:
            await self.open()
        except STORAGE_ERRORS as err:
            self._fail(f"cannot open {self.path}: {err}")
            return False
        return True

    async def close(self) -> None:
        await self.flush()
        if self._buffer:
            LOG.error("history %s: %d rows not written (%s)", self.path, len(self._buffer), self.error)
        if self._db is not None:
            db, self._db = self._db, None
            try:
                await db.close()
            except STORAGE_ERRORS as err:
                LOG.error("history %s: close failed: %s", self.path, err)

    async def append(self, record: HistoryRecord, energy: EnergyTotals | None = None) -> None:
        """Buffer one sample (and the energy totals including it); written when the batch is full or
        the flush interval has passed."""
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(record)
        if energy is not None:
            self._energy = (record.ts, energy)
        due = self._monotonic() - self._last_write >= self.flush_interval_s
        if len(self._buffer) >= self.batch_size or due:
            await self._write(retry_wait=True)

    async def flush(self) -> bool:
        """Write what is buffered now; True when nothing is left waiting. Never raises."""
        await self._write(retry_wait=False)
        return not self._buffer

    async def _write(self, retry_wait: bool) -> None:
        async with self._lock:
            if not self._buffer:
                self._last_write = self._monotonic()
                return
            if self.error is not None and retry_wait and self._monotonic() - self._last_attempt < RETRY_S:
                return  # failing: do not hammer the disk every cycle
            self._last_attempt = self._monotonic()
            if self._db is None and not await self.start():
                return
            assert self._db is not None
            batch = list(self._buffer)
            placeholders = ", ".join("?" for _ in COLUMNS)
            try:
                await self._db.executemany(
                    f"INSERT OR REPLACE INTO samples ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                    [astuple(r) for r in batch],
                )
                if self._energy is not None:
                    await _write_energy(self._db, *self._energy)
                await self._db.commit()
            except STORAGE_ERRORS as err:
                self._fail(f"cannot write {self.path}: {err}")
                await self._rollback()
                return
            for _ in batch:
                self._buffer.popleft()
            self._last_write = self._monotonic()
            if self.error is not None:
                LOG.warning("history %s: writing again", self.path)
            self.error = None

    def _fail(self, message: str) -> None:
        if self.error != message:
            LOG.error("history: %s (control goes on; %d rows wait in memory)", message, len(self._buffer))
        self.error = message

    async def _rollback(self) -> None:
        if self._db is None:
            return
        with contextlib.suppress(*STORAGE_ERRORS):
            await self._db.rollback()

    async def apply_retention(self, now: datetime) -> int:
        """Delete samples older than the retention period; returns how many went (0 on failure)."""
        if self._db is None or self.error is not None:
            return 0
        cutoff = (now - self.retention).timestamp()
        try:
            cursor = await self._db.execute("DELETE FROM samples WHERE ts < ?", (cutoff,))
            await self._db.commit()
        except STORAGE_ERRORS as err:
            self._fail(f"retention on {self.path} failed: {err}")
            await self._rollback()
            return 0
        return cursor.rowcount

    async def query(self, start: datetime, end: datetime, step_s: float | None = None) -> list[HistoryRecord]:
        """Samples with ``start <= ts < end``; with ``step_s``, averaged into buckets of that width.

        Rows still waiting to be written are included; a file that cannot be read gives what is in
        memory.
        """
        await self.flush()
        lo, hi = start.timestamp(), end.timestamp()
        waiting = [r for r in self._buffer if lo <= r.ts < hi]
        stored: list[Bucket] | list[HistoryRecord] = []
        try:
            if self._db is not None:
                stored = await (self._select_buckets(lo, hi, step_s) if step_s else self._select(lo, hi))
        except STORAGE_ERRORS as err:
            LOG.error("history %s: query failed: %s", self.path, err)
        if not step_s:
            rows = {r.ts: r for r in (*stored, *waiting) if isinstance(r, HistoryRecord)}
            return sorted(rows.values(), key=lambda r: r.ts)
        buckets = {b.index: b for b in stored if isinstance(b, Bucket)}
        for bucket in buckets_of(waiting, lo, step_s):
            buckets[bucket.index] = bucket.merge(buckets.get(bucket.index))
        return [buckets[i].record(lo, step_s) for i in sorted(buckets)]

    async def _select(self, lo: float, hi: float) -> list[HistoryRecord]:
        assert self._db is not None
        sql = f"SELECT {', '.join(COLUMNS)} FROM samples WHERE ts >= ? AND ts < ? ORDER BY ts"
        async with self._db.execute(sql, (lo, hi)) as cursor:
            return [HistoryRecord(*row) for row in await cursor.fetchall()]

    async def _select_buckets(self, lo: float, hi: float, step_s: float) -> list[Bucket]:
        assert self._db is not None
        averages = ", ".join(f"AVG({c})" for c in NUMERIC)
        sql = (
            f"SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, COUNT(*), {averages}, "
            "MAX(strategy), MAX(mode), MAX(status) FROM samples "
            "WHERE ts >= ? AND ts < ? GROUP BY bucket ORDER BY bucket"
        )
        async with self._db.execute(sql, (lo, step_s, lo, hi)) as cursor:
            rows = await cursor.fetchall()
        return [Bucket(row[0], row[1], tuple(row[2:-3]), tuple(row[-3:])) for row in rows]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One downsampled step: how many rows it averages, the averages and the labels."""

    index: int
    count: int
    averages: tuple[float | None, ...]  # in NUMERIC order
    labels: tuple[str | None, ...]  # strategy, mode, status

    def merge(self, other: Bucket | None) -> Bucket:
        """The bucket of both sets of rows (averages weighted by row count)."""
        if other is None:
            return self
        total = self.count + other.count
        averages = tuple(
            b if a is None else a if b is None else (a * self.count + b * other.count) / total
            for a, b in zip(self.averages, other.averages, strict=True)
        )
        labels = tuple(a if a is not None else b for a, b in zip(self.labels, other.labels, strict=True))
        return Bucket(self.index, total, averages, labels)

    def record(self, origin: float, step_s: float) -> HistoryRecord:
        return HistoryRecord(origin + self.index * step_s, *self.averages, *self.labels)  # type: ignore[arg-type]


def buckets_of(rows: Iterable[HistoryRecord], origin: float, step_s: float) -> list[Bucket]:
    """Rows averaged into buckets of ``step_s`` from ``origin`` (what the SQL query does)."""
    groups: dict[int, list[HistoryRecord]] = {}
    for row in rows:
        groups.setdefault(int((row.ts - origin) // step_s), []).append(row)
    out = []
    for index, members in groups.items():
        averages = []
        for name in NUMERIC:
            values = [v for v in (getattr(r, name) for r in members) if v is not None]
            averages.append(sum(values) / len(values) if values else None)
        labels = tuple(getattr(members[-1], n) for n in ("strategy", "mode", "status"))
        out.append(Bucket(index, len(members), tuple(averages), labels))
    return out


async def _read_energy(db: aiosqlite.Connection) -> EnergyTotals | None:
    sql = "SELECT since, charged_kwh, discharged_kwh, imported_kwh, exported_kwh FROM energy WHERE id = 0"
    async with db.execute(sql) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    since = None if row[0] is None else datetime.fromtimestamp(row[0], UTC)
    charged, discharged, imported, exported = (float(v or 0.0) for v in row[1:])
    return EnergyTotals(charged, discharged, imported, exported, since)


async def _write_energy(db: aiosqlite.Connection, ts: float, totals: EnergyTotals) -> None:
    await db.execute(
        "INSERT OR REPLACE INTO energy (id, ts, since, charged_kwh, discharged_kwh, imported_kwh, "
        "exported_kwh) VALUES (0, ?, ?, ?, ?, ?, ?)",
        (
            ts,
            None if totals.since is None else totals.since.timestamp(),
            totals.charged_kwh,
            totals.discharged_kwh,
            totals.imported_kwh,
            totals.exported_kwh,
        ),
    )


def _private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only, and tighten an existing file to 0600."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
