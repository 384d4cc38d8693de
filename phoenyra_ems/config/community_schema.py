"""Schema of the ``community:`` block (imported lazily by ``schema.validate_config``)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Hashable, Iterator
from typing import Any

import voluptuous as vol

from phoenyra_ems.config.community_model import (
    CommunityConfig,
    CommunityMember,
    CommunityPrice,
    LedgerConfig,
)
from phoenyra_ems.config.schema import (
    _SLUG_RE,
    _describe,
    _mapping,
    integer,
    number,
    one_of,
    section,
    string,
    text,
    timezone,
)

_PCT = number(ge=0, le=100)


def slug(value: Any) -> str:
    if isinstance(value, str) and _SLUG_RE.fullmatch(value):
        return value
    raise vol.Invalid(f"invalid id {value!r}: use lowercase letters, digits, '_' and '-'")


def _others(value: Any) -> dict[str, float]:
    data = _mapping(value)
    out: dict[str, float] = {}
    errors: list[vol.Invalid] = []
    for key, pct in data.items():
        try:
            out[str(key)] = _PCT(pct)
        except vol.Invalid as exc:
            errors.append(vol.Invalid(exc.msg, path=[key]))
    if errors:
        raise vol.MultipleInvalid(errors)
    return out


def _check_member(member: dict[str, Any]) -> Iterator[vol.Invalid]:
    if (member.get("site") is None) == (member.get("csv") is None):
        yield vol.Invalid("a member needs exactly one of 'site' (our site) or 'csv' (an external meter)")
    total = member.get("participation_pct", 100.0) + sum(member.get("other_communities", {}).values())
    if total > 100.0 + 1e-9:
        yield vol.Invalid(
            f"participation factors add up to {total:g} % (this community and other_communities); "
            "at most 100 % is allowed",
            path=["participation_pct"],
        )


MEMBER = section(
    {
        vol.Optional("name"): string,
        vol.Optional("site"): string,
        vol.Optional("csv"): string,
        vol.Optional("share_pct"): _PCT,
        vol.Optional("participation_pct"): number(gt=0, le=100),
        vol.Optional("other_communities"): _others,
    },
    checks=[_check_member],
)

PRICE = section(
    {
        vol.Optional("mode"): one_of(["fixed", "dayahead"], "price mode"),
        vol.Optional("fixed_eur_kwh"): number(),
        vol.Optional("dayahead_factor"): number(ge=0),
        vol.Optional("markup_eur_kwh"): number(),
        vol.Optional("zone"): one_of(["at", "de_lu"], "zone"),
    },
    build=lambda **f: CommunityPrice(**f),
)


def dsn(value: Any) -> str:
    """``ledger.dsn``: a libpq URI (``postgresql://user@host:5432/db``) or ``key=value`` string,
    without the password (that goes in ``ledger.password``, from ``!secret``)."""
    raw = string(value).strip()
    if "://" in raw:
        parts = urllib.parse.urlsplit(raw)
        if parts.scheme not in ("postgresql", "postgres"):
            raise vol.Invalid(f"unknown scheme {parts.scheme!r}: use postgresql://user@host:port/database")
        try:
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError as exc:
            raise vol.Invalid(f"invalid address: {exc}") from None
        secret = parts.password is not None or "password" in urllib.parse.parse_qs(parts.query)
    else:
        if "=" not in raw:
            raise vol.Invalid("expected postgresql://user@host:port/database or 'host=… dbname=…'")
        secret = re.search(r"(^|\s)password\s*=", raw) is not None
    if secret:
        raise vol.Invalid("the password does not belong in the DSN: use community.ledger.password (!secret)")
    return raw


def _check_ledger(ledger: LedgerConfig) -> Iterator[vol.Invalid]:
    if ledger.backend == "postgresql" and ledger.dsn is None:
        yield vol.Invalid(
            "backend 'postgresql' needs a dsn (postgresql://user@host:port/database)", path=["dsn"]
        )
    if ledger.backend == "sqlite":
        for name in ("dsn", "password"):
            if getattr(ledger, name) is not None:
                yield vol.Invalid(f"{name} applies to backend 'postgresql' only", path=[name])


LEDGER = section(
    {
        vol.Optional("backend"): one_of(["sqlite", "postgresql"], "ledger backend"),
        vol.Optional("path"): string,
        vol.Optional("dsn"): dsn,
        vol.Optional("password"): text,
        vol.Optional("key_dir"): string,
        vol.Optional("checkpoint_every"): integer(ge=1),
    },
    build=lambda **f: LedgerConfig(**f),
    checks=[_check_ledger],
)

_FIELDS: dict[Any, Any] = {
    vol.Required("id"): slug,
    vol.Optional("name"): string,
    vol.Optional("key"): one_of(["static", "dynamic"], "key"),
    vol.Optional("timezone"): timezone,
    vol.Optional("price"): PRICE,
    vol.Optional("ledger"): LEDGER,
    vol.Required("members"): lambda v: v,  # checked below, member by member
}
_TOP = section(_FIELDS)


def _members(raw: Any, errors: list[vol.Invalid]) -> dict[str, CommunityMember]:
    if not isinstance(raw, dict) or len(raw) < 2:
        errors.append(
            vol.Invalid(
                f"expected a mapping of at least two members, got {_describe(raw)}"
                if not isinstance(raw, dict)
                else "a community needs at least two members",
                path=["members"],
            )
        )
        return {}
    out: dict[str, CommunityMember] = {}
    for key, value in raw.items():
        where: list[Hashable] = ["members", key]
        try:
            mid = slug(key)
            fields = MEMBER(value)
        except vol.Invalid as exc:
            exc.prepend(where)
            errors.extend(exc.errors if isinstance(exc, vol.MultipleInvalid) else [exc])
            continue
        site = fields.get("site")
        out[mid] = CommunityMember(
            member_id=mid,
            site=None if site is None else str(site),
            csv=fields.get("csv"),
            name=fields.get("name", mid),
            share_pct=fields.get("share_pct", 0.0),
            participation_pct=fields.get("participation_pct", 100.0),
            other_communities=fields.get("other_communities", {}),
        )
    return out


def validate_community(value: Any, site_ids: list[str]) -> CommunityConfig:
    """``community:`` -> ``CommunityConfig``; paths are relative to the block."""
    errors: list[vol.Invalid] = []
    top = _TOP(value)
    members = _members(top["members"], errors)
    key = top.get("key", "dynamic")
    raw_members = top["members"] if isinstance(top["members"], dict) else {}
    keys = {str(k): k for k in raw_members}
    for mid, member in members.items():
        where = ["members", keys.get(mid, mid)]
        if member.site is not None and site_ids and member.site not in site_ids:
            errors.append(
                vol.Invalid(
                    f"site {member.site!r} is not configured (sites: {', '.join(site_ids)})",
                    path=[*where, "site"],
                )
            )
        if key == "dynamic" and member.share_pct:
            errors.append(vol.Invalid("share_pct applies to key 'static' only", path=[*where, "share_pct"]))
    if key == "static" and members:
        total = sum(m.share_pct for m in members.values())
        if total > 100.0 + 1e-9:
            errors.append(
                vol.Invalid(f"static shares add up to {total:g} %; at most 100 %", path=["members"])
            )
        if total == 0:
            errors.append(vol.Invalid("key 'static' needs share_pct for the members", path=["key"]))
    sites = [m.site for m in members.values() if m.site is not None]
    for site in {s for s in sites if sites.count(s) > 1}:
        errors.append(vol.Invalid(f"site {site!r} is a member twice", path=["members"]))
    if errors:
        raise vol.MultipleInvalid(errors)
    return CommunityConfig(
        community_id=top["id"],
        members=members,
        name=top.get("name", top["id"]),
        key=key,
        timezone=top.get("timezone", "Europe/Vienna"),
        price=top.get("price", CommunityPrice()),
        ledger=top.get("ledger", LedgerConfig()),
    )
