"""The community ledger at scale: a year of 15-min interval records for 100 members.

Measures, on one core: appends per second (canonical JSON, SHA-256 leaf hash, Ed25519 signature,
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from phoenyra_ems.community import keys
from phoenyra_ems.community.ledger import Ledger
from phoenyra_ems.community.proofs import check_proof, prove
from phoenyra_ems.community.service import interval_data
from phoenyra_ems.community.verify import verify_ledger
from phoenyra_ems.core.community.allocation import MemberMeter, allocate


def entries(members: int, days: int, seed: int) -> list[tuple[str, str, str, None, dict[str, object]]]:
    rng = random.Random(seed)
    producers = {f"m{i:03d}" for i in range(0, members, 5)}  # every fifth member has PV
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
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
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = entries(args.members, args.days, args.seed)
    print(
        f"{len(data):,} interval records × {args.members} members, allocated in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        baseline = sqlite3.connect(folder / "plain.db")
        baseline.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, body TEXT)")
        from phoenyra_ems.community.ledger import canonical

        t0 = time.perf_counter()
        baseline.executemany(
            "INSERT INTO records VALUES (?, ?)", ((i, canonical(e[4])) for i, e in enumerate(data))
        )
        baseline.commit()
        plain_s = time.perf_counter() - t0
        baseline.close()

        path = folder / "ledger.db"
        with Ledger(path, "bench", folder / "keys", checkpoint_every=96) as ledger:
            t0 = time.perf_counter()
            for month_start in range(0, len(data), 2976):  # appended in monthly batches, as `settle` does
                ledger.append(data[month_start : month_start + 2976])
            append_s = time.perf_counter() - t0
            ledger.checkpoint()
            pubs = [keys.public_from_hex(k["public_key"]) for k in ledger.key_history()]
            size_mb = path.stat().st_size / 1e6
            t0 = time.perf_counter()
            document = prove(ledger, "m000", "2024-06" if args.days > 180 else "2024-01")
            prove_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        verdict = verify_ledger(path)
        verify_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        checked = check_proof(document, pubs)
        check_s = time.perf_counter() - t0
    assert verdict.ok and checked.ok, (verdict.problem, checked.problems)
    n = len(data)
    print(
        f"append:      {n / append_s:8,.0f} records/s ({append_s:.1f} s; {size_mb:.0f} MB, "
        f"{verdict.checkpoints} checkpoints)"
    )
    print(
        f"  baseline:  {n / plain_s:8,.0f} records/s plain SQLite inserts of the same bodies "
        f"({plain_s:.1f} s)"
    )
    print(
        f"verify:      {verify_s:8.1f} s for {verdict.records:,} records "
        f"({verdict.records / verify_s:,.0f}/s)"
    )
    print(f"prove:       {prove_s:8.2f} s for one member's month ({len(document['records'])} records)")
    print(f"check-proof: {check_s:8.2f} s")


if __name__ == "__main__":
    main()
