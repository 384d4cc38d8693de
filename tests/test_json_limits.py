"""Bounded JSON parsing shared by the API (and, later, the MQTT command path)."""

from __future__ import annotations

import json

import pytest

from phoenyra_ems.api.json_limits import JsonTooDeep, loads_bounded, too_deep


def test_nesting_beyond_the_bound_is_refused_before_parsing() -> None:
    assert loads_bounded("[" * 32 + "]" * 32) == json.loads("[" * 32 + "]" * 32)
    with pytest.raises(JsonTooDeep, match="deeper than 32 levels"):
        loads_bounded("[" * 33 + "]" * 33)
    with pytest.raises(JsonTooDeep):
        loads_bounded(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)  # no RecursionError


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": "[[[[{{{{" * 50 + 'escaped \\" quote ]]]'})
    assert not too_deep(text, 1) and too_deep("[" + text + "]", 1)
    assert loads_bounded(text)["note"].startswith("[[[[")


def test_malformed_json_is_a_value_error() -> None:
    for bad in ("{", "not json", b"\xff"):
        with pytest.raises(ValueError):
            loads_bounded(bad)
