"""Users, roles, site access and API tokens for the daemon's API (SQLite via aiosqlite).

``Role``, ``Principal`` and the errors are stdlib only; ``AuthStore`` (aiosqlite) is imported on first
use, so code that only checks permissions (or a client) does not pull in aiosqlite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phoenyra_ems.auth.models import (
    AuthError,
    InvalidName,
    InvalidRole,
    Principal,
    Role,
    UnknownUser,
    UserExists,
    UserInfo,
)

if TYPE_CHECKING:
    from phoenyra_ems.auth.store import AuthStore

__all__ = [
    "AuthError",
    "AuthStore",
    "InvalidName",
    "InvalidRole",
    "Principal",
    "Role",
    "UnknownUser",
    "UserExists",
    "UserInfo",
]


def __getattr__(name: str) -> Any:
    if name == "AuthStore":
        from phoenyra_ems.auth.store import AuthStore

        return AuthStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
