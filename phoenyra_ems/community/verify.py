"""``ledger verify``: the whole chain, every signature and every checkpoint; names the first broken record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from phoenyra_ems.community import keys
from phoenyra_ems.community.ledger import GENESIS_PREV, LedgerError, Verdict
from phoenyra_ems.community.store import LedgerStore, Select
from phoenyra_ems.community.store_sqlite import SqliteStore
from phoenyra_ems.core.community.merkle import CompactRange, leaf_hash

COLUMNS = ("kind", "community", "period", "month", "member")


class _Broken(Exception):
    def __init__(self, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.seq = seq


def _signature(text: str) -> bytes:
    try:
        sig = bytes.fromhex(text)
    except (ValueError, TypeError):
        sig = b""
    return sig


def verify_ledger(path: str | Path, pinned: Sequence[Ed25519PublicKey] = ()) -> Verdict:
    """Check the SQLite ledger ``path`` read-only. ``pinned``: public keys one of which it must use."""
    store = SqliteStore(path, read_only=True)
    try:
        return verify_store(store, pinned)
    except sqlite3.Error as err:
        raise LedgerError(f"{path}: not a readable ledger ({err})") from None
    finally:
        store.close()


def verify_db(db: sqlite3.Connection, pinned: Sequence[Ed25519PublicKey] = ()) -> Verdict:
    """:func:`verify_ledger` on an open SQLite connection (sqlite3 errors propagate)."""
    return verify_store(SqliteStore.from_connection(db), pinned)


def verify_store(store: LedgerStore, pinned: Sequence[Ed25519PublicKey] = ()) -> Verdict:
    """The whole chain of ``store`` (any backend; its driver's errors propagate)."""
    checkpoints = {size: (body, sig) for size, body, sig in store.checkpoints()}
    seen_keys: list[str] = []
    count = 0
    try:
        active: tuple[str, Ed25519PublicKey] | None = None
        prev = GENESIS_PREV
        compact = CompactRange()
        for seq, *columns, body, digest_hex, sig_hex in store.select(Select()):
            if seq != count:
                raise _Broken(count, f"record {count} is missing (the ledger goes on with record {seq})")
            active = _check_record(seq, columns, body, digest_hex, sig_hex, prev, active, seen_keys)
            prev = digest_hex
            compact.append(bytes.fromhex(digest_hex))
            count += 1
            if count in checkpoints:
                _check_checkpoint(count, *checkpoints[count], compact.root.hex(), active)
        beyond = [size for size in checkpoints if size > count]
        if beyond:
            raise _Broken(
                count,
                f"record {count} is missing: checkpoint at tree size {max(beyond)} covers "
                f"records up to {max(beyond) - 1}, the ledger ends at {count - 1}",
            )
        if pinned and not {keys.key_id(k) for k in pinned} & set(seen_keys):
            raise _Broken(
                None,
                "none of the ledger's keys is the given public key "
                f"(ledger keys: {', '.join(seen_keys) or 'none'})",
            )
    except _Broken as broken:
        return Verdict(False, count, len(checkpoints), tuple(seen_keys), str(broken), broken.seq)
    return Verdict(True, count, len(checkpoints), tuple(seen_keys))


def _check_record(
    seq: int,
    columns: list[Any],
    body: str,
    digest_hex: str,
    sig_hex: str,
    prev: str,
    active: tuple[str, Ed25519PublicKey] | None,
    seen_keys: list[str],
) -> tuple[str, Ed25519PublicKey]:
    try:
        parsed = json.loads(body)
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
    except (ValueError, TypeError):
        raise _Broken(seq, f"record {seq}: its body is not a JSON object (altered)") from None
    if parsed.get("seq") != seq:
        raise _Broken(seq, f"record {seq}: its body says record {parsed.get('seq')} (reordered or altered)")
    for name, value in zip(COLUMNS, columns, strict=True):
        if parsed.get(name) != value:
            raise _Broken(seq, f"record {seq}: its {name} column does not match its signed body (altered)")
    if not isinstance(body, str) or leaf_hash(body.encode()).hex() != digest_hex:
        raise _Broken(seq, f"record {seq}: its content does not match its hash (altered)")
    if parsed.get("prev") != prev:
        raise _Broken(
            seq, f"record {seq}: does not chain to record {seq - 1} (reordered, inserted or altered)"
        )
    raw_data = parsed.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if active is None:  # the first record introduces the key and signs itself
        if parsed.get("kind") != "key":
            raise _Broken(seq, f"record {seq}: the ledger does not start with its key record")
        active = _introduced(seq, data)
        seen_keys.append(active[0])
    if parsed.get("key_id") != active[0]:
        raise _Broken(
            seq,
            f"record {seq}: signed with key {parsed.get('key_id')}, the ledger's key "
            f"at that point is {active[0]}",
        )
    if not keys.verify(active[1], _signature(sig_hex), bytes.fromhex(digest_hex)):
        raise _Broken(seq, f"record {seq}: its signature is not valid for key {active[0]}")
    if parsed.get("kind") == "key" and seq > 0:
        if data.get("previous") != active[0]:
            raise _Broken(seq, f"record {seq}: key rotation does not name the outgoing key {active[0]}")
        active = _introduced(seq, data)
        seen_keys.append(active[0])
    return active


def _introduced(seq: int, data: dict[str, Any]) -> tuple[str, Ed25519PublicKey]:
    try:
        key = keys.public_from_hex(str(data.get("public_key")))
    except ValueError:
        raise _Broken(seq, f"record {seq}: its public key is not an Ed25519 key") from None
    if keys.key_id(key) != data.get("key_id"):
        raise _Broken(seq, f"record {seq}: key id {data.get('key_id')} is not its public key's id")
    return keys.key_id(key), key


def _check_checkpoint(
    size: int, body: str, sig_hex: str, root: str, active: tuple[str, Ed25519PublicKey] | None
) -> None:
    where = f"checkpoint at tree size {size} (records 0..{size - 1})"
    try:
        parsed = json.loads(body)
    except ValueError:
        raise _Broken(size - 1, f"{where}: not JSON (altered)") from None
    if active is None or parsed.get("key_id") != active[0]:
        raise _Broken(size - 1, f"{where}: not signed with the ledger's key at that point")
    if not keys.verify(active[1], _signature(sig_hex), body.encode()):
        raise _Broken(size - 1, f"{where}: its signature is not valid")
    if parsed.get("tree_size") != size or parsed.get("root") != root:
        raise _Broken(size - 1, f"{where}: its root does not match the records (history rewritten)")
