"""JSON from untrusted peers with bounded nesting (REST bodies, WebSocket and MQTT messages).

``json.loads`` recurses once per level: a body nested ~1,000 deep raises ``RecursionError`` (a
500 with a traceback), and deep structures make every later walk over the data costly. No
message of ours is deeper than a few levels, so anything deeper than ``MAX_DEPTH`` is refused
before it is parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # brackets inside strings do not nest
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonTooDeep(ValueError):
    """The text nests arrays/objects deeper than the allowed depth."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        super().__init__(f"JSON nested deeper than {max_depth} levels")


def too_deep(text: str, max_depth: int) -> bool:
    """Whether arrays/objects in ``text`` nest deeper than ``max_depth`` (strings skipped).

    Linear, and it stops at the first bracket too deep: a hostile body costs no more than a
    harmless one of the same size."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if brackets.count("[") + brackets.count("{") <= max_depth:
        return False
    depth = 0
    for char in brackets:
        if char == "[" or char == "{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads_bounded(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises :class:`JsonTooDeep` for nesting deeper than ``max_depth``.

    Other malformed input raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``)
    as ``json.loads`` does; ``RecursionError`` never escapes.
    """
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    if too_deep(text, max_depth):
        raise JsonTooDeep(max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # unreachable for a sane max_depth; kept as the last line of defence
        raise JsonTooDeep(max_depth) from None
