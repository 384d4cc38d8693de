"""The console's community view: today's shares and this month's amounts of the members the user
may see, from the client's model; a daemon without a community says so."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import DataTable, Static

from phoenyra_ems.client import (
    CommunityInterval,
    CommunityMember,
    CommunityPrice,
    CommunityState,
    MemberInterval,
)
from tests.tui.conftest import fixed_store, wait_for
from tui.app import PhoenyraConsole
from tui.core.backend import StaticBackend
from tui.core.community import NO_COMMUNITY, headline, month_rows, today_rows

WIEN_TODAY = MemberInterval(120.0, 30.0, 45.0, 10.0, 20.0, 5.4, 1.2)
FARM_TODAY = MemberInterval(0.0, 400.0, 0.0, 55.0, 345.0, 0.0, 6.6)
STATE = CommunityState(
    id="eeg-donau",
    name="EEG Donau",
    key="dynamic",
    timezone="Europe/Vienna",
    price=CommunityPrice("dayahead", 0.12, 1.0, 0.04),
    members=(
        CommunityMember("wien", "Wien", "site", "wien", True, 0.0, 100.0),
        CommunityMember("bauernhof", "Bauernhof", "external", None, True, 0.0, 100.0),
        CommunityMember("linz", "Linz", "site", "linz", False, None, None),
    ),
    ledger_records=2885,
    ledger_head="ab" * 32,
    latest_interval=CommunityInterval(datetime(2024, 6, 1, 10, 15, tzinfo=UTC), 0.118, {}),
    date="2024-06-01",
    today={"wien": WIEN_TODAY, "bauernhof": FARM_TODAY},
    month="2024-06",
    month_to_date={
        "wien": MemberInterval(120.0, 30.0, 45.0, 10.0, 20.0, 5.4, 1.2),
        "bauernhof": MemberInterval(0.0, 400.0, 0.0, 55.0, 345.0, 0.0, 6.6),
    },
)


def test_rows_say_what_each_member_received_provided_paid_and_earned() -> None:
    assert today_rows(STATE) == [
        ("Bauernhof", "0.0", "0.0", "-", "400.0", "55.0", "345.0"),
        ("Wien (site)", "120.0", "45.0", "38 %", "30.0", "10.0", "20.0"),
    ]
    assert month_rows(STATE)[1] == ("Wien (site)", "45.0", "10.0", "5.40", "1.20", "-4.20")
    assert month_rows(STATE)[0][-1] == "+6.60"  # the farm is paid
    assert headline(STATE) == (
        "EEG Donau · dynamic key · internal price 1 × day-ahead + 0.04 EUR/kWh · 2,885 ledger records · "
        "last interval 2024-06-01 10:15 UTC at 0.118 EUR/kWh"
    )


async def test_the_view_shows_todays_shares_and_this_months_amounts() -> None:
    app = PhoenyraConsole(StaticBackend(fixed_store(), community=STATE), start_screen="fleet")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("e")  # the community view's key
        await wait_for(pilot, lambda: app.current_screen_id == "community")
        today = app.screen.query_one("#community-today", DataTable)
        await wait_for(pilot, lambda: today.row_count == 2, what="two members today")
        month = app.screen.query_one("#community-month", DataTable)
        wien = ["Wien (site)", "45.0", "10.0", "5.40", "1.20", "-4.20"]
        assert [str(c) for c in month.get_row_at(1)] == wien
        title = str(app.screen.query_one("#community-today-title", Static).render())
        assert title == "Today (2024-06-01) · 1 other member not shown"


async def test_a_daemon_without_a_community_says_so() -> None:
    app = PhoenyraConsole(StaticBackend(fixed_store()), start_screen="community")
    async with app.run_test(size=(80, 24)) as pilot:
        title = app.screen.query_one("#community-title", Static)
        await wait_for(pilot, lambda: str(title.render()) == NO_COMMUNITY)
        assert app.screen.query_one("#community-today", DataTable).row_count == 0
