"""``phoenyra-ems demo``: the example sites, each with its own simulator, behind the daemon's API.

Prints the API URL, where the demo keeps its data and a fresh admin token (the previous demo token is
revoked), then opens the technician's console (``tui``) on this terminal; ``--headless`` (or no
terminal) prints one status line per site every real second instead.

Every run starts from a clean history in ``data/demo`` (the simulated clock restarts at the wall
clock, so continuing an old history would interleave two runs); the users stay, in
``data/demo/auth.db``. Configured ports that are already in use are replaced by free ones.

``--vpp`` adds the test VTN (OpenADR 3) with one program: every site becomes a resource of the
daemon's VEN, and a few seconds after the VEN subscribed the VTN creates a dispatch event, which
the console shows as a banner and a VPP panel while the sites follow it (docs/vpp.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import replace
from pathlib import Path

from phoenyra_ems.auth.models import AuthError
from phoenyra_ems.clock import Clock
from phoenyra_ems.config import ConfigError, load_config
from phoenyra_ems.config.model import EmsConfig, SiteConfig
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.models import PlantState
from phoenyra_ems.ports import free_port, in_use
from phoenyra_ems.signals import run_until_signal
from phoenyra_ems.simulator.server import BatterySimulator, SimulatorConfig
from phoenyra_ems.vpp.vtn.demo import DemoVtn

LOG = logging.getLogger(__name__)
DEFAULT_DEMO_CONFIG = "examples/ems.yaml"
DEMO_DATA_DIR = "data/demo"
# The shipped commercial load peaks (99th percentile) at 0.30 kW per MWh of annual consumption.
LOAD_P99_KW_PER_MWH_A = 0.30


def simulator_for(site: SiteConfig) -> SimulatorConfig:
    """A simulator matching the site's hardware and PV, with a commercial load whose peaks just
    exceed the peak cap (or reach 60 % of the grid connection), so peak shaving has work to do."""
    grid_kw = site.grid_connection.max_power_kw or site.bess.power_discharge_max_kw
    peak_kw = site.grid_tariffs.peak_import_cap_kw or 0.6 * grid_kw
    return SimulatorConfig(
        profile=site.modbus.profile,
        parameters=site.modbus.parameters,
        host=site.modbus.host,
        port=site.modbus.port,
        unit_id=site.modbus.unit_id,
        capacity_kwh=site.bess.energy_capacity_kwh,
        charge_max_kw=site.bess.power_charge_max_kw,
        discharge_max_kw=site.bess.power_discharge_max_kw,
        efficiency_charge=site.bess.efficiency_charge,
        efficiency_discharge=site.bess.efficiency_discharge,
        soc_pct=50.0,
        pv_peak_kw=site.forecast.pv_peak_power_kw,
        load_kind="commercial",
        annual_load_mwh=peak_kw * 1.05 / LOAD_P99_KW_PER_MWH_A,
    )


def status_line(name: str, s: PlantState) -> str:
    alarms = ",".join(a.code for a in s.alarms) or "-"
    line = (
        f"{name:<8} {s.status:<8} SoC {s.soc:5.1f}%  bess {s.p_bess:+8.1f} kW  "
        f"pv {s.p_pv:7.1f}  load {s.p_load:7.1f}  grid {s.p_grid:+8.1f}  set {s.setpoint:+8.1f}  "
        f"{s.strategy or '-':<16} alarms {alarms}"
    )
    vpp = s.vpp
    if vpp is not None and vpp.event_id is not None:
        committed = "-" if vpp.committed_kw is None else f"{vpp.committed_kw:+.1f} kW"
        left = "-" if vpp.remaining_s is None else f"{vpp.remaining_s / 60:.0f} min"
        line += f"  VPP event {vpp.event_id}: committed {committed}, {left} left"
    return line


def parse_broker(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--mqtt wants HOST:PORT, got {text!r}")
    return host, int(port)


def demo_config(config: EmsConfig, mqtt: str | None = None) -> EmsConfig:
    """The demo keeps its history and users apart from a real installation's; with ``mqtt``, every
    site publishes telemetry on that broker (and takes commands signed with its mqtt.command_key, if
    the config sets one), and sensor discovery listens there."""
    sites = {
        i: replace(site, ems=replace(site.ems, history_dir=DEMO_DATA_DIR)) for i, site in config.sites.items()
    }
    config = replace(config, sites=sites, api=replace(config.api, auth_db=f"{DEMO_DATA_DIR}/auth.db"))
    if mqtt is None:
        return config
    host, port = parse_broker(mqtt)
    sites = {
        i: replace(site, mqtt=replace(site.mqtt, enabled=True, host=host, port=port))
        for i, site in config.sites.items()
    }
    return replace(config, sites=sites, sensors=replace(config.sensors, enabled=True, host=host, port=port))


def use_free_ports(config: EmsConfig) -> tuple[EmsConfig, list[str]]:
    """The config with every taken port (API, each site's simulator) replaced by a free one, and a
    line per replacement to print."""
    notes: list[str] = []

    def free(host: str, port: int, what: str) -> int:
        if not in_use(host, port):
            return port
        new = free_port(host)
        notes.append(f"{host}:{port} is in use: {what} on {host}:{new} instead")
        return new

    api = replace(config.api, port=free(config.api.host, config.api.port, "the API"))
    sites = {
        i: replace(
            site,
            modbus=replace(
                site.modbus, port=free(site.modbus.host, site.modbus.port, f"{site.name}'s simulator")
            ),
        )
        for i, site in config.sites.items()
    }
    return replace(config, api=api, sites=sites), notes


def clean_history(data_dir: str = DEMO_DATA_DIR) -> None:
    """Remove the previous run's history databases (the users in auth.db stay)."""
    for path in Path(data_dir).glob("ems_history_site_*.db*"):
        path.unlink(missing_ok=True)


async def print_status(daemon: Daemon, clock: Clock, duration_s: float) -> None:
    """Headless: one status line per site every real second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration_s if duration_s else None
    while deadline is None or loop.time() < deadline:
        await asyncio.sleep(1.0)
        print(f"--- {clock.now():%Y-%m-%d %H:%M} (simulated)", flush=True)
        for slot in daemon.fleet.slots.values():
            print(status_line(slot.config.name, slot.state), flush=True)


async def run_console(url: str, token: str) -> None:
    """The technician's console on this terminal, in this process, talking to the daemon's API."""
    from tui.app import build_app  # Textual only when a console is wanted
    from tui.core.keymap import Keymap
    from tui.core.settings import Settings

    await build_app(Settings(url=url, token=token, theme="dark", keymap=Keymap())).run_async()


async def demo(
    config: EmsConfig, clock: Clock, duration_s: float = 0.0, headless: bool = True, vpp: bool = False
) -> None:
    clean_history()
    simulators = [BatterySimulator(simulator_for(site), clock) for site in config.sites.values()]
    vtn = DemoVtn() if vpp else None
    dispatch: asyncio.Task[None] | None = None
    daemon: Daemon | None = None
    try:
        if vtn is not None:
            if config.api.port == 0:  # the webhook URL needs the API's port before it starts
                config = replace(config, api=replace(config.api, port=free_port(config.api.host)))
            url = await vtn.start()
            config = vtn.configure(config, config.api.port)
            print(f"VPP: test VTN (OpenADR 3.0.1) on {url}, program {vtn.program['id']!r}", flush=True)
        daemon = Daemon(config, clock)
        for simulator in simulators:
            await simulator.start()
        await daemon.start()
        if vtn is not None:
            dispatch = asyncio.create_task(vtn.dispatch(clock), name="demo-vpp-dispatch")
        with contextlib.suppress(AuthError):  # no admin yet: nothing to revoke
            await daemon.auth.revoke("admin")  # the previous demo's token
        token = await daemon.auth.ensure_admin_token()
    except BaseException:
        await _stop(daemon, simulators, vtn, dispatch)
        raise
    print(f"Phoenyra EMS demo: API {daemon.url}/api/v1  (simulated time runs {clock.speed:g}x)")
    print(
        f"demo data: {DEMO_DATA_DIR} (history starts afresh each run; users: "
        f"phoenyra-ems user --db {DEMO_DATA_DIR}/auth.db list)"
    )
    print(f"admin token: {token}  (the previous demo token is revoked)", flush=True)
    try:
        if headless:
            await print_status(daemon, clock, duration_s)
        else:
            await run_console(daemon.url, token)
    finally:
        await _stop(daemon, simulators, vtn, dispatch)


async def _stop(
    daemon: Daemon | None,
    simulators: list[BatterySimulator],
    vtn: DemoVtn | None,
    dispatch: asyncio.Task[None] | None,
) -> None:
    if dispatch is not None:
        dispatch.cancel()
        await asyncio.gather(dispatch, return_exceptions=True)
    if daemon is not None:
        await daemon.stop()
    await asyncio.gather(*(s.stop() for s in simulators), return_exceptions=True)
    if vtn is not None:
        await vtn.stop()


def run_demo(
    headless: bool,
    duration_s: float,
    clock: Clock,
    config_path: str = DEFAULT_DEMO_CONFIG,
    mqtt: str | None = None,
    vpp: bool = False,
) -> int:
    try:
        config, notes = use_free_ports(demo_config(load_config(config_path), mqtt))
    except ConfigError as err:
        for issue in err.issues:
            print(issue, file=sys.stderr)
        return 1
    except ValueError as err:  # a malformed --mqtt
        print(err, file=sys.stderr)
        return 2
    except FileNotFoundError:
        print(f"{config_path} not found: run the demo from the repository root (make demo)", file=sys.stderr)
        return 1
    for note in notes:
        print(note)

    try:
        return run_until_signal(demo(config, clock, duration_s, headless or not sys.stdout.isatty(), vpp))
    except OSError as err:  # an address taken between the check and the start
        print(f"phoenyra-ems demo: cannot start: {err}", file=sys.stderr)
        return 1
