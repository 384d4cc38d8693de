"""Line charts (textual-plotext) of power and SoC."""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from tui.core.history import Series

POWER_LINES = (("p_pv", "PV"), ("p_load", "Load"), ("p_grid", "Grid"), ("p_bess", "Batt"))


class _Chart(PlotextPlot):
    def _start(self, title: str, xlabel: str) -> Any:
        """A blank figure with its title and x label; returns the plotext module to draw with."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        return plt


class PowerChart(_Chart):
    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        plt = self._start(title, xlabel)
        if not series.empty:
            for attr, label in POWER_LINES:
                plt.plot(series.x, getattr(series, attr), label=label, marker="braille")
        plt.xlim(*xlim)
        self.refresh()


class SocChart(_Chart):
    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        plt = self._start(title, xlabel)
        if not series.empty:
            plt.plot(series.x, series.soc, marker="braille")
        plt.xlim(*xlim)
        plt.ylim(0, 100)
        self.refresh()
