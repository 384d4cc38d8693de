"""Where a test ledger lives — a SQLite file or a database of the real PostgreSQL test server — and
what an attacker with direct access to it does (the append-only triggers bypassed)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from phoenyra_ems.community.ledger import Ledger, Verdict
from phoenyra_ems.community.store import LedgerStore
from phoenyra_ems.community.store_postgres import NAMESPACE, PostgresStore
from phoenyra_ems.community.store_sqlite import SqliteStore
from phoenyra_ems.community.verify import verify_db, verify_store
from tests.postgres_server import PostgresServer

BACKENDS = ("sqlite", "postgresql")
TRIGGERS = ("records_no_update", "records_no_delete", "checkpoints_no_update", "checkpoints_no_delete")


class Place:
    """A ledger of community ``community`` and its key folder."""

    backend = ""

    def __init__(self, folder: Path, community: str = "c1") -> None:
        self.folder = folder
        self.community = community
        self.key_dir = folder / "keys"

    def store(self, read_only: bool = False) -> LedgerStore:
        raise NotImplementedError

    def open(self, key_dir: Path | None = None, checkpoint_every: int = 4) -> Ledger:
        """Writable, signing with ``key_dir`` (default: this place's)."""
        return Ledger(self.store(), self.community, key_dir or self.key_dir, checkpoint_every)

    def reader(self) -> Ledger:
        return Ledger(self.store(read_only=True), self.community)

    def verify(self, pinned: Sequence[Ed25519PublicKey] = ()) -> Verdict:
        store = self.store(read_only=True)
        try:
            return verify_store(store, pinned)
        finally:
            store.close()

    def cli(self) -> list[str]:
        """The arguments that point ``phoenyra-ems ledger …`` at this ledger."""
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``?`` placeholders, tables ``records`` and ``checkpoints``)."""
        raise NotImplementedError

    def attack(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """What someone with direct write access does: the triggers bypassed, ``sql`` committed."""
        raise NotImplementedError

    def refused(self, sql: str) -> str:
        """The error an ordinary UPDATE/DELETE meets (the triggers in place)."""
        raise NotImplementedError

    def copy(self, folder: Path) -> Place:
        raise NotImplementedError

    def altered_verdict(self, seq: int, column: str, value: str) -> Verdict:
        """``verify`` with one column of one record replaced (in a throwaway copy/transaction)."""
        raise NotImplementedError


class SqlitePlace(Place):
    backend = "sqlite"

    @property
    def path(self) -> Path:
        return self.folder / "ledger.db"

    def store(self, read_only: bool = False) -> LedgerStore:
        return SqliteStore(self.path, read_only=read_only)

    def cli(self) -> list[str]:
        return ["--ledger", str(self.path)]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.path)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def attack(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        db = sqlite3.connect(self.path)  # the file's owner: drops the triggers
        for trigger in TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        db.execute(sql, params)
        db.commit()
        db.close()

    def refused(self, sql: str) -> str:
        db = sqlite3.connect(self.path)
        try:
            db.execute(sql)
        except sqlite3.IntegrityError as err:
            return str(err)
        finally:
            db.close()
        raise AssertionError(f"not refused: {sql}")

    def copy(self, folder: Path) -> Place:
        other = SqlitePlace(folder, self.community)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.path, other.path)
        shutil.copytree(self.key_dir, other.key_dir)
        return other

    def altered_verdict(self, seq: int, column: str, value: str) -> Verdict:
        source, db = sqlite3.connect(self.path), sqlite3.connect(":memory:")
        source.backup(db)
        source.close()
        db.execute("DROP TRIGGER records_no_update")
        db.execute(f"UPDATE records SET {column} = ? WHERE seq = ?", (value, seq))
        try:
            return verify_db(db)
        finally:
            db.close()


class PostgresPlace(Place):
    """A database of its own on the test server (tables in schema ``phoenyra_ledger``)."""

    backend = "postgresql"

    def __init__(
        self, folder: Path, server: PostgresServer, database: str = "", community: str = "c1"
    ) -> None:
        super().__init__(folder, community)
        self.server = server
        self.database = database or server.create_database()

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.database)

    def store(self, read_only: bool = False) -> LedgerStore:
        return PostgresStore(self.dsn, self.community, read_only=read_only)

    def cli(self) -> list[str]:
        return ["--dsn", self.dsn]

    def _conn(self) -> Any:
        conn = self.server.admin(self.database)
        conn.execute(f"SET search_path = {NAMESPACE}")
        return conn

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            rows: list[tuple[Any, ...]] = conn.execute(sql.replace("?", "%s"), params).fetchall()
            return rows

    def attack(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self._conn() as conn:  # a superuser: triggers off for this session only
            conn.execute("SET session_replication_role = replica")
            conn.execute(sql.replace("?", "%s"), params)

    def refused(self, sql: str) -> str:
        import psycopg

        with self._conn() as conn:
            try:
                conn.execute(sql)
            except psycopg.errors.IntegrityConstraintViolation as err:
                return str(err)
        raise AssertionError(f"not refused: {sql}")

    def copy(self, folder: Path) -> Place:
        other = PostgresPlace(folder, self.server, self.server.create_database(self.database), self.community)
        shutil.copytree(self.key_dir, other.key_dir)
        return other

    def altered_verdict(self, seq: int, column: str, value: str) -> Verdict:
        with self._conn() as conn, conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(f"UPDATE records SET {column} = %s WHERE seq = %s", (value, seq))
            return verify_store(PostgresStore.from_connection(conn, self.community))


def make_place(backend: str, folder: Path, request: Any) -> Place:
    if backend == "sqlite":
        return SqlitePlace(folder)
    return PostgresPlace(folder, request.getfixturevalue("postgres_server"))
