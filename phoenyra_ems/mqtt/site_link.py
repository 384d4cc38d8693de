"""One site on its MQTT broker: retained status (birth / last will), telemetry, commands with acks.

Topics under the site's prefix (default ``phoenyra/site<id>``), or exactly where ``mqtt.topics``
says (``SiteConfig.mqtt_topics``: status beside the telemetry topic, acks under the commands topic):

* ``<prefix>/status``: ``online`` (birth, retained) / ``offline`` (last will and clean shutdown);
* ``<prefix>/telemetry``: the site state as JSON (the API's state shape), retained, at most once
  per ``mqtt.telemetry_interval_s``;
* ``<prefix>/commands``: a control request with the API's schema, an optional ``id``, signed with
  the site's ``mqtt.command_key`` (``ts``, ``nonce``, ``sig``: see ``command_auth``). API tokens
  are refused: anyone subscribed to ``#`` would capture them;
* ``<prefix>/commands/ack``: ``{"id", "accepted", "reason", "fields"?, "control"?}`` for every
  command. A malformed, unsigned, stale or replayed command is rejected with its reason and never
  executed in part.
* with ``mqtt.ha_discovery``: Home Assistant discovery configs of the site's entities (retained;
  ``ha_publish``), deleted with empty retained payloads when the site is removed (``retract``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phoenyra_ems.api.errors import ApiError
from phoenyra_ems.api.json_limits import MAX_DEPTH, too_deep
from phoenyra_ems.api.serialize import control_json, state_json
from phoenyra_ems.api.validation import parse_control
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.models import PlantState
from phoenyra_ems.mqtt import ha_publish
from phoenyra_ems.mqtt.command_auth import (
    AUTH_FIELDS,
    TOKEN_REFUSED,
    CommandAuthError,
    CommandVerifier,
)
from phoenyra_ems.mqtt.connection import MqttConnection

if TYPE_CHECKING:
    from phoenyra_ems.controller import SiteController

LOG = logging.getLogger(__name__)
MAX_COMMAND_BYTES = 4096
NO_KEY = "commands need mqtt.command_key"


def site_prefix(site: SiteConfig) -> str:
    """The prefix of the default topics (``mqtt.topics`` may replace each of them)."""
    return site.mqtt.topic_prefix.rstrip("/") or f"phoenyra/site{site.site_id}"


class SiteMqttLink:
    """Attached to a site's controller: lives and dies with it."""

    def __init__(
        self, site: SiteConfig, wall_clock: Callable[[], float] = time.time, instance_id: str = "phoenyra"
    ) -> None:
        self.site = site
        self.instance_id = instance_id  # the daemon's: part of the discovery configs' unique ids
        self.retract = False  # set when the site is removed: its discovery configs are deleted on stop
        self.wall_clock = wall_clock  # UNIX seconds, as the senders sign them (not the simulated clock)
        self.verifier: CommandVerifier | None = None
        if site.mqtt.command_key:
            # commands signed before this link existed are stale: a replay across a restart fails too
            not_before = float(int(wall_clock()))
            self.verifier = CommandVerifier(site.mqtt.command_key, site.mqtt.command_max_age_s, not_before)
        self.prefix = site_prefix(site)
        self.topics = site.mqtt_topics
        self.connection = MqttConnection(
            site.mqtt.host,
            site.mqtt.port,
            username=site.mqtt.username,
            password=site.mqtt.password,
            tls=site.mqtt.tls,
            client_id=f"phoenyra-ems-site-{site.site_id}",
            will=(self.topics.status, b"offline", True),
            birth=(self.topics.status, b"online", True),
        )
        self.controller: SiteController | None = None
        self._last_sent = 0.0
        self._pending: PlantState | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.commands_handled = 0
        self._discovery_connects = -1  # the connection's connect count the configs were sent for

    async def start(self, controller: SiteController) -> None:
        self.controller = controller
        controller.listeners.append(self._on_state)
        mqtt = self.site.mqtt
        if mqtt.commands:
            if self.verifier is None:
                LOG.warning(
                    "site %s: MQTT commands are refused: set mqtt.command_key (docs/mqtt.md) "
                    "or mqtt.commands: false",
                    self.site.site_id,
                )
            self.connection.subscribe(self.topics.commands, self._on_command)
        await self.connection.start()
        self._publish_discovery()

    async def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        if self.controller is not None and self._on_state in self.controller.listeners:
            self.controller.listeners.remove(self._on_state)
        for task in list(self._tasks):
            task.cancel()
        if self.retract and self.site.mqtt.ha_discovery:
            for topic in ha_publish.config_payloads(self.site, self.instance_id):
                await self.connection.publish(topic, b"", retain=True, qos=1)
        await self.connection.stop()

    def _publish_discovery(self) -> None:
        """The Home Assistant discovery configs (retained), once per connection to the broker (a
        broker restarted without persistence has forgotten them)."""
        if not self.site.mqtt.ha_discovery or self._discovery_connects == self.connection.connects:
            return
        self._discovery_connects = self.connection.connects
        for topic, payload in ha_publish.config_payloads(self.site, self.instance_id).items():
            self.connection.publish_nowait(topic, payload, retain=True, qos=1)

    # --- telemetry: latest wins, at most one message per interval ----------------------------------
    def _on_state(self, state: PlantState) -> None:
        self._pending = state
        wait = self._last_sent + self.site.mqtt.telemetry_interval_s - time.monotonic()
        if wait <= 0:
            self._send_pending()
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(wait, self._send_pending)

    def _send_pending(self) -> None:
        self._flush = None
        state, self._pending = self._pending, None
        if state is None:
            return
        self._last_sent = time.monotonic()
        self._publish_discovery()
        payload = json.dumps(state_json(state), allow_nan=False).encode()
        self.connection.publish_nowait(self.topics.telemetry, payload, retain=True)

    # --- commands ------------------------------------------------------------------------------
    def _on_command(self, topic: str, payload: bytes, retain: bool) -> None:
        if retain:  # a stale retained command is never replayed
            LOG.warning("%s: retained command ignored", topic)
            return
        task = asyncio.get_running_loop().create_task(self._handle(topic, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, topic: str, payload: bytes) -> None:
        ack = await self.execute(payload)
        self.commands_handled += 1
        if not ack["accepted"]:
            LOG.warning("%s: command rejected: %s", topic, ack["reason"])
        await self.connection.publish(self.topics.ack, json.dumps(ack).encode())

    async def execute(self, payload: bytes) -> dict[str, Any]:
        """Validate, verify the signature and apply one command; always returns the ack (never raises)."""
        request_id: Any = None
        try:
            body = self._decode(payload)
            request_id = body.get("id")
            if not isinstance(request_id, str | int | None) or isinstance(request_id, bool):
                request_id = None
            self._authenticate(body)
            controller = self.controller
            if controller is None:
                raise ApiError(503, "unavailable", "site not running")
            control = {k: v for k, v in body.items() if k != "id" and k not in AUTH_FIELDS}
            intent = parse_control(control, controller)
        except ApiError as err:
            ack: dict[str, Any] = {"id": request_id, "accepted": False, "reason": err.message}
            if err.fields:
                ack["fields"] = err.fields
            return ack
        controller.set_intent(intent)
        return {"id": request_id, "accepted": True, "reason": "", "control": control_json(intent)}

    def _decode(self, payload: bytes) -> dict[str, Any]:
        if len(payload) > MAX_COMMAND_BYTES:
            raise ApiError(413, "too_large", f"command larger than {MAX_COMMAND_BYTES} bytes")
        try:
            text = payload.decode("utf-8")
            if too_deep(text, MAX_DEPTH):
                raise ApiError(422, "invalid_request", f"JSON nested deeper than {MAX_DEPTH} levels")
            body = json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as err:
            raise ApiError(422, "invalid_request", f"not a JSON command: {err}") from err
        except RecursionError as err:  # not reached after the depth check; never let it escape
            raise ApiError(422, "invalid_request", "JSON nested too deeply") from err
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "a command is a JSON object")
        return body

    def _authenticate(self, body: dict[str, Any]) -> None:
        """A signed, fresh, new command; an API token is refused without being looked at."""
        if "token" in body:
            raise ApiError(401, "unauthorized", TOKEN_REFUSED)
        if self.verifier is None:
            raise ApiError(401, "unauthorized", NO_KEY)
        try:
            self.verifier.verify(body, self.wall_clock())
        except CommandAuthError as err:
            raise ApiError(401, "unauthorized", str(err)) from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")
