"""The community ledger at scale: a year of 15-min interval records for 100 members.

Measures, on one core (wall time, and CPU time of this process in brackets — on a shared machine the
CPU figure is the one to compare): appends per second (canonical JSON, SHA-256 leaf hash, Ed25519 signature,
SQLite insert, a Merkle checkpoint every 96 records), beside a baseline of plain SQLite inserts of the
same bodies (no hashing, no signing); ``ledger verify`` over the whole file (every hash, chain link,
signature and checkpoint root); one member's month proof (``prove``) and its check (``check-proof``).
The allocations come from the real core (``allocate``, dynamic key) on random meters.

    .venv/bin/python bench/ledger.py [--members 100] [--days 365] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
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
from phoenyra_ems.community.verify import verify_ledger
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    made, plain, appended = Totals(), Totals(), Totals()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        baseline = sqlite3.connect(folder / "plain.db")
        baseline.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, body TEXT)")
        path = folder / "ledger.db"
        with Ledger(path, "bench", folder / "keys", checkpoint_every=96) as ledger:
            batches = entries(args.members, args.days, args.seed)
            seq = 0
            while True:
                with made.timer():
                    batch = next(batches, None)
                if batch is None:
                    break
                with plain.timer():
                    baseline.executemany(
                        "INSERT INTO records VALUES (?, ?)",
                        ((seq + i, canonical(e[4])) for i, e in enumerate(batch)),
                    )
                    baseline.commit()
                seq += len(batch)
                with appended.timer():  # monthly batches, as `settle` appends
                    ledger.append(batch)
            baseline.close()
            ledger.checkpoint()
            pubs = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
            size_mb = path.stat().st_size / 1e6
            with Timer() as proving:
                document = prove(ledger, "m000", "2024-06" if args.days > 180 else "2024-01")
        with Timer() as verifying:
            verdict = verify_ledger(path)
        with Timer() as checking:
            checked = check_proof(document, pubs)
    print(f"{seq:,} interval records × {args.members} members, allocated by the core in {made}")
    assert verdict.ok and checked.ok, (verdict.problem, checked.problems)
    n = verdict.records - 1
    print(f"append:      {appended.rate(n)}; {size_mb:.0f} MB, {verdict.checkpoints} checkpoints")
    print(f"  baseline:  {plain.rate(n)} plain SQLite inserts of the same bodies")
    print(f"verify:      {verifying} for {verdict.records:,} records")
    print(f"prove:       {proving} for one member's month ({len(document['records'])} records)")
    print(f"check-proof: {checking}")


if __name__ == "__main__":
    main()
