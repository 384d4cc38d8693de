"""Users, roles, site grants and API tokens: the store on real SQLite files, and the CLI."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenyra_ems.auth import (
    AuthError,
    AuthStore,
    InvalidName,
    InvalidRole,
    Principal,
    Role,
    UnknownUser,
    UserExists,
)
from phoenyra_ems.auth.cli import user_main
from phoenyra_ems.auth.store import PREFIX_LENGTH, hash_token


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "auth.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[AuthStore]:
    async with AuthStore(db_path) as s:
        yield s


def raw(db_path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the database behind the store's back (a second connection, as another process would)."""
    with sqlite3.connect(db_path) as conn:
        return list(conn.execute(sql, params))


# -- roles and principals ------------------------------------------------------------------------


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.at_least(Role.OPERATOR) and Role.ADMIN.at_least(Role.ADMIN)
    assert Role.OPERATOR.at_least(Role.VIEWER) and not Role.OPERATOR.at_least(Role.ADMIN)
    assert not Role.VIEWER.at_least(Role.OPERATOR)
    assert Role.parse("Operator") is Role.OPERATOR and Role.parse(Role.ADMIN) is Role.ADMIN
    assert str(Role.VIEWER) == "viewer" and f"{Role.ADMIN}" == "admin" and Role("operator") is Role.OPERATOR
    with pytest.raises(InvalidRole):
        Role.parse("root")


def test_principal_permissions() -> None:
    viewer = Principal("v", Role.VIEWER, frozenset({"wien"}))
    operator = Principal("o", Role.OPERATOR, frozenset({"wien"}))
    admin = Principal("a", Role.ADMIN, None)
    assert viewer.can_read("wien") and not viewer.can_control("wien") and not viewer.can_read("linz")
    assert operator.can_read("wien") and operator.can_control("wien")
    assert not operator.can_read("linz") and not operator.can_control("linz")
    assert admin.can_read("linz") and admin.can_control("anything") and admin.is_admin
    assert not viewer.is_admin and not operator.is_admin
    # "all sites" is an admin's privilege only; granted sites do not limit an admin
    with pytest.raises(ValueError):
        Principal("o", Role.OPERATOR, None)
    assert Principal("a", Role.ADMIN, frozenset()).can_control("wien")


# -- users, roles, grants ------------------------------------------------------------------------


async def test_users_and_grants(store: AuthStore) -> None:
    await store.add_user("alice", Role.OPERATOR)
    await store.add_user("bob", "viewer")
    await store.add_user("root", Role.ADMIN)
    await store.grant("alice", "wien")
    await store.grant("alice", "linz")
    await store.grant("alice", "wien")  # idempotent
    await store.grant("bob", "linz")
    await store.create_token("alice")
    users = {u.name: u for u in await store.list_users()}
    assert [u for u in users] == ["alice", "bob", "root"]
    assert users["alice"].role is Role.OPERATOR and users["alice"].sites == ("linz", "wien")
    assert users["alice"].active_tokens == 1 and users["bob"].active_tokens == 0
    assert users["bob"].sites == ("linz",) and users["root"].sites == ()

    assert await store.ungrant("alice", "linz") is True
    assert await store.ungrant("alice", "linz") is False
    assert {u.name: u.sites for u in await store.list_users()}["alice"] == ("wien",)


async def test_user_errors(store: AuthStore) -> None:
    await store.add_user("alice", Role.VIEWER)
    with pytest.raises(UserExists):
        await store.add_user("alice", Role.ADMIN)
    with pytest.raises(UserExists):  # names are unique regardless of case: no look-alike accounts
        await store.add_user("Alice", Role.ADMIN)
    with pytest.raises(InvalidRole):
        await store.add_user("carol", "superuser")
    for bad in ["", "a b", "x" * 65, "ümlaut", "semi;colon", "new\nline"]:
        with pytest.raises(InvalidName):
            await store.add_user(bad, Role.VIEWER)
    await store.add_user("first.last@example-org_1", Role.VIEWER)  # the whole alphabet
    with pytest.raises(InvalidName):
        await store.grant("alice", "Wien!")
    for call in (
        store.set_role("nobody", Role.ADMIN),
        store.remove_user("nobody"),
        store.grant("nobody", "wien"),
        store.ungrant("nobody", "wien"),
        store.create_token("nobody"),
        store.revoke("nobody"),
    ):
        with pytest.raises(UnknownUser):
            await call
    assert issubclass(UnknownUser, AuthError) and issubclass(InvalidRole, AuthError)
    assert [u.name for u in await store.list_users()] == ["alice", "first.last@example-org_1"]


async def test_schema_wal_and_file_mode(db_path: Path) -> None:
    async with AuthStore(db_path) as store:
        await store.add_user("alice", Role.VIEWER)
        assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
        tables = {r[0] for r in raw(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"users", "api_tokens", "user_sites"} <= tables
    if sys.platform != "win32":
        assert db_path.stat().st_mode & 0o077 == 0
    async with AuthStore(db_path) as store:  # reopening keeps the data
        assert [u.name for u in await store.list_users()] == ["alice"]


# -- tokens --------------------------------------------------------------------------------------


async def test_token_authenticates_with_role_and_sites(store: AuthStore) -> None:
    await store.add_user("alice", Role.OPERATOR)
    await store.grant("alice", "wien")
    await store.add_user("root", Role.ADMIN)
    token = await store.create_token("alice")
    assert token.startswith("phx_") and len(token) == 47
    principal = await store.authenticate(token)
    assert principal == Principal("alice", Role.OPERATOR, frozenset({"wien"}))
    admin = await store.authenticate(await store.create_token("root"))
    assert admin is not None and admin.is_admin and admin.sites is None
    assert await store.create_token("alice") != token  # every call is a new token


async def test_tokens_are_hashed_at_rest(store: AuthStore, db_path: Path) -> None:
    await store.add_user("alice", Role.ADMIN)
    tokens = [await store.create_token("alice"), await store.ensure_admin_token("alice")]
    for token in tokens:
        assert await store.authenticate(token) is not None
    stored = raw(db_path, "SELECT token_hash, prefix FROM api_tokens ORDER BY id")
    assert stored == [(hash_token(t), t[:PREFIX_LENGTH]) for t in tokens]
    await store.close()
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    blob = b"".join(p.read_bytes() for p in files)
    for token in tokens:
        assert token.encode() not in blob
        assert token[PREFIX_LENGTH:].encode() not in blob  # the secret part, not even in pieces
        assert token[PREFIX_LENGTH : PREFIX_LENGTH + 16].encode() not in blob
        assert hash_token(token).encode() in blob


async def test_revoked_tokens_are_rejected(store: AuthStore) -> None:
    await store.add_user("alice", Role.VIEWER)
    await store.add_user("bob", Role.VIEWER)
    old = [await store.create_token("alice"), await store.create_token("alice")]
    bobs = await store.create_token("bob")
    for token in [*old, bobs]:
        assert await store.authenticate(token) is not None  # now in the cache
    assert await store.revoke("alice") == 2
    assert await store.revoke("alice") == 0
    for token in old:
        assert await store.authenticate(token) is None
    assert await store.authenticate(bobs) is not None
    new = await store.create_token("alice")
    assert await store.authenticate(new) is not None
    assert {u.name: u.active_tokens for u in await store.list_users()} == {"alice": 1, "bob": 1}


async def test_cache_follows_role_grant_and_removal(store: AuthStore) -> None:
    await store.add_user("alice", Role.VIEWER)
    token = await store.create_token("alice")
    assert await store.authenticate(token) == Principal("alice", Role.VIEWER, frozenset())
    await store.grant("alice", "wien")
    assert await store.authenticate(token) == Principal("alice", Role.VIEWER, frozenset({"wien"}))
    await store.set_role("alice", Role.OPERATOR)
    p = await store.authenticate(token)
    assert p is not None and p.can_control("wien")
    await store.ungrant("alice", "wien")
    p = await store.authenticate(token)
    assert p is not None and not p.can_read("wien")
    await store.set_role("alice", "admin")
    p = await store.authenticate(token)
    assert p is not None and p.is_admin and p.can_control("linz")
    await store.remove_user("alice")
    assert await store.authenticate(token) is None
    assert raw(store.path, "SELECT COUNT(*) FROM api_tokens") == [(0,)]


async def test_changes_by_another_process_reach_the_cache(db_path: Path) -> None:
    """The daemon's store sees a revoke made by the CLI (another connection) within ``recheck_s``."""
    async with AuthStore(db_path, recheck_s=0.0) as daemon:
        await daemon.add_user("alice", Role.VIEWER)
        token = await daemon.create_token("alice")
        assert await daemon.authenticate(token) is not None
        async with AuthStore(db_path) as other:
            await other.grant("alice", "wien")
        p = await daemon.authenticate(token)
        assert p is not None and p.can_read("wien")
        assert await asyncio.to_thread(user_main, ["revoke", "alice"], str(db_path), io.StringIO()) == 0
        assert await daemon.authenticate(token) is None


async def test_last_used_is_written_at_most_once_a_minute(db_path: Path) -> None:
    clock = FakeClock()
    async with AuthStore(db_path, clock=clock) as store:
        await store.add_user("alice", Role.VIEWER)
        token = await store.create_token("alice")

        def last_used() -> object:
            return raw(db_path, "SELECT last_used_at FROM api_tokens")[0][0]

        assert last_used() is None
        start = clock.now
        await store.authenticate(token)
        assert last_used() == start
        for dt in (1, 30, 59):
            clock.now = start + dt
            await store.authenticate(token)
            assert last_used() == start
        clock.now = start + 61
        await store.authenticate(token)
        assert last_used() == start + 61
    # a fresh process does not rewrite a recent stamp either
    clock.now = start + 70
    async with AuthStore(db_path, clock=clock) as store:
        await store.authenticate(token)
        assert last_used() == start + 61


async def test_concurrent_authentication(store: AuthStore) -> None:
    names = [f"user{i}" for i in range(5)]
    tokens: dict[str, str] = {}
    for i, name in enumerate(names):
        await store.add_user(name, Role.OPERATOR)
        await store.grant(name, f"site{i}")
        tokens[name] = await store.create_token(name)
    calls: list[tuple[str | None, str]] = [(name, tokens[name]) for name in names] * 40 + [
        (None, "phx_" + "A" * 43)
    ] * 20
    results = await asyncio.gather(*(store.authenticate(token) for _, token in calls))
    for (expected, _), principal in zip(calls, results, strict=True):
        if expected is None:
            assert principal is None
        else:
            assert principal is not None and principal.user == expected
            assert principal.sites == frozenset({f"site{names.index(expected)}"})


async def test_revoke_racing_with_authentication_leaves_no_stale_cache(store: AuthStore) -> None:
    await store.add_user("alice", Role.VIEWER)
    for _ in range(10):
        token = await store.create_token("alice")
        lookups = [store.authenticate(token) for _ in range(20)]
        await asyncio.gather(*lookups[:10], store.revoke("alice"), *lookups[10:])
        assert await store.authenticate(token) is None


async def test_ensure_admin_token(store: AuthStore) -> None:
    first = await store.ensure_admin_token()
    second = await store.ensure_admin_token()
    for token in (first, second):
        p = await store.authenticate(token)
        assert p is not None and p.user == "admin" and p.is_admin
    assert [(u.name, u.role, u.active_tokens) for u in await store.list_users()] == [("admin", Role.ADMIN, 2)]
    await store.add_user("guest", Role.VIEWER)
    with pytest.raises(AuthError):
        await store.ensure_admin_token("guest")  # never a silent promotion


async def test_malformed_input_is_rejected(store: AuthStore) -> None:
    await store.add_user("alice", Role.VIEWER)
    token = await store.create_token("alice")
    for bad in ["", token + " ", " " + token, token[:-1], token.upper(), "Bearer " + token, "x" * 100_000]:
        assert await store.authenticate(bad) is None
    for wrong_type in (None, 42, token.encode()):
        assert await store.authenticate(wrong_type) is None  # type: ignore[arg-type]


async def test_closed_store_refuses(db_path: Path) -> None:
    store = AuthStore(db_path)
    with pytest.raises(RuntimeError):
        await store.list_users()


def test_random_strings_never_authenticate(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    store = AuthStore(tmp_path / "auth.db")
    try:
        loop.run_until_complete(store.open())
        loop.run_until_complete(store.add_user("alice", Role.ADMIN))
        token = loop.run_until_complete(store.create_token("alice"))
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            st.one_of(
                st.text(),
                st.text(alphabet=alphabet, min_size=43, max_size=43).map(lambda s: "phx_" + s),
                st.builds(
                    lambda i, c: token[:i] + c + token[i + 1 :],
                    st.integers(0, len(token) - 1),
                    st.sampled_from(alphabet),
                ).filter(lambda s: s != token),
            )
        )
        def check(candidate: str) -> None:
            assert loop.run_until_complete(store.authenticate(candidate)) is None

        check()
        assert loop.run_until_complete(store.authenticate(token)) is not None
    finally:
        loop.run_until_complete(store.close())
        loop.close()


# -- CLI -----------------------------------------------------------------------------------------


def cli(db_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = user_main(list(args), str(db_path), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def authenticate(db_path: Path, token: str) -> Principal | None:
    async def run() -> Principal | None:
        async with AuthStore(db_path) as store:
            return await store.authenticate(token)

    return asyncio.run(run())


def test_cli_lifecycle(db_path: Path) -> None:
    assert cli(db_path, "list") == (0, "no users\n", "")
    assert cli(db_path, "add", "alice", "--role", "operator")[0] == 0
    assert cli(db_path, "add", "bob")[0] == 0  # viewer by default
    assert cli(db_path, "add", "root", "--role", "admin")[0] == 0
    assert cli(db_path, "grant", "alice", "wien")[0] == 0
    assert cli(db_path, "grant", "bob", "linz")[0] == 0

    code, out, err = cli(db_path, "token", "alice")
    assert code == 0 and out.endswith("\n")
    token = out.splitlines()[-1]
    assert token.startswith("phx_") and "alice" in err
    assert authenticate(db_path, token) == Principal("alice", Role.OPERATOR, frozenset({"wien"}))

    code, out, _ = cli(db_path, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "ROLE", "TOKENS", "SITES"]
    assert lines[1].split() == ["alice", "operator", "1", "wien"]
    assert lines[2].split() == ["bob", "viewer", "0", "linz"]
    assert lines[3].split()[:3] == ["root", "admin", "0"] and "*" in lines[3]
    assert token not in out

    assert cli(db_path, "role", "bob", "operator")[0] == 0
    assert cli(db_path, "ungrant", "alice", "wien")[0] == 0
    assert authenticate(db_path, token) == Principal("alice", Role.OPERATOR, frozenset())
    code, out, _ = cli(db_path, "revoke", "alice")
    assert code == 0 and "1 token" in out
    assert authenticate(db_path, token) is None
    assert cli(db_path, "remove", "bob")[0] == 0
    assert [line.split()[0] for line in cli(db_path, "list")[1].splitlines()[1:]] == ["alice", "root"]


def test_cli_token_is_the_last_line_of_stdout(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert user_main(["add", "alice"], str(db_path)) == 0
    capsys.readouterr()
    assert user_main(["token", "alice"], str(db_path)) == 0  # default streams: sys.stdout / stderr
    out = capsys.readouterr().out
    assert out == out.rstrip("\n") + "\n"
    assert authenticate(db_path, out.splitlines()[-1]) is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "alice"], "already exists"),
        (["add", "ALICE", "--role", "admin"], "already exists"),
        (["add", "carol", "--role", "root"], "invalid role"),
        (["add", "bad name"], "invalid user name"),
        (["grant", "nobody", "wien"], "unknown user"),
        (["grant", "alice", "Not A Site"], "invalid site id"),
        (["ungrant", "nobody", "wien"], "unknown user"),
        (["token", "nobody"], "unknown user"),
        (["revoke", "nobody"], "unknown user"),
        (["remove", "nobody"], "unknown user"),
        (["role", "alice", "god"], "invalid role"),
    ],
)
def test_cli_user_errors_exit_1_with_one_line(db_path: Path, args: list[str], message: str) -> None:
    assert cli(db_path, "add", "alice")[0] == 0
    code, out, err = cli(db_path, *args)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.endswith("\n") and message in err


def test_cli_usage(db_path: Path) -> None:
    code, out, err = cli(db_path, "frobnicate")
    assert code == 2 and out == "" and "usage:" in err
    code, _, err = cli(db_path, "grant", "alice")
    assert code == 2 and "usage:" in err
    code, out, err = cli(db_path, "--help")
    assert code == 0 and "token" in out and err == ""
    assert cli(db_path)[0] == 2


def test_cli_unusable_database_path_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    code, _, err = cli(tmp_path / "a-file" / "auth.db", "list")
    assert code == 1 and err.count("\n") == 1 and "auth database" in err
