"""The fleet table: one row per site the user may see, updated in place."""

from __future__ import annotations

from textual.widgets import DataTable

from tui.core import format as fmt
from tui.core.store import ConsoleStore

COLUMNS = (
    ("n", "#"),
    ("site", "Site"),
    ("status", "Status"),
    ("soc", "SoC %"),
    ("bess", "Batt kW"),
    ("pv", "PV kW"),
    ("load", "Load kW"),
    ("grid", "Grid kW"),
    ("strategy", "Strategy"),
    ("alarms", "Alm"),
)


class FleetTable(DataTable[str]):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        self._site_ids: list[str] = []

    def show_store(self, store: ConsoleStore) -> None:
        ids = store.site_ids
        if ids != self._site_ids:
            self.clear()
            for n, site_id in enumerate(ids, start=1):
                self.add_row(*self._cells(store, site_id, n), key=site_id)
            self._site_ids = ids
        else:
            for n, site_id in enumerate(ids, start=1):
                for (key, _), value in zip(COLUMNS, self._cells(store, site_id, n), strict=True):
                    self.update_cell(site_id, key, value)
        if store.current_site in ids:
            row = ids.index(store.current_site)
            if self.cursor_row != row and not self.has_focus:
                self.move_cursor(row=row)

    @staticmethod
    def _cells(store: ConsoleStore, site_id: str, n: int) -> tuple[str, ...]:
        site = store.sites[site_id]
        state = store.states.get(site_id)
        number = str(n) if n <= 9 else ""
        if state is None:
            return (number, site.name, str(site.status), "-", "-", "-", "-", "-", "-", "-")
        return (
            number,
            site.name,
            str(state.status),
            f"{state.soc:.1f}",
            fmt.kw(state.p_bess),
            fmt.kw(state.p_pv, signed=False),
            fmt.kw(state.p_load, signed=False),
            fmt.kw(state.p_grid),
            fmt.strategy_short(state.strategy),
            str(len(state.alarms)),
        )
