"""Help (F1 / ?): every action with its current keys, from the keymap data."""

from __future__ import annotations

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
    ("History", "Tab", "to the date field: type YYYY-MM-DD + Enter"),
    ("Tables", "↑ ↓ Enter", "move, open the site"),
    ("Anywhere", "ctrl+p", "palette: 'Switch to site …', screens"),
)


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
            text.append(f"  {keys:<18} {what}\n")

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

    def action_close(self) -> None:
        self.dismiss(None)
