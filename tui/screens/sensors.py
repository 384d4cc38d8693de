"""Sensors: the site's discovered edge sensors (MQTT). Until the daemon has a sensor API the table
stays empty with the reason; the call is already there (``client.sensors(site_id)`` if present)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from phoenyra_ems.client import PhoenyraError
from tui.core.store import ConsoleStore, sensor_row
from tui.screens.base import ConsoleScreen

NO_API = "no sensors discovered (MQTT not configured)"


class SensorsScreen(ConsoleScreen):
    SCREEN_ID = "sensors"
    SCREEN_TITLE = "Sensors"

    def __init__(self) -> None:
        super().__init__()
        self._loaded_for: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="sensors-title")
        table: DataTable[str] = DataTable(id="sensors-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Sensor", "Kind", "Value", "Unit", "Source", "Last seen")
        yield table
        yield Static(NO_API, id="sensors-message")

    def on_show_screen(self) -> None:
        self._loaded_for = None

    def show_store(self, store: ConsoleStore) -> None:
        site_id = store.current_site
        self.query_one("#sensors-title", Static).update(f"Edge sensors · {store.site_name(site_id)}")
        if site_id is not None and site_id != self._loaded_for:
            self._loaded_for = site_id
            self._load(site_id)

    @work(exclusive=True, group="sensors")
    async def _load(self, site_id: str) -> None:
        message = self.query_one("#sensors-message", Static)
        table: DataTable[str] = self.query_one("#sensors-table", DataTable)
        try:
            sensors: list[Any] | None = await self.backend.sensors(site_id)
        except PhoenyraError as err:
            sensors, text = [], f"sensors unavailable: {err.message}"
        else:
            text = NO_API if sensors is None else "" if sensors else "no sensors discovered"
        table.clear()
        for sensor in sensors or []:
            table.add_row(*sensor_row(sensor))
        message.update(text)
