"""Sensors: the site's edge sensors discovered on MQTT (``client.sensors(site_id)``): name, the role
a rule gave it at the site, value, unit, discovery format and how long ago it was last measured.
Reloaded every few seconds while shown (the API does not push sensors)."""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from phoenyra_ems.client import PhoenyraError, Sensor
from tui.core.store import SENSOR_COLUMNS, ConsoleStore, sensor_row
from tui.screens.base import ConsoleScreen

NO_SENSORS = "no sensors at this site (discovery needs sensors.enabled and a broker; docs/mqtt.md)"
RELOAD_S = 5.0


class SensorsScreen(ConsoleScreen):
    SCREEN_ID = "sensors"
    SCREEN_TITLE = "Sensors"

    def __init__(self) -> None:
        super().__init__()
        self._loaded: tuple[str, float] | None = None  # site, monotonic time of the last load

    def compose_body(self) -> ComposeResult:
        yield Static(id="sensors-title")
        table: DataTable[str] = DataTable(id="sensors-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*SENSOR_COLUMNS)
        yield table
        yield Static("loading …", id="sensors-message")

    def on_show_screen(self) -> None:
        self._loaded = None

    def show_store(self, store: ConsoleStore) -> None:
        site_id = store.current_site
        self.query_one("#sensors-title", Static).update(f"Edge sensors · {store.site_name(site_id)}")
        if site_id is None:
            return
        now = time.monotonic()
        if self._loaded is None or self._loaded[0] != site_id or now - self._loaded[1] >= RELOAD_S:
            self._loaded = (site_id, now)
            self._load(site_id)

    @work(exclusive=True, group="sensors")
    async def _load(self, site_id: str) -> None:
        message = self.query_one("#sensors-message", Static)
        table: DataTable[str] = self.query_one("#sensors-table", DataTable)
        try:
            sensors: list[Sensor] = await self.backend.sensors(site_id)
        except PhoenyraError as err:
            sensors, text = [], f"sensors unavailable: {err.message}"
        else:
            text = "" if sensors else NO_SENSORS
        table.clear()
        for sensor in sensors:
            table.add_row(*sensor_row(sensor), key=sensor.id)
        message.update(text)
        message.display = bool(text)
