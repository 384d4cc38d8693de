"""Fleet overview: every site the user may see, the fleet's aggregate (admins), recent events."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tui.core import format as fmt
from tui.core.store import ConsoleStore
from tui.screens.base import ConsoleScreen
from tui.widgets.fleet_table import FleetTable


class FleetScreen(ConsoleScreen):
    SCREEN_ID = "fleet"
    SCREEN_TITLE = "Fleet"

    def compose_body(self) -> ComposeResult:
        yield FleetTable(id="fleet-table")
        yield Static(id="aggregate")
        yield Static(id="events")

    def show_store(self, store: ConsoleStore) -> None:
        self.query_one(FleetTable).show_store(store)
        self.query_one("#aggregate", Static).update(self._aggregate_text(store))
        events = [str(line) for line in list(store.events)[-6:]]  # "HH:MM:SS text", console time
        self.query_one("#events", Static).update("\n".join(events) if events else "No events yet.")

    @staticmethod
    def _aggregate_text(store: ConsoleStore) -> str:
        if store.info is None:  # the role is not known yet
            return "Fleet aggregate: waiting for the daemon"
        if not store.is_admin:
            return "Fleet aggregate: admins only"
        agg = store.aggregated
        if agg is None:
            return "Fleet aggregate: waiting for data"
        return (
            f"Fleet: {agg.site_count} sites · {agg.total_capacity_kwh:g} kWh · "
            f"SoC Ø {fmt.pct(agg.soc_avg_pct)}\n"
            f"Batt {fmt.kw(agg.p_bess)} kW · PV {fmt.kw(agg.p_pv, False)} kW · "
            f"Load {fmt.kw(agg.p_load, False)} kW · Grid {fmt.kw(agg.p_grid)} kW"
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.console.switch_site_id(event.row_key.value)
            self.console.action_show("site")
