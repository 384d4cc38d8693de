"""The value templates edge firmware really sends, evaluated without Jinja.

Supported (whitespace free, as in Jinja)::

    {{ value }}                         the payload text
    {{ value_json }}                    the payload as JSON
    {{ value_json.A.B }}                attribute path
    {{ value_json['A']["B"][0] }}       item path (string keys or list indexes), mixable with .A
    … | float   … | float(0)            to float (with a default when it is not a number)
    … | int     … | int(0)              to int (via float, as Jinja: "3.7" → 3)
    … | round   … | round(1)            Python's round, default precision 0

Anything else (other filters, expressions, ``{% %}`` blocks) is a ``TemplateError`` at compile
time; the discovery marks such a sensor as erroneous instead of guessing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

_WHOLE = re.compile(r"\s*\{\{(?P<body>.*)\}\}\s*", re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ITEM = re.compile(r"""\[\s*(?:'(?P<s1>[^'\\]*)'|"(?P<s2>[^"\\]*)"|(?P<int>-?\d+))\s*\]""")
_FILTER = re.compile(r"\|\s*(?P<name>float|int|round)\s*(?:\(\s*(?P<arg>[+-]?\d+(?:\.\d+)?)?\s*\))?\s*")
_MISSING = object()


class TemplateError(ValueError):
    """A template we do not evaluate (unsupported syntax)."""


class TemplateValueError(ValueError):
    """A supported template that could not be applied to this payload."""


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    use_json: bool
    path: tuple[str | int, ...]
    filters: tuple[tuple[str, float | None], ...]

    def render(self, payload: str, parsed: Any = _MISSING) -> Any:
        """Apply to a payload's text (``parsed``: its JSON when already decoded)."""
        if not self.use_json:
            value: Any = payload
        else:
            if parsed is _MISSING:
                try:
                    parsed = json.loads(payload)
                except (ValueError, RecursionError):
                    raise TemplateValueError("payload is not JSON") from None
            value = parsed
            for step in self.path:
                value = _step(value, step)
        for name, arg in self.filters:
            value = _apply(name, arg, value)
        return value


def _step(value: Any, step: str | int) -> Any:
    if isinstance(step, int):
        if isinstance(value, list) and -len(value) <= step < len(value):
            return value[step]
    elif isinstance(value, dict) and step in value:
        return value[step]
    raise TemplateValueError(f"no {step!r} in the payload")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _apply(name: str, arg: float | None, value: Any) -> Any:
    number = _as_float(value)
    if name == "round":
        if number is None:
            raise TemplateValueError(f"round of a non-number {str(value)[:40]!r}")
        if not math.isfinite(number):
            return number
        return round(number, int(arg or 0))
    if number is None or not math.isfinite(number):
        if arg is not None:
            return float(arg) if name == "float" else int(arg)
        raise TemplateValueError(f"{name} of a non-number {str(value)[:40]!r}")
    return number if name == "float" else int(number)


def compile_template(source: str) -> Template:
    """Parse one of the supported forms (module docstring) or raise ``TemplateError``."""
    if not isinstance(source, str) or len(source) > 1000:
        raise TemplateError("template must be a string of at most 1000 characters")
    whole = _WHOLE.fullmatch(source)
    if whole is None or "{{" in whole["body"] or "}}" in whole["body"]:
        raise TemplateError(f"unsupported template {source[:80]!r}")
    body = whole["body"].strip()
    ident = _IDENT.match(body)
    if ident is None or ident.group() not in ("value", "value_json"):
        raise TemplateError(f"unsupported template {source[:80]!r}: only value / value_json")
    use_json = ident.group() == "value_json"
    pos = ident.end()
    path: list[str | int] = []
    while pos < len(body) and body[pos] in ".[":
        if not use_json:
            raise TemplateError(f"unsupported template {source[:80]!r}: value has no attributes")
        if body[pos] == ".":
            attr = _IDENT.match(body, pos + 1)
            if attr is None:
                raise TemplateError(f"unsupported template {source[:80]!r}")
            path.append(attr.group())
            pos = attr.end()
        else:
            item = _ITEM.match(body, pos)
            if item is None:
                raise TemplateError(f"unsupported template {source[:80]!r}")
            if item["int"] is not None:
                path.append(int(item["int"]))
            else:
                path.append(item["s1"] if item["s1"] is not None else item["s2"])
            pos = item.end()
    rest = body[pos:].strip()
    filters: list[tuple[str, float | None]] = []
    while rest:
        flt = _FILTER.match(rest)
        if flt is None:
            raise TemplateError(f"unsupported template {source[:80]!r}: near {rest[:30]!r}")
        arg = flt["arg"]
        filters.append((flt["name"], float(arg) if arg is not None else None))
        rest = rest[flt.end() :]
    return Template(source, use_json, tuple(path), tuple(filters))
