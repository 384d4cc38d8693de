"""Help (F1 / ?): every action with its current keys, from the keymap data."""

from __future__ import annotations

import textwrap
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.core.keymap import Keymap

SCREEN_KEYS = (
    ("Control", "Enter", "in a field: send (after a confirmation)"),
    ("Control", "Tab / shift+Tab", "next / previous field"),
    ("Fields", "Esc", "leave the text field (screen keys work again)"),
    ("History", "Tab", "to the date field: type YYYY-MM-DD + Enter"),
    ("Tables", "↑ ↓ Enter", "move, open the site"),
    ("Anywhere", "ctrl+p", "palette: 'Switch to site …', screens"),
)


KEYS_WIDTH = 18
INDENT = 2 + KEYS_WIDTH + 1  # where the descriptions start
TEXT_WIDTH = 66  # #help-box: 72 wide, less border (2), padding (2) and the scrollbar (2)
MORE = "↓ more: ↑ ↓ PgUp PgDn"
END = "end · ↑ PgUp to go back"


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "close", "Close", id="help_close")
    ]

    def __init__(self, keymap: Keymap) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys (Esc closes) — remap with --keymap FILE"
            yield Static(self._text(), id="help-text")

    def _text(self) -> Text:
        """Plain text (no markup: keys like ``[`` are shown as they are)."""
        text = Text()

        def heading(title: str) -> None:
            text.append(f"{title}\n", style="bold")

        def row(keys: str, what: str) -> None:
            lead = f"  {keys:<{KEYS_WIDTH}} "
            wrapped = textwrap.wrap(what, TEXT_WIDTH - max(len(lead), INDENT)) or [""]
            text.append(lead + wrapped[0] + "\n")
            for line in wrapped[1:]:  # a hanging indent: under the description, not at column 0
                text.append(" " * INDENT + line + "\n")

        for group, specs in self.keymap.actions.groups().items():
            heading(group)
            if group == "Sites":
                row(" ".join(self.keymap.display(f"site_{n}") for n in range(1, 10)), "switch to site 1 … 9")
                row(self.keymap.display("pick_site"), "site picker")
                continue
            for spec in specs:
                row(self.keymap.display(spec.id), spec.help or spec.title)
        heading("On screens")
        for where, keys, what in SCREEN_KEYS:
            row(keys, f"{where}: {what}")
        text.rstrip()
        return text

    def on_mount(self) -> None:
        box = self.query_one("#help-box", VerticalScroll)
        box.focus()  # arrows, PgUp/PgDn, Home/End scroll it
        self.watch(box, "scroll_y", self._scrolled, init=False)
        self.call_after_refresh(self._scrolled)

    def _scrolled(self, _: float | None = None) -> None:
        """The hint in the bottom border: more below, or the end."""
        box = self.query_one("#help-box", VerticalScroll)
        if box.max_scroll_y <= 0:
            box.border_subtitle = None
        else:
            box.border_subtitle = END if box.scroll_y >= box.max_scroll_y else MORE

    def action_close(self) -> None:
        self.dismiss(None)
