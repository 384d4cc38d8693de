"""Typed configuration of a site's VPP participation (``vpp:`` in a site; docs/vpp.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

AGGREGATORS = ("entelios", "next_kraftwerke", "custom")
PROTOCOLS = ("openadr3", "custom")
DEFAULT_POLL_WITH_PUSH_S = 10.0


@dataclass(frozen=True, slots=True)
class VppFlexibilityConfig:
    """The plan's static offer: upper bounds; what is announced is what the site can deliver."""

    max_power_kw: float = 0.0  # discharge (positive)
    min_power_kw: float = 0.0  # charge (negative)
    response_time_s: float = 5.0


@dataclass(frozen=True, slots=True)
class VppConfig:
    """One site as a resource of the daemon's VEN. Credentials never appear in ``repr``."""

    enabled: bool = False
    aggregator: str = "custom"  # entelios | next_kraftwerke | custom (a label: all speak ``protocol``)
    protocol: str = "openadr3"  # openadr3 | custom (plain REST, docs/vpp.md)
    site_id: str = ""  # the resource name at the aggregator ("" -> the site's id)
    vtn_url: str | None = None  # OpenADR 3 VTN base URL (e.g. https://vtn.example/openadr3/3.0.1)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_url: str | None = None  # default: <vtn_url>/auth/token
    api_url: str | None = None  # protocol custom: the aggregator's REST base URL
    api_key: str | None = field(default=None, repr=False)
    ven_name: str = "phoenyra-ems"  # this daemon as a VEN (one VEN, each site a resource)
    programs: tuple[str, ...] = ()  # program names to follow (empty: every program the VTN shows)
    poll_interval_s: float | None = None  # None: see effective_poll_interval_s
    webhook_url: str | None = None  # the daemon's API as the VTN reaches it; None: polling only
    verify_tls: bool = True
    ca_file: str | None = None
    request_timeout_s: float = 10.0
    flexibility: VppFlexibilityConfig = field(default_factory=VppFlexibilityConfig)

    @property
    def effective_poll_interval_s(self) -> float:
        """The configured interval, else 10 s with a webhook (push carries events, polling is the
        fallback) and half the response time without one (an event found by polling alone must
        still be followed within ``response_time_s``; docs/vpp.md), at least 1 s."""
        if self.poll_interval_s is not None:
            return self.poll_interval_s
        if self.webhook_url is not None:
            return DEFAULT_POLL_WITH_PUSH_S
        return max(1.0, min(DEFAULT_POLL_WITH_PUSH_S, self.flexibility.response_time_s / 2))

    def resource(self, site_id: str) -> str:
        return self.site_id or site_id
