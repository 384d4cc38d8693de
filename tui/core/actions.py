"""The console's actions as data: an id, its default keys, a title for the footer, the help screen
and the command palette, and whether the footer shows it — all in one place.

The keymap (``tui.core.keymap``) starts from these keys and lets a user remap them by id; the
Textual app implements each action as ``action_<name>`` (with an optional argument, e.g.
``switch_site(3)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActionSpec:
    id: str  # binding id and keymap key
    action: str  # Textual action string: "switch_site(1)", "show('fleet')"
    title: str  # shown in the footer, the help screen and the command palette
    group: str  # help-screen section
    keys: str = ""  # default keys, Textual names, comma-separated ("f1,question_mark")
    footer: bool = False  # shown in the footer (every action is on the help screen)
    scope: str = "app"  # "app": everywhere; else the screen id whose bindings carry it
    help: str = ""  # longer text for the help screen (default: the title)


class ActionRegistry:
    """Every action the console offers, in the order of the help screen."""

    def __init__(self, actions: list[ActionSpec] | None = None) -> None:
        self._actions: dict[str, ActionSpec] = {}
        for spec in actions or []:
            self.register(spec)

    def register(self, spec: ActionSpec) -> None:
        if spec.id in self._actions:
            raise ValueError(f"duplicate action id {spec.id!r}")
        self._actions[spec.id] = spec

    def get(self, action_id: str) -> ActionSpec:
        return self._actions[action_id]

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._actions

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)

    def groups(self) -> dict[str, list[ActionSpec]]:
        out: dict[str, list[ActionSpec]] = {}
        for spec in self._actions.values():
            out.setdefault(spec.group, []).append(spec)
        return out


SCREENS: dict[str, str] = {
    "fleet": "Fleet overview",
    "site": "Site dashboard",
    "control": "Control panel",
    "sensors": "Sensors",
    "history": "History",
    "community": "Energy community",
}


def default_actions() -> ActionRegistry:
    actions = [
        ActionSpec("show_fleet", "show('fleet')", "Fleet", "Screens", keys="f", footer=True),
        ActionSpec("show_site", "show('site')", "Site", "Screens", keys="d", footer=True),
        ActionSpec("show_control", "show('control')", "Control", "Screens", keys="c", footer=True),
        ActionSpec("show_sensors", "show('sensors')", "Sensors", "Screens", keys="s"),
        ActionSpec("show_history", "show('history')", "History", "Screens", keys="h", footer=True),
        ActionSpec("show_community", "show('community')", "Community", "Screens", keys="e"),
        ActionSpec("pick_site", "pick_site", "Sites", "Sites", keys="p", footer=True),
        *(
            ActionSpec(f"site_{n}", f"switch_site({n})", f"Site {n}", "Sites", keys=str(n))
            for n in range(1, 10)
        ),
        ActionSpec(
            "refresh", "refresh_data", "Refresh", "General", keys="r", help="refresh now / retry the daemon"
        ),
        ActionSpec("toggle_theme", "toggle_theme", "Theme", "General", keys="t", help="light / dark theme"),
        ActionSpec("help", "help", "Help", "General", keys="f1,question_mark", footer=True),
        ActionSpec("quit", "quit", "Quit", "General", keys="q"),
        ActionSpec(
            "send_control", "send", "Send", "Control", keys="ctrl+s", footer=True, scope="control",
            help="send (after a confirmation)",
        ),
        ActionSpec(
            "prev_day", "shift_day(-1)", "Prev", "History", keys="left_square_bracket", footer=True,
            scope="history", help="previous day",
        ),
        ActionSpec(
            "next_day", "shift_day(1)", "Next", "History", keys="right_square_bracket", footer=True,
            scope="history", help="next day",
        ),
    ]  # fmt: skip
    return ActionRegistry(actions)
