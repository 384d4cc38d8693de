"""The console's behaviour on a fixed store (no daemon): keys, remapping, themes, modals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from phoenyra_ems.client import Control, Info, Mode, Role, Sensor
from tests.tui.conftest import DAY, NOW, chart_points, fixed_backend, fixed_store, make_state, wait_for
from tui.app import PhoenyraConsole
from tui.core.backend import StaticBackend
from tui.core.keymap import load_keymap
from tui.core.store import ChartPoint, Connection, ConsoleStore, ControlOutcome, Phase
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.sensors import NO_SENSORS
from tui.widgets.banner import ConnectionBanner


async def form_drawn(pilot: Pilot[int], app: PhoenyraConsole) -> None:
    bounds = app.screen.query_one("#bounds", Static)
    await wait_for(pilot, lambda: "kW" in str(bounds.render()), what="the control form")


async def test_remapped_keys_and_theme_toggle(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\nshow_site = "o"\ntoggle_theme = "ctrl+t"\nsite_2 = "x"\n')
    app = PhoenyraConsole(fixed_backend(), keymap=load_keymap(keys), theme="light")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        assert app.theme == "textual-light"
        await pilot.press("d")  # no longer bound
        await pilot.pause(0.1)
        assert app.current_screen_id == "fleet"
        await pilot.press("o")
        await wait_for(pilot, lambda: app.current_screen_id == "site")
        await pilot.press("x")
        await wait_for(pilot, lambda: app.store.current_site == "linz" and "Linz" in app.sub_title)
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help-text", Static).render())
        assert "o                  Site" in text and "ctrl+t" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_cancelled_confirmation_sends_nothing() -> None:
    backend = fixed_backend()
    app = PhoenyraConsole(backend, start_screen="control")
    async with app.run_test(size=(80, 24)) as pilot:
        await form_drawn(pilot, app)  # the first draw resets the form: fill it in after that
        app.screen.query_one("#mode", Select).value = "manual"
        setpoint = app.screen.query_one("#setpoint", Input)
        setpoint.focus()
        await pilot.press("-", "2", "0")  # digits typed into a field do not switch sites
        assert setpoint.value == "-20" and app.store.current_site == "wien"
        await pilot.press("enter")  # Enter in a field = send
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause(0.1)
        assert backend.sent == []
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(backend.sent) == 1)
        assert backend.sent[0].mode is Mode.MANUAL and backend.sent[0].setpoint_kw == -20.0


async def test_sensors_screen_says_why_it_is_empty() -> None:
    app = PhoenyraConsole(fixed_backend(), start_screen="sensors")
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.screen.query_one("#sensors-message", Static)
        await wait_for(pilot, lambda: str(message.render()) == NO_SENSORS)


async def test_sensors_screen_shows_the_client_model() -> None:
    room = Sensor("esp:t", "Room", 24.25, "°C", 75.0, True, "wien", "battery_room_temperature", "ha")
    gone = Sensor("tas:p", "Meter", None, "W", None, False, "wien", None, "tasmota")
    backend = StaticBackend(fixed_store(), sensors={"wien": [room, gone]})
    app = PhoenyraConsole(backend, start_screen="sensors")
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#sensors-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="two rows")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(2)]
        assert rows == [
            ["Room", "battery_room_temperature", "24.25", "°C", "ha", "75 s ago"],
            ["Meter", "-", "-", "W", "tasmota", "offline"],
        ]


async def test_a_refused_form_stays_the_last_result_after_redraws() -> None:
    backend = fixed_backend()
    backend.outcome = ControlOutcome(True, "accepted: manual -30 kW until 10:45:00, strategy auto-select")
    app = PhoenyraConsole(backend, start_screen="control")
    async with app.run_test(size=(80, 24)) as pilot:
        await form_drawn(pilot, app)
        app.screen.query_one("#mode", Select).value = "manual"
        app.screen.query_one("#setpoint", Input).value = "-30"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        result = app.screen.query_one("#control-result", Static)
        await wait_for(pilot, lambda: "accepted: manual -30 kW" in str(result.render()))
        app.screen.query_one("#setpoint", Input).value = "-150"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not sent" in str(result.render()), what="the refusal")
        app.store.touch()  # new data arrives: the screen is redrawn
        await pilot.pause(0.6)
        shown = str(result.render())
        assert shown.startswith("not sent: setpoint_kw: must be between -100 … 80 kW"), shown
        assert "-error" in result.classes and len(backend.sent) == 1


async def test_escape_leaves_a_field_and_tab_does_not_select_its_text() -> None:
    app = PhoenyraConsole(fixed_backend(), start_screen="control")
    async with app.run_test(size=(80, 24)) as pilot:
        await form_drawn(pilot, app)
        setpoint = app.screen.query_one("#setpoint", Input)
        duration = app.screen.query_one("#duration", Input)
        setpoint.focus()
        await pilot.press("-", "5", "tab", "1")  # Tab to the duration: the key does not replace "15m"
        assert app.focused is duration and duration.value.startswith("15m"), duration.value
        await pilot.press("escape", "d")  # Esc leaves the field: "d" is the screen key again
        await wait_for(pilot, lambda: app.current_screen_id == "site", what="the site screen")
        assert setpoint.value == "-5" and "d" not in duration.value


AIOHTTP_ERROR = (
    "GET /api/v1/info: Cannot connect to host 127.0.0.1:8080 ssl:default "
    "[Connect call failed ('127.0.0.1', 8080)]"
)


async def test_the_connection_banner_keeps_retry_and_key_visible_at_80_columns() -> None:
    backend = fixed_backend()
    app = PhoenyraConsole(backend, start_screen="site")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        backend.store.set_connection(Connection(Phase.LOST, "http://127.0.0.1:8080", AIOHTTP_ERROR, 5, 8.0))
        banner = app.screen.query_one(ConnectionBanner)
        await wait_for(
            pilot,  # drawn and laid out: its width is known a refresh after the text (slower under load)
            lambda: "Connection lost" in str(banner.render()) and banner.content_size.width > 0,
            what="the banner",
        )
        visible = str(banner.render())[: banner.content_size.width]  # what fits on its one line
        assert visible.startswith("⚠ Connection lost — retry 5 in 8.0 s (r: now)"), visible
        assert "127.0.0.1:8080 unreachable" in visible and "ssl:default" not in visible


async def test_help_at_80x24_scrolls_with_a_visible_hint_and_indents_wrapped_lines() -> None:
    app = PhoenyraConsole(fixed_backend())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        box = app.screen.query_one("#help-box")
        text = app.screen.query_one("#help-text", Static)
        # laid out a refresh after the screen is up (slower under load): wait, do not sleep
        await wait_for(pilot, lambda: box.max_scroll_y > 0, what="the help laid out")  # more than 24 rows
        assert "more" in str(box.border_subtitle), box.border_subtitle  # … and the box says so
        width = text.content_size.width
        lines = str(text.render()).splitlines()
        assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
        wrapped = [line for line in lines if line.startswith(" " * 21)]
        assert wrapped, "a long description continues under its own column"
        await pilot.press("end")
        await wait_for(pilot, lambda: box.scroll_y == box.max_scroll_y, what="the end of the help")
        assert "more" not in str(box.border_subtitle)


async def test_the_power_legend_does_not_cover_the_early_hours_of_a_day() -> None:
    backend = fixed_backend()
    midnight = datetime(2024, 5, 31, 22, tzinfo=UTC)  # 00:00 in Vienna
    backend.history[("wien", DAY)] = chart_points("wien", midnight, 48, timedelta(minutes=5))  # 0–4 h
    app = PhoenyraConsole(backend, start_screen="history")
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.screen.query_one("#history-power")
        await wait_for(pilot, lambda: "48 samples" in str(app.screen.query_one("#history-summary").render()))

        def plot_rows() -> list[str]:
            return [
                "".join(seg.text for seg in strip)[chart.region.x : chart.region.right]
                for strip in app.screen._compositor.render_strips()[chart.region.y : chart.region.bottom]
            ]

        legend = "━━ PV  ━━ Load  ━━ Grid  ━━ Batt"
        await wait_for(pilot, lambda: legend in "\n".join(plot_rows()), what="the chart drawn")
        rows = plot_rows()
        top_left = [row[6:16] for row in rows[2:6]]  # the plot's corner, where 0–4 h is drawn
        assert not any(label in row for row in top_left for label in ("PV", "Load", "Grid", "Batt")), top_left
        assert legend in "\n".join(rows)  # the legend, below the plot


def screen_text(app: PhoenyraConsole) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


async def test_no_negative_zero_for_grid_power_or_on_chart_axes() -> None:
    store = fixed_store()
    idle = make_state("wien", 50.0, 0.0, 0.0, 0.0, p_grid=-0.04, setpoint=-0.01)
    store.set_state(idle)
    store.series["wien"].clear()
    store.merge_history("wien", [])
    start = NOW - timedelta(minutes=30)
    for i in range(30):  # a site at rest: powers jitter around 0 by a few watts
        jitter = 0.3 * ((i % 5) - 2) / 2
        store.series["wien"].append(ChartPoint(start + timedelta(minutes=i), jitter, 0.0, 0.0, -jitter, 50.0))
    app = PhoenyraConsole(StaticBackend(store), start_screen="fleet")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        app.render_now()
        await pilot.pause(0.2)
        assert "-0.0" not in screen_text(app)
        await pilot.press("d")
        await wait_for(pilot, lambda: app.current_screen_id == "site")
        app.render_now()
        await wait_for(pilot, lambda: "Power kW" in screen_text(app), what="the dashboard's chart")
        text = screen_text(app)
        assert "-0.0" not in text and "-0 " not in text, text


async def test_fleet_events_show_when_they_happened() -> None:
    app = PhoenyraConsole(fixed_backend(), start_screen="fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        events = app.screen.query_one("#events", Static)
        await wait_for(pilot, lambda: "peak_cap" in str(events.render()), what="the events")
        lines = str(events.render()).splitlines()
        assert lines and all(re.match(r"^\d\d:\d\d:\d\d ", line) for line in lines), lines


async def test_fleet_aggregate_does_not_claim_admins_only_before_the_role_is_known() -> None:
    store = ConsoleStore("http://127.0.0.1:8080")  # connecting: nothing known yet, not even the role
    app = PhoenyraConsole(StaticBackend(store), start_screen="fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        aggregate = app.screen.query_one("#aggregate", Static)
        await wait_for(pilot, lambda: str(aggregate.render()) != "", what="the aggregate line")
        assert "admins only" not in str(aggregate.render()), aggregate.render()
        store.set_info(Info("f00d", "0.1.0", "victor", Role.VIEWER, 1))
        await wait_for(pilot, lambda: "admins only" in str(aggregate.render()), what="the viewer's line")


async def test_expiry_times_are_shown_in_the_sites_local_time() -> None:
    store = fixed_store()  # Wien: Europe/Vienna (UTC+2 in June)
    manual = Control(Mode.MANUAL, None, -30.0, NOW + timedelta(minutes=15))  # 10:45 UTC
    store.set_control("wien", manual)
    app = PhoenyraConsole(StaticBackend(store), start_screen="control")
    async with app.run_test(size=(80, 24)) as pilot:
        current = app.screen.query_one("#control-current", Static)
        await wait_for(pilot, lambda: "until" in str(current.render()), what="the current control")
        assert "until 12:45:00 CEST" in str(current.render()), current.render()
        await pilot.press("d")
        await wait_for(pilot, lambda: app.current_screen_id == "site")
        app.render_now()
        await wait_for(pilot, lambda: "until 12:45" in screen_text(app), what="the expiry on the dashboard")
        text = screen_text(app)
        assert "until 12:45 CEST" in text and "UTC" not in text, text


@pytest.mark.parametrize("theme", ["dark", "light"])
async def test_the_focused_field_is_clearly_visible(theme: str) -> None:
    app = PhoenyraConsole(fixed_backend(), start_screen="control", theme=theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await form_drawn(pilot, app)
        for field in ("#setpoint", "#mode"):
            widget = app.screen.query_one(field)
            widget.focus()
            label = widget.parent.query_one(".field-label") if widget.parent else None
            assert label is not None, field
            # styles follow the focus a frame later (slower on a loaded machine): wait, do not sleep
            await wait_for(
                pilot, lambda label=label: bool(label.rich_style.bold), what=f"{field}'s label in bold"
            )
            other = app.screen.query_one("#duration")
            focused, unfocused = widget.background_colors[1], other.background_colors[1]
            distance = sum(abs(a - b) for a, b in zip(focused.rgb, unfocused.rgb, strict=True))
            assert distance >= 120, (field, focused, unfocused)  # not 234 vs 235
