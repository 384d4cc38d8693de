"""MQTT topic filter helpers (pure)."""

from __future__ import annotations


def is_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches an MQTT filter (``+`` one level, ``#`` the rest, incl. the parent).

    As in MQTT 3.1.1 §4.7.2, wildcards at the first level do not match ``$``-topics.
    """
    if topic_filter == topic:
        return True
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    fparts = topic_filter.split("/")
    tparts = topic.split("/")
    for i, part in enumerate(fparts):
        if part == "#":
            return True
        if i >= len(tparts):
            return False
        if part != "+" and part != tparts[i]:
            return False
    return len(fparts) == len(tparts) or (len(fparts) == len(tparts) + 1 and fparts[-1] == "#")


def valid_filter(topic_filter: str) -> bool:
    """A syntactically valid subscription filter (non-empty, ``#`` last and alone, ``+`` alone)."""
    if not topic_filter or "\0" in topic_filter or len(topic_filter.encode()) > 65535:
        return False
    parts = topic_filter.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            return False
        if "+" in part and part != "+":
            return False
    return True
