"""The site dashboard's VPP lines: the event banner and the VPP panel (pure, no Textual)."""

from __future__ import annotations

from phoenyra_ems.client import VppState
from tui.core import format as fmt


def duration(seconds: float | None) -> str:
    """``1 h 05 min``, ``4 min 30 s``, ``12 s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def vpp_banner(vpp: VppState | None) -> str | None:
    """One line while an event is in progress (None otherwise)."""
    if vpp is None or not vpp.active:
        return None
    power = "capacity limits only" if vpp.committed_kw is None else f"committed {fmt.kw(vpp.committed_kw)} kW"
    return f"⚡ VPP event {vpp.event_id or '?'}: {power} · {duration(vpp.remaining_s)} left"


def vpp_panel(vpp: VppState | None) -> str | None:
    """The VPP panel: committed power, remaining duration, deviation, the offer (None: no VPP block)."""
    if vpp is None:
        return None
    lines = []
    if vpp.active:
        deviation = fmt.kw(vpp.deviation_kw)
        lines.append(
            f"Committed {fmt.kw(vpp.committed_kw)} kW · site {fmt.kw(vpp.actual_kw)} kW · "
            f"deviation {deviation} kW · {duration(vpp.remaining_s)} left"
        )
        if vpp.notes:
            lines.append("; ".join(vpp.notes))
    else:
        lines.append("No VPP event")
    offer = vpp.offered
    if offer is not None:
        discharge = fmt.kw(offer.max_discharge_kw, signed=False)
        charge = fmt.kw(offer.max_charge_kw, signed=False)
        span = duration(offer.duration_s)
        lines.append(f"Offered for {span}: discharge {discharge} kW · charge {charge} kW")
    return "\n".join(lines)
