"""A real Phoenyra EMS daemon with two simulated sites on loopback, for the Home Assistant tests.

Run with the MAIN venv's python (it needs pymodbus, aiosqlite …, which Home Assistant's test venv
does not have)::

    .venv/bin/python tests_ha/daemon_process.py STATE_DIR

On the first run it picks free loopback ports (two simulators and the API), writes
``STATE_DIR/ports.json`` and ``STATE_DIR/ems.yaml`` (sites ``wien`` and ``linz``); a later run with
the same directory reuses them (same port, same instance id, same users), so a test can stop the
daemon and bring it back. It then prints ONE line of JSON on stdout::

    {"port": 41234, "instance_id": "…", "config": "…/ems.yaml",
     "tokens": {"admin": "phx_…", "viewer": "phx_…"}}

and serves until SIGTERM / SIGINT (then every battery goes to its safe state). The test may edit
``ems.yaml`` and call ``POST /api/v1/reload`` (admin token) to add or remove a site at runtime;
both simulators keep running whatever the configuration says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from pathlib import Path

SITES = {
    "wien": {"name": "Wien", "capacity_kwh": 20.0, "power_kw": 10.0, "pv_kwp": 12.0},
    "linz": {"name": "Linz", "capacity_kwh": 30.0, "power_kw": 15.0, "pv_kwp": 18.0},
}
CYCLE_S = 0.25


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _site_yaml(site_id: str, port: int, state_dir: Path) -> str:
    s = SITES[site_id]
    return f"""    {site_id}:
      name: {s["name"]}
      location: {{city: {s["name"]}, latitude: 48.2, longitude: 16.37, timezone: Europe/Vienna}}
      bess:
        energy_capacity_kwh: {s["capacity_kwh"]}
        power_charge_max_kw: {s["power_kw"]}
        power_discharge_max_kw: {s["power_kw"]}
        soc_min_pct: 10
        soc_max_pct: 90
      modbus: {{host: 127.0.0.1, port: {port}, unit_id: 1, profile: generic, timeout_s: 0.5}}
      forecast: {{pv_peak_power_kw: {s["pv_kwp"]}}}
      grid_connection: {{max_power_kw: 40}}
      ems: {{cycle_s: {CYCLE_S}, history_dir: "{state_dir}", default_strategy: self_consumption}}
"""


def write_config(state_dir: Path, ports: dict[str, int], site_ids: list[str]) -> Path:
    """(Re)write ``ems.yaml`` with the given sites (the tests call this to add/remove a site)."""
    text = f"sites:\n  default_site_id: {site_ids[0]}\n  sites:\n"
    text += "".join(_site_yaml(i, ports[i], state_dir) for i in site_ids)
    if "wien" in site_ids:  # an edge sensor: the simulator's humidity register (55 %), listed
        text += (
            "sensors:\n  sensors:\n    - {id: humidity_outdoor, type: humidity, site: wien, source: modbus,"
            " register: humidity_outdoor, interval_s: 1}\n"
        )
    text += (
        f"api:\n  host: 127.0.0.1\n  port: {ports['api']}\n"
        f'  auth_db: "{state_dir / "auth.db"}"\n  ws_max_rate_hz: 10\n  zeroconf: false\n'
    )
    path = state_dir / "ems.yaml"
    path.write_text(text)
    return path


async def _main(state_dir: Path) -> None:
    from phoenyra_ems.auth.models import AuthError
    from phoenyra_ems.clock import SystemClock
    from phoenyra_ems.config import load_config
    from phoenyra_ems.daemon import Daemon
    from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig

    state_dir.mkdir(parents=True, exist_ok=True)
    ports_file = state_dir / "ports.json"
    if ports_file.exists():
        ports = json.loads(ports_file.read_text())
    else:
        ports = {"api": _free_port(), **{i: _free_port() for i in SITES}}
        ports_file.write_text(json.dumps(ports))
    config_path = state_dir / "ems.yaml"
    if not config_path.exists():
        write_config(state_dir, ports, list(SITES))

    clock = SystemClock()
    simulators = []
    for site_id, s in SITES.items():
        sim = BatterySimulator(
            SimulatorConfig(
                port=ports[site_id],
                capacity_kwh=s["capacity_kwh"],
                charge_max_kw=s["power_kw"],
                discharge_max_kw=s["power_kw"],
                pv_peak_kw=s["pv_kwp"],
                load_kind="household",
                annual_load_mwh=20.0,
            ),
            clock,
        )
        await sim.start()
        simulators.append(sim)

    daemon = Daemon(load_config(str(config_path)), clock, str(config_path))
    await daemon.start()
    tokens = {"admin": await daemon.auth.ensure_admin_token()}
    with contextlib.suppress(AuthError):
        await daemon.auth.add_user("viewer", "viewer")
        await daemon.auth.grant("viewer", "wien")
    tokens["viewer"] = await daemon.auth.create_token("viewer")
    print(
        json.dumps(
            {
                "port": daemon.port,
                "instance_id": daemon.instance_id,
                "config": str(config_path),
                "tokens": tokens,
            }
        ),
        flush=True,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await daemon.stop()
        await asyncio.gather(*(s.stop() for s in simulators), return_exceptions=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(_main(Path(sys.argv[1]).resolve()))
