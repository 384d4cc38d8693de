"""Walk-forward AI strategy selection on the household year: the default forest against variants.

Each variant replays the year with ``run_ai_selection`` (train after 30 days, retrain weekly on the
past only) and prints % of the perfect-foresight bound, switches per day, the regret line and the
strategy shares. Variants: ``rf`` (default: regret-weighted, no stickiness), ``rf_plain``
(unweighted, no stickiness), ``gb`` (gradient boosting), ``last_best`` (the best strategy of the
last 7 days). One variant of the year at 1 h takes minutes (the labels dominate).

    .venv/bin/python bench/ai_selection.py [--step 1h|15min] [--variants rf,rf_plain,gb,last_best]

``--holdout 2024-07-01``: the settings are chosen out of sample — a grid of regret weighting (on /
off) × stickiness (0, 0.15, 0.3, 0.5) is run on the period before that day only and the best by %
of that period's bound is picked; then the chosen settings (and the shipped default, and the
baselines) run the whole period walk-forward, and the period from that day on is reported apart
(its cost from the whole-period run, stored energy valued from the SoC on that day, against the
bound of that period alone) beside the whole period.

    .venv/bin/python bench/ai_selection.py --holdout 2024-07-01

``--optimiser``: the optimiser in the pool as the default arm. One walk-forward run with switching
off is the optimiser alone and labels every window (its own run values the optimiser's windows);
the switch margin (EUR) × confidence grid is then evaluated on those labels before ``--holdout``
(walk-forward trainings on the past only, gain against the optimiser per window from the same start
state), the best is chosen and run walk-forward over the whole period, reported after the holdout
day and over the whole period with the regret per window. ``--household other``: a second household
(VDI 4657 single-family house, 4.5 MWh/a, 2019 load on 2023's days, the Konstanz PV of 2016 at
6 kWp, AT day-ahead 2023), built from the repo's data; with ``--margin``/``--confidence`` given,
no grid is run (settings chosen elsewhere, e.g. on the first household's H1). The validation gate
of the grid: ``--gates`` (``total``: the gain over the validation days > 0; ``significant``: its
one-sided 95 % bootstrap bound > 0, the shipped gate; ``ungated``), the stop-loss on unless
``--no-stop-loss``. The first pass is cached in ``/tmp/phoenyra_ai_bench_<household>_<step>_<from>_
<to>.pkl`` (``--first-pass-only`` stops after it). ``--kind gradient_boosting`` runs the grid with
scikit-learn's gradient boosting instead of the plan's forest (regret-weighted as well), ``--margins``
restricts its margins; with ``--margin``/``--confidence`` it is the model of the walk-forward run too
(the run is then that model's alone, not the shipped forest's as well). ``--kind last_best``: no
model, the walk-forward takes the strategy (the optimiser among them) with the most value over the
last 7 days of labelled windows. ``--keep FILE`` pickles each walk-forward result (per-window
choices and values); ``--no-baselines`` skips the self-consumption and score-selection replays.

    .venv/bin/python bench/ai_selection.py --optimiser --holdout 2024-07-01 [--step 15min]
    .venv/bin/python bench/ai_selection.py --optimiser --holdout 2024-07-01 --gates significant --grid-only
    .venv/bin/python bench/ai_selection.py --optimiser --household other --holdout 2023-07-01 \
        --from 2023-01-01 --to 2024-01-01 --margin 0 --confidence 0.7
    .venv/bin/python bench/ai_selection.py --optimiser --holdout 2024-07-01 --margin 0 --confidence 0.7 \
        --kind gradient_boosting
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path

from phoenyra_ems.backtest.ai_selection import run_ai_selection
from phoenyra_ems.backtest.ai_settings import WalkForwardResult, WalkForwardSettings
from phoenyra_ems.backtest.ai_switching import switch_choice, training_targets, validate_switching
from phoenyra_ems.backtest.counterfactual import Labelled, with_pool
from phoenyra_ems.backtest.data import BacktestData, from_csv, household_2024
from phoenyra_ems.backtest.optimum import solve_optimum
from phoenyra_ems.backtest.replay import RunResult, no_battery, replay, storage_value_eur_kwh
from phoenyra_ems.backtest.runner import household_site, optimum_input
from phoenyra_ems.config.model import ForecastConfig, SiteConfig
from phoenyra_ems.core.ai_selection import DEFAULT_GATE_LEVEL, AIStrategySelector, ModelKind, StopLoss
from phoenyra_ems.core.strategies import OPTIMISER
from phoenyra_ems.series import DATA_DIR

VARIANTS = {
    "rf": WalkForwardSettings(),
    "rf_plain": WalkForwardSettings(weighted=False, stickiness=0.0),
    "gb": WalkForwardSettings(kind="gradient_boosting"),
    "last_best": WalkForwardSettings(kind="last_best"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--step", choices=["1h", "15min"], default="1h")
    parser.add_argument("--from", dest="start", default="2024-01-01")
    parser.add_argument("--to", dest="end", default="2025-01-01")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--holdout", help="choose the settings before this day, report from it on")
    parser.add_argument("--optimiser", action="store_true", help="the optimiser in the pool (default arm)")
    parser.add_argument("--household", choices=["konstanz", "other"], default="konstanz")
    parser.add_argument("--margin", type=float, help="switch margin EUR (skips the grid)")
    parser.add_argument("--confidence", type=float, help="switch confidence (skips the grid)")
    parser.add_argument("--validation", type=float, default=14.0, help="validation days (with --margin)")
    parser.add_argument("--later-grid", action="store_true", help="also print the grid over the whole period")
    parser.add_argument("--grid-only", action="store_true", help="stop after the grid")
    parser.add_argument(
        "--gates",
        default="total,significant",
        help="validation gates in the grid: ungated, total (gain > 0), significant (bootstrap bound > 0)",
    )
    parser.add_argument(
        "--gate-level", type=float, help="bootstrap level of the gate (with --margin; 0: the total alone)"
    )
    parser.add_argument(
        "--shadows",
        default="0",
        help="grid rows with a shadow stage of N would-be switches after each training (not shipped)",
    )
    parser.add_argument("--no-stop-loss", action="store_true", help="switching without the stop-loss")
    kinds = ["random_forest", "gradient_boosting", "last_best"]
    parser.add_argument(
        "--kind", choices=kinds, default="random_forest", help="the model (grid and walk-forward run)"
    )
    parser.add_argument("--margins", help="the grid's switch margins in EUR (default 0,0.02,0.05)")
    parser.add_argument("--first-pass-only", action="store_true", help="stop after the cached first pass")
    parser.add_argument("--keep", help="pickle the walk-forward results (name, result) to this file")
    parser.add_argument("--no-baselines", action="store_true", help="skip self-consumption / score replays")
    args = parser.parse_args()
    if args.optimiser:
        optimiser_holdout(args)
        return
    if args.holdout:
        holdout(args.step, args.start, args.end, args.holdout)
        return
    data = household_2024(args.step, args.start, args.end)
    site = household_site()
    baseline = no_battery(site, data).cost_eur
    bound = baseline - solve_optimum(optimum_input(site, data)).cost_eur
    for name in args.variants.split(","):
        started = time.perf_counter()
        result = run_ai_selection(site, data, VARIANTS[name])
        share = 100 * (baseline - result.run.cost_eur) / bound
        print(
            f"{name}: cost {result.run.cost_eur:.2f} EUR, {share:.1f} % of the bound, "
            f"{result.run.switches_per_day:.2f} switches/day, {time.perf_counter() - started:.0f} s"
        )
        print(f"  {result.regret_line()}")
        print(f"  shares {', '.join(f'{k} {v:.2f}' for k, v in result.run.strategy_share.items())}")


def _bound(site: SiteConfig, data: BacktestData) -> tuple[float, float]:
    baseline = no_battery(site, data).cost_eur
    return baseline, baseline - solve_optimum(optimum_input(site, data)).cost_eur


def _slice(data: BacktestData, start: int) -> BacktestData:
    return replace(
        data,
        index=data.index[start:],
        load_kw=data.load_kw[start:],
        pv_kw=data.pv_kw[start:],
        price_eur_mwh=data.price_eur_mwh[start:],
    )


def _later_cost(site: SiteConfig, run: RunResult, soc_k: float, k: int, later: BacktestData) -> float:
    """The run's cost from step ``k`` on: its energy bill then, stored energy valued from its SoC at k
    (the household site has no demand charge)."""
    assert site.grid_tariffs.demand_charge_eur_kw_month == 0
    energy = float(run.cumulative_cost_eur[-1] - run.cumulative_cost_eur[k - 1])
    stored = (run.soc_end_pct - soc_k) / 100.0 * site.bess.energy_capacity_kwh
    return energy - stored * storage_value_eur_kwh(site, later)


class _SocAt:
    """A replay chooser pinning ``strategy`` (None: score selection) that notes the SoC at step k."""

    def __init__(self, strategy: str | None, k: int) -> None:
        self.strategy, self.k, self.soc = strategy, k, float("nan")

    def __call__(self, i: int, state, peak_kw, last):  # type: ignore[no-untyped-def]
        if i == self.k:
            self.soc = state.soc
        return self.strategy


def holdout(step: str, start: str, end: str, split: str) -> None:
    site = household_site()
    data = household_2024(step, start, end)
    early = household_2024(step, start, split)
    k = len(early)
    later = _slice(data, k)
    base_e, bound_e = _bound(site, early)
    print(f"choosing on {start} … {split} ({len(early)} steps, bound {bound_e:.2f} EUR):")
    grid = []
    for weighted in (True, False):
        for stickiness in (0.0, 0.15, 0.3, 0.5):
            settings = WalkForwardSettings(weighted=weighted, stickiness=stickiness)
            started = time.perf_counter()
            result = run_ai_selection(site, early, settings)
            share = 100 * (base_e - result.run.cost_eur) / bound_e
            grid.append((share, -result.run.switches_per_day, settings))
            print(
                f"  weighted {weighted!s:<5} stickiness {stickiness:.2f}: {share:5.1f} % of the bound, "
                f"{result.run.switches_per_day:.2f} switches/day ({time.perf_counter() - started:.0f} s)"
            )
    chosen = max(grid, key=lambda g: (round(g[0], 1), g[1]))[2]
    print(f"chosen: weighted {chosen.weighted}, stickiness {chosen.stickiness}")
    base_y, bound_y = _bound(site, data)
    base_l, bound_l = _bound(site, later)
    print(
        f"reported on {split} … {end} (later; bound {bound_l:.2f} EUR) and {start} … {end} "
        f"(whole; bound {bound_y:.2f} EUR):"
    )
    pool = with_pool(site, [n for n in site.ems.strategies if n != OPTIMISER])
    runs: list[tuple[str, RunResult, float]] = []
    for name, strategy in (("self_consumption alone", "self_consumption"), ("score selection", None)):
        chooser = _SocAt(strategy, k)
        runs.append((name, replay(pool, data, None, name=name, choose=chooser), chooser.soc))
    default = WalkForwardSettings()
    variants = [("ai_selection chosen on H1", chosen)]
    if (chosen.weighted, chosen.stickiness) != (default.weighted, default.stickiness):
        variants.append(("ai_selection shipped default", default))
    variants.append(("best of the last 7 days", WalkForwardSettings(kind="last_best")))
    for name, settings in variants:
        result = run_ai_selection(site, data, settings)
        soc_k = next(w.start.soc_pct for w in result.windows if w.start.index == k)
        runs.append((name, result.run, soc_k))
    for name, run, soc_k in runs:
        later_share = 100 * (base_l - _later_cost(site, run, soc_k, k, later)) / bound_l
        print(
            f"  {name:<30} later {later_share:6.2f} %  whole {100 * (base_y - run.cost_eur) / bound_y:5.1f} %"
            f"  switches/day (whole) {run.switches_per_day:.2f}  SoC at the split {soc_k:.0f} %"
        )
    print(f"  (no battery: later {base_l:.2f} EUR, whole {base_y:.2f} EUR)")


# --- the optimiser in the pool ----------------------------------------------------------------------
MARGINS = (0.0, 0.02, 0.05)
CONFIDENCES = (0.5, 0.6, 0.7, 0.8)
NEVER = 2.0  # a switch confidence no probability reaches: the optimiser alone
GATES: dict[str, float | None] = {"ungated": None, "total": 0.0, "significant": DEFAULT_GATE_LEVEL}


def other_household(step: str, start: str, end: str) -> tuple[SiteConfig, BacktestData]:
    """The second household of docs/backtest.md, built from the repo's data into /tmp."""
    import pandas as pd

    load = pd.read_csv(DATA_DIR / "load_household_vdi4657_efh_2019_15min.csv", index_col=0, parse_dates=True)
    load.index = load.index + pd.DateOffset(years=4)
    kw = load["load_w_per_mwh_a"] * 4.5 / 1000.0
    house = pd.read_csv(DATA_DIR / "household_konstanz_2016_hourly.csv", index_col=0, parse_dates=True)
    house.index = house.index + pd.DateOffset(years=7)
    pv = house["pv_kw"][~house.index.duplicated()] * 0.6
    prices = pd.read_csv(DATA_DIR / "prices_at_de_lu_dayahead_2023_hourly.csv", index_col=0, parse_dates=True)
    frame = pd.DataFrame({"load_kw": kw})
    frame["pv_kw"] = pv.reindex(frame.index, method="ffill")
    frame["price_eur_per_mwh"] = prices["price_at_eur_per_mwh"].reindex(frame.index, method="ffill")
    frame.index.name = "timestamp_utc"
    path = "/tmp/phoenyra_other_household_2023.csv"
    frame = frame.interpolate(limit_direction="both")  # the PV record's gaps, bridged as household_2024 does
    frame.to_csv(path, date_format="%Y-%m-%dT%H:%M:%SZ")
    site = household_site()
    site = replace(site, site_id="other", forecast=ForecastConfig(pv_peak_power_kw=6.0))
    return site, from_csv(path, step, start, end, timezone=site.location.timezone)


def offline(
    labels: list[Labelled],
    step_h: float,
    until: int,
    margin: float,
    confidences: tuple[float, ...],
    gate_level: float | None = None,
    stop_loss: bool = True,
    kind: ModelKind = "random_forest",
    record: list[tuple[str, int, float, str, float, float | None]] | None = None,
    shadow: int = 0,
) -> dict[float, tuple[float, float]]:
    """Per switch confidence: the gain (EUR) against the optimiser over the windows before ``until``
    and the switches per day, walk-forward on the labels (each training on the past only).
    ``gate_level``: switching only while it paid over the last ``validation_days`` of labels for a
    model trained before them (as ``WalkForward._validate``; 0: in total, 0.95: significantly);
    None: ungated. ``stop_loss``: the gate closes until the next training once the switches since
    the last one, labelled, lost money (as ``WalkForward._stop_loss``). ``kind``: the model (the
    plan's random forest, or gradient boosting), regret-weighted either way. ``record``: appended
    ``("gate", step, confidence, "open"/"closed", 0, None)`` per training, ``("stop", step,
    confidence, "closed", realised EUR, None)`` when the stop-loss closes the gate and ``("switch",
    step, confidence, strategy, gain EUR, probability)`` per window the model left the optimiser.
    ``shadow``: after each training the model is in shadow (the optimiser runs) until that many
    would-be switches are labelled, and acts only if they gained in total (``_Shadow``)."""
    s = WalkForwardSettings()
    window, tail = max(1, round(s.window_h / step_h)), round(s.tail_h / step_h)
    per_day = 24.0 / step_h
    first, retrain = round(s.training_data_days * per_day), round(s.retrain_interval_days * per_day)
    n_val = round(s.validation_days * 24.0 / s.window_h)
    gated = gate_level is not None
    selector = AIStrategySelector(min_samples=s.min_samples, kind=kind)
    pool = tuple(labels[0].values)
    gains = dict.fromkeys(confidences, 0.0)
    switches = dict.fromkeys(confidences, 0)
    previous = dict.fromkeys(confidences, OPTIMISER)
    allowed = dict.fromkeys(confidences, not gated)
    trained_at: int | None = None
    tested = 0
    # the stop-loss (core.ai_selection.StopLoss, as WalkForward._stop_loss and the daemon): the
    # switches since the last training, booked once labelled
    pending: dict[float, list[tuple[int, float, bool]]] = {c: [] for c in confidences}
    stops = {c: StopLoss() for c in confidences}
    shadows = {c: _Shadow(shadow) for c in confidences}
    for x in labels:
        i = x.start.index
        if until and i >= until:
            break
        if i < first:
            continue
        if trained_at is None or i - trained_at >= retrain:
            pending = {c: [] for c in confidences}
            stops = {c: StopLoss() for c in confidences}
            shadows = {c: _Shadow(shadow) for c in confidences}
            allowed = dict.fromkeys(confidences, True)
            past = [y for y in labels if y.start.index + window + tail <= i]
            if gated:
                older, recent = past[:-n_val], past[-n_val:]
                if len(older) >= s.min_samples and len(recent) == n_val:
                    check = AIStrategySelector(min_samples=s.min_samples, kind=kind)
                    names, weights = training_targets(older, OPTIMISER, margin)
                    check.fit([y.features for y in older], names, _now(), weights)
                    for c in confidences:
                        gate = replace(
                            s, switch_margin_eur=margin, switch_confidence=c, gate_level=gate_level or 0.0
                        )
                        allowed[c] = validate_switching(check, recent, OPTIMISER, gate).allowed
                else:
                    allowed = dict.fromkeys(confidences, False)
            if any(allowed.values()):  # a closed gate keeps the optimiser: no model needed
                names, weights = training_targets(past, OPTIMISER, margin)
                selector.fit([y.features for y in past], names, _now(), weights)
            trained_at = i
            if record is not None:
                record.extend(
                    ("gate", i, c, "open" if allowed[c] else "closed", 0.0, None) for c in confidences
                )
        elif stop_loss:
            for c in confidences:
                booked: list[tuple[int, float, bool]] = []
                while pending[c] and pending[c][0][0] + window + tail <= i:
                    booked.append(pending[c].pop(0))
                shadows[c] = shadows[c].book([g for _, g, sh in booked if sh])
                stops[c] = stops[c].book([g for _, g, sh in booked if not sh])
                if stops[c].closed or shadows[c].closed:
                    if record is not None and allowed[c]:
                        record.append(("stop", i, c, "closed", stops[c].realised_eur, None))
                    allowed[c] = False
        tested += 1
        for c in confidences:
            choice, p = switch_choice(selector, x.features, pool, OPTIMISER, c if allowed[c] else NEVER)
            if choice != OPTIMISER and not shadows[c].live:  # in shadow: noted, the optimiser runs
                pending[c].append((i, x.values[choice] - x.values[OPTIMISER], True))
                choice = OPTIMISER
            gains[c] += x.values[choice] - x.values[OPTIMISER]
            if choice != OPTIMISER:
                pending[c].append((i, x.values[choice] - x.values[OPTIMISER], False))
                if record is not None:
                    record.append(("switch", i, c, choice, x.values[choice] - x.values[OPTIMISER], p))
            switches[c] += choice != previous[c]
            previous[c] = choice
    days = tested * window * step_h / 24.0
    return {c: (gains[c], switches[c] / days if days else 0.0) for c in confidences}


@dataclass(frozen=True)
class _Shadow:
    """A shadow stage after each training (tried for issue 13, not shipped: docs/ai-selection.md):
    the optimiser runs and the model's would-be switches are valued until ``needed`` of them are,
    then the model acts only if they gained in total, else the gate closes until the next training."""

    needed: int
    gain_eur: float = 0.0
    windows: int = 0

    @property
    def live(self) -> bool:
        return self.windows >= self.needed and (self.needed == 0 or self.gain_eur > 0.0)

    @property
    def closed(self) -> bool:
        return self.needed > 0 and self.windows >= self.needed and self.gain_eur <= 0.0

    def book(self, gains: list[float]) -> _Shadow:
        if self.windows >= self.needed or not gains:  # judged once: later would-be switches don't count
            return self
        return _Shadow(self.needed, self.gain_eur + sum(gains), self.windows + len(gains))


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _report(
    name: str, result: WalkForwardResult, k: int, site: SiteConfig, data: BacktestData, later: BacktestData
) -> None:
    base_y, bound_y = _bound(site, data)
    base_l, bound_l = _bound(site, later)
    run = result.run
    soc_k = next(w.start.soc_pct for w in result.windows if w.start.index == k)
    later_share = 100 * (base_l - _later_cost(site, run, soc_k, k, later)) / bound_l
    windows = result.windows[-len(result.regret_eur) :]
    tested = list(zip(windows, result.regret_eur, strict=True))
    later_regret = [r for w, r in tested if w.start.index >= k]
    later_default = [
        r
        for w, r in zip(result.windows[-len(result.regret_eur) :], result.default_regret_eur, strict=False)
        if w.start.index >= k
    ]
    print(
        f"  {name:<34} later {later_share:6.2f} %  whole {100 * (base_y - run.cost_eur) / bound_y:5.1f} %  "
        f"switches/day {run.switches_per_day:.2f}  regret later {sum(later_regret):.2f} EUR "
        f"(optimiser alone {sum(later_default):.2f}) over {len(later_regret)} windows, "
        f"mean {sum(later_regret) / max(1, len(later_regret)):.4f}"
    )
    print(f"    {result.regret_line()}")
    print(f"    shares {', '.join(f'{k_} {v:.3f}' for k_, v in run.strategy_share.items())}")


def optimiser_holdout(args: argparse.Namespace) -> None:
    if args.household == "other":
        site, data = other_household(args.step, args.start, args.end)
        _, early = other_household(args.step, args.start, args.holdout)
    else:
        site = household_site()
        data = household_2024(args.step, args.start, args.end)
        early = household_2024(args.step, args.start, args.holdout)
    k = len(early)
    later = _slice(data, k)
    print(f"{data.description}: {len(data)} steps, split at step {k} ({args.holdout})", flush=True)
    started = time.perf_counter()
    cache = Path(f"/tmp/phoenyra_ai_bench_{args.household}_{args.step}_{args.start}_{args.end}.pkl")
    if cache.exists():  # the first pass of an earlier run: the code it ran is not checked
        alone = pickle.loads(cache.read_bytes())
        written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(cache.stat().st_mtime))
        print(f"the first pass from {cache}, written {written}: delete it after the strategies change")
    else:
        never = WalkForwardSettings(switch_confidence=NEVER)
        alone = run_ai_selection(site, data, never, name="optimiser alone")
        cache.write_bytes(pickle.dumps(alone))
    print(f"optimiser alone + labels of every window: {time.perf_counter() - started:.0f} s", flush=True)
    _report("optimiser alone", alone, k, site, data, later)
    if args.first_pass_only:
        return
    validation = args.validation
    gate_level = WalkForwardSettings().gate_level if args.gate_level is None else args.gate_level
    if args.kind == "last_best" or (args.margin is not None and args.confidence is not None):
        defaults = WalkForwardSettings()
        margin = defaults.switch_margin_eur if args.margin is None else args.margin
        confidence = defaults.switch_confidence if args.confidence is None else args.confidence
    else:
        print(f"grid on the labels before {args.holdout} (gain against the optimiser, switches/day):")
        grid = []
        shadows = [int(x) for x in args.shadows.split(",")]
        margins = tuple(float(m) for m in args.margins.split(",")) if args.margins else MARGINS
        for gate_name in args.gates.split(","):
            level = GATES[gate_name]
            for m, shadow in itertools.product(margins, shadows):
                t = time.perf_counter()
                found = offline(
                    alone.labels,
                    data.step_h,
                    k,
                    m,
                    CONFIDENCES,
                    level,
                    not args.no_stop_loss,
                    args.kind,
                    shadow=shadow,
                )
                label = f"{gate_name}, shadow {shadow}" if shadow else gate_name
                for c, (gain, per_day) in found.items():
                    if not shadow:  # the shadow stage is not in the product: reported, not chosen
                        grid.append((gate_name, gain, -per_day, m, c))
                    print(f"  {label} margin {m:.2f} conf. {c:.1f}: {gain:+7.2f} EUR, {per_day:.2f}/day")
                print(f"  ({time.perf_counter() - t:.0f} s)", flush=True)
        # the gate is the shipped one (significance: chosen before looking, for "never worse than the
        # optimiser"); margin and confidence are chosen on the labels before the holdout
        shipped = [g for g in grid if g[0] == "significant"] or grid
        best = max(shipped, key=lambda g: (round(g[1], 2), g[2]))
        margin, confidence = (best[3], best[4]) if best[1] > 0 else (0.0, NEVER)
        validation = WalkForwardSettings().validation_days if GATES[best[0]] is not None else 0.0
        gate_level = GATES[best[0]] or 0.0
        print(f"best on the labels before {args.holdout}: {best}", flush=True)
        if args.later_grid:  # the same grid over the whole period (hindsight: for the record only)
            for gate_name in args.gates.split(","):
                for m, shadow in itertools.product(margins, shadows):
                    res = offline(
                        alone.labels,
                        data.step_h,
                        0,
                        m,
                        CONFIDENCES,
                        GATES[gate_name],
                        not args.no_stop_loss,
                        args.kind,
                        shadow=shadow,
                    )
                    label = f"{gate_name}, shadow {shadow}" if shadow else gate_name
                    for c, (gain, per_day) in res.items():
                        cell = f"margin {m:.2f} conf. {c:.1f}: {gain:+7.2f} EUR, {per_day:.2f}/day"
                        print(f"  whole period {label} {cell}")
        if args.grid_only:
            return
    print(
        f"chosen: margin {margin} EUR, confidence {confidence}, validation {validation} d, "
        f"gate level {gate_level}",
        flush=True,
    )
    chosen = WalkForwardSettings(
        switch_margin_eur=margin,
        switch_confidence=confidence,
        validation_days=validation,
        gate_level=gate_level,
        stop_loss=not args.no_stop_loss,
        kind=args.kind,
    )
    if args.kind == "last_best":  # no model, no gate: the best of the last 7 days, every window
        runs = [("best of the last 7 days", chosen)]
    elif args.kind != "random_forest":  # the comparison: that model alone, with the chosen settings
        runs = [(f"ai_selection, {args.kind}", chosen)]
    else:
        runs = [("ai_selection, shipped defaults", WalkForwardSettings())]
        if confidence < NEVER and chosen != runs[0][1]:
            runs.append(("ai_selection, chosen", chosen))
    kept = []
    for label, settings in runs:
        started = time.perf_counter()
        result = run_ai_selection(site, data, settings)
        print(f"{label} walk-forward: {time.perf_counter() - started:.0f} s")
        kept.append((label, result))
        if args.keep:  # before the report: the run is what took the time
            Path(args.keep).write_bytes(pickle.dumps(kept))
        _report(label, result, k, site, data, later)
    if args.no_baselines:
        return
    pool = with_pool(site, [n for n in site.ems.strategies if n != OPTIMISER])
    for name, strategy in (("self_consumption alone", "self_consumption"), ("score selection", None)):
        chooser = _SocAt(strategy, k)
        run = replay(pool, data, None, name=name, choose=chooser)
        base_y, bound_y = _bound(site, data)
        base_l, bound_l = _bound(site, later)
        later_share = 100 * (base_l - _later_cost(site, run, chooser.soc, k, later)) / bound_l
        print(
            f"  {name:<34} later {later_share:6.2f} %  "
            f"whole {100 * (base_y - run.cost_eur) / bound_y:5.1f} %  switches/day {run.switches_per_day:.2f}"
        )


if __name__ == "__main__":
    main()
