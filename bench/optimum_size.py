"""Solve time of the perfect-foresight LP (HiGHS) for a year: 8,784 hourly and 35,136 15-min steps.

Synthetic but realistic inputs for a household in 2024 (leap year): day-ahead price as a daily
double-hump sine plus noise (negative around noon on sunny summer days), load with morning and
evening peaks, PV bell curve with season and random cloudiness; 10 kWh / 5 kW battery.

    .venv/bin/python bench/optimum_size.py [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from phoenyra_ems.backtest.optimum import OptimumInput, baseline_cost, solve_optimum


def synthetic_year(step_h: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    steps_per_day = round(24 / step_h)
    n = 366 * steps_per_day
    hour = (np.arange(n) % steps_per_day) * step_h + step_h / 2
    day = np.arange(n) // steps_per_day
    season = 0.5 - 0.5 * np.cos(2 * np.pi * (day - 172 + 182.5) / 366)  # 0 in winter, 1 at midsummer
    daily_clouds = rng.uniform(0.2, 1.0, 366)[day]
    sun = np.clip(np.cos((hour - 13) / (7 + 2 * season) * np.pi / 2), 0.0, None)
    pv = 6.0 * (0.25 + 0.75 * season) * daily_clouds * sun * rng.uniform(0.8, 1.0, n)
    load = (
        0.25
        + 0.6 * np.exp(-(((hour - 7.5) / 1.2) ** 2))
        + 1.1 * np.exp(-(((hour - 19.0) / 2.0) ** 2))
        + 0.2 * (1 - season)
    ) * rng.lognormal(0.0, 0.25, n)
    day_ahead = (
        90
        + 35 * np.cos(2 * np.pi * (hour - 19) / 24)
        + 20 * np.cos(4 * np.pi * (hour - 8) / 24)
        - 120 * season * daily_clouds * sun
        + rng.normal(0, 12, n)
    )
    month = np.searchsorted(np.cumsum([31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]), day, side="right")
    return {
        "load": load,
        "pv": pv,
        "buy": day_ahead + 180.0,  # grid fees, levies and VAT on top
        "sell": np.minimum(day_ahead, 80.0),
        "month": (2024 * 12 + month).astype(np.int64),
    }


def household_input(data: dict[str, np.ndarray], step_h: float, **limits: object) -> OptimumInput:
    """The 10 kWh / 5 kW household battery on ``data`` (``limits``: grid caps, demand charge)."""
    return OptimumInput(
        step_h=step_h,
        load_kw=data["load"],
        pv_kw=data["pv"],
        buy_eur_mwh=data["buy"],
        sell_eur_mwh=data["sell"],
        capacity_kwh=10.0,
        charge_max_kw=5.0,
        discharge_max_kw=5.0,
        efficiency_charge=0.95,
        efficiency_discharge=0.95,
        soc_min_pct=5.0,
        soc_max_pct=95.0,
        soc_start_pct=50.0,
        **limits,  # type: ignore[arg-type]
    )


def run(label: str, step_h: float, rng: np.random.Generator, *, demand: bool) -> None:
    data = synthetic_year(step_h, rng)
    inp = household_input(
        data,
        step_h,
        import_max_kw=15.0,
        export_max_kw=0.6 * 6.0 if demand else None,  # 60 % feed-in limit
        demand_charge_eur_kw_month=8.0 if demand else 0.0,
        month_of_step=data["month"],
    )
    started = time.perf_counter()
    result = solve_optimum(inp)
    total = time.perf_counter() - started
    base = baseline_cost(inp)
    throughput = float(np.abs(result.battery_kw).sum() * step_h / 2)
    print(
        f"{label:<34} n={len(data['load']):>6}  solve {result.solve_s:6.2f} s  total {total:6.2f} s  "
        f"cost {result.cost_eur:8.2f} EUR  baseline {base:8.2f} EUR  "
        f"saving {base - result.cost_eur:7.2f} EUR  "
        f"cycles {throughput / 10.0:5.0f}  simultaneous {result.simultaneous_steps}"
    )


def planning_horizons(rng: np.random.Generator, repeats: int = 20) -> None:
    """The size a receding-horizon plan would solve every step, against the peers' figures."""
    data = synthetic_year(0.25, rng)
    # Peers on this machine (../shared/NOTES.md, measured while planning, not by this script):
    peers = {192: "EMHASS 0.18.7 134 ms, evcc (PuLP+CBC) 199 ms", 576: "EMHASS 0.18.7 472 ms"}
    for steps in (192, 576):
        times = []
        for k in range(repeats):
            start = 96 * (30 + 7 * k)
            part = slice(start, start + steps)
            inp = household_input({key: values[part] for key, values in data.items()}, 0.25)
            started = time.perf_counter()
            solve_optimum(inp)
            times.append(1000 * (time.perf_counter() - started))
        print(
            f"{f'{steps} steps (15 min, {steps // 96} days)':<34} median {np.median(times):6.1f} ms  "
            f"max {max(times):6.1f} ms over {repeats} windows   (peers: {peers[steps]})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    run("hourly, energy only", 1.0, rng, demand=False)
    run("15-min, energy only", 0.25, rng, demand=False)
    run("15-min, demand charge + export cap", 0.25, rng, demand=True)
    planning_horizons(rng)


if __name__ == "__main__":
    main()
