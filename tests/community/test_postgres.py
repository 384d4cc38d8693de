"""The PostgreSQL ledger as a fleet operator configures it: ``ledger: {backend: postgresql, dsn,
password: !secret}``, a daemon role that may only read and append, the commands on that ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phoenyra_ems.cli import main
from phoenyra_ems.community import service
from phoenyra_ems.community.store import LedgerError
from phoenyra_ems.community.store_postgres import NAMESPACE, PostgresStore, redacted
from phoenyra_ems.config import ConfigError
from phoenyra_ems.config.loader import load_config, load_config_text
from tests.postgres_server import PostgresServer, postgres_server  # noqa: F401 (fixture)

SITES = """\
sites:
  sites:
    wien:
      bess: {energy_capacity_kwh: 10, power_charge_max_kw: 5, power_discharge_max_kw: 5}
"""
MEMBERS = "  members:\n    wien: {site: wien}\n    ext: {csv: ext.csv}\n"
PASSWORD = "s3cret-ledger-pw"


@pytest.mark.parametrize(
    ("ledger", "path", "message"),
    [
        ("{backend: postgresql}", "community.ledger.dsn", "needs a dsn"),
        (
            "{backend: postgresql, dsn: 'postgresql://ems:pw@db/ems'}",
            "community.ledger.dsn",
            "use community.ledger.password (!secret)",
        ),
        (
            "{backend: postgresql, dsn: 'host=db dbname=ems password=pw'}",
            "community.ledger.dsn",
            "does not belong in the DSN",
        ),
        ("{backend: postgresql, dsn: 'mysql://db/ems'}", "community.ledger.dsn", "unknown scheme"),
        ("{dsn: 'postgresql://db/ems'}", "community.ledger.dsn", "backend 'postgresql' only"),
        ("{backend: oracle}", "community.ledger.backend", "unknown ledger backend 'oracle'"),
    ],
)
def test_ledger_block_errors_name_the_key(ledger: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(SITES + f"community:\n  id: c\n  ledger: {ledger}\n" + MEMBERS)
    issues = caught.value.issues
    assert any(i.path == path and message in i.message for i in issues), issues


@pytest.fixture
def fleet(postgres_server: PostgresServer, tmp_path: Path) -> tuple[PostgresServer, str, Path]:  # noqa: F811
    """A database whose ledger schema the administrator created, a role ``ems_daemon`` (password)
    that may only read and append, and a configuration pointing at it (password from secrets.yaml)."""
    database = postgres_server.create_database()
    PostgresStore(postgres_server.dsn(database), "eeg").close()  # the administrator creates the schema
    with postgres_server.admin(database) as conn:
        conn.execute(
            "DO $$ BEGIN CREATE ROLE ems_daemon LOGIN PASSWORD 's3cret-ledger-pw'; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        conn.execute(f"GRANT USAGE ON SCHEMA {NAMESPACE} TO ems_daemon")
        conn.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {NAMESPACE} TO ems_daemon")
    dsn = f"postgresql://ems_daemon@{postgres_server.host}:{postgres_server.port}/{database}"
    (tmp_path / "secrets.yaml").write_text(f"ledger_password: {PASSWORD}\n")
    (tmp_path / "ext.csv").write_text("timestamp_utc,consumption_kwh\n")
    config = tmp_path / "ems.yaml"
    config.write_text(
        SITES + "community:\n  id: eeg\n  ledger:\n    backend: postgresql\n"
        f"    dsn: {dsn}\n    password: !secret ledger_password\n    key_dir: {tmp_path}/keys\n"
        "    checkpoint_every: 4\n" + MEMBERS
    )
    return postgres_server, database, config


def _interval(i: int) -> tuple[str, str, str, None, dict[str, object]]:
    members = {"wien": [1.0 + i, 0, 0.5, 0, 0, 0.05, 0], "ext": [0, 2.0, 0, 0.5, 1.5, 0, 0.05]}
    return "interval", f"2024-06-01T{i:02d}:00:00Z", "2024-06", None, {"members": members}


def test_configured_ledger_records_verifies_proves_and_exports(
    fleet: tuple[PostgresServer, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, database, path = fleet
    config = load_config(path)
    assert config.community is not None
    ledger_config = config.community.ledger
    assert PASSWORD not in repr(config) and PASSWORD not in ledger_config.where
    with service.ledger_for(config.community) as ledger:  # as the daemon's recorder opens it
        ledger.append(_interval(i) for i in range(10))
        assert ledger.size == 11 and ledger.where.startswith("postgresql://ems_daemon@")
    assert main(["ledger", "verify", "-c", str(path)]) == 0
    assert capsys.readouterr().out.startswith("OK: 11 records, 2 checkpoints")
    proof = tmp_path / "proof.json"
    args = ["ledger", "prove", "-c", str(path), "--member", "ext", "--month", "2024-06", "-o", str(proof)]
    assert main(args) == 0
    key = tmp_path / "keys" / "ledger-ed25519.pub.pem"
    assert main(["ledger", "check-proof", str(proof), "--public-key", str(key)]) == 0
    assert "OK: 10 records proven (ext, 2024-06)" in capsys.readouterr().out
    assert main(["ledger", "export", "-c", str(path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines].count("record") == 11
    # the same ledger by its DSN (the superuser's, no password needed on this test server)
    assert main(["ledger", "verify", "--dsn", server.dsn(database)]) == 0
    assert "OK: 11 records, 3 checkpoints" in capsys.readouterr().out  # prove signed one more
    # the daemon's role may append, nothing else — not even switch the triggers off
    import psycopg

    with psycopg.connect(ledger_config.dsn or "", password=PASSWORD, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"UPDATE {NAMESPACE}.records SET body = body WHERE seq = 3")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET session_replication_role = replica")


def test_wrong_password_and_bad_dsn_are_one_line_errors(
    fleet: tuple[PostgresServer, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, database, path = fleet
    secrets = path.parent / "secrets.yaml"
    secrets.write_text("ledger_password: not-the-password\n")
    assert main(["ledger", "verify", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert "cannot connect" in err and "password authentication failed" in err
    assert "not-the-password" not in err
    assert main(["ledger", "verify", "--dsn", f"postgresql://ems_daemon:{PASSWORD}@127.0.0.1/x"]) == 1
    err = capsys.readouterr().err
    assert "--dsn: the password does not belong in the DSN" in err and PASSWORD not in err
    assert main(["ledger", "verify", "--dsn", server.dsn(database), "--community", "other"]) == 1
    assert "no ledger of community 'other'" in capsys.readouterr().err


def test_several_communities_in_one_database(
    postgres_server: PostgresServer,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = postgres_server.dsn(postgres_server.create_database())
    from phoenyra_ems.community.ledger import Ledger

    for community in ("eeg-a", "eeg-b"):
        with Ledger(PostgresStore(dsn, community), community, tmp_path / community) as ledger:
            ledger.append(_interval(i) for i in range(3 if community == "eeg-a" else 5))
    empty = postgres_server.dsn(postgres_server.create_database())
    PostgresStore(empty, "eeg-a").close()  # the tables, no records
    assert main(["ledger", "verify", "--dsn", empty]) == 1
    assert "no such ledger (the database holds none)" in capsys.readouterr().err
    assert main(["ledger", "verify", "--dsn", dsn]) == 1  # which one?
    assert "several ledgers: choose one with --community (communities there: eeg-a, eeg-b)" in (
        capsys.readouterr().err
    )
    assert main(["ledger", "verify", "--dsn", dsn, "--community", "eeg-b"]) == 0
    with Ledger(PostgresStore(dsn, "eeg-a", read_only=True), "eeg-a") as ledger:
        assert ledger.size == 4 and [r.seq for r in ledger.records()] == [0, 1, 2, 3]
    with pytest.raises(LedgerError, match="no such ledger"):
        PostgresStore(postgres_server.dsn(postgres_server.create_database()), "eeg-a", read_only=True)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://ems:pw@db:5432/ems", "postgresql://ems:***@db:5432/ems"),
        (
            "postgresql://ems@db/ems?password=pw&sslmode=require",
            "postgresql://ems@db/ems?password=***&sslmode=require",
        ),
        ("host=db password='p w' dbname=ems", "host=db password=*** dbname=ems"),
        ("postgresql://ems@db/ems", "postgresql://ems@db/ems"),
    ],
)
def test_a_password_given_in_a_dsn_anyway_is_never_shown(dsn: str, shown: str) -> None:
    assert redacted(dsn) == shown


def test_a_writer_holding_the_lock_makes_the_other_fail_not_hang(
    postgres_server: PostgresServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    from phoenyra_ems.community.ledger import Ledger

    dsn = postgres_server.dsn(postgres_server.create_database())
    with Ledger(PostgresStore(dsn, "eeg"), "eeg", tmp_path / "keys") as ledger:
        ledger.append([_interval(0)])
    import psycopg

    with psycopg.connect(dsn) as stuck:  # another daemon, stuck inside its append
        stuck.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{NAMESPACE}:eeg",))
        with Ledger(PostgresStore(dsn, "eeg", lock_timeout_s=0.5), "eeg", tmp_path / "keys") as ledger:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                ledger.append([_interval(1)])
            assert ledger.size == 2  # nothing written, the head as stored
            stuck.rollback()  # the other daemon gives up: this one goes on
            ledger.append([_interval(1)])
    with Ledger(PostgresStore(dsn, "eeg", read_only=True), "eeg") as ledger:
        assert [r.period for r in ledger.records("interval")] == [
            "2024-06-01T00:00:00Z",
            "2024-06-01T01:00:00Z",
        ]
    assert main(["ledger", "verify", "--dsn", dsn]) == 0
