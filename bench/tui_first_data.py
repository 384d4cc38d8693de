"""Time from console start to the first data on screen.

Starts a local daemon (in this process) with the two example sites (Wien, Linz), each against its
own simulator on loopback Modbus TCP, then runs the real console headless (``App.run_test``,
120×40) ``--runs`` times and measures, for each run, the wall time from creating the app to the
moment the fleet table shows every site's row with a SoC value. Prints each run and
min / median / max (goal: < 1 s).

    .venv/bin/python bench/tui_first_data.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tui` without a reinstall

from _common import free_port  # bench/ is the script's directory

from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config import load_config
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.demo import simulator_for
from phoenyra_ems.simulator.server import BatterySimulator
from tui.app import PhoenyraConsole, build_app
from tui.core.keymap import Keymap
from tui.core.settings import Settings
from tui.widgets.fleet_table import FleetTable

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ems.yaml"
GOAL_S = 1.0


def first_data_shown(app: PhoenyraConsole) -> bool:
    try:
        table = app.screen.query_one(FleetTable)
    except Exception:
        return False
    ids = app.store.site_ids
    return (
        bool(ids)
        and table.row_count == len(ids)
        and all(str(table.get_cell(site_id, "soc")) not in ("", "-") for site_id in ids)
    )


async def one_run(url: str, token: str) -> float:
    start = time.perf_counter()
    app = build_app(Settings(url=url, token=token, theme="dark", keymap=Keymap()))
    async with app.run_test(size=(120, 40)) as pilot:
        while not first_data_shown(app):
            if time.perf_counter() - start > 30:
                raise RuntimeError("no data on screen within 30 s")
            await pilot.pause(0.005)
        return time.perf_counter() - start


async def bench(runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(EXAMPLE)
        sites = {
            site_id: replace(
                site,
                modbus=replace(site.modbus, host="127.0.0.1", port=free_port()),
                ems=replace(site.ems, history_dir=tmp),
            )
            for site_id, site in config.sites.items()
        }
        config = replace(config, sites=sites, api=replace(config.api, port=0, auth_db=f"{tmp}/auth.db"))
        clock = SystemClock()
        simulators = [BatterySimulator(simulator_for(site), clock) for site in config.sites.values()]
        for simulator in simulators:
            await simulator.start()
        daemon = Daemon(config, clock)
        await daemon.start()
        try:
            token = await daemon.auth.ensure_admin_token()
            await asyncio.sleep(1.0)  # every site has had a cycle
            times = []
            for run in range(runs):
                elapsed = await one_run(daemon.url, token)
                times.append(elapsed)
                print(f"run {run + 1}: first data on screen after {elapsed * 1000:.0f} ms", flush=True)
            return times
        finally:
            await daemon.stop()
            for simulator in simulators:
                await simulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    times = asyncio.run(bench(args.runs))
    verdict = "meets" if max(times) < GOAL_S else "MISSES"
    print(
        f"console start → first data: min {min(times) * 1000:.0f} ms, "
        f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
        f"over {len(times)} runs ({verdict} the {GOAL_S:g} s goal)"
    )


if __name__ == "__main__":
    main()
