"""Inclusion proofs for one member's records, and the small standalone checker.

A proof document (JSON) carries a signed checkpoint and, per record, its body, hash, signature and
RFC 9162 audit path. ``check_proof`` needs nothing but the document and the ledger's public key(s):
it checks the checkpoint's signature, then for every record its signature, that it concerns the
member, and that its leaf hash at its index leads to the checkpoint's root.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from phoenyra_ems.community import keys
from phoenyra_ems.community.ledger import Ledger, LedgerError, Record
from phoenyra_ems.core.community.merkle import leaf_hash, verify_inclusion

FORMAT = "phoenyra-ledger-proof/1"


def member_records(ledger: Ledger, member: str, month: str) -> list[Record]:
    """The member's interval and settlement records of a month, in order."""
    return [
        r
        for r in ledger.records(month=month)
        if (r.kind == "settlement" and r.member == member)
        or (r.kind == "interval" and f'"{member}":' in r.body and member in r.data["members"])
    ]


def prove(ledger: Ledger, member: str, month: str) -> dict[str, Any]:
    """The member's records of ``month`` with inclusion proofs against the latest checkpoint."""
    records = member_records(ledger, member, month)
    if not records:
        raise LedgerError(f"no records of member {member!r} in {month}")
    checkpoint = ledger.last_checkpoint()
    if checkpoint is None or checkpoint.tree_size <= records[-1].seq:
        checkpoint = ledger.checkpoint()  # needs the private key
    tree = ledger.tree(checkpoint.tree_size)
    return {
        "format": FORMAT,
        "community": ledger.community,
        "member": member,
        "month": month,
        "checkpoint": {"body": checkpoint.body, "signature": checkpoint.signature},
        "records": [
            {
                "index": r.seq,
                "body": r.body,
                "signature": r.signature,
                "path": [p.hex() for p in tree.path(r.seq)],
            }
            for r in records
        ],
    }


@dataclass(frozen=True, slots=True)
class ProofResult:
    ok: bool
    checked: int
    problems: tuple[str, ...]


def _key_for(key_id: Any, public_keys: Sequence[Ed25519PublicKey]) -> Ed25519PublicKey | None:
    return next((k for k in public_keys if keys.key_id(k) == key_id), None)


def _sig(text: Any) -> bytes:
    try:
        return bytes.fromhex(str(text))
    except ValueError:
        return b""


def check_proof(document: dict[str, Any], public_keys: Sequence[Ed25519PublicKey]) -> ProofResult:
    """Verify a ``prove`` document with the public key(s) only."""
    problems: list[str] = []
    if document.get("format") != FORMAT:
        return ProofResult(False, 0, (f"not a {FORMAT} document",))
    try:
        cp_body = str(document["checkpoint"]["body"])
        cp = json.loads(cp_body)
        root, size = bytes.fromhex(cp["root"]), int(cp["tree_size"])
    except (KeyError, TypeError, ValueError):
        return ProofResult(False, 0, ("the checkpoint is missing or malformed",))
    cp_key = _key_for(cp.get("key_id"), public_keys)
    if cp_key is None:
        return ProofResult(
            False, 0, (f"the checkpoint is signed with key {cp.get('key_id')}, not a given key",)
        )
    if not keys.verify(cp_key, _sig(document["checkpoint"].get("signature")), cp_body.encode()):
        return ProofResult(False, 0, ("the checkpoint's signature is not valid",))
    member = document.get("member")
    checked = 0
    for entry in document.get("records", []):
        index = entry.get("index")
        name = f"record {index}"
        try:
            body = str(entry["body"])
            parsed = json.loads(body)
            path = [bytes.fromhex(p) for p in entry["path"]]
        except (KeyError, TypeError, ValueError):
            problems.append(f"{name}: malformed")
            continue
        digest = leaf_hash(body.encode())
        key = _key_for(parsed.get("key_id"), public_keys)
        if parsed.get("seq") != index:
            problems.append(f"{name}: its body says record {parsed.get('seq')}")
        elif key is None or not keys.verify(key, _sig(entry.get("signature")), digest):
            problems.append(f"{name}: its signature is not valid for a given key")
        elif not _concerns(parsed, member):
            problems.append(f"{name}: does not concern member {member!r}")
        elif not isinstance(index, int) or not verify_inclusion(index, size, digest, path, root):
            problems.append(f"{name}: not included in the checkpoint (tree size {size})")
        else:
            checked += 1
    if not document.get("records"):
        problems.append("the document has no records")
    return ProofResult(not problems, checked, tuple(problems))


def _concerns(parsed: dict[str, Any], member: Any) -> bool:
    data = parsed.get("data") or {}
    if parsed.get("kind") == "settlement":
        return bool(parsed.get("member") == member)
    return isinstance(data.get("members"), dict) and member in data["members"]
