"""Schema of a site's ``vpp:`` block (docs/vpp.md)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.validators import boolean, list_of, number, one_of, section, string
from phoenyra_ems.config.vpp_model import AGGREGATORS, PROTOCOLS, VppConfig, VppFlexibilityConfig


def http_url(value: Any) -> str:
    text = string(value)
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise vol.Invalid(f"expected an http(s) URL, got {text!r}")
    if parts.username or parts.password:
        raise vol.Invalid("credentials do not belong in the URL: use client_id / client_secret (!secret)")
    return text.rstrip("/")


def secret(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise vol.Invalid("expected a non-empty string (use !secret)")
    return value


FLEXIBILITY = section(
    {
        vol.Optional("max_power_kw"): number(ge=0),
        vol.Optional("min_power_kw"): number(le=0),
        vol.Optional("response_time_s"): number(gt=0, le=3600),
    },
    VppFlexibilityConfig,
)


def _check(vpp: VppConfig) -> Iterator[vol.Invalid]:
    if not vpp.enabled:
        return
    if vpp.protocol == "openadr3":
        for key in ("vtn_url", "client_id", "client_secret"):
            if getattr(vpp, key) is None:
                yield vol.Invalid(f"protocol openadr3 needs {key}", path=[key])
    else:
        for key in ("api_url", "api_key"):
            if getattr(vpp, key) is None:
                yield vol.Invalid(f"protocol custom needs {key}", path=[key])
    if not vpp.verify_tls and vpp.ca_file is not None:
        yield vol.Invalid("ca_file has no effect with verify_tls: false", path=["ca_file"])


VPP = section(
    {
        vol.Optional("enabled"): boolean,
        vol.Optional("aggregator"): one_of(AGGREGATORS, "aggregator"),
        vol.Optional("protocol"): one_of(PROTOCOLS, "protocol"),
        vol.Optional("site_id"): string,
        vol.Optional("vtn_url"): http_url,
        vol.Optional("client_id"): string,
        vol.Optional("client_secret"): secret,
        vol.Optional("token_url"): http_url,
        vol.Optional("api_url"): http_url,
        vol.Optional("api_key"): secret,
        vol.Optional("ven_name"): string,
        vol.Optional("programs"): list_of(string, unique=True),
        vol.Optional("poll_interval_s"): number(ge=1, le=3600),
        vol.Optional("webhook_url"): http_url,
        vol.Optional("verify_tls"): boolean,
        vol.Optional("ca_file"): string,
        vol.Optional("request_timeout_s"): number(gt=0, le=300),
        vol.Optional("flexibility"): FLEXIBILITY,
    },
    VppConfig,
    checks=[_check],
)
