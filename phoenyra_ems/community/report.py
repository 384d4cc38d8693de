"""Settlement outputs: CSV per month, and a self-contained HTML report with inline SVG charts."""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from collections.abc import Sequence

from phoenyra_ems.core.community.allocation import MemberAllocation
from phoenyra_ems.core.community.settlement import SETTLEMENT_COLUMNS, MemberSettlement

Rows = list[tuple[str, float, dict[str, MemberAllocation]]]
COLOURS = {"received": "#2e7d32", "from grid": "#9e9e9e", "provided": "#f9a825", "surplus": "#1565c0"}


def settlement_csv(settlements: Sequence[MemberSettlement]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SETTLEMENT_COLUMNS)
    for s in settlements:
        row = s.as_dict()
        writer.writerow(
            [
                f"{v:.2f}" if k.endswith("_eur") else f"{v:.3f}" if isinstance(v, float) else v
                for k, v in ((c, row[c]) for c in SETTLEMENT_COLUMNS)
            ]
        )
    return out.getvalue()


def _bars(settlements: Sequence[MemberSettlement]) -> str:
    """Per member: consumption split into received / from grid, generation into provided / surplus."""
    width, row_h, label_w = 760, 46, 120.0
    peak = max([max(s.consumption_kwh, s.generation_kwh) for s in settlements] + [1e-9])
    scale = (width - label_w - 20) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row_h * len(settlements) + 30}" '
        'role="img" aria-label="energy per member">'
    ]
    for i, s in enumerate(settlements):
        y = 10 + i * row_h
        parts.append(f'<text x="0" y="{y + 22}" font-size="12">{html.escape(s.member)}</text>')
        x = label_w
        for name, value, dy in (
            ("received", s.received_kwh, 0),
            ("from grid", s.from_grid_kwh, 0),
            ("provided", s.provided_kwh, 18),
            ("surplus", s.surplus_kwh, 18),
        ):
            if name == "provided":
                x = label_w
            w = value * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{y + dy}" width="{w:.1f}" height="16" fill="{COLOURS[name]}">'
                f"<title>{name}: {value:,.1f} kWh</title></rect>"
            )
            x += w
    legend_y = 10 + len(settlements) * row_h + 10
    for j, (name, colour) in enumerate(COLOURS.items()):
        parts.append(
            f'<rect x="{label_w + j * 130}" y="{legend_y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{label_w + j * 130 + 16}" y="{legend_y + 11}" font-size="12">{name}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _daily(rows: Rows, member: str | None) -> str:
    """Energy shared per day (kWh): the community's, or one member's received and provided."""
    days: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for interval, _, alloc in rows:
        day = interval[:10]
        for mid, m in alloc.items():
            if member is None or mid == member:
                days[day][0] += m.received_kwh
                days[day][1] += m.provided_kwh if member is not None else m.surplus_kwh
    if not days:
        return ""
    names = ("received", "provided") if member else ("shared", "surplus")
    width, height, pad = 760, 200, 30
    peak = max(max(v) for v in days.values()) or 1.0
    step = (width - pad) / len(days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img" '
        f'aria-label="daily energy">'
    ]
    for i, (day, values) in enumerate(sorted(days.items())):
        for j, value in enumerate(values):
            h = value / peak * (height - 20)
            colour = (COLOURS["received"], COLOURS["provided"] if member else COLOURS["surplus"])[j]
            parts.append(
                f'<rect x="{pad + i * step + j * step / 2:.1f}" y="{height - h:.1f}" '
                f'width="{step / 2 - 1:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{day} {names[j]}: {value:,.1f} kWh</title></rect>"
            )
        if i % 5 == 0:
            parts.append(f'<text x="{pad + i * step:.1f}" y="{height + 14}" font-size="10">{day[5:]}</text>')
    parts.append(f'<text x="0" y="12" font-size="10">{peak:,.0f} kWh</text></svg>')
    return "".join(parts)


def html_report(
    community: str,
    month: str,
    settlements: Sequence[MemberSettlement],
    rows: Rows,
    member: str | None = None,
    ledger_head: str = "",
) -> str:
    """A readable settlement report; with ``member``, only that member's figures."""
    shown = [s for s in settlements if member is None or s.member == member]
    title = f"{community} — settlement {month}" + (f" — {member}" if member else "")
    head = (
        "<tr><th>member</th><th>consumption kWh</th><th>received kWh</th><th>from grid kWh</th>"
        "<th>generation kWh</th><th>provided kWh</th><th>surplus kWh</th><th>paid EUR</th>"
        "<th>earned EUR</th><th>net EUR</th></tr>"
    )
    body = "".join(
        f"<tr><td>{html.escape(s.member)}</td><td>{s.consumption_kwh:,.1f}</td><td>{s.received_kwh:,.1f}</td>"
        f"<td>{s.from_grid_kwh:,.1f}</td><td>{s.generation_kwh:,.1f}</td><td>{s.provided_kwh:,.1f}</td>"
        f"<td>{s.surplus_kwh:,.1f}</td><td>{s.paid_eur:,.2f}</td><td>{s.earned_eur:,.2f}</td>"
        f"<td>{s.net_eur:+,.2f}</td></tr>"
        for s in shown
    )
    prices = [p for _, p, _ in rows]
    price_note = (
        f"Internal price: {min(prices):.4f}–{max(prices):.4f} EUR/kWh over {len(rows)} intervals."
        if prices
        else "No intervals recorded."
    )
    head_note = f" (head {ledger_head[:16]}…)" if ledger_head else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}
.note{{color:#666;font-size:90%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{price_note} Net: positive means the member is paid.</p>
<table>{head}{body}</table>
<h2>Energy per member</h2>{_bars(shown)}
<h2>Per day</h2>{_daily(rows, member)}
<p class="note">Figures from the community's signed ledger{head_note};
check them with <code>phoenyra-ems ledger verify</code> or, as a member, with <code>ledger prove</code>
and <code>ledger check-proof</code>.</p>
</body></html>
"""
