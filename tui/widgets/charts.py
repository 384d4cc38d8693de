"""Line charts (textual-plotext) of power and SoC."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from tui.core.history import Series

POWER_LINES = (("p_pv", "PV"), ("p_load", "Load"), ("p_grid", "Grid"), ("p_bess", "Batt"))


class PowerChart(PlotextPlot):
    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        if not series.empty:
            for attr, label in POWER_LINES:
                plt.plot(series.x, getattr(series, attr), label=label, marker="braille")
        plt.xlim(*xlim)
        self.refresh()


class SocChart(PlotextPlot):
    def show_series(self, series: Series, title: str, xlabel: str, xlim: tuple[float, float]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        if not series.empty:
            plt.plot(series.x, series.soc, marker="braille")
        plt.xlim(*xlim)
        plt.ylim(0, 100)
        self.refresh()
