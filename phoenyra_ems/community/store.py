"""Where a community ledger's rows live: one interface, two stores (SQLite, PostgreSQL).

The ledger (hash chain, signatures, checkpoints), ``verify``, ``prove`` and ``export`` see only
this interface, so they behave the same on both. A store keeps rows, nothing else: it never
computes a hash or a signature. Both refuse UPDATE and DELETE of a written row (triggers), and
``write()`` is a transaction holding the ledger's write lock, so two processes appending to the
same ledger take turns instead of both extending the same head.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from phoenyra_ems.config.community_model import LedgerConfig

# seq, kind, community, period, month, member, body, hash, signature (as stored: unchecked)
Row = tuple[int, str, str, str, str, str | None, str, str, str]
# tree_size, body, signature
CheckpointRow = tuple[int, str, str]
COLUMNS = "seq, kind, community, period, month, member, body, hash, signature"


class LedgerError(Exception):
    """The ledger cannot be opened, read or written (names the file or database)."""


class LedgerMissing(LedgerError):
    """Opened to read, but there is no such ledger (yet)."""


@dataclass(frozen=True, slots=True)
class Select:
    """Which records: every given condition holds (None: any)."""

    kind: str | None = None
    month: str | None = None
    since: str | None = None  # period >= since
    until: str | None = None  # period < until
    member: str | None = None
    by_period: bool = False  # ordered by period (then seq) instead of seq

    def conditions(self) -> list[tuple[str, str]]:
        """The conditions it sets, as (``column operator``, value), for either store's SQL."""
        given = (
            ("kind =", self.kind),
            ("month =", self.month),
            ("period >=", self.since),
            ("period <", self.until),
            ("member =", self.member),
        )
        return [(test, value) for test, value in given if value is not None]


class LedgerStore(Protocol):
    """The rows of one community's ledger."""

    @property
    def where(self) -> str:
        """The ledger's place for messages (a file; a database and community; never a password)."""

    def head(self) -> tuple[int, str] | None:
        """The last record's (seq, hash)."""

    def select(self, query: Select) -> Iterator[Row]: ...

    def last(self, kind: str) -> Row | None:
        """The newest record of ``kind``."""

    def has_period(self, kind: str, period: str) -> bool: ...

    def hashes(self, below: int | None = None) -> Iterator[str]:
        """The records' hashes in order (those with seq < ``below``)."""

    def checkpoints(self) -> list[CheckpointRow]: ...

    def last_checkpoint(self) -> CheckpointRow | None: ...

    def write(self) -> AbstractContextManager[None]:
        """One transaction holding the ledger's write lock (committed at exit, rolled back on error).

        Read the head again inside: another process may have appended since."""

    def insert_record(self, row: Row) -> None: ...

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        """Kept once per tree size (a second one of the same size is ignored)."""

    def close(self) -> None: ...


def errors() -> tuple[type[Exception], ...]:
    """The exceptions reading a store may raise (the drivers' own and ours)."""
    found: tuple[type[Exception], ...] = (LedgerError, sqlite3.Error)
    try:
        import psycopg
    except ImportError:
        return found
    return (*found, psycopg.Error)


def open_store(config: LedgerConfig, community: str, read_only: bool = False) -> LedgerStore:
    """The store ``config`` names. ``read_only``: never created; :class:`LedgerMissing` if absent."""
    if config.backend == "postgresql":
        from phoenyra_ems.community.store_postgres import PostgresStore

        assert config.dsn is not None  # the schema requires it
        return PostgresStore(config.dsn, community, config.password, read_only=read_only)
    from phoenyra_ems.community.store_sqlite import SqliteStore

    return SqliteStore(config.path, read_only=read_only)
