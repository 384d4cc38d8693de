"""Typed async client of the Phoenyra EMS daemon's API (REST + WebSocket), aiohttp only.

```python
async with PhoenyraClient("127.0.0.1", 8080, token=TOKEN) as client:
    for site in await client.sites():
        state = await client.state(site.id)
```

See docs/api.md for the endpoints, roles and the WebSocket protocol.
"""

from phoenyra_ems.client.client import UNSET, EventCallback, PhoenyraClient
from phoenyra_ems.client.exceptions import (
    PhoenyraAuthError,
    PhoenyraCertificateError,
    PhoenyraConnectionError,
    PhoenyraConnectionTimeoutError,
    PhoenyraError,
    PhoenyraForbiddenError,
    PhoenyraInvalidRequestError,
    PhoenyraInvalidResponseError,
    PhoenyraNotFoundError,
    PhoenyraUnavailableError,
)
from phoenyra_ems.client.models import (
    AggregatedState,
    Alarm,
    AlarmEvent,
    AlarmSeverity,
    Bess,
    Control,
    ControlAck,
    ControlAckEvent,
    Device,
    ErrorEvent,
    Event,
    Forecast,
    History,
    HistorySample,
    Info,
    Limits,
    Location,
    Mode,
    ReloadResult,
    Role,
    Sensor,
    Site,
    SiteDetail,
    SiteForecast,
    SiteState,
    SiteStatus,
    StateEvent,
    SubscribedEvent,
    UnsubscribedEvent,
    parse_event,
)
from phoenyra_ems.client.version import __version__

__all__ = [
    "UNSET",
    "AggregatedState",
    "Alarm",
    "AlarmEvent",
    "AlarmSeverity",
    "Bess",
    "Control",
    "ControlAck",
    "ControlAckEvent",
    "Device",
    "ErrorEvent",
    "Event",
    "EventCallback",
    "Forecast",
    "History",
    "HistorySample",
    "Info",
    "Limits",
    "Location",
    "Mode",
    "PhoenyraAuthError",
    "PhoenyraCertificateError",
    "PhoenyraClient",
    "PhoenyraConnectionError",
    "PhoenyraConnectionTimeoutError",
    "PhoenyraError",
    "PhoenyraForbiddenError",
    "PhoenyraInvalidRequestError",
    "PhoenyraInvalidResponseError",
    "PhoenyraNotFoundError",
    "PhoenyraUnavailableError",
    "ReloadResult",
    "Role",
    "Sensor",
    "Site",
    "SiteDetail",
    "SiteForecast",
    "SiteState",
    "SiteStatus",
    "StateEvent",
    "SubscribedEvent",
    "UnsubscribedEvent",
    "__version__",
    "parse_event",
]
