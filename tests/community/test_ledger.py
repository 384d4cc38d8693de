"""The ledger, on both stores (SQLite and a real PostgreSQL server): verify passes on an intact
ledger and names the record an attacker touched; proofs; two writers never fork the chain."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.cli import main
from phoenyra_ems.community import keys
from phoenyra_ems.community.ledger import LedgerError
from phoenyra_ems.community.proofs import check_proof, prove
from phoenyra_ems.community.store_postgres import PostgresStore
from phoenyra_ems.community.store_sqlite import SqliteStore
from phoenyra_ems.community.verify import verify_ledger
from tests.community.places import BACKENDS, Place, make_place
from tests.postgres_server import postgres_server  # noqa: F401 (fixture)

MONTH = "2024-06"


def _build(place: Place) -> Place:
    """A small ledger: key, 10 intervals, a key rotation, 2 intervals, 2 settlements; checkpoints every 4."""
    with place.open(checkpoint_every=4) as ledger:

        def interval(i: int) -> tuple[str, str, str, None, dict[str, object]]:
            members = {"a": [1.0 + i, 0, 0.5, 0, 0, 0.05, 0], "b": [0, 2.0, 0, 0.5, 1.5, 0, 0.05]}
            return "interval", f"2024-06-01T{i:02d}:00:00Z", MONTH, None, {"members": members}

        ledger.append(interval(i) for i in range(10))
        ledger.rotate_key()
        ledger.append(interval(i) for i in range(10, 12))
        ledger.append(("settlement", MONTH, MONTH, m, {"member": m, "received_kwh": 6.0}) for m in ("a", "b"))
        ledger.checkpoint()
    return place


@pytest.fixture(scope="module", params=BACKENDS)
def pristine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Place:
    return _build(make_place(request.param, tmp_path_factory.mktemp(request.param), request))


@pytest.fixture
def copy(pristine: Place, tmp_path: Path) -> Place:
    return pristine.copy(tmp_path / "copy")


def test_intact_ledger_verifies_and_refuses_edits(pristine: Place) -> None:
    verdict = pristine.verify()
    assert verdict.ok, verdict.problem
    assert verdict.records == 16 and len(verdict.keys) == 2  # the rotation is in the ledger
    assert "append-only" in pristine.refused("UPDATE records SET body = body WHERE seq = 3")
    assert "append-only" in pristine.refused("DELETE FROM records WHERE seq = 3")
    assert "append-only" in pristine.refused("UPDATE checkpoints SET body = body")
    if pristine.backend == "postgresql":
        assert "append-only" in pristine.refused("TRUNCATE records")
    assert pristine.verify().ok


def test_key_file_private_and_pinned_key_checked(pristine: Place) -> None:
    key_file = pristine.key_dir / keys.PRIVATE_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    current = keys.load_public(pristine.key_dir / keys.PUBLIC_FILE)
    assert pristine.verify([current]).ok
    stranger = keys.Ed25519PrivateKey.generate().public_key()
    verdict = pristine.verify([stranger])
    assert not verdict.ok and "none of the ledger's keys" in verdict.problem


COLUMNS = ("kind", "community", "period", "month", "member", "body", "hash", "signature")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(min_value=0, max_value=15), column=st.sampled_from(COLUMNS), data=st.data())
def test_any_altered_byte_is_named(pristine: Place, seq: int, column: str, data: st.DataObject) -> None:
    (value,) = pristine.query(f"SELECT {column} FROM records WHERE seq = ?", (seq,))[0]
    text = value if value is not None else ""
    pos = data.draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))
    old = text[pos] if text else ""
    new = data.draw(st.sampled_from([c for c in '0123456789abcdefXYZ{}":,' if c != old]))
    altered = text[:pos] + new + text[pos + 1 :]
    verdict = pristine.altered_verdict(seq, column, altered)
    assert not verdict.ok
    assert verdict.bad_seq == seq, verdict.problem
    assert f"record {seq}" in verdict.problem


@pytest.mark.parametrize("seq", [0, 5, 15])
def test_deleted_record_is_named(copy: Place, seq: int, capsys: pytest.CaptureFixture[str]) -> None:
    copy.attack("DELETE FROM records WHERE seq = ?", (seq,))
    verdict = copy.verify()
    assert not verdict.ok and verdict.bad_seq == seq
    assert f"record {seq} is missing" in verdict.problem
    assert main(["ledger", "verify", *copy.cli()]) == 1  # as the user sees it
    assert capsys.readouterr().out.startswith(f"BROKEN: record {seq} is missing")


def test_reordered_records_are_named(copy: Place) -> None:
    rows = {
        s: r
        for s, *r in copy.query(
            "SELECT seq, kind, community, period, month, member, body, hash, "
            "signature FROM records WHERE seq IN (6, 7)"
        )
    }
    for seq, other in ((6, 7), (7, 6)):
        copy.attack(
            "UPDATE records SET kind=?, community=?, period=?, month=?, member=?, body=?, hash=?, "
            "signature=? WHERE seq = ?",
            (*rows[other], seq),
        )
    verdict = copy.verify()
    assert not verdict.ok and verdict.bad_seq == 6, verdict.problem


def test_renumbered_reorder_breaks_the_chain(copy: Place) -> None:
    """Swapping two records' places (rows renumbered too) still breaks: the bodies carry seq and prev."""
    copy.attack("UPDATE records SET seq = -1 WHERE seq = 8")
    copy.attack("UPDATE records SET seq = 8 WHERE seq = 9")
    copy.attack("UPDATE records SET seq = 9 WHERE seq = -1")
    verdict = copy.verify()
    assert not verdict.ok and verdict.bad_seq == 8, verdict.problem


def test_another_valid_signature_is_refused(copy: Place) -> None:
    ((body_hash,),) = copy.query("SELECT hash FROM records WHERE seq = 4")
    ((foreign,),) = copy.query("SELECT signature FROM records WHERE seq = 3")
    # a well-formed signature of the right record by a different key, and a valid one of another record
    forged = keys.Ed25519PrivateKey.generate().sign(bytes.fromhex(body_hash)).hex()
    copy.attack("UPDATE records SET signature = ? WHERE seq = 4", (forged,))
    verdict = copy.verify()
    assert not verdict.ok and verdict.bad_seq == 4 and "signature" in verdict.problem
    copy.attack("UPDATE records SET signature = ? WHERE seq = 4", (foreign,))
    assert copy.verify().bad_seq == 4


def test_rewritten_tail_fails_its_checkpoint(copy: Place) -> None:
    """Truncated after a checkpoint: the checkpoint names the first missing record."""
    copy.attack("DELETE FROM records WHERE seq >= 12")
    verdict = copy.verify()
    assert not verdict.ok and verdict.bad_seq == 12


def test_proof_checked_with_public_key_only(pristine: Place) -> None:
    with pristine.reader() as ledger:
        document = prove(ledger, "a", MONTH)
        history_keys = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
    assert len(document["records"]) == 13  # 12 intervals + its settlement
    assert [json.loads(r["body"]).get("member") for r in document["records"]][-1] == "a"
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


def test_prove_check_proof_and_export_commands(
    pristine: Place, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof, key = tmp_path / "proof.json", tmp_path / "key.pem"
    args = ["ledger", "prove", *pristine.cli(), "--member", "b", "--month", MONTH, "-o", str(proof)]
    assert main(args) == 0
    assert main(["ledger", "public-key", *pristine.cli()]) == 0
    key.write_text(capsys.readouterr().out)
    old = tmp_path / "old.hex"
    with pristine.reader() as ledger:
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
    assert main(["ledger", "export", *pristine.cli()]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["seq"] for line in lines if line["type"] == "record"] == list(range(16))
    assert [line["tree_size"] for line in lines if line["type"] == "checkpoint"] == [4, 8, 12, 16]


def test_proof_of_a_tampered_ledger_record_fails(copy: Place) -> None:
    """A record altered after the checkpoint was signed: its proof does not check."""
    with copy.reader() as ledger:
        pubs = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
    ((body,),) = copy.query("SELECT body FROM records WHERE seq = 2")
    copy.attack("UPDATE records SET body = ? WHERE seq = 2", (body.replace('"a":[2.0', '"a":[9.0'),))
    with copy.reader() as ledger:
        document = prove(ledger, "a", MONTH)
    result = check_proof(document, pubs)
    assert not result.ok and any(p.startswith("record 2:") for p in result.problems)


def test_lost_key_is_a_clear_error(copy: Place, tmp_path: Path) -> None:
    with (
        pytest.raises(LedgerError, match="missing; the ledger's records are signed with key"),
        copy.open(key_dir=tmp_path / "nokeys") as ledger,
    ):
        ledger.append([("interval", "x", MONTH, None, {"members": {}})])


def test_missing_sqlite_ledger_is_named(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no such ledger"):
        verify_ledger(tmp_path / "none.db")


# --- two writers --------------------------------------------------------------------------------

BATCHES, PER_BATCH = 25, 3
SHARED = [f"2024-07-01T{h:02d}:00:00Z" for h in range(12)]  # both writers record these intervals


def _writer(backend: str, where: str, key_dir: str, name: str, start: object) -> None:
    """One daemon: batches of its own intervals, and the shared ones, as fast as it can."""
    from phoenyra_ems.community.ledger import Ledger

    store = SqliteStore(where) if backend == "sqlite" else PostgresStore(where, "c1")
    with Ledger(store, "c1", key_dir, checkpoint_every=7) as ledger:
        start.wait(60)  # type: ignore[attr-defined] (both ready: they run together)
        for i in range(BATCHES):
            time.sleep(0.005)
            ledger.append(
                ("interval", f"{name}-{i:03d}-{j}", "2024-07", None, {"writer": name})
                for j in range(PER_BATCH)
            )
            if i < len(SHARED) and not ledger.has_interval(SHARED[i]):  # as allocate_month checks
                ledger.append([("interval", SHARED[i], "2024-07", None, {"writer": name})])


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_writers_take_turns_and_never_fork_the_chain(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    place = make_place(backend, tmp_path, request)
    with place.open() as ledger:  # the key exists before the daemons start (they share key_dir)
        ledger.append([("interval", "2024-06-30T23:45:00Z", "2024-06", None, {"writer": "setup"})])
    where = str(tmp_path / "ledger.db") if backend == "sqlite" else place.dsn  # type: ignore[attr-defined]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    writers = [
        context.Process(target=_writer, args=(backend, where, str(place.key_dir), name, start))
        for name in ("w1", "w2")
    ]
    for proc in writers:
        proc.start()
    for proc in writers:
        proc.join(90)
        assert proc.exitcode == 0, f"writer failed ({proc.exitcode})"
    verdict = place.verify()
    assert verdict.ok, verdict.problem
    rows = place.query("SELECT period, body FROM records WHERE kind = 'interval' ORDER BY seq")
    periods = [p for p, _ in rows]
    assert len(periods) == len(set(periods)), "an interval recorded twice"
    assert verdict.records == 1 + 1 + 2 * BATCHES * PER_BATCH + len(SHARED)
    order = [json.loads(b)["data"]["writer"] for p, b in rows if p not in SHARED][1:]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= 2, f"the writers did not overlap (order {order})"  # they really ran together
