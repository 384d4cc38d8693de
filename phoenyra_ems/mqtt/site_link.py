"""One site on its MQTT broker: retained status (birth / last will), telemetry, commands with acks.

Topics under the site's prefix (default ``phoenyra/site<id>``):

* ``<prefix>/status``: ``online`` (birth, retained) / ``offline`` (last will and clean shutdown);
* ``<prefix>/telemetry``: the site state as JSON (the API's state shape), retained, at most once
  per ``mqtt.telemetry_interval_s``;
* ``<prefix>/commands``: a control request with the API's schema plus ``token`` (an API token
  of an operator or admin with access to the site) and an optional ``id``;
* ``<prefix>/commands/ack``: ``{"id", "accepted", "reason", "fields"?, "control"?}`` for every
  command. A malformed command is rejected with its reason and never executed in part.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from phoenyra_ems.api.errors import ApiError
from phoenyra_ems.api.serialize import control_json, state_json
from phoenyra_ems.api.validation import parse_control
from phoenyra_ems.config.model import SiteConfig
from phoenyra_ems.models import PlantState
from phoenyra_ems.mqtt.connection import MqttConnection

if TYPE_CHECKING:
    from phoenyra_ems.auth.store import AuthStore
    from phoenyra_ems.controller import SiteController

LOG = logging.getLogger(__name__)
MAX_COMMAND_BYTES = 4096


def site_prefix(site: SiteConfig) -> str:
    return site.mqtt.topic_prefix.rstrip("/") or f"phoenyra/site{site.site_id}"


class SiteMqttLink:
    """Attached to a site's controller: lives and dies with it."""

    def __init__(self, site: SiteConfig, auth: AuthStore | None) -> None:
        self.site = site
        self.auth = auth
        self.prefix = site_prefix(site)
        self.connection = MqttConnection(
            site.mqtt.host,
            site.mqtt.port,
            username=site.mqtt.username,
            password=site.mqtt.password,
            tls=site.mqtt.tls,
            client_id=f"phoenyra-ems-site-{site.site_id}",
            will=(f"{self.prefix}/status", b"offline", True),
            birth=(f"{self.prefix}/status", b"online", True),
        )
        self.controller: SiteController | None = None
        self._last_sent = 0.0
        self._pending: PlantState | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.commands_handled = 0

    async def start(self, controller: SiteController) -> None:
        self.controller = controller
        controller.listeners.append(self._on_state)
        if self.site.mqtt.commands:
            self.connection.subscribe(f"{self.prefix}/commands", self._on_command)
        await self.connection.start()

    async def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        if self.controller is not None and self._on_state in self.controller.listeners:
            self.controller.listeners.remove(self._on_state)
        for task in list(self._tasks):
            task.cancel()
        await self.connection.stop()

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
        payload = json.dumps(state_json(state), allow_nan=False).encode()
        self.connection.publish_nowait(f"{self.prefix}/telemetry", payload, retain=True)

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
        await self.connection.publish(f"{self.prefix}/commands/ack", json.dumps(ack).encode())

    async def execute(self, payload: bytes) -> dict[str, Any]:
        """Validate, authorise and apply one command; always returns the ack (never raises)."""
        request_id: Any = None
        try:
            body = self._decode(payload)
            request_id = body.pop("id", None)
            if not isinstance(request_id, str | int | None) or isinstance(request_id, bool):
                request_id = None
            await self._authorise(body.pop("token", None))
            controller = self.controller
            if controller is None:
                raise ApiError(503, "unavailable", "site not running")
            bess = controller.effective_site.bess
            intent = parse_control(
                body,
                self.site,
                bess.power_charge_max_kw,
                bess.power_discharge_max_kw,
                controller.clock.now(),
                controller.intent.strategy,
            )
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
            body = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as err:
            raise ApiError(422, "invalid_request", f"not a JSON command: {err}") from err
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "a command is a JSON object")
        return body

    async def _authorise(self, token: Any) -> None:
        if self.auth is None:
            return  # no user store (tests, embedded use): the broker's ACL is the only gate
        if not isinstance(token, str) or not token:
            raise ApiError(401, "unauthorized", "missing token")
        principal = await self.auth.authenticate(token)
        if principal is None:
            raise ApiError(401, "unauthorized", "invalid token")
        if not principal.can_control(self.site.site_id):
            raise ApiError(403, "forbidden", f"{principal.user} may not control site {self.site.site_id}")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")
