"""The WebSocket events (``/api/v1/ws``, docs/api.md): one wire model per ``type``.

:func:`parse_event` turns a decoded frame into its event, ``None`` for a type this client does not
know (a newer daemon may add types).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phoenyra_ems.client.models import Alarm, Control, SiteState
from phoenyra_ems.client.plan import SitePlan
from phoenyra_ems.client.wire import Wire, parse_union, spec

__all__ = [
    "AlarmEvent",
    "ControlAckEvent",
    "ErrorEvent",
    "Event",
    "PlanEvent",
    "StateEvent",
    "SubscribedEvent",
    "UnsubscribedEvent",
    "parse_event",
]


@dataclass(frozen=True, slots=True)
class SubscribedEvent(Wire):
    """The sites this connection is subscribed to now (after a subscribe)."""

    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnsubscribedEvent(Wire):
    """The sites just unsubscribed."""

    sites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StateEvent(Wire):
    """A site's latest state (pushes are coalesced: at most ``api.ws_max_rate_hz`` per site)."""

    site_id: str
    state: SiteState = field(metadata=spec(key="data"))


@dataclass(frozen=True, slots=True)
class AlarmEvent(Wire):
    """An alarm was raised (``active``) or cleared."""

    site_id: str
    alarm: Alarm
    active: bool


@dataclass(frozen=True, slots=True)
class ControlAckEvent(Wire):
    """Someone's control request for a subscribed site was accepted."""

    site_id: str
    control: Control
    by: str  # the user who sent it


@dataclass(frozen=True, slots=True)
class PlanEvent(Wire):
    """The site's optimiser made a new plan (the same shape as ``GET /sites/{id}/plan``)."""

    site_id: str
    plan: SitePlan = field(metadata=spec(key="data"))


@dataclass(frozen=True, slots=True)
class ErrorEvent(Wire):
    """The server refused a message of ours (the connection stays open)."""

    code: str  # invalid_message, not_found, forbidden
    message: str


Event = (
    SubscribedEvent | UnsubscribedEvent | StateEvent | AlarmEvent | ControlAckEvent | PlanEvent | ErrorEvent
)
EVENTS: dict[str, type[Event]] = {
    "state": StateEvent,
    "alarm": AlarmEvent,
    "control_ack": ControlAckEvent,
    "plan": PlanEvent,
    "subscribed": SubscribedEvent,
    "unsubscribed": UnsubscribedEvent,
    "error": ErrorEvent,
}


def parse_event(data: Any) -> Event | None:
    """A decoded WebSocket frame → its event; ``None`` for an unknown type (forward compatible).

    Raises :class:`PhoenyraInvalidResponseError` for a known type with a wrong shape.
    """
    return parse_union(EVENTS, data, "event")
