"""The ledger: verify passes on an intact file and names the record an attacker touched; proofs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.cli import main
from phoenyra_ems.community import keys
from phoenyra_ems.community.ledger import Ledger, LedgerError
from phoenyra_ems.community.proofs import check_proof, prove
from phoenyra_ems.community.verify import verify_db, verify_ledger

MONTH = "2024-06"


def _build(folder: Path) -> Path:
    """A small ledger: key, 10 intervals, a key rotation, 2 intervals, 2 settlements; checkpoints every 4."""
    path = folder / "ledger.db"
    with Ledger(path, "c1", folder / "keys", checkpoint_every=4) as ledger:

        def interval(i: int) -> tuple[str, str, str, None, dict[str, object]]:
            members = {"a": [1.0 + i, 0, 0.5, 0, 0, 0.05, 0], "b": [0, 2.0, 0, 0.5, 1.5, 0, 0.05]}
            return "interval", f"2024-06-01T{i:02d}:00:00Z", MONTH, None, {"members": members}

        ledger.append(interval(i) for i in range(10))
        ledger.rotate_key()
        ledger.append(interval(i) for i in range(10, 12))
        ledger.append(("settlement", MONTH, MONTH, m, {"member": m, "received_kwh": 6.0}) for m in ("a", "b"))
        ledger.checkpoint()
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("ledger"))


def _attack(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    """What someone editing the file does: the append-only triggers dropped first."""
    db = sqlite3.connect(path)
    for trigger in (
        "records_no_update",
        "records_no_delete",
        "checkpoints_no_update",
        "checkpoints_no_delete",
    ):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute(sql, params)
    db.commit()
    db.close()


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ledger.db"
    shutil.copy(pristine, target)
    return target


def test_intact_ledger_verifies_and_refuses_edits(pristine: Path) -> None:
    verdict = verify_ledger(pristine)
    assert verdict.ok, verdict.problem
    assert verdict.records == 16 and len(verdict.keys) == 2  # the rotation is in the ledger
    db = sqlite3.connect(pristine)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE records SET body = body WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM records WHERE seq = 3")
    db.close()


def test_key_file_private_and_pinned_key_checked(pristine: Path) -> None:
    key_file = pristine.parent / "keys" / keys.PRIVATE_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    current = keys.load_public(pristine.parent / "keys" / keys.PUBLIC_FILE)
    assert verify_ledger(pristine, [current]).ok
    stranger = keys.Ed25519PrivateKey.generate().public_key()
    verdict = verify_ledger(pristine, [stranger])
    assert not verdict.ok and "none of the ledger's keys" in verdict.problem


COLUMNS = ("kind", "community", "period", "month", "member", "body", "hash", "signature")


@pytest.fixture(scope="module")
def source(pristine: Path) -> sqlite3.Connection:
    return sqlite3.connect(pristine)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(min_value=0, max_value=15), column=st.sampled_from(COLUMNS), data=st.data())
def test_any_altered_byte_is_named(
    source: sqlite3.Connection, seq: int, column: str, data: st.DataObject
) -> None:
    db = sqlite3.connect(":memory:")
    source.backup(db)
    (value,) = db.execute(f"SELECT {column} FROM records WHERE seq = ?", (seq,)).fetchone()
    text = value if value is not None else ""
    pos = data.draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))
    old = text[pos] if text else ""
    new = data.draw(st.sampled_from([c for c in '0123456789abcdefXYZ{}":,' if c != old]))
    altered = text[:pos] + new + text[pos + 1 :]
    db.execute("DROP TRIGGER records_no_update")
    db.execute(f"UPDATE records SET {column} = ? WHERE seq = ?", (altered, seq))
    verdict = verify_db(db)
    assert not verdict.ok
    assert verdict.bad_seq == seq, verdict.problem
    assert f"record {seq}" in verdict.problem


@pytest.mark.parametrize("seq", [0, 5, 15])
def test_deleted_record_is_named(copy: Path, seq: int, capsys: pytest.CaptureFixture[str]) -> None:
    _attack(copy, "DELETE FROM records WHERE seq = ?", (seq,))
    verdict = verify_ledger(copy)
    assert not verdict.ok and verdict.bad_seq == seq
    assert f"record {seq} is missing" in verdict.problem
    assert main(["ledger", "verify", "--ledger", str(copy)]) == 1  # as the user sees it
    assert capsys.readouterr().out.startswith(f"BROKEN: record {seq} is missing")


def test_reordered_records_are_named(copy: Path) -> None:
    db = sqlite3.connect(copy)
    rows = {
        s: r
        for s, *r in db.execute(
            "SELECT seq, kind, community, period, month, member, body, hash, "
            "signature FROM records WHERE seq IN (6, 7)"
        )
    }
    db.close()
    for seq, other in ((6, 7), (7, 6)):
        _attack(
            copy,
            "UPDATE records SET kind=?, community=?, period=?, month=?, member=?, body=?, hash=?, "
            "signature=? WHERE seq = ?",
            (*rows[other], seq),
        )
    verdict = verify_ledger(copy)
    assert not verdict.ok and verdict.bad_seq == 6, verdict.problem


def test_renumbered_reorder_breaks_the_chain(copy: Path) -> None:
    """Swapping two records' places (rows renumbered too) still breaks: the bodies carry seq and prev."""
    _attack(copy, "UPDATE records SET seq = -1 WHERE seq = 8")
    _attack(copy, "UPDATE records SET seq = 8 WHERE seq = 9")
    _attack(copy, "UPDATE records SET seq = 9 WHERE seq = -1")
    verdict = verify_ledger(copy)
    assert not verdict.ok and verdict.bad_seq == 8, verdict.problem


def test_another_valid_signature_is_refused(copy: Path) -> None:
    db = sqlite3.connect(copy)
    (body_hash,) = db.execute("SELECT hash FROM records WHERE seq = 4").fetchone()
    (foreign,) = db.execute("SELECT signature FROM records WHERE seq = 3").fetchone()
    db.close()
    # a well-formed signature of the right record by a different key, and a valid one of another record
    forged = keys.Ed25519PrivateKey.generate().sign(bytes.fromhex(body_hash)).hex()
    _attack(copy, "UPDATE records SET signature = ? WHERE seq = 4", (forged,))
    verdict = verify_ledger(copy)
    assert not verdict.ok and verdict.bad_seq == 4 and "signature" in verdict.problem
    _attack(copy, "UPDATE records SET signature = ? WHERE seq = 4", (foreign,))
    assert verify_ledger(copy).bad_seq == 4


def test_rewritten_tail_fails_its_checkpoint(copy: Path, tmp_path: Path) -> None:
    """Truncated after a checkpoint: the checkpoint names the first missing record."""
    _attack(copy, "DELETE FROM records WHERE seq >= 12")
    verdict = verify_ledger(copy)
    assert not verdict.ok and verdict.bad_seq == 12


def test_proof_checked_with_public_key_only(pristine: Path, tmp_path: Path) -> None:
    with Ledger.existing(pristine) as ledger:
        document = prove(ledger, "a", MONTH)
    assert len(document["records"]) == 13  # 12 intervals + its settlement
    assert [json.loads(r["body"]).get("member") for r in document["records"]][-1] == "a"
    with Ledger.existing(pristine) as ledger:
        history_keys = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
    result = check_proof(json.loads(json.dumps(document)), history_keys)
    assert result.ok and result.checked == 13, result.problems
    # a record altered in the proof: fails, named
    tampered = json.loads(json.dumps(document))
    tampered["records"][3]["body"] = tampered["records"][3]["body"].replace('"a":[4.0', '"a":[40.0')
    result = check_proof(tampered, history_keys)
    assert not result.ok and any(
        p.startswith(f"record {tampered['records'][3]['index']}:") for p in result.problems
    )
    # the wrong public key: nothing is accepted
    stranger = keys.Ed25519PrivateKey.generate().public_key()
    assert not check_proof(document, [stranger]).ok


def test_prove_and_check_proof_commands(
    pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof, key = tmp_path / "proof.json", tmp_path / "key.pem"
    assert (
        main(
            [
                "ledger",
                "prove",
                "--ledger",
                str(pristine),
                "--member",
                "b",
                "--month",
                MONTH,
                "-o",
                str(proof),
            ]
        )
        == 0
    )
    assert main(["ledger", "public-key", "--ledger", str(pristine)]) == 0
    key.write_text(capsys.readouterr().out)
    old = tmp_path / "old.hex"
    with Ledger.existing(pristine) as ledger:
        old.write_text(ledger.key_history()[0]["public_key"])
    assert (
        main(["ledger", "check-proof", str(proof), "--public-key", str(key), "--public-key", str(old)]) == 0
    )
    assert "OK: 13 records proven (b, 2024-06)" in capsys.readouterr().out
    document = json.loads(proof.read_text())
    document["records"][0]["body"] = document["records"][0]["body"].replace('"b":[0', '"b":[1')
    proof.write_text(json.dumps(document))
    assert (
        main(["ledger", "check-proof", str(proof), "--public-key", str(key), "--public-key", str(old)]) == 1
    )
    out = capsys.readouterr().out
    assert f"FAIL record {document['records'][0]['index']}:" in out and "FAILED: 12 records proven" in out


def test_proof_of_a_tampered_ledger_record_fails(copy: Path) -> None:
    """A record altered in the file after the checkpoint was signed: its proof does not check."""
    with Ledger.existing(copy) as ledger:
        pubs = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
    db = sqlite3.connect(copy)
    (body,) = db.execute("SELECT body FROM records WHERE seq = 2").fetchone()
    db.close()
    _attack(copy, "UPDATE records SET body = ? WHERE seq = 2", (body.replace('"a":[2.0', '"a":[9.0'),))
    with Ledger.existing(copy) as ledger:
        document = prove(ledger, "a", MONTH)
    result = check_proof(document, pubs)
    assert not result.ok and any(p.startswith("record 2:") for p in result.problems)


def test_lost_key_is_a_clear_error(pristine: Path, tmp_path: Path) -> None:
    target = tmp_path / "l.db"
    shutil.copy(pristine, target)
    with pytest.raises(LedgerError, match="missing; the ledger's records are signed with key"):
        Ledger(target, "c1", tmp_path / "nokeys").append([("interval", "x", MONTH, None, {"members": {}})])
