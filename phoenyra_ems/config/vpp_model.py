"""Typed configuration of a site's VPP participation (``vpp:`` in a site; docs/vpp.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

AGGREGATORS = ("entelios", "next_kraftwerke", "custom")
PROTOCOLS = ("openadr3", "custom")


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
    poll_interval_s: float = 10.0
    webhook_url: str | None = None  # the daemon's API as the VTN reaches it; None: polling only
    verify_tls: bool = True
    ca_file: str | None = None
    request_timeout_s: float = 10.0
    flexibility: VppFlexibilityConfig = field(default_factory=VppFlexibilityConfig)

    def resource(self, site_id: str) -> str:
        return self.site_id or site_id
