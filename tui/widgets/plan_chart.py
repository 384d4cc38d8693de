"""The plan's next 24 h (textual-plotext): battery power and SoC, each against the purchase price
on the right-hand axis."""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from tui.core.format import axis_ticks
from tui.core.plan import PlanSeries

PRICE_COLOUR = "magenta"


class _PlanPlot(PlotextPlot):
    TITLE = ""
    COLOUR = "green"

    def _values(self, series: PlanSeries) -> list[float]:
        raise NotImplementedError

    def _left_axis(self, plt: Any, values: list[float]) -> None:
        low, high, ticks, labels = axis_ticks(min(values), max(values))
        plt.ylim(low, high)
        plt.yticks(ticks, labels)

    def show_plan(self, series: PlanSeries) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.TITLE)
        plt.xlabel("h from now")
        if not series.empty:
            values = self._values(series)
            plt.plot(series.x, values, color=self.COLOUR, marker="braille")
            plt.plot(series.x, series.price_eur_mwh, color=PRICE_COLOUR, marker="braille", yside="right")
            self._left_axis(plt, values)
        plt.xlim(0.0, 24.0)
        self.refresh()


class PlanPowerChart(_PlanPlot):
    TITLE = "Plan: battery kW · price (right)"
    COLOUR = "green"

    def _values(self, series: PlanSeries) -> list[float]:
        return series.battery_kw


class PlanSocChart(_PlanPlot):
    TITLE = "Plan: SoC % · price (right)"
    COLOUR = "cyan"

    def _values(self, series: PlanSeries) -> list[float]:
        return series.soc_pct

    def _left_axis(self, plt: Any, values: list[float]) -> None:
        plt.ylim(0, 100)
