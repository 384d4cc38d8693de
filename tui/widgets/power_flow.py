"""Power flow around the site's AC bus: PV, grid, battery, load with direction arrows."""

from __future__ import annotations

from textual.widgets import Static

from phoenyra_ems.client import SiteState
from tui.core.format import flow_text


class PowerFlow(Static):
    def show_state(self, state: SiteState | None) -> None:
        self.update("no data yet" if state is None else flow_text(state))
