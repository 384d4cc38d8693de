"""Community: the energy community's shares today and this month's amounts per member the user may
see (``client.community()``; docs/community.md). Reloaded every few seconds while shown (the API does
not push the community; its figures change once a quarter-hour)."""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from phoenyra_ems.client import CommunityState, PhoenyraError, PhoenyraNotFoundError
from tui.core.community import (
    MONTH_COLUMNS,
    NO_COMMUNITY,
    TODAY_COLUMNS,
    headline,
    month_rows,
    titles,
    today_rows,
)
from tui.core.store import ConsoleStore
from tui.screens.base import ConsoleScreen

RELOAD_S = 15.0


class CommunityScreen(ConsoleScreen):
    SCREEN_ID = "community"
    SCREEN_TITLE = "Community"

    def __init__(self) -> None:
        super().__init__()
        self._loaded: float | None = None  # monotonic time of the last load

    def compose_body(self) -> ComposeResult:
        yield Static("loading …", id="community-title")
        yield Static("Today", id="community-today-title", classes="community-section")
        today: DataTable[str] = DataTable(id="community-today", cursor_type="row", zebra_stripes=True)
        today.add_columns(*TODAY_COLUMNS)
        yield today
        yield Static("This month", id="community-month-title", classes="community-section")
        month: DataTable[str] = DataTable(id="community-month", cursor_type="row", zebra_stripes=True)
        month.add_columns(*MONTH_COLUMNS)
        yield month

    def on_show_screen(self) -> None:
        self._loaded = None

    def show_store(self, store: ConsoleStore) -> None:
        now = time.monotonic()
        if self._loaded is None or now - self._loaded >= RELOAD_S:
            self._loaded = now
            self._load()

    @work(exclusive=True, group="community")
    async def _load(self) -> None:
        title = self.query_one("#community-title", Static)
        tables = [self.query_one(f"#community-{name}", DataTable) for name in ("today", "month")]
        state: CommunityState | None
        try:
            state = await self.backend.community()
        except PhoenyraNotFoundError:
            state = None
        except PhoenyraError as err:
            title.update(f"community unavailable: {err.message}")
            self._loaded = None  # try again at the next redraw
            return
        for table in tables:
            table.clear()
        if state is None:
            title.update(NO_COMMUNITY)
            return
        title.update(headline(state))
        today_title, month_title = titles(state)
        self.query_one("#community-today-title", Static).update(today_title)
        self.query_one("#community-month-title", Static).update(month_title)
        for table, rows in zip(tables, (today_rows(state), month_rows(state)), strict=True):
            for row in rows:
                table.add_row(*row)
