"""What every discovery format shares: payload checks, numbers, device keys, rejection logging."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..connection import Handler, Subscription

log = logging.getLogger("phoenyra_ems.mqtt.discovery")

MAX_PAYLOAD_BYTES = 64 * 1024
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_HEX = re.compile(r"[0-9a-fA-F]{12}")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


class Rejected(Exception):
    """A message that cannot be used; the reason is logged with its topic."""


class Subscriber(Protocol):
    """What discovery needs from a connection (``MqttConnection`` satisfies it)."""

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 0) -> Subscription: ...

    def unsubscribe(self, sub: Subscription) -> None: ...


class Rejections:
    """Logs rejected messages at WARNING with their topic, at most once per topic per interval."""

    def __init__(
        self,
        logger: logging.Logger = log,
        *,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_topics: int = 10_000,
    ) -> None:
        self._log = logger
        self._interval = interval_s
        self._clock = clock
        self._max_topics = max_topics
        self._last: dict[str, tuple[float, int]] = {}
        self.count = 0
        self.recent: deque[tuple[str, str]] = deque(maxlen=100)  # (topic, reason), newest last

    def __call__(self, topic: str, reason: str) -> None:
        self.count += 1
        self.recent.append((topic[:256], reason))
        now = self._clock()
        last, suppressed = self._last.get(topic, (-math.inf, 0))
        if now - last < self._interval:
            self._last[topic] = (last, suppressed + 1)
            return
        if len(self._last) >= self._max_topics:
            self._last.clear()
        self._last[topic] = (now, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        self._log.warning("rejected MQTT message on %r: %s%s", topic[:256], reason, more)


def check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")


def decode_text(payload: bytes) -> str:
    check_size(payload)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("payload is not UTF-8 text") from None


def _no_constant(name: str) -> Any:
    raise Rejected(f"JSON contains {name}")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def loads(text: str) -> Any:
    """``json.loads`` that rejects NaN/Infinity and reports every failure as ``Rejected``."""
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"invalid JSON: {str(exc)[:80]}") from None


def decode_json_object(payload: bytes) -> dict[str, Any]:
    data = loads(decode_text(payload))
    if not isinstance(data, dict):
        raise Rejected(f"expected a JSON object, got {type(data).__name__}")
    return data


def to_number(raw: object) -> float:
    """A finite float from a JSON number or numeric text; anything else is ``Rejected``."""
    if isinstance(raw, bool):
        raise Rejected("expected a number, got a boolean")
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            raise Rejected("number out of range") from None
    elif isinstance(raw, str):
        text = raw.strip()
        if not _NUMBER.fullmatch(text):
            raise Rejected(f"not a number: {text[:40]!r}")
        value = float(text)
    else:
        raise Rejected(f"expected a number, got {type(raw).__name__}")
    if not math.isfinite(value):
        raise Rejected(f"not a finite number: {value}")
    return value


def opt_str(data: dict[str, Any], key: str, limit: int = 200) -> str | None:
    """An optional string field; a wrong type is ``Rejected``."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejected(f"{key!r} must be a string, got {type(value).__name__}")
    return str(value)[:limit]


def opt_seconds(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    seconds = to_number(value)
    if seconds < 0:
        raise Rejected(f"{key!r} must not be negative")
    return seconds or None  # 0 means "never expires" in HA


def normalize_mac(text: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` / ``AABBCCDDEEFF`` / ``aa-bb-…`` → ``aabbccddeeff``; None if not a MAC."""
    compact = text.replace(":", "").replace("-", "").replace(".", "").strip()
    return compact.lower() if _HEX.fullmatch(compact) else None


def safe_key(text: str, limit: int = 64) -> str:
    """A device key or object id safe in ids and URLs: ``[A-Za-z0-9_.-]``, at most ``limit`` chars."""
    return _KEY_UNSAFE.sub("_", text)[:limit] or "_"


def valid_topic(topic: object) -> bool:
    """A topic we can subscribe to exactly: a non-empty string without wildcards or NUL."""
    return isinstance(topic, str) and 0 < len(topic) <= 1024 and not any(c in topic for c in "+#\0")


class FormatHandler:
    """Base of the three formats: guarded handlers and shared exact-topic routes.

    Many sensors can read one topic (a Tasmota ``tele/x/SENSOR``, an ESPHome ``<node>/status``):
    ``route(topic, owner)`` subscribes a topic once and remembers its owners; ``unroute(owner)``
    drops an owner everywhere and unsubscribes topics nobody reads any more.
    """

    def __init__(
        self, subscriber: Subscriber, rejections: Rejections, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._subscriber = subscriber
        self.reject = rejections
        self._clock = clock
        self._last: dict[str, tuple[bytes, bool, float]] = {}  # routed topic -> last message
        self._owners: dict[str, dict[str, None]] = {}  # topic -> owners (ordered set)
        self._subs: dict[str, Subscription] = {}
        self._routed: dict[str, set[str]] = {}  # owner -> topics

    @property
    def filters(self) -> list[str]:
        """The topic filters this format listens to."""
        raise NotImplementedError

    def handle(self, topic: str, payload: bytes, retain: bool) -> None:
        """One message on a filter topic; raises Rejected (logged, counted) for a bad one."""
        raise NotImplementedError

    def attach(self) -> None:
        """Subscribe the format's filters; every message goes through ``guarded(handle)``."""
        handler = self.guarded(self.handle)
        for topic_filter in self.filters:
            self._subscriber.subscribe(topic_filter, handler)

    def guarded(self, fn: Callable[[str, bytes, bool], None]) -> Handler:
        def handler(topic: str, payload: bytes, retain: bool) -> None:
            try:
                fn(topic, payload, retain)
            except Rejected as exc:
                self.reject(topic, str(exc))
            except Exception as exc:  # a bug must not cost the connection: log it with the topic
                log.debug("discovery handler failed on %r", topic, exc_info=True)
                self.reject(topic, f"internal error {type(exc).__name__}: {str(exc)[:120]}")

        return handler

    def on_routed(self, topic: str, payload: bytes, retain: bool, owners: list[str], age_s: float) -> None:
        """A message on a routed topic for these owners (``age_s`` > 0 when replayed)."""
        raise NotImplementedError

    def route(self, topic: str, owner: str) -> None:
        """Deliver ``topic`` to ``owner``; a topic already subscribed replays its last message.

        (The broker sends a retained message only on the first subscription: a second sensor on
        ``<node>/status`` would otherwise never learn that its node is online.)
        """
        owners = self._owners.setdefault(topic, {})
        new_owner = owner not in owners
        owners[owner] = None
        self._routed.setdefault(owner, set()).add(topic)
        if topic not in self._subs:

            def dispatch(t: str, p: bytes, r: bool) -> None:
                self._last[t] = (p, r, self._clock())
                self.on_routed(t, p, r, list(self._owners.get(t, ())), 0.0)

            self._subs[topic] = self._subscriber.subscribe(topic, self.guarded(dispatch))
        elif new_owner and topic in self._last:
            payload, retain, at = self._last[topic]
            age = max(0.0, self._clock() - at)
            self.guarded(lambda t, p, r: self.on_routed(t, p, r, [owner], age))(topic, payload, retain)

    def reroute(self, owner: str, topics: Iterable[str]) -> None:
        """Make ``topics`` exactly the owner's routes (no unsubscribe/subscribe churn for kept ones)."""
        wanted = set(topics)
        for topic in wanted:
            self.route(topic, owner)
        self._drop(owner, self._routed.get(owner, set()) - wanted)

    def unroute(self, owner: str) -> None:
        self._drop(owner, set(self._routed.get(owner, set())))

    def _drop(self, owner: str, topics: set[str]) -> None:
        routed = self._routed.get(owner, set())
        routed -= topics
        if not routed:
            self._routed.pop(owner, None)
        for topic in topics:
            owners = self._owners.get(topic)
            if owners is None:
                continue
            owners.pop(owner, None)
            if not owners:
                del self._owners[topic]
                self._last.pop(topic, None)
                sub = self._subs.pop(topic, None)
                if sub is not None:
                    self._subscriber.unsubscribe(sub)

    @property
    def routed_topics(self) -> list[str]:
        return sorted(self._subs)
