"""``phoenyra-ems community …`` and ``phoenyra-ems ledger …``: settle a month, report, reconcile;
verify the ledger, prove a member's records, check a proof, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMUNITY_HELP = "energy community: allocate a month into the ledger, settle, report, reconcile"
LEDGER_HELP = "the community's signed ledger: verify, prove, check-proof, export, checkpoint, rotate-key"


def _err(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def add_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    community = sub.add_parser(
        "community",
        help=COMMUNITY_HELP,
        description="Renewable energy community (docs/community.md): every quarter-hour's generation "
        "shared among the members with the configured key, recorded in the signed ledger; monthly "
        "settlement per member as CSV and HTML; reconciliation against the grid operator's figures.",
        formatter_class=formatter,
    )
    csub = community.add_subparsers(dest="community_command", required=True)

    def common(p: argparse.ArgumentParser, month: bool = True) -> None:
        p.add_argument("-c", "--config", required=True, help="the configuration file with a community: block")
        if month:
            p.add_argument("--month", required=True, help="YYYY-MM in the community's time zone")

    source_help = (
        "our sites' meters: their recorded history, or the demo's simulation on the shipped real data"
    )
    allocate = csub.add_parser(
        "allocate", help="record every interval of a month in the ledger", formatter_class=formatter
    )
    common(allocate)
    allocate.add_argument("--source", choices=["history", "simulated"], default="history", help=source_help)
    missing_help = "record intervals with a member's data missing, counted as 0 kWh (default: they wait)"
    allocate.add_argument("--allow-missing", action="store_true", help=missing_help)
    settle = csub.add_parser(
        "settle",
        help="allocate (if not yet) and settle a month: settlement records + CSV",
        formatter_class=formatter,
    )
    common(settle)
    settle.add_argument("--source", choices=["history", "simulated"], default="history", help=source_help)
    settle.add_argument("--allow-missing", action="store_true", help=missing_help)
    settle.add_argument("-o", "--out", default=".", help="folder for settlement-<community>-<month>.csv")
    report = csub.add_parser(
        "report", help="the month's settlement as an HTML report with charts", formatter_class=formatter
    )
    common(report)
    report.add_argument("--member", help="only this member's figures (a report to send to that member)")
    report.add_argument(
        "-o", "--out", help="the HTML file (default: report-<community>-<month>[-member].html)"
    )
    rec = csub.add_parser(
        "reconcile",
        help="compare the recorded allocation with the grid operator's CSV; list every differing interval",
        description="Exit code 1 when any interval differs by more than 1 Wh (or is missing on either side). "
        "The operator's CSV: timestamp_utc, member, received_kwh, provided_kwh.",
        formatter_class=formatter,
    )
    common(rec)
    rec.add_argument("--operator", required=True, help="the grid operator's per-interval CSV")
    rec.add_argument("--tolerance-kwh", type=float, default=0.001, help="differences up to this are equal")

    ledger = sub.add_parser(
        "ledger",
        help=LEDGER_HELP,
        description="The append-only ledger of the community: hash-chained records signed with Ed25519, "
        "RFC 9162 Merkle checkpoints (docs/community.md).",
        formatter_class=formatter,
    )
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)

    def where(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("-c", "--config", help="the configuration file (its community.ledger)")
        group.add_argument("--ledger", help="the ledger file itself (SQLite)")
        group.add_argument(
            "--dsn",
            help="a PostgreSQL ledger: postgresql://user@host:port/database (the password from "
            "PGPASSWORD or ~/.pgpass, never in the DSN)",
        )
        p.add_argument(
            "--community", help="with --dsn: the community's id (needed when the database holds several)"
        )

    verify = lsub.add_parser(
        "verify",
        help="check the whole chain, every signature and checkpoint; names the first broken record",
        description="Exit code 0: intact; 1: broken (the first broken record is named).",
        formatter_class=formatter,
    )
    where(verify)
    verify.add_argument(
        "--public-key",
        action="append",
        default=[],
        help="require that the ledger uses this key (PEM or hex; repeatable)",
    )
    prove = lsub.add_parser(
        "prove", help="a member's records of a month with inclusion proofs (JSON)", formatter_class=formatter
    )
    where(prove)
    prove.add_argument("--member", required=True)
    prove.add_argument("--month", required=True, help="YYYY-MM")
    prove.add_argument("-o", "--out", help="the proof file (default: standard output)")
    check = lsub.add_parser(
        "check-proof",
        help="verify a proof file with the public key only",
        description="Exit code 0: every record proven; 1: not.",
        formatter_class=formatter,
    )
    check.add_argument("proof", help="the file ledger prove wrote")
    check.add_argument(
        "--public-key",
        action="append",
        required=True,
        help="the ledger's public key (PEM or hex, from GET /api/v1/community/ledger/public-key)",
    )
    export = lsub.add_parser(
        "export", help="every record and checkpoint as JSON Lines", formatter_class=formatter
    )
    where(export)
    export.add_argument("-o", "--out", help="the file (default: standard output)")
    cp = lsub.add_parser(
        "checkpoint", help="sign a checkpoint over every record now", formatter_class=formatter
    )
    common(cp, month=False)
    rotate = lsub.add_parser(
        "rotate-key",
        help="a new signing key, introduced by a record the old key signs",
        formatter_class=formatter,
    )
    common(rotate, month=False)
    pub = lsub.add_parser(
        "public-key", help="print the ledger's current public key (PEM)", formatter_class=formatter
    )
    where(pub)


def run(args: argparse.Namespace) -> int:
    from phoenyra_ems.community.keys import KeyFileError
    from phoenyra_ems.community.meters import MeterError
    from phoenyra_ems.community.store import errors

    expected: tuple[type[Exception], ...] = (MeterError, KeyFileError, *errors())
    try:
        if args.command == "community":
            return _community(args)
        return _ledger(args)
    except expected as err:
        return _err(f"phoenyra-ems {args.command}: {err}")


def _config(path: str):  # type: ignore[no-untyped-def]
    from phoenyra_ems.community.meters import community_of
    from phoenyra_ems.config import load_config_or_report as _load

    config = _load(path)
    if config is None:
        return None, None
    return config, community_of(config)


def _community(args: argparse.Namespace) -> int:
    from phoenyra_ems.community import report, service
    from phoenyra_ems.community.meters import month_bounds
    from phoenyra_ems.community.store import LedgerMissing

    config, community = _config(args.config)
    if community is None:
        return 1
    month_bounds(args.month, community.timezone)  # a bad month is refused before anything is written
    cid = community.community_id
    try:
        ledger = service.ledger_for(community, writable=args.community_command in ("allocate", "settle"))
    except LedgerMissing:
        return _err(f"{cid}: no intervals of {args.month} in the ledger (run: community settle)")
    with ledger:
        if args.community_command in ("allocate", "settle"):
            run = service.allocate_month(
                config, community, ledger, args.month, args.source, allow_missing=args.allow_missing
            )
            print(
                f"{cid} {args.month}: {run.appended} intervals recorded, {run.already} already in the ledger"
            )
            for member, count in sorted(run.missing.items()):
                what = "counted as 0 kWh" if args.allow_missing else "those intervals wait for the data"
                print(f"  warning: member {member}: no data for {count} intervals ({what})")
            if args.community_command == "allocate":
                return 0
            try:
                settlements, fresh = service.settle_month(ledger, args.month, community.timezone)
            except service.MonthNotOver as err:
                return _err(
                    f"phoenyra-ems community settle: {err} (community allocate records what has ended and "
                    "has data; --allow-missing counts missing data as 0 kWh)"
                )
            out = Path(args.out) / f"settlement-{cid}-{args.month}.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(report.settlement_csv(settlements))
            print(f"{'settled' if fresh else 'already settled'}: {len(settlements)} members → {out}")
            for s in settlements:
                print(
                    f"  {s.member:<16} received {s.received_kwh:10.1f} kWh  "
                    f"provided {s.provided_kwh:10.1f} kWh  "
                    f"surplus {s.surplus_kwh:10.1f} kWh  net {s.net_eur:+10.2f} EUR"
                )
            return 0
        rows = service.recorded_allocations(ledger, args.month)
        if not rows:
            return _err(f"{cid}: no intervals of {args.month} in the ledger (run: community settle)")
        if args.community_command == "report":
            settlements, _ = service.settle_month_readonly(ledger, args.month, rows)
            if args.member and args.member not in {s.member for s in settlements}:
                return _err(f"{cid}: no member {args.member!r} in {args.month}")
            suffix = f"-{args.member}" if args.member else ""
            out = Path(args.out or f"report-{cid}-{args.month}{suffix}.html")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                report.html_report(community.name, args.month, settlements, rows, args.member, ledger.head)
            )
            print(out)
            return 0
        return _reconcile(args, rows)


def _reconcile(args: argparse.Namespace, rows: list[Any]) -> int:
    from phoenyra_ems.community.reconcile import read_operator_csv, reconcile

    diffs = reconcile(rows, read_operator_csv(Path(args.operator)), args.tolerance_kwh)
    if not diffs:
        print(f"{args.month}: all {len(rows)} intervals agree with {args.operator}")
        return 0
    print("interval,member,figure,ledger_kwh,operator_kwh")
    for diff in diffs:
        print(diff.line())
    intervals = len({d.interval for d in diffs})
    print(f"{intervals} of {len(rows)} intervals differ ({len(diffs)} figures)", file=sys.stderr)
    return 1


def _store(args: argparse.Namespace, writable: bool = False):  # type: ignore[no-untyped-def]
    """(store, community id) from --ledger, --dsn [--community] or the configuration; None if the
    configuration did not load (its errors are printed)."""
    import sqlite3

    from phoenyra_ems.community.store import LedgerError, LedgerMissing, open_store
    from phoenyra_ems.community.store_sqlite import SqliteStore

    if getattr(args, "ledger", None):
        store = SqliteStore(args.ledger, read_only=True)
        try:
            found = store.communities()
        except sqlite3.Error as err:
            store.close()
            raise LedgerError(f"{args.ledger}: not a ledger ({err})") from None
        if not found:
            store.close()
            raise LedgerError(f"{args.ledger}: the ledger is empty")
        return store, found[0]
    if getattr(args, "dsn", None):
        return _postgres(args.dsn, args.community)
    _, community = _config(args.config)
    if community is None:
        return None
    try:
        return open_store(community.ledger, community.community_id, read_only=not writable), (
            community.community_id
        )
    except LedgerMissing as err:
        raise LedgerMissing(f"{err} (run: community settle)") from None


def _postgres(dsn: str, community: str | None):  # type: ignore[no-untyped-def]
    import voluptuous as vol

    from phoenyra_ems.community.store import LedgerError, LedgerMissing
    from phoenyra_ems.community.store_postgres import PostgresStore
    from phoenyra_ems.config.community_schema import dsn as valid_dsn

    try:
        valid_dsn(dsn)
    except vol.Invalid as err:
        raise LedgerError(f"--dsn: {err.msg}") from None
    store = PostgresStore(dsn, community or "", read_only=True)
    found = store.communities()
    if community is None and len(found) == 1:
        store.community = found[0]
    elif community not in found:
        store.close()
        there = f"communities there: {', '.join(found)}" if found else "the database holds none"
        if community is not None:
            raise LedgerMissing(f"{dsn}: no ledger of community {community!r} ({there})")
        if not found:
            raise LedgerMissing(f"{dsn}: no such ledger ({there})")
        raise LedgerError(f"{dsn}: several ledgers: choose one with --community ({there})")
    return store, store.community


def _open_ledger(args: argparse.Namespace, writable: bool = False):  # type: ignore[no-untyped-def]
    from phoenyra_ems.community import service
    from phoenyra_ems.community.ledger import Ledger

    if getattr(args, "config", None) and writable:
        _, community = _config(args.config)
        return None if community is None else service.ledger_for(community, writable)
    found = _store(args)
    if found is None:
        return None
    return Ledger(*found)


def _ledger(args: argparse.Namespace) -> int:
    from phoenyra_ems.community import keys
    from phoenyra_ems.community.proofs import check_proof, prove

    command = args.ledger_command
    if command == "check-proof":
        public = [keys.load_public(p) for p in args.public_key]
        try:
            document = json.loads(Path(args.proof).read_text())
        except (OSError, ValueError) as err:
            return _err(f"{args.proof}: not a readable proof ({err})")
        result = check_proof(document, public)
        for problem in result.problems:
            print(f"FAIL {problem}")
        print(
            f"{'OK' if result.ok else 'FAILED'}: {result.checked} records proven "
            f"({document.get('member')}, {document.get('month')})"
        )
        return 0 if result.ok else 1
    if command == "verify":
        return _verify(args)
    ledger = _open_ledger(args, writable=command in ("checkpoint", "rotate-key", "prove"))
    if ledger is None:
        return 1
    with ledger:
        if command == "prove":
            text = json.dumps(prove(ledger, args.member, args.month), indent=1)
            _write(args.out, text + "\n")
        elif command == "export":
            lines = [json.dumps(r.as_json(), separators=(",", ":")) for r in ledger.records()]
            lines += [json.dumps(c.as_json(), separators=(",", ":")) for c in ledger.checkpoints()]
            _write(args.out, "".join(line + "\n" for line in lines))
        elif command == "checkpoint":
            cp = ledger.checkpoint()
            print(f"checkpoint: tree size {cp.tree_size}, root {cp.root}")
        elif command == "rotate-key":
            print(f"new key {ledger.rotate_key()} (rotation recorded as record {ledger.size - 1})")
        elif command == "public-key":
            key = ledger.current_public_key()
            if key is None:
                return _err("the ledger has no key yet")
            print(keys.public_pem(key), end="")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from phoenyra_ems.community import keys
    from phoenyra_ems.community.verify import verify_store

    pinned = [keys.load_public(p) for p in args.public_key]
    found = _store(args)
    if found is None:
        return 1
    store, _ = found
    try:
        verdict = verify_store(store, pinned)
    finally:
        store.close()
    if verdict.ok:
        print(
            f"OK: {verdict.records} records, {verdict.checkpoints} checkpoints, "
            f"keys {', '.join(verdict.keys)}"
        )
        return 0
    print(f"BROKEN: {verdict.problem}")
    return 1


def _write(out: str | None, text: str) -> None:
    if out:
        Path(out).write_text(text)
    else:
        sys.stdout.write(text)
