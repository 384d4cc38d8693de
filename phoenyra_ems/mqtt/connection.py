"""One resilient MQTT connection per broker (aiomqtt), shared by telemetry, commands and discovery.

* ``start()`` runs a background task that connects, and reconnects after any loss with exponential
  backoff (0.2 s doubling to 3 s, ±20 % jitter: a broker that is back is found within 3.6 s),
  forever, until ``stop()``.
* After each connect it subscribes every registered filter again and publishes the birth message
  (retained); the last will is set on the client, so the broker publishes it when we vanish.
* ``subscribe(filter, handler)`` registers a synchronous ``handler(topic, payload, retain)``; a
  handler that raises is logged with the topic (rate-limited) and never kills the connection.
* ``publish()`` while disconnected: QoS 0 non-retained messages (telemetry: the next one supersedes
  them) are dropped with a debug log; retained or QoS ≥ 1 messages are kept, latest per topic, up
  to ``max_pending`` topics (the oldest go first), and sent after the next connect.
* ``stop()`` publishes the will's topic with its payload (the clean "offline") and disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiomqtt

from ..tasks import cancel_and_wait
from .topics import is_wildcard, topic_matches, valid_filter

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes, bool], None]
Payload = str | bytes | None


class LastMessage(NamedTuple):
    """A will or birth message: ``(topic, payload, retain)``."""

    topic: str
    payload: Payload
    retain: bool = True


@dataclass(eq=False, slots=True)
class Subscription:
    topic_filter: str
    handler: Handler
    qos: int = 0
    active: bool = field(default=True)


class _Pending(NamedTuple):
    payload: Payload
    retain: bool
    qos: int


class MqttConnection:
    """A reconnecting MQTT client with handler dispatch; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool | ssl.SSLContext = False,
        client_id: str | None = None,
        will: tuple[str, Payload, bool] | None = None,
        birth: tuple[str, Payload, bool] | None = None,
        keepalive: int = 30,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 3.0,
        max_pending: int = 1000,
        max_incoming: int = 100_000,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._tls = tls
        self.client_id = client_id
        self.will = LastMessage(*will) if will is not None else None
        self.birth = LastMessage(*birth) if birth is not None else None
        self._keepalive = keepalive
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._max_pending = max_pending
        self._max_incoming = max_incoming
        self._timeout = timeout_s
        self._exact: dict[str, list[Subscription]] = {}
        self._wild: dict[str, list[Subscription]] = {}
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._bg: set[asyncio.Task[object]] = set()
        self._handler_errors: dict[tuple[str, str], float] = {}
        self.connected_event = asyncio.Event()
        self.disconnected_event = asyncio.Event()
        self.disconnected_event.set()
        self.connects = 0  # successful connects so far (a reconnect makes it 2, …)
        self.messages_received = 0
        self.last_error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}:{self.username or ''}"

    @property
    def connected(self) -> bool:
        return self.connected_event.is_set()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<MqttConnection {self.host}:{self.port} {state}>"

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see ``wait_connected``)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"mqtt {self.host}:{self.port}")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.connected_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Publish the offline status (the will, retained), disconnect cleanly, end the task."""
        self._stopping = True
        client = self._client
        if client is not None and self.connected and self.will is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(
                    self.will.topic, self.will.payload, qos=1, retain=self.will.retain, timeout=2.0
                )
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task, f"MQTT {self.host}:{self.port} connection task")
        for bg in list(self._bg):
            bg.cancel()
        self._set_disconnected()

    def _make_client(self) -> aiomqtt.Client:
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=self.will.retain)
        tls_context = None
        if self._tls is True:
            tls_context = ssl.create_default_context()
        elif isinstance(self._tls, ssl.SSLContext):
            tls_context = self._tls
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self._password,
            identifier=self.client_id,
            will=will,
            keepalive=self._keepalive,
            timeout=self._timeout,
            tls_context=tls_context,
            max_queued_incoming_messages=self._max_incoming,
        )

    async def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopping:
            try:
                client = self._make_client()
                async with client:
                    if self._stopping:  # connected although stop() cancelled us (see cancel_and_wait)
                        break
                    delay = self._backoff[0]
                    await self._on_connected(client)
                    async for message in client.messages:
                        if self._stopping:
                            break
                        self._dispatch(message)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.warning("MQTT %s:%s: connection lost: %s", self.host, self.port, exc)
                else:
                    log.info("MQTT %s:%s: cannot connect: %s", self.host, self.port, exc)
                self.last_error = str(exc)
            except Exception:  # never let the connection task die: log and retry
                log.exception("MQTT %s:%s: unexpected error", self.host, self.port)
            finally:
                self._set_disconnected()
            if self._stopping:
                break
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._backoff[1])

    async def _on_connected(self, client: aiomqtt.Client) -> None:
        filters = self._filters()
        self._client = client  # from here on subscribe() sends its own SUBSCRIBE
        if filters:
            await client.subscribe([(f, q) for f, q in filters.items()])
        if self.birth is not None:
            await client.publish(self.birth.topic, self.birth.payload, qos=1, retain=self.birth.retain)
        while self._pending:
            topic, msg = self._pending.popitem(last=False)
            await client.publish(topic, msg.payload, qos=msg.qos, retain=msg.retain)
        self.connects += 1
        self.last_error = None
        self.disconnected_event.clear()
        self.connected_event.set()
        log.info("MQTT %s:%s: connected (%d subscriptions)", self.host, self.port, len(filters))

    def _set_disconnected(self) -> None:
        self._client = None
        self.connected_event.clear()
        self.disconnected_event.set()

    # --- subscriptions ---------------------------------------------------------------------------

    def _filters(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in (self._exact, self._wild):
            for topic_filter, subs in table.items():
                out[topic_filter] = max(s.qos for s in subs)
        return out

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 0) -> Subscription:
        """Call ``handler(topic, payload, retain)`` for every message matching the filter.

        Registered filters survive reconnects; several handlers may share one filter.
        """
        if not valid_filter(topic_filter):
            raise ValueError(f"invalid MQTT topic filter {topic_filter!r}")
        sub = Subscription(topic_filter, handler, qos)
        table = self._wild if is_wildcard(topic_filter) else self._exact
        subs = table.setdefault(topic_filter, [])
        first = not subs
        subs.append(sub)
        if first and self._client is not None:
            self._background(self._send_subscribe(self._client, topic_filter, qos))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.active = False
        table = self._wild if is_wildcard(sub.topic_filter) else self._exact
        subs = table.get(sub.topic_filter)
        if not subs or sub not in subs:
            return
        subs.remove(sub)
        if not subs:
            del table[sub.topic_filter]
            if self._client is not None:
                self._background(self._send_unsubscribe(self._client, sub.topic_filter))

    @property
    def subscriptions(self) -> list[str]:
        return sorted(self._filters())

    async def _send_subscribe(self, client: aiomqtt.Client, topic_filter: str, qos: int) -> None:
        try:
            await client.subscribe(topic_filter, qos)
        except aiomqtt.MqttError as exc:  # the reconnect subscribes it again
            log.debug("MQTT subscribe %r failed: %s", topic_filter, exc)

    async def _send_unsubscribe(self, client: aiomqtt.Client, topic_filter: str) -> None:
        try:
            await client.unsubscribe(topic_filter)
        except aiomqtt.MqttError as exc:
            log.debug("MQTT unsubscribe %r failed: %s", topic_filter, exc)

    def _background(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # --- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, message: aiomqtt.Message) -> None:
        self.messages_received += 1
        topic = message.topic.value
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = b"" if payload is None else str(payload).encode()
        retain = bool(message.retain)
        subs = list(self._exact.get(topic, ()))
        for topic_filter, wild in self._wild.items():
            if topic_matches(topic_filter, topic):
                subs.extend(wild)
        for sub in subs:
            if not sub.active:
                continue
            try:
                sub.handler(topic, payload, retain)
            except Exception:
                self._log_handler_error(sub, topic)

    def _log_handler_error(self, sub: Subscription, topic: str) -> None:
        key = (sub.topic_filter, topic)
        now = time.monotonic()
        if now - self._handler_errors.get(key, -1e9) < 60.0:
            return
        if len(self._handler_errors) > 10_000:
            self._handler_errors.clear()
        self._handler_errors[key] = now
        log.exception("MQTT handler for %r failed on topic %r", sub.topic_filter, topic)

    # --- publishing ------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: Payload, retain: bool = False, qos: int = 0) -> bool:
        """Publish; True when handed to the broker connection, False when dropped or queued."""
        client = self._client
        if client is not None and self.connected:
            try:
                await client.publish(topic, payload, qos=qos, retain=retain)
                return True
            except aiomqtt.MqttError as exc:
                log.debug("MQTT publish to %r failed: %s", topic, exc)
        self._keep(topic, payload, retain, qos)
        return False

    def publish_nowait(self, topic: str, payload: Payload, retain: bool = False, qos: int = 0) -> None:
        """``publish`` from synchronous code (a handler): scheduled on the running loop."""
        self._background(self.publish(topic, payload, retain, qos))

    def _keep(self, topic: str, payload: Payload, retain: bool, qos: int) -> None:
        if qos == 0 and not retain:
            log.debug("MQTT not connected: dropped QoS 0 message to %r", topic)
            return
        self._pending.pop(topic, None)
        self._pending[topic] = _Pending(payload, retain, qos)
        while len(self._pending) > self._max_pending:
            dropped, _ = self._pending.popitem(last=False)
            log.warning("MQTT not connected: pending queue full, dropped message to %r", dropped)


class LocalBus:
    """An in-process stand-in for ``MqttConnection``'s subscribe side (tests, replays, tools).

    ``deliver(topic, payload, retain)`` calls every matching handler like the connection does
    (a handler that raises is logged, not propagated).
    """

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published: list[tuple[str, Payload, bool, int]] = []

    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 0) -> Subscription:
        if not valid_filter(topic_filter):
            raise ValueError(f"invalid MQTT topic filter {topic_filter!r}")
        sub = Subscription(topic_filter, handler, qos)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.active = False
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscriptions(self) -> list[str]:
        return sorted({s.topic_filter for s in self._subs})

    def deliver(self, topic: str, payload: bytes, retain: bool = False) -> None:
        for sub in [s for s in self._subs if topic_matches(s.topic_filter, topic)]:
            if not sub.active:
                continue
            try:
                sub.handler(topic, payload, retain)
            except Exception:
                log.exception("handler for %r failed on topic %r", sub.topic_filter, topic)

    async def publish(self, topic: str, payload: Payload, retain: bool = False, qos: int = 0) -> bool:
        self.published.append((topic, payload, retain, qos))
        return True
