"""Users, API tokens and site grants in one SQLite database (WAL, aiosqlite).

Tokens are ``phx_`` + ``secrets.token_urlsafe(32)`` (256 random bits). Only their SHA-256 is stored,
with the first characters (``prefix``) to tell tokens apart in listings. A token with 256 bits of
entropy cannot be guessed or brute-forced from its hash, so no slow KDF (bcrypt, scrypt …) is needed —
and none must be, because :meth:`AuthStore.authenticate` runs on every API request.

``authenticate`` answers from an in-memory cache keyed by the token hash. The cache is cleared by every
change made through this store and, at most ``recheck_s`` later, by changes another process (the
``phoenyra-ems user`` CLI) committed to the same file: SQLite's ``PRAGMA data_version`` tells.
Every invalidation calls the ``listeners`` (the WebSocket hub re-checks its open sockets then), and
:meth:`AuthStore.check_for_changes` lets a poller look for another process's changes at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import aiosqlite

from phoenyra_ems.auth.models import (
    AuthError,
    Principal,
    Role,
    UnknownUser,
    UserExists,
    UserInfo,
    check_name,
    check_site_id,
)

LOG = logging.getLogger(__name__)

TOKEN_PREFIX = "phx_"
TOKEN_BYTES = 32
TOKEN_RE = re.compile(r"phx_[A-Za-z0-9_-]{43}")  # token_urlsafe(32) is exactly 43 characters
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43
PREFIX_LENGTH = len(TOKEN_PREFIX) + 6  # what is kept in clear: "phx_" + 6 of 43 characters
LAST_USED_INTERVAL_S = 60.0
CACHE_MAX = 4096

SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ({", ".join(f"'{r}'" for r in Role)})),
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens(user_id)",
    """CREATE TABLE IF NOT EXISTS user_sites (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        site_id TEXT NOT NULL,
        PRIMARY KEY (user_id, site_id)
    ) WITHOUT ROWID""",
]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: object) -> bool:
    """Shape check before any hashing or database work: ``phx_`` + 43 URL-safe characters."""
    return isinstance(token, str) and len(token) == TOKEN_LENGTH and TOKEN_RE.fullmatch(token) is not None


@dataclass(slots=True)
class _Cached:
    principal: Principal
    token_id: int
    last_used_at: float | None


class AuthStore:
    """Users, roles, site grants and API tokens.

    One connection per store; writes are serialised by an asyncio lock and run in explicit
    ``BEGIN IMMEDIATE`` transactions, so another process writing the same file waits (busy timeout)
    rather than interleaving. ``clock`` (UNIX seconds) is injectable for tests.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        recheck_s: float = 1.0,
        busy_timeout_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.recheck_s = recheck_s
        self.busy_timeout_s = busy_timeout_s
        self._clock = clock
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._cache: dict[str, _Cached] = {}
        self._generation = 0  # bumped on every invalidation; a lookup started before is not cached
        self._data_version: int | None = None
        self._checked_at = 0.0  # time.monotonic() of the last data_version check
        self.listeners: list[Callable[[], None]] = []  # called after every invalidation

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # token hashes are not secrets, but nobody else needs them
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = await aiosqlite.connect(self.path, isolation_level=None)  # autocommit; explicit BEGINs
        try:
            await db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                await db.execute(statement)
            await db.execute("COMMIT")
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._data_version = await self._read_data_version()
        self._checked_at = time.monotonic()

    async def close(self) -> None:
        if self._db is None:
            return
        db, self._db = self._db, None
        self._invalidate()
        await db.close()

    async def __aenter__(self) -> AuthStore:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("AuthStore is not open")
        return self._db

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One serialised write transaction; the cache is invalidated whatever its outcome."""
        async with self._lock:
            db = self._conn()
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")
            finally:
                self._invalidate()

    def _invalidate(self) -> None:
        self._cache.clear()
        self._generation += 1
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a listener's bug must not fail the change that was committed
                LOG.exception("auth change listener failed")

    @property
    def generation(self) -> int:
        """Grows with every change seen (made here, or by another process once checked)."""
        return self._generation

    async def check_for_changes(self) -> None:
        """Look now for changes another process committed (one cheap ``PRAGMA``)."""
        await self._check_external_changes()

    async def _user_id(self, db: aiosqlite.Connection, name: str) -> int:
        async with db.execute("SELECT id FROM users WHERE name = ?", (check_name(name),)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            raise UnknownUser(name)
        return int(row[0])

    # -- users -----------------------------------------------------------------------------------

    async def add_user(self, name: str, role: Role | str) -> None:
        role = Role.parse(role)
        check_name(name)
        async with self._write() as db:
            try:
                await db.execute(
                    "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)", (name, role, self._clock())
                )
            except sqlite3.IntegrityError:
                raise UserExists(name) from None

    async def set_role(self, name: str, role: Role | str) -> None:
        role = Role.parse(role)
        async with self._write() as db:
            user_id = await self._user_id(db, name)
            await db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user_id))

    async def remove_user(self, name: str) -> None:
        """Delete the user with their tokens and grants."""
        async with self._write() as db:
            user_id = await self._user_id(db, name)
            await db.execute("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM user_sites WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM users WHERE id = ?", (user_id,))

    async def grant(self, name: str, site_id: str) -> None:
        """Give ``name`` access to ``site_id`` (idempotent). Read or control follows from the role."""
        check_site_id(site_id)
        async with self._write() as db:
            user_id = await self._user_id(db, name)
            await db.execute(
                "INSERT OR IGNORE INTO user_sites (user_id, site_id) VALUES (?, ?)", (user_id, site_id)
            )

    async def ungrant(self, name: str, site_id: str) -> bool:
        """Withdraw access to ``site_id``; False when there was none."""
        check_site_id(site_id)
        async with self._write() as db:
            user_id = await self._user_id(db, name)
            cursor = await db.execute(
                "DELETE FROM user_sites WHERE user_id = ? AND site_id = ?", (user_id, site_id)
            )
            return cursor.rowcount > 0

    async def list_users(self) -> list[UserInfo]:
        db = self._conn()
        async with self._lock:
            async with db.execute(
                "SELECT u.id, u.name, u.role, u.created_at, "
                "(SELECT COUNT(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_at IS NULL) "
                "FROM users u ORDER BY u.name"
            ) as cursor:
                users = list(await cursor.fetchall())
            async with db.execute("SELECT user_id, site_id FROM user_sites ORDER BY site_id") as cursor:
                grants = list(await cursor.fetchall())
        sites: dict[int, list[str]] = {}
        for user_id, site_id in grants:
            sites.setdefault(int(user_id), []).append(str(site_id))
        return [
            UserInfo(
                name=str(name),
                role=Role(role),
                sites=tuple(sites.get(int(user_id), ())),
                active_tokens=int(active),
                created_at=datetime.fromtimestamp(float(created), UTC),
            )
            for user_id, name, role, created, active in users
        ]

    # -- tokens ----------------------------------------------------------------------------------

    async def create_token(self, name: str) -> str:
        """A new token for ``name``. The plaintext is returned once and never stored."""
        async with self._write() as db:
            user_id = await self._user_id(db, name)
            return await self._insert_token(db, user_id)

    async def _insert_token(self, db: aiosqlite.Connection, user_id: int) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        await db.execute(
            "INSERT INTO api_tokens (user_id, token_hash, prefix, created_at) VALUES (?, ?, ?, ?)",
            (user_id, hash_token(token), token[:PREFIX_LENGTH], self._clock()),
        )
        return token

    async def revoke(self, name: str) -> int:
        """Revoke every active token of ``name``; returns how many. Effective immediately."""
        async with self._write() as db:
            user_id = await self._user_id(db, name)
            cursor = await db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (self._clock(), user_id),
            )
            return cursor.rowcount

    async def ensure_admin_token(self, name: str = "admin") -> str:
        """For the demo: create admin ``name`` if missing and return a fresh token for it.

        Raises :class:`AuthError` if ``name`` exists with another role (it is not promoted silently).
        """
        check_name(name)
        async with self._write() as db:
            async with db.execute("SELECT id, role FROM users WHERE name = ?", (name,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                cursor = await db.execute(
                    "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)",
                    (name, Role.ADMIN, self._clock()),
                )
                user_id = cursor.lastrowid
                assert user_id is not None
            elif row[1] != Role.ADMIN:
                raise AuthError(f"user {name!r} exists with role {row[1]}, not admin")
            else:
                user_id = int(row[0])
            return await self._insert_token(db, user_id)

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid token; None for an unknown, revoked or malformed one. Never raises
        for bad input (a database failure still raises)."""
        if not well_formed(token):
            return None
        db = self._conn()
        token_hash = hash_token(token)
        if time.monotonic() - self._checked_at >= self.recheck_s:
            await self._check_external_changes()
        cached = self._cache.get(token_hash)
        if cached is None:
            cached = await self._lookup(db, token_hash)
            if cached is None:
                return None
        await self._touch(db, cached)
        return cached.principal

    async def _lookup(self, db: aiosqlite.Connection, token_hash: str) -> _Cached | None:
        async with self._lock:
            generation = self._generation
            async with db.execute(
                "SELECT t.id, t.token_hash, t.last_used_at, u.id, u.name, u.role FROM api_tokens t "
                "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL",
                (token_hash,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None or not hmac.compare_digest(str(row[1]), token_hash):
                return None
            token_id, _, last_used, user_id, name, role_text = row
            role = Role(role_text)
            sites: frozenset[str] | None = None
            if role is not Role.ADMIN:
                async with db.execute(
                    "SELECT site_id FROM user_sites WHERE user_id = ?", (user_id,)
                ) as cursor:
                    sites = frozenset(str(r[0]) for r in await cursor.fetchall())
            entry = _Cached(Principal(str(name), role, sites), int(token_id), last_used)
            if generation == self._generation:
                if len(self._cache) >= CACHE_MAX:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[token_hash] = entry
            return entry

    async def _touch(self, db: aiosqlite.Connection, entry: _Cached) -> None:
        """Record use at most once per ``LAST_USED_INTERVAL_S`` per token; failure is not fatal."""
        now = self._clock()
        if entry.last_used_at is not None and now - entry.last_used_at < LAST_USED_INTERVAL_S:
            return
        entry.last_used_at = now  # set first: concurrent requests with this token do not write too
        try:
            async with self._lock:
                await db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, entry.token_id))
        except sqlite3.Error as exc:  # e.g. the CLI holds the write lock longer than the busy timeout
            LOG.warning("could not record token use: %s", exc)

    async def _read_data_version(self) -> int:
        async with self._conn().execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def _check_external_changes(self) -> None:
        """Clear the cache if another connection (the CLI) committed since the last check."""
        self._checked_at = time.monotonic()
        version = await self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._invalidate()
