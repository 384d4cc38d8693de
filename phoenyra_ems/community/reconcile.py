"""Reconcile the recorded allocation against the grid operator's per-interval figures (CSV)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from phoenyra_ems.community.meters import MeterError, iso
from phoenyra_ems.core.community.allocation import MemberAllocation

COMPARED = ("received_kwh", "provided_kwh")
TOLERANCE_KWH = 0.001  # 1 Wh: the operator's data are rounded


@dataclass(frozen=True, slots=True)
class Difference:
    interval: str
    member: str
    column: str
    ours: float | None  # None: not in our ledger
    operator: float | None  # None: not in the operator's data

    def line(self) -> str:
        def fmt(v: float | None) -> str:
            return "missing" if v is None else f"{v:.4f}"

        return f"{self.interval},{self.member},{self.column},{fmt(self.ours)},{fmt(self.operator)}"


def read_operator_csv(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """``timestamp_utc, member, received_kwh, provided_kwh``: one row per interval and member."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            names = set(reader.fieldnames or [])
            if not {"timestamp_utc", "member"} <= names or not set(COMPARED) & names:
                raise MeterError(
                    f"{path}:1: needs columns timestamp_utc, member and received_kwh and/or provided_kwh"
                )
            for row in reader:
                where = f"{path}:{reader.line_num}"
                try:
                    when = datetime.fromisoformat(row["timestamp_utc"].replace("Z", "+00:00"))
                except (ValueError, AttributeError):
                    raise MeterError(f"{where}: timestamp_utc is not an ISO 8601 instant") from None
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                values: dict[str, float] = {}
                for column in COMPARED:
                    if row.get(column) not in (None, ""):
                        try:
                            values[column] = float(row[column])
                        except ValueError:
                            raise MeterError(f"{where}: {column} is not a number: {row[column]!r}") from None
                        if not math.isfinite(values[column]):
                            raise MeterError(f"{where}: {column} is not finite")
                out[(iso(int(when.timestamp())), row["member"])] = values
    except OSError as err:
        raise MeterError(f"{path}: {err.strerror}") from None
    return out


def reconcile(
    rows: list[tuple[str, float, dict[str, MemberAllocation]]],
    operator: dict[tuple[str, str], dict[str, float]],
    tolerance: float = TOLERANCE_KWH,
) -> list[Difference]:
    """Every (interval, member, figure) where ours and the operator's differ by more than ``tolerance``."""
    diffs: list[Difference] = []
    ours_keys: set[tuple[str, str]] = set()
    first, last = (min(r[0] for r in rows), max(r[0] for r in rows)) if rows else ("", "")
    for interval, _, members in rows:
        for mid, alloc in members.items():
            ours_keys.add((interval, mid))
            theirs = operator.get((interval, mid))
            for column in COMPARED:
                mine = getattr(alloc, column)
                other = None if theirs is None else theirs.get(column)
                if theirs is not None and column not in theirs:
                    continue  # the operator does not report this figure
                if other is None or abs(mine - other) > tolerance:
                    diffs.append(Difference(interval, mid, column, mine, other))
    for (interval, mid), theirs in operator.items():
        if (interval, mid) not in ours_keys and first <= interval <= last:
            diffs.extend(Difference(interval, mid, c, None, v) for c, v in theirs.items())
    return sorted(diffs, key=lambda d: (d.interval, d.member, d.column))
