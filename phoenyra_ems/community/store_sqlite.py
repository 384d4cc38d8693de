"""The ledger in one SQLite file (the default): one file per community.

The connection runs in autocommit mode; ``write()`` is ``BEGIN IMMEDIATE`` … ``COMMIT``, which takes
SQLite's write lock at once, so a second process waits (up to ``timeout_s``) instead of appending
to a head that is no longer the head.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phoenyra_ems.community.store import COLUMNS, CheckpointRow, LedgerError, LedgerMissing, Row, Select

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, community TEXT NOT NULL, period TEXT NOT NULL,
    month TEXT NOT NULL, member TEXT, body TEXT NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_month ON records (month, kind);
CREATE INDEX IF NOT EXISTS records_period ON records (kind, period);
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size INTEGER PRIMARY KEY, body TEXT NOT NULL, signature TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"""


def conditions(query: Select) -> tuple[str, tuple[Any, ...]]:
    """``WHERE …`` (or "") and its parameters, with ``?`` placeholders."""
    given = query.conditions()
    parts = [f"{test} ?" for test, _ in given]
    params = [value for _, value in given]
    return ("WHERE " + " AND ".join(parts) if parts else ""), tuple(params)


class SqliteStore:
    """A ledger file (created with its folder, mode 0600, unless ``read_only``)."""

    def __init__(self, path: str | Path, read_only: bool = False, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        try:
            if read_only:
                if not self.path.exists():
                    raise LedgerMissing(f"{self.path}: no such ledger")
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
                self.db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as err:
            raise LedgerError(f"{self.path}: cannot open the ledger ({err})") from None
        if not read_only:
            with contextlib.suppress(OSError):  # someone else's copy, opened to read: left as it is
                self.path.chmod(0o600)

    @classmethod
    def from_connection(cls, db: sqlite3.Connection, path: str = ":memory:") -> SqliteStore:
        """A store over an open connection (its transactions are the caller's)."""
        store = cls.__new__(cls)
        store.path, store.db = Path(path), db
        return store

    @property
    def where(self) -> str:
        return str(self.path)

    def head(self) -> tuple[int, str] | None:
        row = self.db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], row[1])

    def select(self, query: Select) -> Iterator[Row]:
        where, params = conditions(query)
        order = "period, seq" if query.by_period else "seq"
        yield from self.db.execute(f"SELECT {COLUMNS} FROM records {where} ORDER BY {order}", params)

    def last(self, kind: str) -> Row | None:
        row: Row | None = self.db.execute(
            f"SELECT {COLUMNS} FROM records WHERE kind = ? ORDER BY seq DESC LIMIT 1", (kind,)
        ).fetchone()
        return row

    def has_period(self, kind: str, period: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM records WHERE kind = ? AND period = ? LIMIT 1", (kind, period)
        ).fetchone()
        return row is not None

    def hashes(self, below: int | None = None) -> Iterator[str]:
        if below is None:
            rows = self.db.execute("SELECT hash FROM records ORDER BY seq")
        else:
            rows = self.db.execute("SELECT hash FROM records WHERE seq < ? ORDER BY seq", (below,))
        for (digest,) in rows:
            yield digest

    def checkpoints(self) -> list[CheckpointRow]:
        return self.db.execute(
            "SELECT tree_size, body, signature FROM checkpoints ORDER BY tree_size"
        ).fetchall()

    def last_checkpoint(self) -> CheckpointRow | None:
        row: CheckpointRow | None = self.db.execute(
            "SELECT tree_size, body, signature FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        return row

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise LedgerError(f"{self.path}: cannot write the ledger ({err})") from None
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    def insert_record(self, row: Row) -> None:
        self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        self.db.execute("INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?)", row)

    def communities(self) -> list[str]:
        row = self.db.execute("SELECT community FROM records ORDER BY seq LIMIT 1").fetchone()
        return [] if row is None else [row[0]]

    def close(self) -> None:
        self.db.close()
