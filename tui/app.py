"""``phoenyra-tui``: the technician's console. Talks to the daemon only through
``phoenyra_ems.client.PhoenyraClient``; all state lives in ``tui.core`` (no Textual there)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import BindingType
from textual.screen import Screen

from phoenyra_ems.client import PhoenyraAuthError, PhoenyraClient, PhoenyraError
from tui.commands import ConsoleCommands
from tui.core.backend import Backend
from tui.core.coalesce import RenderThrottle
from tui.core.connection import ConnectionManager, make_client
from tui.core.keymap import Keymap
from tui.core.settings import THEMES, Settings, SettingsError, resolve_settings
from tui.core.store import ConsoleStore
from tui.screens.base import ConsoleScreen, bindings
from tui.screens.community import CommunityScreen
from tui.screens.control import ControlScreen
from tui.screens.fleet import FleetScreen
from tui.screens.help import HelpScreen
from tui.screens.history import HistoryScreen
from tui.screens.picker import SitePicker
from tui.screens.sensors import SensorsScreen
from tui.screens.site import SiteScreen

TICK_S = 0.1
EXIT_USAGE = 2


class PhoenyraConsole(App[int]):
    TITLE = "Phoenyra EMS"
    CSS_PATH = "styles/console.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("app")
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        "fleet": FleetScreen,
        "site": SiteScreen,
        "control": ControlScreen,
        "sensors": SensorsScreen,
        "history": HistoryScreen,
        "community": CommunityScreen,
    }

    def __init__(
        self,
        backend: Backend,
        *,
        keymap: Keymap | None = None,
        theme: str = "dark",
        max_render_hz: float = 4.0,
        start_screen: str = "fleet",
    ) -> None:
        super().__init__()
        self.backend = backend
        self.store = backend.store
        self.keymap = keymap or Keymap()
        self.throttle = RenderThrottle(max_render_hz)
        self._theme_name = theme
        self._start_screen = start_screen
        self.current_screen_id = start_screen

    # --- lifecycle ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.theme = THEMES.get(self._theme_name, self._theme_name)
        self.set_keymap({s.id: s.keys for s in self.keymap.specs()})
        self.switch_mode(self._start_screen)
        self.run_worker(self.backend.run(), name="backend", group="backend", exit_on_error=False)
        self.set_interval(TICK_S, self._tick)

    async def on_unmount(self) -> None:
        await self.backend.stop()

    def _console_screen(self) -> ConsoleScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ConsoleScreen):
                return screen
        return None

    def _tick(self) -> None:
        now = time.monotonic()
        if self.throttle.due(self.store.version, now):
            self.render_now()
            self.throttle.mark(self.store.version, now)

    def render_now(self) -> None:
        """Draw the store on the visible main screen (normally from the coalescing timer)."""
        screen = self._console_screen()
        site = self.store.site_name(self.store.current_site)
        user = f" · {self.store.info.user} ({self.store.info.role})" if self.store.info else ""
        title = screen.SCREEN_TITLE if screen else ""
        self.sub_title = f"{site} · {title}{user}"
        if screen is not None and screen.is_mounted:
            screen.render_store(self.store)

    # --- actions ------------------------------------------------------------------------------
    def action_show(self, screen_id: str) -> None:
        if screen_id not in self.MODES:
            return
        while len(self.screen_stack) > 1 and not isinstance(self.screen, ConsoleScreen):
            self.pop_screen()
        self.current_screen_id = screen_id
        self.switch_mode(screen_id)
        self.call_after_refresh(self._shown)

    def _shown(self) -> None:
        screen = self._console_screen()
        if screen is not None:
            screen.on_show_screen()
        self.throttle.invalidate()
        self.render_now()
        self.throttle.mark(self.store.version, time.monotonic())

    def switch_site_id(self, site_id: str) -> None:
        self.backend.select_site(site_id)
        self.throttle.invalidate()

    def action_switch_site(self, number: int) -> None:
        site_id = self.store.site_by_number(number)
        if site_id is None:
            self.notify(f"no site {number}", severity="warning", timeout=2)
            return
        self.switch_site_id(site_id)

    def action_pick_site(self) -> None:
        if not self.store.sites:
            self.notify("no sites yet", severity="warning", timeout=2)
            return

        def picked(site_id: str | None) -> None:
            if site_id:
                self.switch_site_id(site_id)

        self.push_screen(SitePicker(self.store), picked)

    def action_refresh_data(self) -> None:
        self.backend.request_refresh()
        self.throttle.invalidate()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.throttle.invalidate()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap))


def build_app(settings: Settings) -> PhoenyraConsole:
    store = ConsoleStore(settings.url)

    def factory() -> PhoenyraClient:
        return make_client(settings.url, settings.token)

    backend = ConnectionManager(store, factory)
    return PhoenyraConsole(
        backend, keymap=settings.keymap, theme=settings.theme, max_render_hz=settings.max_render_hz
    )


async def check_token(url: str, token: str) -> str | None:
    """``None`` when the token is accepted or the daemon cannot be reached (the console starts
    and retries); otherwise the message to print (a refused token)."""
    try:
        async with make_client(url, token) as client:
            await client.info()
    except PhoenyraAuthError as err:
        return (
            f"the daemon at {url} refused the API token ({err.message}); "
            "create one with `phoenyra-ems user token NAME`"
        )
    except PhoenyraError:
        return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = resolve_settings(argv, os.environ)
        PhoenyraClient.from_url(settings.url, token=settings.token)  # a valid URL?
    except (SettingsError, ValueError) as err:
        print(f"phoenyra-tui: {err}", file=sys.stderr)
        return EXIT_USAGE
    problem = asyncio.run(check_token(settings.url, settings.token))
    if problem is not None:
        print(f"phoenyra-tui: {problem}", file=sys.stderr)
        return EXIT_USAGE
    app = build_app(settings)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
