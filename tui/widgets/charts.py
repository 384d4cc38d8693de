"""Line charts (textual-plotext) of power and SoC.

The power chart's legend is a line of its own under the plot, not plotext's in-plot legend: that one
sits in the top-left corner, where the data of the early hours of a day (and of the last hour's
first minutes) is drawn, and hides it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.core.format import axis_ticks
from tui.core.history import Series

# attribute, label, colour (the same name for plotext and for Rich)
POWER_LINES = (
    ("p_pv", "PV", "yellow"),
    ("p_load", "Load", "cyan"),
    ("p_grid", "Grid", "red"),
    ("p_bess", "Batt", "green"),
)


def legend_markup() -> str:
    return "  ".join(f"[{colour}]━━[/] {label}" for _, label, colour in POWER_LINES)


class _Chart(PlotextPlot):
    def _start(self, title: str, xlabel: str) -> Any:
        """A blank figure with its title and x label; returns the plotext module to draw with."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        return plt


class PowerPlot(_Chart):
    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        plt = self._start(title, xlabel)
        if not series.empty:
            values = []
            for attr, _, colour in POWER_LINES:  # no label: no legend over the data
                plt.plot(series.x, getattr(series, attr), color=colour, marker="braille")
                values.extend(getattr(series, attr))
            low, high, ticks, labels = axis_ticks(min(values), max(values))
            plt.ylim(low, high)
            plt.yticks(ticks, labels)
        plt.xlim(*xlim)
        self.refresh()


class PowerChart(Vertical):
    """The power plot with its legend on a line below it."""

    def compose(self) -> ComposeResult:
        yield PowerPlot()
        yield Static(legend_markup(), classes="chart-legend")

    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        self.query_one(PowerPlot).show_series(series, title, xlabel, xlim)


class SocChart(_Chart):
    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        plt = self._start(title, xlabel)
        if not series.empty:
            plt.plot(series.x, series.soc, marker="braille")
        plt.xlim(*xlim)
        plt.ylim(0, 100)
        self.refresh()
