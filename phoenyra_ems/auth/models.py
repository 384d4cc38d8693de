"""Roles, principals and the errors of the user store (pure data, stdlib only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

NAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
# The config's site id is a slug ``[a-z0-9_-]+`` (or a number, which is a slug too).
SITE_ID_RE = re.compile(r"[a-z0-9_-]{1,64}")


class AuthError(Exception):
    """A user error of the auth store: the message is one line, fit for the CLI."""


class UnknownUser(AuthError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown user {name!r}")
        self.name = name


class UserExists(AuthError):
    def __init__(self, name: str) -> None:
        super().__init__(f"user {name!r} already exists")
        self.name = name


class InvalidRole(AuthError, ValueError):
    def __init__(self, value: object) -> None:
        super().__init__(f"invalid role {value!r}: use one of {', '.join(Role)}")
        self.value = value


class InvalidName(AuthError, ValueError):
    """A user name or site id outside the allowed alphabet / length."""


class Role(StrEnum):
    """Ordered roles: ``viewer < operator < admin``."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        """``Role.ADMIN.at_least(Role.OPERATOR)`` is True; ``Role.VIEWER.at_least(Role.OPERATOR)`` is not."""
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """``"Operator"`` → ``Role.OPERATOR``; anything else raises :class:`InvalidRole`."""
        if isinstance(value, Role):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        raise InvalidRole(value)


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidName(f"invalid user name {name!r}: use 1-64 of A-Z a-z 0-9 _ . @ -")
    return name


def check_site_id(site_id: str) -> str:
    if not isinstance(site_id, str) or not SITE_ID_RE.fullmatch(site_id):
        raise InvalidName(f"invalid site id {site_id!r}: use 1-64 of lowercase letters, digits, '_' and '-'")
    return site_id


@dataclass(frozen=True)
class Principal:
    """Who made an API request and what they may do.

    ``sites`` is the set of granted site ids; ``None`` means every site and is reserved for admins
    (a non-admin principal with ``sites=None`` is refused at construction, so it cannot happen by
    accident). An admin reads and controls every site whatever ``sites`` says.
    """

    user: str
    role: Role
    sites: frozenset[str] | None  # None = all sites (admin)

    def __post_init__(self) -> None:
        if self.sites is None and self.role is not Role.ADMIN:
            raise ValueError(f"a {self.role} principal needs an explicit set of sites")

    @property
    def is_admin(self) -> bool:
        """A property, not a method: ``if principal.is_admin:``. Admins see the aggregate of all sites."""
        return self.role is Role.ADMIN

    def can_read(self, site_id: str) -> bool:
        return self.is_admin or (self.sites is not None and site_id in self.sites)

    def can_control(self, site_id: str) -> bool:
        return self.role.at_least(Role.OPERATOR) and self.can_read(site_id)


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: Role
    sites: tuple[str, ...]  # granted site ids, sorted (an admin has every site regardless)
    active_tokens: int
    created_at: datetime
