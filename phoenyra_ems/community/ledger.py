"""The community ledger: append-only, hash-chained, Ed25519-signed, Merkle checkpoints.

Every record is one canonical JSON ``body`` (sorted keys, no spaces) holding its sequence number,
kind, community, period, the previous record's hash and the signing key's id. Its hash is the
RFC 9162 leaf hash ``SHA-256(0x00 || body)`` — the chain link and the Merkle leaf at once — and
its signature is Ed25519 over that hash. Kinds: ``key`` (the first record introduces the key,
self-signed; a rotation is signed by the outgoing key), ``interval`` (one per interval and
community), ``settlement`` (one per member and month). Checkpoints are signed tree heads
(tree size, root) kept beside the records.

The rows live in a store (:mod:`.store`): a SQLite file by default, PostgreSQL for fleets. Both
refuse UPDATE and DELETE; ``verify`` finds what an attacker editing the rows directly does. Every
write runs under the store's write lock and starts from the head as stored, so two processes
appending to one ledger take turns and never fork the chain.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from phoenyra_ems.community import keys
from phoenyra_ems.community.store import LedgerError, LedgerStore, Select
from phoenyra_ems.community.store_sqlite import SCHEMA, SqliteStore
from phoenyra_ems.core.community.merkle import CompactRange, MerkleTree, leaf_hash

__all__ = ["SCHEMA", "Checkpoint", "Ledger", "LedgerError", "Record", "Verdict", "canonical"]

GENESIS_PREV = "0" * 64


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    kind: str
    community: str
    period: str
    month: str
    member: str | None
    body: str
    hash: str
    signature: str

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)["data"]
        return data

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "record",
            "seq": self.seq,
            "body": self.body,
            "hash": self.hash,
            "signature": self.signature,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tree_size: int
    root: str
    body: str
    signature: str

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "checkpoint",
            "tree_size": self.tree_size,
            "body": self.body,
            "signature": self.signature,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    records: int
    checkpoints: int
    keys: tuple[str, ...]
    problem: str = ""
    bad_seq: int | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ledger:
    """One community's ledger. Writing needs the private key (``key_dir``); reading does not.

    ``store``: a SQLite file's path, or an open :class:`~.store.LedgerStore` (closed with the ledger).
    """

    def __init__(
        self,
        store: str | Path | LedgerStore,
        community: str,
        key_dir: str | Path | None = None,
        checkpoint_every: int = 96,
    ) -> None:
        self.store: LedgerStore = SqliteStore(store) if isinstance(store, str | Path) else store
        self.community = community
        self.key_dir = Path(key_dir) if key_dir is not None else None
        self.checkpoint_every = checkpoint_every
        self._key: Ed25519PrivateKey | None = None
        self._key_id = ""
        self._size = 0
        self._head = GENESIS_PREV
        self._range: CompactRange | None = None
        self._sync()

    @classmethod
    def existing(cls, path: str | Path) -> Ledger:
        """An existing ledger file, read-only (its community read from its records)."""
        store = SqliteStore(path, read_only=True)
        try:
            found = store.communities()
        except sqlite3.Error as err:
            store.close()
            raise LedgerError(f"{path}: not a ledger ({err})") from None
        if not found:
            store.close()
            raise LedgerError(f"{path}: the ledger is empty")
        return cls(store, found[0])

    @property
    def where(self) -> str:
        """The file, or the database and community (for messages)."""
        return self.store.where

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- state -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    @property
    def head(self) -> str:
        return self._head

    def _sync(self) -> bool:
        """The head as stored (another process may have appended); True if it moved."""
        head = self.store.head()
        size, digest = (0, GENESIS_PREV) if head is None else (head[0] + 1, head[1])
        moved = (size, digest) != (self._size, self._head)
        self._size, self._head = size, digest
        if moved:
            self._range = None
        return moved

    def key_history(self) -> list[dict[str, Any]]:
        """The key records' data, oldest first: key_id, public_key (hex), previous, time."""
        return [json.loads(r[6])["data"] for r in self.store.select(Select(kind="key"))]

    def current_public_key(self) -> Ed25519PublicKey | None:
        history = self.key_history()
        return keys.public_from_hex(history[-1]["public_key"]) if history else None

    # --- writing ---------------------------------------------------------------------------

    def _signer(self) -> tuple[Ed25519PrivateKey, str]:
        """The private key; generated (and introduced by a self-signed key record) on first use."""
        if self._key is not None:
            return self._key, self._key_id
        if self.key_dir is None:
            raise LedgerError(f"{self.where}: no key directory given: this ledger is opened read-only")
        try:
            key = keys.load_private(self.key_dir)
        except keys.KeyFileError as err:
            raise LedgerError(str(err)) from None
        current = self.current_public_key()
        if key is None and current is None:
            key = keys.new_private(self.key_dir)
        if key is None:
            raise LedgerError(
                f"{self.key_dir / keys.PRIVATE_FILE}: missing; the ledger's records are signed with key "
                f"{keys.key_id(current) if current else '?'}: restore that file"
            )
        if current is not None and keys.raw_public(key.public_key()) != keys.raw_public(current):
            raise LedgerError(
                f"{self.key_dir / keys.PRIVATE_FILE}: key {keys.key_id(key.public_key())} is not the "
                f"ledger's current key {keys.key_id(current)}"
            )
        if current is None:  # a new ledger (or a key prepared in advance): the key is introduced now
            with self._writing():
                if self.store.head() is None:  # not introduced by another writer meanwhile
                    self._key, self._key_id = key, keys.key_id(key.public_key())
                    self._append_one("key", self._key_id, "", None, self._key_record(key, None))
            if self._key is None:
                return self._signer()  # check the key against the one the other writer introduced
        self._key, self._key_id = key, keys.key_id(key.public_key())
        return self._key, self._key_id

    @contextmanager
    def _writing(self) -> Iterator[bool]:
        """A write transaction under the store's lock, from the stored head; yields whether the head
        moved since this ledger last saw it (another process appended). Rolled back on error."""
        try:
            with self.store.write():
                yield self._sync()
        except BaseException:
            self._range = None
            with suppress(Exception):  # (a broken connection: the next write reads the head again)
                self._sync()
            raise

    @staticmethod
    def _key_record(key: Ed25519PrivateKey, previous: str | None) -> dict[str, Any]:
        pub = key.public_key()
        return {
            "key_id": keys.key_id(pub),
            "public_key": keys.raw_public(pub).hex(),
            "previous": previous,
            "time": _now(),
        }

    def _append_one(
        self, kind: str, period: str, month: str, member: str | None, data: dict[str, Any]
    ) -> Record:
        key, kid = self._key, self._key_id
        assert key is not None
        body = canonical(
            {
                "seq": self._size,
                "kind": kind,
                "community": self.community,
                "period": period,
                "month": month,
                "member": member,
                "prev": self._head,
                "key_id": kid,
                "data": data,
            }
        )
        digest = leaf_hash(body.encode())
        record = Record(
            self._size,
            kind,
            self.community,
            period,
            month,
            member,
            body,
            digest.hex(),
            key.sign(digest).hex(),
        )
        self.store.insert_record(
            (record.seq, kind, self.community, period, month, member, body, record.hash, record.signature)
        )
        self._size += 1
        self._head = record.hash
        if self._range is not None:
            self._range.append(digest)
        return record

    def append(self, entries: Iterable[tuple[str, str, str, str | None, dict[str, Any]]]) -> list[Record]:
        """Append (kind, period, month, member, data) entries in one transaction; checkpoints as due.

        An interval another process recorded since this ledger last read the head (same period) is
        skipped, not recorded twice: check ``has_interval`` (or read the records) before, as
        ``allocate_month`` does, and two daemons record each interval once.
        """
        self._signer()
        out: list[Record] = []
        with self._writing() as moved:
            last_cp = self.store.last_checkpoint()
            since = self._size - (last_cp[0] if last_cp else 0)
            for kind, period, month, member, data in entries:
                if moved and kind == "interval" and self.store.has_period(kind, period):
                    continue
                out.append(self._append_one(kind, period, month, member, data))
                since += 1
                if since >= self.checkpoint_every:
                    self._checkpoint()
                    since = 0
        return out

    def rotate_key(self) -> str:
        """A new key, introduced by a record the outgoing key signs; returns the new key id."""
        old, old_id = self._signer()
        assert self.key_dir is not None
        with self._writing():
            new = keys.new_private(self.key_dir)
            self._append_one("key", keys.key_id(new.public_key()), "", None, self._key_record(new, old_id))
            del old
            self._key, self._key_id = new, keys.key_id(new.public_key())
            self._checkpoint()
        return self._key_id

    def _leaf_range(self) -> CompactRange:
        if self._range is None or self._range.size != self._size:
            compact = CompactRange()
            for h in self.store.hashes():
                compact.append(bytes.fromhex(h))
            self._range = compact
        return self._range

    def _checkpoint(self) -> Checkpoint:
        key, kid = self._signer()
        root = self._leaf_range().root.hex()
        body = canonical(
            {
                "community": self.community,
                "tree_size": self._size,
                "root": root,
                "key_id": kid,
                "time": _now(),
                "head": self._head,
            }
        )
        cp = Checkpoint(self._size, root, body, key.sign(body.encode()).hex())
        self.store.insert_checkpoint((cp.tree_size, body, cp.signature))
        return cp

    def checkpoint(self) -> Checkpoint:
        """A signed tree head over every record so far (the existing one if nothing was added)."""
        self._sync()
        last = self.last_checkpoint()
        if last is not None and last.tree_size == self._size:
            return last  # (no key needed)
        self._signer()
        with self._writing():
            last = self.last_checkpoint()
            if last is not None and last.tree_size == self._size:
                return last
            return self._checkpoint()

    # --- reading ---------------------------------------------------------------------------

    def records(
        self,
        kind: str | None = None,
        month: str | None = None,
        since: str | None = None,
        until: str | None = None,
        member: str | None = None,
    ) -> Iterator[Record]:
        """The records (in order) whose columns match every given value; ``since <= period < until``."""
        for row in self.store.select(Select(kind, month, since, until, member)):
            yield Record(*row)

    def checkpoints(self) -> list[Checkpoint]:
        return [_checkpoint(*row) for row in self.store.checkpoints()]

    def last_checkpoint(self) -> Checkpoint | None:
        row = self.store.last_checkpoint()
        return None if row is None else _checkpoint(*row)

    def has_interval(self, period: str) -> bool:
        return self.store.has_period("interval", period)

    def leaf_hashes(self, size: int) -> list[bytes]:
        return [bytes.fromhex(h) for h in self.store.hashes(size)]

    def tree(self, size: int) -> MerkleTree:
        return MerkleTree(self.leaf_hashes(size))


def _checkpoint(size: int, body: str, signature: str) -> Checkpoint:
    return Checkpoint(size, json.loads(body).get("root", ""), body, signature)
