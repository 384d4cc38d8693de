"""What screens and the command palette need from the console app: a small protocol, so that
they depend on it rather than on ``tui.app`` (which imports them)."""

from __future__ import annotations

from typing import Protocol

from tui.core.backend import Backend
from tui.core.store import ConsoleStore


class ConsoleHost(Protocol):
    """The running console as its screens see it (implemented by ``tui.app.PhoenyraConsole``)."""

    store: ConsoleStore
    backend: Backend
    current_screen_id: str

    @property
    def theme(self) -> str: ...

    def render_now(self) -> None:
        """Draw the store on the visible screen now (not at the next coalescing tick)."""

    def switch_site_id(self, site_id: str) -> None:
        """Make ``site_id`` the current site."""

    def action_show(self, screen_id: str) -> None:
        """Show one of the main screens (``fleet``, ``site`` …)."""
