"""The console's actions as data: an id, a title for the help screen and the command palette.

Key bindings (``tui.core.keymap``) refer to these ids; the Textual app implements each one as
``action_<id>`` (with an optional argument, e.g. ``switch_site(3)``).
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
        ActionSpec("show_fleet", "show('fleet')", "Fleet", "Screens"),
        ActionSpec("show_site", "show('site')", "Site", "Screens"),
        ActionSpec("show_control", "show('control')", "Control", "Screens"),
        ActionSpec("show_sensors", "show('sensors')", "Sensors", "Screens"),
        ActionSpec("show_history", "show('history')", "History", "Screens"),
        ActionSpec("show_community", "show('community')", "Community", "Screens"),
        ActionSpec("pick_site", "pick_site", "Sites", "Sites"),
        *(ActionSpec(f"site_{n}", f"switch_site({n})", f"Site {n}", "Sites") for n in range(1, 10)),
        ActionSpec("refresh", "refresh_data", "Refresh", "General", help="refresh now / retry the daemon"),
        ActionSpec("toggle_theme", "toggle_theme", "Theme", "General", help="light / dark theme"),
        ActionSpec("help", "help", "Help", "General"),
        ActionSpec("quit", "quit", "Quit", "General"),
        ActionSpec(
            "send_control", "send", "Send", "Control", scope="control", help="send (after a confirmation)"
        ),
        ActionSpec("prev_day", "shift_day(-1)", "Prev", "History", scope="history", help="previous day"),
        ActionSpec("next_day", "shift_day(1)", "Next", "History", scope="history", help="next day"),
    ]
    return ActionRegistry(actions)
