"""The community view's text (``client.community()``): today's shares and this month's amounts per
member the user may see. Pure functions."""

from __future__ import annotations

from phoenyra_ems.client import CommunityState, MemberInterval

TODAY_COLUMNS = ("Member", "Consumed kWh", "From community", "Share", "Generated kWh", "Provided", "Surplus")
MONTH_COLUMNS = ("Member", "Received kWh", "Provided kWh", "Paid EUR", "Earned EUR", "Net EUR")
NO_COMMUNITY = "no energy community on this daemon (community: in its configuration; docs/community.md)"


def _name(state: CommunityState, member: str) -> str:
    found = next((m for m in state.members if m.id == member), None)
    name = found.name if found is not None and found.name else member
    return f"{name} (site)" if found is not None and found.site is not None else name


def _kwh(value: float) -> str:
    return f"{value:,.1f}"


def _eur(value: float, sign: bool = False) -> str:
    text = f"{value:+,.2f}" if sign else f"{value:,.2f}"
    return "0.00" if text in ("-0.00", "+0.00") else text


def today_rows(state: CommunityState) -> list[tuple[str, ...]]:
    """Per visible member: consumption, the part received from the community and its share of the
    consumption, generation, the part provided to the community and the surplus (kWh, today)."""
    rows: list[tuple[str, ...]] = []
    for member, f in sorted(state.today.items()):
        share = f"{100 * f.received_kwh / f.consumption_kwh:.0f} %" if f.consumption_kwh > 1e-9 else "-"
        rows.append((
            _name(state, member), _kwh(f.consumption_kwh), _kwh(f.received_kwh), share,
            _kwh(f.generation_kwh), _kwh(f.provided_kwh), _kwh(f.surplus_kwh),
        ))  # fmt: skip
    return rows


def net_eur(figures: MemberInterval) -> float:
    """> 0: the member is paid."""
    return figures.earned_eur - figures.paid_eur


def month_rows(state: CommunityState) -> list[tuple[str, ...]]:
    """Per visible member this month so far: energy received / provided, amounts paid / earned / net."""
    rows: list[tuple[str, ...]] = []
    for member, f in sorted(state.month_to_date.items()):
        rows.append((
            _name(state, member), _kwh(f.received_kwh), _kwh(f.provided_kwh), _eur(f.paid_eur),
            _eur(f.earned_eur), _eur(net_eur(f), sign=True),
        ))  # fmt: skip
    return rows


def headline(state: CommunityState) -> str:
    """``EEG Donau · dynamic key · price 0.04 EUR/kWh + 1 × day-ahead · 2,885 ledger records``."""
    price = state.price
    if price.mode == "dayahead":
        rate = f"{price.dayahead_factor:g} × day-ahead + {price.markup_eur_kwh:g} EUR/kWh"
    else:
        rate = f"{price.fixed_eur_kwh:g} EUR/kWh"
    latest = state.latest_interval
    last = "" if latest is None else f" · last interval {latest.interval:%Y-%m-%d %H:%M} UTC"
    last += "" if latest is None else f" at {latest.price_eur_kwh:.3f} EUR/kWh"
    return (
        f"{state.name or state.id} · {state.key} key · internal price {rate} · "
        f"{state.ledger_records:,} ledger records{last}"
    )


def titles(state: CommunityState) -> tuple[str, str]:
    today = f"Today ({state.date})" if state.date else "Today"
    month = f"This month ({state.month}, so far)" if state.month else "This month"
    hidden = sum(1 for m in state.members if not m.visible)
    if hidden:
        today += f" · {hidden} other member{'s' if hidden > 1 else ''} not shown"
    return today, month
