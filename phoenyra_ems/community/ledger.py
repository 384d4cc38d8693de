"""The community ledger: append-only SQLite, hash-chained, Ed25519-signed, Merkle checkpoints.

Every record is one canonical JSON ``body`` (sorted keys, no spaces) holding its sequence number,
kind, community, period, the previous record's hash and the signing key's id. Its hash is the
RFC 9162 leaf hash ``SHA-256(0x00 || body)`` — the chain link and the Merkle leaf at once — and
its signature is Ed25519 over that hash. Kinds: ``key`` (the first record introduces the key,
self-signed; a rotation is signed by the outgoing key), ``interval`` (one per interval and
community), ``settlement`` (one per member and month). Checkpoints are signed tree heads
(tree size, root) kept beside the records.

Triggers refuse UPDATE and DELETE; ``verify`` finds what an attacker editing the file directly does.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from phoenyra_ems.community import keys
from phoenyra_ems.core.community.merkle import CompactRange, MerkleTree, leaf_hash

GENESIS_PREV = "0" * 64
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


class LedgerError(Exception):
    """The ledger cannot be opened or written (names the file)."""


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
    """One community's ledger file. Writing needs the private key (``key_dir``); reading does not."""

    def __init__(
        self, path: str | Path, community: str, key_dir: str | Path | None = None, checkpoint_every: int = 96
    ) -> None:
        self.path = Path(path)
        self.community = community
        self.key_dir = Path(key_dir) if key_dir is not None else None
        self.checkpoint_every = checkpoint_every
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path)
            self.db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as err:
            raise LedgerError(f"{self.path}: cannot open the ledger ({err})") from None
        with contextlib.suppress(OSError):  # someone else's copy, opened to read: left as it is
            self.path.chmod(0o600)
        self._key: Ed25519PrivateKey | None = None
        self._key_id = ""
        head = self.db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        self._size = 0 if head is None else head[0] + 1
        self._head = GENESIS_PREV if head is None else head[1]
        self._range: CompactRange | None = None

    @classmethod
    def existing(cls, path: str | Path) -> Ledger:
        """An existing ledger file, read-only (its community read from its records)."""
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT community FROM records ORDER BY seq LIMIT 1").fetchone()
        except sqlite3.Error as err:
            raise LedgerError(f"{path}: not a ledger ({err})") from None
        finally:
            db.close()
        if row is None:
            raise LedgerError(f"{path}: the ledger is empty")
        return cls(path, row[0])

    def close(self) -> None:
        self.db.close()

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

    def key_history(self) -> list[dict[str, Any]]:
        """The key records' data, oldest first: key_id, public_key (hex), previous, time."""
        rows = self.db.execute("SELECT body FROM records WHERE kind = 'key' ORDER BY seq").fetchall()
        return [json.loads(r[0])["data"] for r in rows]

    def current_public_key(self) -> Ed25519PublicKey | None:
        history = self.key_history()
        return keys.public_from_hex(history[-1]["public_key"]) if history else None

    # --- writing ---------------------------------------------------------------------------

    def _signer(self) -> tuple[Ed25519PrivateKey, str]:
        """The private key; generated (and introduced by a self-signed key record) on first use."""
        if self._key is not None:
            return self._key, self._key_id
        if self.key_dir is None:
            raise LedgerError(f"{self.path}: no key directory given: this ledger is opened read-only")
        try:
            key = keys.load_private(self.key_dir)
        except keys.KeyFileError as err:
            raise LedgerError(str(err)) from None
        current = self.current_public_key()
        if key is None and current is None:
            key = keys.new_private(self.key_dir)
            self._key, self._key_id = key, keys.key_id(key.public_key())
            self._append_one("key", self._key_id, "", None, self._key_record(key, None), commit=True)
            return self._key, self._key_id
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
        self._key, self._key_id = key, keys.key_id(key.public_key())
        if current is None:  # a key prepared in advance: introduced now
            self._append_one("key", self._key_id, "", None, self._key_record(key, None), commit=True)
        return self._key, self._key_id

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
        self,
        kind: str,
        period: str,
        month: str,
        member: str | None,
        data: dict[str, Any],
        commit: bool = False,
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
        self.db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.seq, kind, self.community, period, month, member, body, record.hash, record.signature),
        )
        self._size += 1
        self._head = record.hash
        if self._range is not None:
            self._range.append(digest)
        if commit:
            self.db.commit()
        return record

    def append(self, entries: Iterable[tuple[str, str, str, str | None, dict[str, Any]]]) -> list[Record]:
        """Append (kind, period, month, member, data) entries in one transaction; checkpoints as due."""
        self._signer()
        out: list[Record] = []
        last_cp = self.last_checkpoint()
        since = self._size - (last_cp.tree_size if last_cp else 0)
        try:
            for kind, period, month, member, data in entries:
                out.append(self._append_one(kind, period, month, member, data))
                since += 1
                if since >= self.checkpoint_every:
                    self._checkpoint()
                    since = 0
            self.db.commit()
        except BaseException:
            self.db.rollback()
            self._reload_head()
            raise
        return out

    def _reload_head(self) -> None:
        head = self.db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        self._size = 0 if head is None else head[0] + 1
        self._head = GENESIS_PREV if head is None else head[1]
        self._range = None

    def rotate_key(self) -> str:
        """A new key, introduced by a record the outgoing key signs; returns the new key id."""
        old, old_id = self._signer()
        assert self.key_dir is not None
        new = keys.new_private(self.key_dir)
        self._append_one("key", keys.key_id(new.public_key()), "", None, self._key_record(new, old_id))
        del old
        self._key, self._key_id = new, keys.key_id(new.public_key())
        self._checkpoint()
        self.db.commit()
        return self._key_id

    def _leaf_range(self) -> CompactRange:
        if self._range is None or self._range.size != self._size:
            compact = CompactRange()
            for (h,) in self.db.execute("SELECT hash FROM records ORDER BY seq"):
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
        self.db.execute(
            "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?)", (cp.tree_size, body, cp.signature)
        )
        return cp

    def checkpoint(self) -> Checkpoint:
        """A signed tree head over every record so far (the existing one if nothing was added)."""
        last = self.last_checkpoint()
        if last is not None and last.tree_size == self._size:
            return last
        cp = self._checkpoint()
        self.db.commit()
        return cp

    # --- reading ---------------------------------------------------------------------------

    def records(self, where: str = "", params: tuple[Any, ...] = ()) -> Iterator[Record]:
        sql = "SELECT seq, kind, community, period, month, member, body, hash, signature FROM records"
        for row in self.db.execute(f"{sql} {where} ORDER BY seq", params):
            yield Record(*row)

    def checkpoints(self) -> list[Checkpoint]:
        rows = self.db.execute("SELECT tree_size, body, signature FROM checkpoints ORDER BY tree_size")
        return [Checkpoint(size, json.loads(body).get("root", ""), body, sig) for size, body, sig in rows]

    def last_checkpoint(self) -> Checkpoint | None:
        row = self.db.execute(
            "SELECT tree_size, body, signature FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else Checkpoint(row[0], json.loads(row[1]).get("root", ""), row[1], row[2])

    def has_interval(self, period: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM records WHERE kind = 'interval' AND period = ? LIMIT 1", (period,)
        ).fetchone()
        return row is not None

    def leaf_hashes(self, size: int) -> list[bytes]:
        rows = self.db.execute("SELECT hash FROM records WHERE seq < ? ORDER BY seq", (size,))
        return [bytes.fromhex(h) for (h,) in rows]

    def tree(self, size: int) -> MerkleTree:
        return MerkleTree(self.leaf_hashes(size))
