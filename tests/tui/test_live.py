"""The console against a real daemon with two simulated sites (Wien, Linz)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Select, Static

from phoenyra_ems.client import Mode, PhoenyraClient, Role
from phoenyra_ems.clock import SystemClock
from phoenyra_ems.config.schema import SENSORS
from phoenyra_ems.daemon import Daemon
from phoenyra_ems.mqtt.registry import SensorSpec
from phoenyra_ems.simulator.server import BatterySimulator
from tests.conftest import free_port, simulator_config
from tests.daemon_fixtures import RunningDaemon, two_site_config
from tests.tui.conftest import live_app, wait_for
from tui.core.control import ControlRequest
from tui.core.store import Phase
from tui.screens.confirm import ConfirmScreen
from tui.screens.control import VIEWER_REASON, ControlScreen
from tui.screens.picker import SitePicker
from tui.screens.sensors import SensorsScreen
from tui.widgets.banner import ConnectionBanner
from tui.widgets.fleet_table import FleetTable


def rendered(app: object) -> str:
    """The text on the current screen as drawn (overlays included)."""
    from tui.app import PhoenyraConsole

    assert isinstance(app, PhoenyraConsole)
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


def has_rows(app: object) -> bool:
    from tui.app import PhoenyraConsole

    assert isinstance(app, PhoenyraConsole)
    try:
        table = app.screen.query_one(FleetTable)
    except Exception:
        return False
    return table.row_count == len(app.store.sites) > 0 and all(
        str(table.get_cell(site_id, "soc")) not in ("-", "") for site_id in app.store.site_ids
    )


async def test_switch_sites_with_number_keys_and_command_palette(running_daemon: RunningDaemon) -> None:
    app = live_app(running_daemon.daemon.url, running_daemon.tokens["admin"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: has_rows(app), what="the fleet table")
        assert app.store.site_ids == ["wien", "linz"]
        assert app.store.current_site == "wien"
        assert app.store.aggregated is not None and app.store.aggregated.site_count == 2
        await pilot.press("2")
        await wait_for(pilot, lambda: "Linz" in app.sub_title, what="Linz in the title")
        assert app.store.current_site == "linz"
        await pilot.press("d")  # the dashboard shows the current site
        await wait_for(pilot, lambda: app.current_screen_id == "site" and "Linz" in app.sub_title)
        await pilot.press("1")
        await wait_for(pilot, lambda: app.store.current_site == "wien" and "Wien" in app.sub_title)
        # command palette: "Switch to site Linz"
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"switch to site linz")
        await wait_for(pilot, lambda: "Switch to site Linz" in rendered(app), what="the palette's match")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.store.current_site == "linz", what="the palette switch")
        await wait_for(pilot, lambda: "Linz" in app.sub_title)
        # the site picker
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, SitePicker), what="the site picker")
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: app.store.current_site == "wien", what="the picker switch")


async def test_manual_setpoint_is_acknowledged_and_reaches_the_device(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    app = live_app(rd.daemon.url, rd.tokens["op_wien"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: has_rows(app), what="the fleet table")
        assert app.store.site_ids == ["wien"]  # op_wien sees only Wien
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ControlScreen))
        screen = app.screen
        await wait_for(pilot, lambda: not screen.query_one("#control-form").disabled, what="an enabled form")
        screen.query_one("#mode", Select).value = "manual"
        screen.query_one("#setpoint", Input).value = "-5"
        screen.query_one("#duration", Input).value = "10m"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        result = screen.query_one("#control-result", Static)
        await wait_for(pilot, lambda: "accepted" in str(result.render()), what="the daemon's ack")
        assert "manual -5 kW" in str(result.render())
        detail = app.store.details["wien"]
        assert detail.control is not None and detail.control.mode is Mode.MANUAL
        assert detail.control.setpoint_kw == -5.0
        # reflected in the site's state (WebSocket) and on the device (the simulator)
        await wait_for(pilot, lambda: app.store.states["wien"].mode is Mode.MANUAL, what="manual mode")
        simulator = rd.simulators["wien"].model
        await wait_for(pilot, lambda: abs(simulator.setpoint_kw + 5.0) < 0.01, what="the device setpoint")
        await wait_for(pilot, lambda: abs(app.store.states["wien"].setpoint + 5.0) < 0.01)
        # the daemon's refusal is shown with its reason (a setpoint beyond the limits, sent directly)
        outcome = await app.backend.send_control(ControlRequest("wien", Mode.MANUAL, None, 500.0, 60))
        assert not outcome.ok and "setpoint_kw: must be between -100 and 100 kW" in outcome.text
        await wait_for(pilot, lambda: "rejected: setpoint_kw" in str(result.render()))
        # out of bounds in the form: refused before sending, nothing reaches the daemon
        screen.query_one("#setpoint", Input).value = "-150"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: "not sent: setpoint_kw: must be between -100 … 100 kW" in str(result.render())
        )


async def test_viewer_sees_the_control_panel_disabled_with_the_reason(running_daemon: RunningDaemon) -> None:
    app = live_app(running_daemon.daemon.url, running_daemon.tokens["view_wien"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: has_rows(app), what="the fleet table")
        assert app.store.role is Role.VIEWER
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ControlScreen))
        reason = app.screen.query_one("#control-disabled", Static)
        await wait_for(pilot, lambda: VIEWER_REASON in str(reason.render()), what="the reason")
        assert reason.display
        assert app.screen.query_one("#control-form").disabled
        await pilot.press("ctrl+s")  # does nothing
        await pilot.pause(0.1)
        assert isinstance(app.screen, ControlScreen)


async def test_console_survives_a_daemon_restart(running_daemon: RunningDaemon) -> None:
    rd = running_daemon
    app = live_app(rd.daemon.url, rd.tokens["admin"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: has_rows(app), what="the fleet table")
        await wait_for(pilot, lambda: app.store.connection.phase is Phase.CONNECTED)
        await pilot.press("d")
        banner = app.screen.query_one(ConnectionBanner)
        assert not banner.display or "-hidden" in banner.classes
        port = rd.daemon.port
        assert port is not None
        config = rd.daemon.config
        await rd.daemon.stop()
        await wait_for(pilot, lambda: app.store.connection.phase is Phase.LOST, what="the lost connection")
        await wait_for(pilot, lambda: "Connection lost" in str(banner.render()), what="the banner")
        assert "-hidden" not in banner.classes
        stale = app.store.states["wien"].timestamp
        await asyncio.sleep(0.5)  # a few failed retries
        assert app.is_running
        daemon = Daemon(replace(config, api=replace(config.api, port=port)), SystemClock())
        await daemon.start()
        try:
            await wait_for(pilot, lambda: app.store.connection.phase is Phase.CONNECTED, what="reconnection")
            await wait_for(pilot, lambda: app.store.states["wien"].timestamp > stale, what="fresh data")
            await wait_for(pilot, lambda: "-hidden" in banner.classes, what="the banner to go")
            assert "connection restored" in [line.text for line in app.store.events]
        finally:
            await daemon.stop()  # the fixture stops only the daemon it started


async def test_wrong_token_exits_with_code_2(running_daemon: RunningDaemon) -> None:
    code = "import sys; from tui.app import main; sys.exit(main(sys.argv[1:]))"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        "--url",
        running_daemon.daemon.url,
        "--token",
        "phx_wrong",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, (out, err)
    assert b"refused the API token" in err


async def test_the_console_uses_only_the_client(running_daemon: RunningDaemon) -> None:
    """Every console module loads no part of the daemon but its client, and the client the
    console builds is the one that reaches the daemon."""
    from tui.core.connection import make_client

    code = (
        "import importlib, pkgutil, sys, tui\n"
        "for m in pkgutil.walk_packages(tui.__path__, 'tui.'): importlib.import_module(m.name)\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('phoenyra_ems')))"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    loaded = set(out.decode().split())
    assert "phoenyra_ems.client" in loaded
    shared = {"phoenyra_ems", "phoenyra_ems.enums"}  # the enums are bundled into phoenyra-client
    assert not {m for m in loaded if m not in shared and not m.startswith("phoenyra_ems.client")}
    client = make_client(running_daemon.daemon.url, running_daemon.tokens["admin"])
    try:
        assert isinstance(client, PhoenyraClient)
        assert {site.id for site in await client.sites()} == set(running_daemon.daemon.config.sites)
    finally:
        await client.close()


async def test_sensors_view_shows_a_discovered_sensor_of_the_real_daemon(tmp_path: Path) -> None:
    """Sensor discovery on (no broker needed: the sensor is put into the daemon's registry the way
    discovery does), read through the API and the client's ``Sensor`` model."""
    config = two_site_config(tmp_path)
    modbus_sensor = {"id": "rh", "type": "humidity", "site": "wien", "source": "modbus"}
    sensors = SENSORS(
        {"enabled": True, "port": free_port(), "sensors": [{**modbus_sensor, "register": "humidity_outdoor"}]}
    )
    config = replace(config, sensors=sensors)
    simulators = [BatterySimulator(simulator_config(site), SystemClock()) for site in config.sites.values()]
    for simulator in simulators:
        await simulator.start()
    daemon = Daemon(config, SystemClock())
    await daemon.start()
    try:
        assert daemon.sensors is not None
        registry = daemon.sensors.registry
        spec = SensorSpec("esp-room", "temperature", "ha", "Battery room", unit="°C")
        registry.upsert(spec)
        registry.update_value(spec.sensor_id, 23.5, age_s=3.0)
        registry.assign(spec.sensor_id, "wien", "battery_room_temperature")
        for _ in range(100):  # the Modbus sensor's first reading (read at once on start)
            if (sensor := registry.get("config:rh")) is not None and sensor.value is not None:
                break
            await asyncio.sleep(0.02)
        await daemon.auth.add_user("admin", "admin")
        app = live_app(daemon.url, await daemon.auth.create_token("admin"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: has_rows(app), what="the fleet table")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SensorsScreen))
            table = app.screen.query_one("#sensors-table", DataTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="the sensor rows")

            def rows() -> dict[str, list[str]]:
                cells = ([str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count))
                return {row[0]: row for row in cells}

            row = rows()["Battery room"]
            assert row[:5] == ["Battery room", "battery_room_temperature", "23.5", "°C", "ha"], row
            assert row[5].endswith("s ago"), row  # last seen: its age, not "-"
            # a listed source: modbus sensor, read from the simulator's humidity register (55 %)
            assert rows()["rh"][:5] == ["rh", "humidity", "55", "%", "config"], rows()
    finally:
        await daemon.stop()
        for simulator in simulators:
            await simulator.stop()
