"""The backtest's table (text) and plot (PNG or SVG, by the file's extension)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phoenyra_ems.backtest.replay import grid_costs
from phoenyra_ems.backtest.runner import BacktestReport


def table(report: BacktestReport) -> str:
    days = report.baseline.days
    lines = [
        f"{report.data.description}",
        f"site {report.site.site_id}: {report.site.bess.energy_capacity_kwh:g} kWh / "
        f"{report.site.bess.power_discharge_max_kw:g} kW, {days:.0f} days",
        "",
        f"{'run':<22}{'cost EUR':>11}{'saved EUR':>11}{'% of bound':>12}{'switches/d':>12}{'cycles':>9}",
        f"{'no battery':<22}{report.baseline.cost_eur:>11.2f}{0.0:>11.2f}{0.0:>12.1f}{'':>12}{'':>9}",
    ]
    for run in report.runs:
        saved = report.baseline.cost_eur - run.cost_eur
        lines.append(
            f"{run.name:<22}{run.cost_eur:>11.2f}{saved:>11.2f}{report.share_of_bound(run):>12.1f}"
            f"{run.switches_per_day:>12.2f}{run.cycles:>9.1f}"
        )
    optimum = report.optimum
    throughput = float(np.abs(optimum.battery_kw).sum() * report.data.step_h)
    cycles = throughput / (2 * report.site.bess.energy_capacity_kwh)
    lines.append(
        f"{'perfect foresight (LP)':<22}{report.optimum_cost_eur:>11.2f}{report.bound_saving_eur:>11.2f}"
        f"{100.0:>12.1f}{'':>12}{cycles:>9.1f}"
    )
    violations = sum(run.violations for run in report.runs)
    lines += [
        "",
        f"bound: HiGHS {optimum.solve_s:.2f} s, {optimum.status}; LP steps charging and discharging at once: "
        f"{optimum.simultaneous_steps}",
        f"hard-limit violations in the replays: {violations}",
        "costs include the change of stored energy valued at the period's mean purchase price",
    ]
    return "\n".join(lines)


def plot(report: BacktestReport, path: str | Path) -> Path:
    """Cumulative savings against no battery, per run and for the bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    file = Path(path)
    times = report.data.index.tz_convert(report.site.location.timezone).tz_localize(None)
    base = report.baseline.cumulative_cost_eur
    figure, axes = plt.subplots(figsize=(10, 5.5))
    bound = np.cumsum(grid_costs(report.site, report.data, report.optimum.grid_kw))
    axes.plot(times, base - bound, color="black", linewidth=2, label="perfect foresight (LP)")
    for run in report.runs:
        axes.plot(
            times,
            base - run.cumulative_cost_eur,
            label=f"{run.name} ({report.share_of_bound(run):.0f} % of bound)",
        )
    axes.set_ylabel("cumulative saving vs. no battery (EUR)")
    axes.set_title(report.data.description, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(file)
    plt.close(figure)
    return file
