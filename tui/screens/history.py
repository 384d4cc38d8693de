"""History: a chosen day's power and SoC curves (5-minute averages) and the day's energy."""

from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from phoenyra_ems.client import PhoenyraError
from tui.core.history import day_series, parse_day, site_zone, summarise
from tui.core.store import ChartPoint, ConsoleStore
from tui.screens.base import ConsoleScreen, bindings
from tui.widgets.charts import PowerChart, SocChart


class HistoryScreen(ConsoleScreen):
    SCREEN_ID = "history"
    SCREEN_TITLE = "History"
    AUTO_FOCUS = ""  # nothing focused: keys work at once; Tab reaches the date field
    BINDINGS: ClassVar[list[BindingType]] = bindings("history")

    def __init__(self) -> None:
        super().__init__()
        self.day: date | None = None
        self._loaded: tuple[str, date] | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="history-bar"):
            yield Label("Day ", classes="field-label")
            yield Input(placeholder="YYYY-MM-DD", compact=True, select_on_focus=False, id="history-day")
            yield Static("[ ] previous / next day", classes="field-hint")
        yield Static(id="history-summary")
        with Horizontal(id="history-charts"):
            yield PowerChart(id="history-power")
            yield SocChart(id="history-soc")

    def on_show_screen(self) -> None:
        self._loaded = None

    def show_store(self, store: ConsoleStore) -> None:
        site_id = store.current_site
        if site_id is None:
            return
        if self.day is None:
            state = store.states.get(site_id)
            if state is None:
                return
            site = store.sites[site_id]
            self.day = state.timestamp.astimezone(site_zone(site.location.timezone)).date()
            self.query_one("#history-day", Input).value = self.day.isoformat()
        if self._loaded != (site_id, self.day):
            self._loaded = (site_id, self.day)
            self._load(site_id, self.day)

    def action_shift_day(self, days: int) -> None:
        if self.day is not None:
            self.day += timedelta(days=days)
            self.query_one("#history-day", Input).value = self.day.isoformat()
            self.show_store(self.store)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.day = parse_day(event.value)
        except ValueError:
            self.query_one("#history-summary", Static).update("not a date: use YYYY-MM-DD")
            return
        self.show_store(self.store)

    @work(exclusive=True, group="history")
    async def _load(self, site_id: str, day: date) -> None:
        summary = self.query_one("#history-summary", Static)
        summary.update(f"loading {day} …")
        try:
            points: list[ChartPoint] = await self.backend.day_history(site_id, day)
        except PhoenyraError as err:
            summary.update(f"history unavailable: {err.message}")
            self._loaded = None
            points = []
        else:
            s = summarise(points)
            soc = "-" if s.soc_min is None else f"{s.soc_min:.0f}–{s.soc_max:.0f} %"
            summary.update(
                f"{self.store.site_name(site_id)} {day}: {len(points)} samples (5 min) · "
                f"charged {s.charged_kwh:.0f} kWh · discharged {s.discharged_kwh:.0f} kWh · "
                f"import {s.imported_kwh:.0f} · export {s.exported_kwh:.0f} kWh · "
                f"PV {s.pv_kwh:.0f} kWh · SoC {soc}"
            )
        site = self.store.sites.get(site_id)
        series = day_series(points, site_zone(site.location.timezone if site else "UTC"), day)
        self.query_one(PowerChart).show_series(series, f"Power kW, {day}", "h", (0.0, 24.0))
        self.query_one(SocChart).show_series(series, f"SoC %, {day}", "h", (0.0, 24.0))
