"""What valuing export at the community's internal price is worth to a member site (backtest).

The demo community (examples/community/ems-community.yaml: Wien and Linz, an apartment block and a
farm) over a month of the shipped real series. Wien's battery is replayed with the backtest's
strategies; every run is then billed as the community bills it: each quarter-hour is allocated with
the real core (``allocate``) against the other members' meters (Linz simulated as in ``community
settle --source simulated``, the two external CSVs), Wien pays its import from the grid at its tariff
and the part received from the community at the internal price, and earns the internal price for
what it provided and the feed-in tariff for its surplus.

Rows:

- no battery; ``self_consumption`` (what the simulated meters assume);
- ``optimiser``, plans valuing export at the feed-in tariff only;
- ``optimiser + community``: plans valuing export at
  ``feed-in + uptake × (internal − feed-in)``, the uptake per local quarter-hour measured as the
  daemon measures it — the share the community would have taken of a quarter-hour of the battery's
  full power exported on top, over the 7 days before each day, from the ledger that the plain
  optimiser's run would have written (first day: no records, uptake 0);
- ``… (average uptake)``: the average uptake (provided / generation offered) instead;
- ``… (uptake of 10 Wh)``: the marginal uptake of a tiny extra export instead (a linear plan then
  exports far beyond what the community takes);
- ``… (known uptake)``: each day's own uptake (what a perfect uptake forecast could add).

    .venv/bin/python bench/community_optimiser.py [--month 2024-06] [--config FILE]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from phoenyra_ems import series
from phoenyra_ems.backtest.data import BacktestData
from phoenyra_ems.backtest.forecasts import BacktestForecasts
from phoenyra_ems.backtest.replay import RunResult, no_battery, replay, tariff_prices
from phoenyra_ems.community.meters import interval_starts, iso, member_meter, month_bounds
from phoenyra_ems.config.loader import load_config
from phoenyra_ems.config.model import EmsConfig, SiteConfig
from phoenyra_ems.core.community.allocation import MemberMeter, allocate, internal_price_eur_kwh
from phoenyra_ems.core.community.export_value import CommunityExportValue, marginal_uptake, uptake_profile
from phoenyra_ems.core.optimiser.plan import PlanInputs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "community" / "ems-community.yaml"
MEMBER = "wien"


def site_data(site: SiteConfig, starts: list[int], step_s: int) -> BacktestData:
    """Wien's load and PV as the demo simulates them (meters.simulate_site_meter), AT day-ahead prices."""
    grid_kw = site.grid_connection.max_power_kw or site.bess.power_discharge_max_kw
    annual_mwh = (site.grid_tariffs.peak_import_cap_kw or 0.6 * grid_kw) * 1.05 / 0.30
    load, pv, prices = series.commercial_load_per_mwh_a(), series.pv_per_kwp(), series.prices("at")
    mids = [datetime.fromtimestamp(ts + step_s / 2, UTC) for ts in starts]
    return BacktestData(
        index=pd.DatetimeIndex([datetime.fromtimestamp(ts, UTC) for ts in starts]),
        load_kw=np.array([load.value_at(m) * annual_mwh for m in mids]),
        pv_kw=np.array([max(0.0, pv.value_at(m) * site.forecast.pv_peak_power_kw) for m in mids]),
        price_eur_mwh=np.array([prices.value_at(datetime.fromtimestamp(ts, UTC)) for ts in starts]),
        description="Wien (demo): commercial load, PV 120 kWp, AT day-ahead 2024",
    )


class CommunityBill:
    """Bills Wien's grid series as the community does, quarter-hour by quarter-hour."""

    def __init__(self, config: EmsConfig, starts: list[int]) -> None:
        community = config.community
        assert community is not None
        self.community = community
        self.starts = starts
        self.others = {
            mid: member_meter(m, config, starts, "simulated")[0]
            for mid, m in community.members.items()
            if mid != MEMBER
        }
        price = community.price
        self.internal = np.array([
            internal_price_eur_kwh(
                price.mode, price.fixed_eur_kwh,
                series.prices(price.zone).value_at(datetime.fromtimestamp(ts, UTC)),
                price.dayahead_factor, price.markup_eur_kwh,
            )
            for ts in starts
        ])  # fmt: skip

    def meters(self, grid_kw: np.ndarray) -> list[list[MemberMeter]]:
        """Per quarter-hour every member's offered energy (participation applied), Wien's from ``grid_kw``."""
        h = 0.25
        factors = self.community.participation()
        out = []
        for k, ts in enumerate(self.starts):
            g = float(grid_kw[k])
            raw = [MemberMeter(MEMBER, max(g, 0.0) * h, max(-g, 0.0) * h)]
            raw += [MemberMeter(mid, *meter.get(ts, (0.0, 0.0))) for mid, meter in self.others.items()]
            out.append([
                MemberMeter(m.member, m.consumption_kwh * (f := factors[m.member]), m.generation_kwh * f)
                for m in raw
            ])  # fmt: skip
        return out

    def allocate(self, grid_kw: np.ndarray) -> list[tuple[float, float]]:
        """Per quarter-hour: (received, provided) of Wien."""
        shares = self.community.shares()
        out = []
        for k, meters in enumerate(self.meters(grid_kw)):
            mine = allocate(meters, self.community.key, self.internal[k], shares).members[0]
            out.append((mine.received_kwh, mine.provided_kwh))
        return out

    def bill(self, site: SiteConfig, data: BacktestData, run: RunResult) -> dict[str, float]:
        rows = self.allocate(run.grid_kw)
        buy, sell = tariff_prices(site, data)
        grid = run.grid_kw
        h = data.step_h
        imported, exported = np.maximum(grid, 0.0) * h, np.maximum(-grid, 0.0) * h
        received = np.array([r[0] for r in rows])
        provided = np.array([r[1] for r in rows])
        energy = float(
            np.sum((imported - received) * buy / 1000 + received * self.internal)
            - np.sum((exported - provided) * sell / 1000 + provided * self.internal)
        )
        return {
            "bill": energy + run.demand_charge_eur + run.storage_adjustment_eur,
            "plain": run.cost_eur,
            "received": float(received.sum()),
            "provided": float(provided.sum()),
            "surplus": float((exported - provided).sum()),
            "import": float(imported.sum()),
            "cycles": run.throughput_kwh / 2 / max(run.capacity_kwh, 1e-9),
        }


def with_terms(
    base: Callable[[int, float], PlanInputs], terms_of_day: list[CommunityExportValue], per_day: int
) -> Callable[[int, float], PlanInputs]:
    def inputs(i: int, peak: float) -> PlanInputs:
        plan = base(i, peak)
        terms = terms_of_day[min(i // per_day, len(terms_of_day) - 1)]
        times = [plan.start + timedelta(seconds=plan.step_s * k) for k in range(plan.steps)]
        return replace(
            plan,
            community_eur_mwh=terms.internal_eur_mwh(plan.price_eur_mwh),
            community_uptake=terms.uptake_at(times),
        )

    return inputs


def daily_terms(
    config: EmsConfig,
    bill: CommunityBill,
    grid_kw: np.ndarray,
    per_day: int,
    known: bool,
    average: bool,
    step_kwh: float,
) -> list[CommunityExportValue]:
    """Uptake per day: from the 7 days before (as the daemon measures it), or the day itself; the
    uptake of ``step_kwh`` more export (what the daemon uses) or the average (provided / generation
    offered)."""
    community = config.community
    assert community is not None
    price, member = community.price, community.members[MEMBER]
    shares = community.shares() if community.key == "static" else None
    rows: list[tuple[str, float]] = []
    for ts, meters in zip(bill.starts, bill.meters(grid_kw), strict=True):
        if average:
            mine = allocate(meters, community.key, 0.0, shares).members[0]
            share = mine.provided_kwh / mine.generation_kwh if mine.generation_kwh > 1e-9 else 0.0
        else:
            share = marginal_uptake(meters, MEMBER, community.key, shares, step_kwh)
        rows.append((iso(ts), share))
    out = []
    for day in range(len(rows) // per_day):
        first, last = (day, day + 1) if known else (max(0, day - 7), day)
        uptake, seen = uptake_profile(
            rows[first * per_day : last * per_day], community.timezone, member.participation_pct / 100
        )
        out.append(CommunityExportValue(
            community.community_id, MEMBER, uptake, community.timezone, price.mode, price.fixed_eur_kwh,
            price.dayahead_factor, price.markup_eur_kwh, seen,
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2024-06")
    parser.add_argument("--config", default=str(EXAMPLE))
    args = parser.parse_args()
    config = load_config(args.config)
    assert config.community is not None
    site = config.sites[MEMBER]
    site = replace(site, ems=replace(site.ems, strategies=("self_consumption", "optimiser"), cycle_s=900.0))
    start, end = month_bounds(args.month, config.community.timezone)
    starts = interval_starts(start, end)
    data = site_data(site, starts, 900)
    per_day = 96
    bill = CommunityBill(config, starts)
    horizon = site.ems.planning_horizon_h
    results: list[tuple[str, dict[str, float], float]] = []

    def run(name: str, make: Callable[[], RunResult]) -> RunResult:
        began = time.process_time()
        result = make()
        results.append((name, bill.bill(site, data, result), time.process_time() - began))
        print(f"  {name}: {results[-1][2]:.0f} s CPU", flush=True)
        return result

    run("no battery", lambda: no_battery(site, data))
    run("self_consumption", lambda: replay(site, data, "self_consumption"))
    plain = run(
        "optimiser",
        lambda: replay(site, data, "optimiser", plan_inputs=BacktestForecasts(site, data, horizon)),
    )
    battery_step = site.bess.power_discharge_max_kw * 0.25  # the most the battery adds in 15 min
    variants = (
        ("optimiser + community (average uptake)", False, True, battery_step),
        ("optimiser + community (uptake of 10 Wh)", False, False, 0.01),
        ("optimiser + community", False, False, battery_step),
        ("optimiser + community (known uptake)", True, False, battery_step),
    )
    for label, known, average, step_kwh in variants:
        terms = daily_terms(config, bill, plain.grid_kw, per_day, known, average, step_kwh)
        forecasts = with_terms(BacktestForecasts(site, data, horizon), terms, per_day)
        run(label, lambda f=forecasts: replay(site, data, "optimiser", plan_inputs=f))  # type: ignore[misc]

    print(f"\nWien in {config.community.name or config.community.community_id}, {args.month} "
          f"({len(starts)} quarter-hours; tariff: day-ahead + "
          f"{site.grid_tariffs.energy_price_markup_eur_mwh:g} "
          f"EUR/MWh, feed-in {site.grid_tariffs.feedin_tariff_eur_mwh:g} EUR/MWh; internal price: mean "
          f"{1000 * float(np.mean(bill.internal)):.0f} EUR/MWh)")  # fmt: skip
    header = f"{'run':<38}{'bill EUR':>10}{'tariff-only EUR':>16}{'received kWh':>14}{'provided kWh':>14}"
    print(header + f"{'surplus kWh':>13}{'import kWh':>12}{'cycles':>8}")
    for name, b, _ in results:
        print(
            f"{name:<38}{b['bill']:>10.2f}{b['plain']:>16.2f}{b['received']:>14.1f}{b['provided']:>14.1f}"
            f"{b['surplus']:>13.1f}{b['import']:>12.1f}{b['cycles']:>8.1f}"
        )


if __name__ == "__main__":
    main()
