"""Key bindings as data: action id → keys. Defaults here; a TOML or JSON file overrides them.

File format (TOML)::

    [keys]
    show_fleet = "o"
    help = "f1,question_mark"
    site_1 = "ctrl+1"

or JSON ``{"keys": {"show_fleet": "o"}}`` (a top-level mapping without ``keys`` works too). Keys
use Textual's names (``f1``, ``ctrl+r``, ``question_mark`` …); several keys are comma-separated.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.core.actions import ActionRegistry, default_actions

DEFAULT_KEYS: dict[str, str] = {
    "show_fleet": "f",
    "show_site": "d",
    "show_control": "c",
    "show_sensors": "s",
    "show_history": "h",
    "show_community": "e",
    "pick_site": "p",
    **{f"site_{n}": str(n) for n in range(1, 10)},
    "refresh": "r",
    "toggle_theme": "t",
    "help": "f1,question_mark",
    "quit": "q",
    "send_control": "ctrl+s",
    "prev_day": "left_square_bracket",
    "next_day": "right_square_bracket",
}
# shown in the footer (the rest is on the help screen)
FOOTER: frozenset[str] = frozenset(
    {"show_fleet", "show_site", "show_control", "show_history", "pick_site", "help", "send_control"}
    | {"prev_day", "next_day"}
)


class KeymapError(ValueError):
    """A keymap file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    id: str
    keys: str
    action: str
    title: str
    show: bool
    scope: str


class Keymap:
    """The active keymap: default keys with the user's overrides."""

    def __init__(self, overrides: Mapping[str, str] | None = None, actions: ActionRegistry | None = None):
        self.actions = actions or default_actions()
        self.keys: dict[str, str] = dict(DEFAULT_KEYS)
        for action_id, keys in (overrides or {}).items():
            if action_id not in self.actions:
                raise KeymapError(f"unknown action {action_id!r} (known: {', '.join(sorted(self.keys))})")
            self.keys[action_id] = _normalise(keys, action_id)

    def specs(self) -> list[KeySpec]:
        return [
            KeySpec(spec.id, self.keys[spec.id], spec.action, spec.title, spec.id in FOOTER, spec.scope)
            for spec in self.actions
        ]

    def bindings_for(self, scope: str) -> list[KeySpec]:
        """The key specs of one scope (``app`` or a screen id), for that level's BINDINGS."""
        return [spec for spec in self.specs() if spec.scope == scope]

    def keys_for(self, action_id: str) -> list[str]:
        return [k for k in self.keys[action_id].split(",") if k]

    def display(self, action_id: str) -> str:
        return " / ".join(_pretty(k) for k in self.keys_for(action_id))


def _normalise(keys: Any, action_id: str) -> str:
    if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
        keys = ",".join(keys)
    if not isinstance(keys, str) or not keys.strip():
        raise KeymapError(f"{action_id}: expected a key or a list of keys, got {keys!r}")
    return ",".join(part.strip() for part in keys.split(",") if part.strip())


_PRETTY = {
    "question_mark": "?",
    "escape": "Esc",
    "enter": "Enter",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def _pretty(key: str) -> str:
    return _PRETTY.get(key, key.upper() if key.startswith("f") and key[1:].isdigit() else key)


def load_keymap(path: str | Path) -> Keymap:
    """Read a keymap file (``.toml`` or ``.json``) into a :class:`Keymap`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise KeymapError(f"{file}: cannot read: {err.strerror}") from None
    try:
        data: Any = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as err:
        raise KeymapError(f"{file}: not valid {file.suffix.lstrip('.') or 'TOML'}: {err}") from None
    if not isinstance(data, dict):
        raise KeymapError(f"{file}: expected a table of action = keys")
    keys = data.get("keys", data)
    if not isinstance(keys, dict):
        raise KeymapError(f"{file}: [keys] must be a table of action = keys")
    try:
        return Keymap({str(k): v for k, v in keys.items()})
    except KeymapError as err:
        raise KeymapError(f"{file}: {err}") from None
