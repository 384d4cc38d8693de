"""SoC gauge: a bar with the allowed SoC window marked."""

from __future__ import annotations

from textual.widgets import Static

from tui.core.format import soc_bar


class SocGauge(Static):
    def show_soc(self, soc: float | None, soc_min: float, soc_max: float) -> None:
        if soc is None:
            self.update("SoC  -")
            return
        width = max(10, self.size.width - 14)
        self.update(f"SoC {soc_bar(soc, soc_min, soc_max, width)} {soc:5.1f} %")
