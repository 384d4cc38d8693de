"""Control panel (operators and admins): mode, strategy, manual setpoint with an expiry.

The setpoint is bounded by the site's effective power limits, checked here, confirmed in a modal,
then sent; the daemon's ack or its refusal is shown. Viewers see the panel disabled with the reason.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from phoenyra_ems.client import Mode
from tui.core.control import (
    DEFAULT_DURATION,
    ControlFormError,
    ControlRequest,
    build_request,
    describe_request,
    power_bounds,
)
from tui.core.store import ConsoleStore, ControlOutcome, describe_control
from tui.screens.base import ConsoleScreen, bindings
from tui.screens.confirm import ConfirmScreen

AUTO_SELECT = "__auto__"
VIEWER_REASON = "viewer role: read-only"


class ControlScreen(ConsoleScreen):
    SCREEN_ID = "control"
    SCREEN_TITLE = "Control"
    BINDINGS: ClassVar[list[BindingType]] = bindings("control")

    def __init__(self) -> None:
        super().__init__()
        self._form_site: str | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="control-panel") as panel:
            panel.border_title = "Control"
            yield Static(id="control-current")
            yield Static(id="control-disabled")
            with Vertical(id="control-form"):
                with Horizontal(classes="field"):
                    yield Label("Mode", classes="field-label")
                    yield Select(
                        [(m.value, m.value) for m in Mode],
                        value=Mode.AUTO.value,
                        allow_blank=False,
                        compact=True,
                        id="mode",
                    )
                with Horizontal(classes="field"):
                    yield Label("Strategy", classes="field-label")
                    yield Select(
                        [("automatic selection", AUTO_SELECT)],
                        value=AUTO_SELECT,
                        allow_blank=False,
                        compact=True,
                        id="strategy",
                    )
                with Horizontal(classes="field"):
                    yield Label("Setpoint kW", classes="field-label")
                    yield Input(placeholder="e.g. -20", compact=True, select_on_focus=False, id="setpoint")
                    yield Static(id="bounds", classes="field-hint")  # the allowed range
                with Horizontal(classes="field"):
                    yield Label("Duration", classes="field-label")
                    yield Input(value=DEFAULT_DURATION, compact=True, select_on_focus=False, id="duration")
                    yield Static("e.g. 900, 15m, 1h30m", classes="field-hint")
                yield Button("Send… (ctrl+s)", variant="warning", compact=True, id="send")
            yield Static(id="control-result")

    def show_store(self, store: ConsoleStore) -> None:
        site_id = store.current_site
        detail = store.details.get(site_id) if site_id else None
        panel = self.query_one("#control-panel", Vertical)
        panel.border_title = f"Control · {store.site_name(site_id)}"
        can = store.can_control and detail is not None and detail.control is not None
        form = self.query_one("#control-form", Vertical)
        form.disabled = not can
        reason = self.query_one("#control-disabled", Static)
        if not store.can_control:
            reason.update(
                f"Control disabled — {VIEWER_REASON}" if store.info else "Control disabled — not connected"
            )
        elif detail is None or detail.control is None:
            reason.update("Control disabled — the site's controller is not running")
        else:
            reason.update("")
        reason.set_class(not can, "-shown")
        current = self.query_one("#control-current", Static)
        if detail is None:
            current.update("No data for this site yet.")
        else:
            bounds = power_bounds(detail)
            zone = store.site_zone(site_id)
            control = describe_control(detail.control, zone) if detail.control else "controller not running"
            current.update(f"Now: {control}\nSetpoint range {bounds.text()} (power limits)")
            self.query_one("#bounds", Static).update(bounds.text())
            if site_id != self._form_site:
                self._form_site = site_id
                self._reset_form(store)
        outcome = store.control_results.get(site_id) if site_id else None
        result = self.query_one("#control-result", Static)
        result.update("" if outcome is None else outcome.text)
        result.set_class(outcome is not None and outcome.ok is True, "-ok")
        result.set_class(outcome is not None and outcome.ok is False, "-error")

    def _reset_form(self, store: ConsoleStore) -> None:
        """A new site: its strategies, its current mode and pinned strategy."""
        site_id = store.current_site
        detail = store.details.get(site_id) if site_id else None
        if detail is None:
            return
        strategy = self.query_one("#strategy", Select)
        strategy.set_options(
            [("automatic selection", AUTO_SELECT), *((name, name) for name in detail.site.strategies)]
        )
        pinned = detail.control.strategy if detail.control else None
        strategy.value = pinned if pinned in detail.site.strategies else AUTO_SELECT
        mode = detail.control.mode if detail.control else Mode.AUTO
        self.query_one("#mode", Select).value = mode.value
        self.query_one("#setpoint", Input).value = ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``send`` shows as disabled in the footer when this user may not control the site."""
        if action == "send" and not self.store.can_control:
            return None
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_send()

    def action_send(self) -> None:
        store = self.store
        site_id = store.current_site
        detail = store.details.get(site_id) if site_id else None
        if site_id is None or detail is None or not store.can_control or detail.control is None:
            return
        strategy = self.query_one("#strategy", Select).value
        try:
            request = build_request(
                site_id,
                str(self.query_one("#mode", Select).value),
                None if strategy in (AUTO_SELECT, Select.NULL) else str(strategy),
                self.query_one("#setpoint", Input).value,
                self.query_one("#duration", Input).value,
                power_bounds(detail),
                detail.site.strategies,
            )
        except ControlFormError as err:
            # kept in the store like the daemon's answers: the last result shown is the last result
            reasons = "; ".join(f"{k}: {v}" for k, v in err.fields.items())
            store.set_control_result(site_id, ControlOutcome(False, f"not sent: {reasons}"))
            self.console.render_now()
            return
        text = describe_request(request, store.site_name(site_id))

        def answered(yes: bool | None) -> None:
            if yes:
                store.set_control_result(site_id, ControlOutcome(None, "sending …"))
                self.console.render_now()
                self._send(request)

        self.app.push_screen(ConfirmScreen("Send this control request?", text), answered)

    @work(exclusive=True, group="control")
    async def _send(self, request: ControlRequest) -> None:
        await self.backend.send_control(request)
