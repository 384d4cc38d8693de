"""The ledger in PostgreSQL (``ledger: {backend: postgresql, dsn: …}``): for fleets, one database
that several daemons write and read. Needs ``pip install 'phoenyra-ems[postgres]'`` (psycopg 3).

Tables ``phoenyra_ledger.records`` and ``phoenyra_ledger.checkpoints`` hold every community of the
database, keyed by (community, seq). Triggers refuse UPDATE, DELETE and TRUNCATE, as the SQLite
schema does; only a superuser who switches them off (``session_replication_role = replica``) or a
table owner who drops them can edit rows — and ``verify`` names what they changed. The schema is
created on first use if the role may (``CREATE`` on the database); otherwise an administrator runs
:data:`SCHEMA` once, and the daemons' role needs only ``USAGE`` on the schema and ``SELECT, INSERT``
on the tables.

``write()`` takes a transaction-level advisory lock per community: appends from two daemons take
turns, each reading the head again under the lock, so the chain never forks.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

from phoenyra_ems.community.store import COLUMNS, CheckpointRow, LedgerError, LedgerMissing, Row, Select

NAMESPACE = "phoenyra_ledger"
RECORDS = f"{NAMESPACE}.records"
CHECKPOINTS = f"{NAMESPACE}.checkpoints"
PAGE = 1000  # records per round trip when reading in order (keyset pages: memory stays flat)

SCHEMA = f"""
CREATE SCHEMA IF NOT EXISTS {NAMESPACE};
CREATE TABLE IF NOT EXISTS {RECORDS} (
    community TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, period TEXT NOT NULL,
    month TEXT NOT NULL, member TEXT, body TEXT NOT NULL, hash TEXT NOT NULL, signature TEXT NOT NULL,
    PRIMARY KEY (community, seq)
);
CREATE INDEX IF NOT EXISTS records_month ON {RECORDS} (community, month, kind);
CREATE INDEX IF NOT EXISTS records_period ON {RECORDS} (community, kind, period);
CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (
    community TEXT NOT NULL, tree_size BIGINT NOT NULL, body TEXT NOT NULL, signature TEXT NOT NULL,
    PRIMARY KEY (community, tree_size)
);
CREATE OR REPLACE FUNCTION {NAMESPACE}.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE OR REPLACE TRIGGER records_no_update BEFORE UPDATE ON {RECORDS}
    FOR EACH ROW EXECUTE FUNCTION {NAMESPACE}.append_only();
CREATE OR REPLACE TRIGGER records_no_delete BEFORE DELETE ON {RECORDS}
    FOR EACH ROW EXECUTE FUNCTION {NAMESPACE}.append_only();
CREATE OR REPLACE TRIGGER records_no_truncate BEFORE TRUNCATE ON {RECORDS}
    FOR EACH STATEMENT EXECUTE FUNCTION {NAMESPACE}.append_only();
CREATE OR REPLACE TRIGGER checkpoints_no_update BEFORE UPDATE ON {CHECKPOINTS}
    FOR EACH ROW EXECUTE FUNCTION {NAMESPACE}.append_only();
CREATE OR REPLACE TRIGGER checkpoints_no_delete BEFORE DELETE ON {CHECKPOINTS}
    FOR EACH ROW EXECUTE FUNCTION {NAMESPACE}.append_only();
CREATE OR REPLACE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON {CHECKPOINTS}
    FOR EACH STATEMENT EXECUTE FUNCTION {NAMESPACE}.append_only();
"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise LedgerError(
            "the PostgreSQL ledger needs psycopg 3: pip install 'phoenyra-ems[postgres]'"
        ) from None
    return psycopg


def conditions(community: str, query: Select) -> tuple[str, list[Any]]:
    """``WHERE community = %s AND …`` and its parameters."""
    given = query.conditions()
    parts = ["community = %s", *(f"{test} %s" for test, _ in given)]
    params: list[Any] = [community, *(value for _, value in given)]
    return "WHERE " + " AND ".join(parts), params


class PostgresStore:
    """Community ``community``'s ledger in the database ``dsn`` names (the schema created if absent,
    unless ``read_only``: then :class:`LedgerMissing` when there is none)."""

    def __init__(
        self,
        dsn: str,
        community: str,
        password: str | None = None,
        read_only: bool = False,
        connect_timeout_s: int = 10,
        lock_timeout_s: float = 60.0,
    ) -> None:
        psycopg = _psycopg()
        self.dsn, self.community = dsn, community
        extra: dict[str, Any] = {"connect_timeout": connect_timeout_s, "application_name": "phoenyra-ems"}
        if password is not None:
            extra["password"] = password
        try:
            self.conn: Any = psycopg.connect(dsn, autocommit=True, **extra)  # psycopg.Connection
        except psycopg.Error as err:
            raise LedgerError(f"{self.where}: cannot connect ({_first_line(err)})") from None
        try:  # a writer that holds the ledger's lock too long makes this one fail, not hang
            self.conn.execute(f"SET lock_timeout = {int(lock_timeout_s * 1000)}")
            if not self._schema_exists():
                if read_only:
                    raise LedgerMissing(f"{self.where}: no such ledger (no {RECORDS} table)")
                self._create_schema()
        except psycopg.Error as err:
            self.conn.close()
            hint = (
                "; an administrator creates the schema once (docs/community.md)"
                if isinstance(err, psycopg.errors.InsufficientPrivilege)
                else ""
            )
            raise LedgerError(f"{self.where}: cannot open the ledger ({_first_line(err)}){hint}") from None
        except LedgerError:
            self.conn.close()
            raise

    @classmethod
    def from_connection(cls, conn: Any, community: str, dsn: str = "") -> PostgresStore:
        """A store over an open connection (its transactions are the caller's)."""
        store = cls.__new__(cls)
        store.conn, store.community, store.dsn = conn, community, dsn or "postgresql"
        return store

    def _schema_exists(self) -> bool:
        row = self.conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL", (RECORDS, CHECKPOINTS)
        ).fetchone()
        return bool(row and row[0])

    def _create_schema(self) -> None:
        with self.conn.transaction():  # one at a time: CREATE … IF NOT EXISTS races with itself
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{NAMESPACE} schema",))
            if not self._schema_exists():
                self.conn.execute(SCHEMA.encode())

    @property
    def where(self) -> str:
        return f"{redacted(self.dsn)} community {self.community}"

    def head(self) -> tuple[int, str] | None:
        row = self.conn.execute(
            f"SELECT seq, hash FROM {RECORDS} WHERE community = %s ORDER BY seq DESC LIMIT 1",
            (self.community,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def select(self, query: Select) -> Iterator[Row]:
        where, params = conditions(self.community, query)
        if query.by_period:
            yield from self.conn.execute(
                f"SELECT {COLUMNS} FROM {RECORDS} {where} ORDER BY period, seq", params
            ).fetchall()
            return
        after: int | None = None  # keyset pages on (community, seq): other queries may run in between
        while True:
            page = f"{where} AND seq > %s" if after is not None else where
            rows = self.conn.execute(
                f"SELECT {COLUMNS} FROM {RECORDS} {page} ORDER BY seq LIMIT {PAGE}",
                [*params, after] if after is not None else params,
            ).fetchall()
            yield from rows
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def last(self, kind: str) -> Row | None:
        row: Row | None = self.conn.execute(
            f"SELECT {COLUMNS} FROM {RECORDS} WHERE community = %s AND kind = %s ORDER BY seq DESC LIMIT 1",
            (self.community, kind),
        ).fetchone()
        return row

    def has_period(self, kind: str, period: str) -> bool:
        row = self.conn.execute(
            f"SELECT 1 FROM {RECORDS} WHERE community = %s AND kind = %s AND period = %s LIMIT 1",
            (self.community, kind, period),
        ).fetchone()
        return row is not None

    def hashes(self, below: int | None = None) -> Iterator[str]:
        sql = f"SELECT hash FROM {RECORDS} WHERE community = %s"
        params: list[Any] = [self.community]
        if below is not None:
            sql += " AND seq < %s"
            params.append(below)
        for (digest,) in self.conn.execute(sql + " ORDER BY seq", params).fetchall():
            yield digest

    def checkpoints(self) -> list[CheckpointRow]:
        rows: list[CheckpointRow] = self.conn.execute(
            f"SELECT tree_size, body, signature FROM {CHECKPOINTS} WHERE community = %s ORDER BY tree_size",
            (self.community,),
        ).fetchall()
        return rows

    def last_checkpoint(self) -> CheckpointRow | None:
        row: CheckpointRow | None = self.conn.execute(
            f"SELECT tree_size, body, signature FROM {CHECKPOINTS} WHERE community = %s "
            "ORDER BY tree_size DESC LIMIT 1",
            (self.community,),
        ).fetchone()
        return row

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self.conn.transaction():
            lock = f"{NAMESPACE}:{self.community}"
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            yield

    def insert_record(self, row: Row) -> None:
        self.conn.execute(
            f"INSERT INTO {RECORDS} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", row
        )

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        self.conn.execute(
            f"INSERT INTO {CHECKPOINTS} (community, tree_size, body, signature) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (self.community, *row),
        )

    def communities(self) -> list[str]:
        """Every community with records in this database."""
        rows = self.conn.execute(f"SELECT DISTINCT community FROM {RECORDS} ORDER BY community").fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


def redacted(dsn: str) -> str:
    """``dsn`` without a password (should one have been given in it after all)."""
    if "://" in dsn:
        parts = urllib.parse.urlsplit(dsn)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            dsn = urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
        return re.sub(r"(?i)(password=)[^&]*", r"\1***", dsn)
    return re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
