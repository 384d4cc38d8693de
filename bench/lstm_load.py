"""Does the optional LSTM beat the load ensemble? Day-ahead household load, rolling origin.

Konstanz household, hourly: each of the last ``--days`` days at 00:00 UTC forecast the next 48 h,
every model refitted every 7 days on all data before the origin (the protocol of
``phoenyra_ems.forecast.suites.evaluate("load")``). Compares persistence, the gradient boosting
model, the production ensemble (from ``suites.suite("load")``) and ``LstmForecaster``. Needs the
PyTorch CPU build (not a project dependency); see docs/lstm.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/lstm_load.py [--days 90] [--members 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd
import torch

from phoenyra_ems.forecast import datasets, suites
from phoenyra_ems.forecast.evaluation import daily_origins, rolling_origin
from phoenyra_ems.forecast.lstm import LstmForecaster

HORIZON = pd.Timedelta(hours=48)
EXISTING = ("persistence", "gbm", "ensemble")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90, help="rolling origins (the last N days)")
    parser.add_argument("--members", type=int, default=5, help="LSTM networks averaged (seeds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first LSTM network")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)

    load = suites.suite("load")
    site = datasets.KONSTANZ_SITE
    factories = {name: load.factories[name] for name in EXISTING}
    factories["lstm"] = lambda: LstmForecaster(
        timezone=site["timezone"], country=site["country"], members=args.members, seed=args.seed
    )
    origins = daily_origins(load.data, args.days, HORIZON)
    steps = int(HORIZON / (load.data.index[1] - load.data.index[0]))
    print(f"{load.description}: {len(origins)} origins {origins[0]:%Y-%m-%d} → {origins[-1]:%Y-%m-%d}")
    print(f"horizon {steps} steps, refit every 7 days, torch {torch.__version__}, 1 thread\n")

    started = time.perf_counter()
    evaluation = rolling_origin(factories, load.data, origins, steps, refit_every_days=7.0)
    elapsed = time.perf_counter() - started

    print(
        f"{'model':<12} {'MAE kW':>8} {'nMAE':>7} {'skill':>7} {'MAE d1':>8} {'MAE d2':>8}"
        f" {'fit s':>7} {'pred ms':>8}"
    )
    for name in factories:
        by_hour = evaluation.mae_by_hour(name)
        print(
            f"{name:<12} {evaluation.mae(name):8.4f} {evaluation.nmae(name):7.1%}"
            f" {evaluation.skill(name):7.1%} {np.mean(by_hour[:24]):8.4f} {np.mean(by_hour[24:]):8.4f}"
            f" {evaluation.fit_s[name]:7.2f} {evaluation.predict_ms[name]:8.2f}"
        )
    print("\nskill = 1 − MAE / MAE(persistence); d1/d2 = hours 1–24 / 25–48; fit s = longest fit;")
    print(f"pred ms = median prediction; whole run {elapsed:.0f} s")

    lstm, ensemble = evaluation.mae("lstm"), evaluation.mae("ensemble")
    verdict = "BEATS" if lstm < ensemble else "does NOT beat"
    print(f"\nLSTM {verdict} the ensemble: MAE {lstm:.4f} vs {ensemble:.4f} kW ({lstm / ensemble - 1:+.1%})")


if __name__ == "__main__":
    main()
