"""The backtest's table (text) and plot (PNG or SVG, by the file's extension)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phoenyra_ems.backtest.replay import grid_costs, tariff_prices
from phoenyra_ems.backtest.runner import BacktestReport

W = 31  # width of the run column


def table(report: BacktestReport) -> str:
    days = report.baseline.days
    lines = [
        f"{report.data.description}",
        f"site {report.site.site_id}: {report.site.bess.energy_capacity_kwh:g} kWh / "
        f"{report.site.bess.power_discharge_max_kw:g} kW, {days:.0f} days from "
        f"{_local(report, 0)} to {_local(report, len(report.data))} ({report.site.location.timezone})",
        *(f"data: {note}" for note in report.data.notes),
        tariff_line(report),
        "",
        f"{'run':<{W}}{'cost EUR':>11}{'saved EUR':>11}{'% of bound':>12}{'switches/d':>12}"
        f"{'reversals/d':>13}{'cycles':>9}",
        f"{'no battery':<{W}}{report.baseline.cost_eur:>11.2f}{0.0:>11.2f}{0.0:>12.1f}"
        f"{'':>12}{'':>13}{'':>9}",
    ]
    for run in report.runs:
        saved = report.baseline.cost_eur - run.cost_eur
        lines.append(
            f"{run.name:<{W}}{run.cost_eur:>11.2f}{saved:>11.2f}{report.share_of_bound(run):>12.1f}"
            f"{run.switches_per_day:>12.2f}{run.reversals_per_day:>13.2f}{run.cycles:>9.1f}"
        )
    optimum = report.optimum
    throughput = float(np.abs(optimum.battery_kw).sum() * report.data.step_h)
    cycles = throughput / (2 * report.site.bess.energy_capacity_kwh)
    lines.append(
        f"{'perfect foresight (LP)':<{W}}{report.optimum_cost_eur:>11.2f}{report.bound_saving_eur:>11.2f}"
        f"{100.0:>12.1f}{'':>12}{'':>13}{cycles:>9.1f}"
    )
    violations = sum(run.violations for run in report.runs)
    plan_lines = [_plan_line(run.name, run.plan_stats) for run in report.runs if run.plan_stats]
    lines += [
        "",
        f"bound: HiGHS {optimum.solve_s:.2f} s, {optimum.status}; LP steps charging and discharging at once: "
        f"{optimum.simultaneous_found} found, {optimum.simultaneous_steps} left after fixing their direction",
        *_no_curtailment_lines(report),
        f"hard-limit violations in the replays: {violations}",
        *plan_lines,
        *report.notes,
        *([report.ai_selection.regret_line()] if report.ai_selection is not None else []),
        "costs include the change of stored energy valued at the period's mean purchase price",
    ]
    return "\n".join(lines)


def _local(report: BacktestReport, k: int) -> str:
    """The start of step ``k`` (or the period's end for ``k == len``) in the site's local time."""
    index = report.data.index
    when = index[k] if k < len(index) else index[-1] + (index[-1] - index[-2])
    return f"{when.tz_convert(report.site.location.timezone):%Y-%m-%d %H:%M}"


def tariff_line(report: BacktestReport) -> str:
    """The tariff the costs were computed with (docs/backtest.md, "Tariff")."""
    tariffs = report.site.grid_tariffs
    buy, sell = tariff_prices(report.site, report.data)
    feed_in = (
        f"day-ahead {tariffs.feedin_tariff_eur_mwh:+.2f} EUR/MWh (spot)"
        if tariffs.feedin_pricing == "spot"
        else f"{tariffs.feedin_tariff_eur_mwh:.2f} EUR/MWh (fixed)"
    )
    return (
        f"tariff: buy = day-ahead {tariffs.energy_price_markup_eur_mwh:+.2f} EUR/MWh (mean "
        f"{float(np.mean(buy)):.2f}), feed-in = {feed_in} (mean {float(np.mean(sell)):.2f}), demand charge "
        f"{tariffs.demand_charge_eur_kw_month:.2f} EUR/kW on each local month's peak import"
    )


def _no_curtailment_lines(report: BacktestReport) -> list[str]:
    """The bound without curtailing PV for price, and each run's share of that saving."""
    cost = report.no_curtailment_cost_eur
    if cost is None:
        return []
    saving = report.baseline.cost_eur - cost
    shares = ", ".join(
        f"{run.name} {100 * (report.baseline.cost_eur - run.cost_eur) / saving:.1f} %"
        for run in report.runs
        if run.plan_stats and saving > 0.01
    )
    return [
        f"bound without curtailing PV for price (no replay can): {cost:.2f} EUR, saving {saving:.2f}"
        + (f"; of that: {shares}" if shares else "")
    ]


def _plan_line(name: str, stats: dict[str, float]) -> str:
    plans = max(stats["replans"], 1.0)
    return (
        f"{name}: {stats['replans']:.0f} plans, {stats['failed']:.0f} failed, {stats['slack']:.0f} with "
        f"slack, {stats['solve_ms'] / plans:.1f} ms each (build + solve), {stats['simultaneous']:.0f} "
        "steps charging and discharging at once found and fixed"
    )


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
