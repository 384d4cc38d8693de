"""The community ledger at scale: a year of 15-min interval records for 100 members.

Measures, on one core (wall time, and CPU time of this process in brackets — on a shared machine the
CPU figure is the one to compare; PostgreSQL's own work runs in its server process and shows in the
wall time only): appends per second (canonical JSON, SHA-256 leaf hash, Ed25519 signature, the
store's insert, a Merkle checkpoint every 96 records), beside a baseline of plain inserts of the
same bodies into the same database (no hashing, no signing); ``ledger verify`` over the whole
ledger (every hash, chain link, signature and checkpoint root); one member's month proof
(``prove``) and its check (``check-proof``). The allocations come from the real core
(``allocate``, dynamic key) on random meters. Both stores by default: SQLite (a file) and
PostgreSQL (a throwaway server started here with durable settings, or ``--dsn``).

    .venv/bin/python bench/ledger.py [--members 100] [--days 365] [--seed 1]
                                     [--backend sqlite|postgresql|both] [--dsn postgresql://…]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from phoenyra_ems.community import keys
from phoenyra_ems.community.ledger import Ledger, canonical
from phoenyra_ems.community.proofs import check_proof, prove
from phoenyra_ems.community.service import interval_data
from phoenyra_ems.community.store import LedgerStore
from phoenyra_ems.community.store_postgres import PostgresStore
from phoenyra_ems.community.store_sqlite import SqliteStore
from phoenyra_ems.community.verify import verify_store
from phoenyra_ems.core.community.allocation import MemberMeter, allocate

Entry = tuple[str, str, str, None, dict[str, object]]


def entries(members: int, days: int, seed: int) -> Iterator[list[Entry]]:
    """Monthly batches (31 days of quarter-hours), generated as they are appended: memory stays flat."""
    rng = random.Random(seed)
    producers = {f"m{i:03d}" for i in range(0, members, 5)}  # every fifth member has PV
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out: list[Entry] = []
    for step in range(days * 96):
        when = start + timedelta(minutes=15 * step)
        sun = max(0.0, 1 - abs(when.hour + when.minute / 60 - 12) / 6)
        meters = [
            MemberMeter(
                f"m{i:03d}",
                rng.uniform(0.05, 1.5),
                rng.uniform(0, 12) * sun if f"m{i:03d}" in producers else 0.0,
            )
            for i in range(members)
        ]
        result = allocate(meters, "dynamic", 0.11)
        ts = int(when.timestamp())
        out.append(
            (
                "interval",
                when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                when.strftime("%Y-%m"),
                None,
                interval_data(ts, "dynamic", 0.11, result.members),
            )
        )
        if len(out) == 2976:
            yield out
            out = []
    if out:
        yield out


class Timer:
    """Wall and CPU seconds of a ``with`` block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rate(self, n: int) -> str:
        return (
            f"{n / self.wall:8,.0f}/s [{n / self.cpu:,.0f}/s CPU] ({self.wall:.1f} s, {self.cpu:.1f} s CPU)"
        )

    def __str__(self) -> str:
        return f"{self.wall:8.2f} s [{self.cpu:.2f} s CPU]"


class Totals(Timer):
    """Several timed blocks added up."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    @contextmanager
    def timer(self) -> Iterator[None]:
        with Timer() as one:
            yield
        self.wall += one.wall
        self.cpu += one.cpu


def run(backend: str, folder: Path, args: argparse.Namespace, dsn: str | None) -> None:
    """Build the year's ledger on ``backend`` and print its figures."""
    made, plain, appended = Totals(), Totals(), Totals()
    if backend == "sqlite":
        path = folder / "ledger.db"
        store: LedgerStore = SqliteStore(path)
        baseline = sqlite3.connect(folder / "plain.db")
        baseline.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, body TEXT)")
        insert = "INSERT INTO records VALUES (?, ?)"
    else:
        import psycopg

        assert dsn is not None
        store = PostgresStore(dsn, "bench")
        baseline = psycopg.connect(dsn)
        baseline.execute("CREATE TABLE plain (seq BIGINT PRIMARY KEY, body TEXT)")
        baseline.commit()
        insert = "INSERT INTO plain VALUES (%s, %s)"
    with Ledger(store, "bench", folder / "keys", checkpoint_every=96) as ledger:
        batches = entries(args.members, args.days, args.seed)
        seq = 0
        while True:
            with made.timer():
                batch = next(batches, None)
            if batch is None:
                break
            with plain.timer():
                cursor = baseline.cursor()
                cursor.executemany(insert, [(seq + i, canonical(e[4])) for i, e in enumerate(batch)])
                baseline.commit()
            seq += len(batch)
            with appended.timer():  # monthly batches, as `settle` appends
                ledger.append(batch)
        baseline.close()
        ledger.checkpoint()
        pubs = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
        size_mb = _size_mb(backend, folder, dsn)
        with Timer() as proving:
            document = prove(ledger, "m000", "2024-06" if args.days > 180 else "2024-01")
    reader = SqliteStore(folder / "ledger.db", read_only=True) if backend == "sqlite" else None
    reader = reader or PostgresStore(dsn or "", "bench", read_only=True)
    with Timer() as verifying:
        verdict = verify_store(reader)
    reader.close()
    with Timer() as checking:
        checked = check_proof(document, pubs)
    print(
        f"--- {backend}: {seq:,} interval records × {args.members} members, allocated by the core in {made}"
    )
    assert verdict.ok and checked.ok, (verdict.problem, checked.problems)
    n = verdict.records - 1
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    print(f"append:      {appended.rate(n)}; {size_mb:.0f} MB, {verdict.checkpoints} checkpoints")
    print(f"  baseline:  {plain.rate(n)} plain {name} inserts of the same bodies")
    print(f"verify:      {verifying} for {verdict.records:,} records")
    print(f"prove:       {proving} for one member's month ({len(document['records'])} records)")
    print(f"check-proof: {checking}")


def _size_mb(backend: str, folder: Path, dsn: str | None) -> float:
    if backend == "sqlite":
        return (folder / "ledger.db").stat().st_size / 1e6
    import psycopg

    with psycopg.connect(dsn or "") as conn:
        row = conn.execute(
            "SELECT pg_total_relation_size('phoenyra_ledger.records') "
            "+ pg_total_relation_size('phoenyra_ledger.checkpoints')"
        ).fetchone()
    return float(row[0]) / 1e6 if row else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--dsn",
        help="an empty PostgreSQL database to use (default: a throwaway server started here, "
        "durable settings: fsync and synchronous_commit on)",
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite" or args.dsn:
                run(backend, Path(tmp), args, args.dsn)
                continue
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.postgres_server import running_server

            with running_server(durable=True) as server:
                print(f"(PostgreSQL {server.bindir.parts[-2]} started on 127.0.0.1:{server.port}, durable)")
                run(backend, Path(tmp), args, server.dsn(server.create_database()))


if __name__ == "__main__":
    main()
