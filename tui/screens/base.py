"""The frame every main screen shares: header (title + current site), connection banner, footer."""

from __future__ import annotations

from typing import ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui.core.backend import Backend
from tui.core.keymap import Keymap
from tui.core.store import ConsoleStore
from tui.host import ConsoleHost
from tui.widgets.banner import ConnectionBanner


def bindings(scope: str) -> list[BindingType]:
    """Default bindings of one scope (``app`` or a screen id) with their ids, from the keymap data;
    the user's keymap remaps them by id (``App.set_keymap``)."""
    return [Binding(s.keys, s.action, s.title, show=s.show, id=s.id) for s in Keymap().bindings_for(scope)]


class ConsoleScreen(Screen[None]):
    """A main screen: subclasses compose :meth:`compose_body` and draw in :meth:`show_store`."""

    SCREEN_ID: ClassVar[str] = ""
    SCREEN_TITLE: ClassVar[str] = ""
    # Esc leaves a text field (letters are screen keys again); Textual merges these with the
    # subclasses' bindings
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave_field", "Leave field", show=False)]

    @property
    def console(self) -> ConsoleHost:
        return cast(ConsoleHost, self.app)

    @property
    def store(self) -> ConsoleStore:
        return self.console.store

    @property
    def backend(self) -> Backend:
        return self.console.backend

    def compose(self) -> ComposeResult:
        yield Header(icon="⚡")
        yield ConnectionBanner(id="banner")
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def render_store(self, store: ConsoleStore) -> None:
        banners = self.query(ConnectionBanner)
        if not banners:  # pushed but not composed yet: draw once it is
            self.call_after_refresh(self.render_store, store)
            return
        banners.first().show_connection(store.connection)
        self.show_store(store)

    def show_store(self, store: ConsoleStore) -> None:
        """Draw the store (called at most ``max_render_hz`` times a second, only when it changed)."""

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark_focused_row()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._mark_focused_row()

    def _mark_focused_row(self) -> None:
        """``-focused`` on the form row (``.field``, ``#history-bar``) holding the focus: its label
        is highlighted (console.tcss)."""
        focused = self.focused
        for row in self.query(".field, #history-bar"):
            row.set_class(focused is not None and focused in row.walk_children(), "-focused")

    def action_leave_field(self) -> None:
        if self.focused is not None:
            self.set_focus(None)

    def on_show_screen(self) -> None:
        """Called when the screen becomes the visible one (after a mode switch)."""
