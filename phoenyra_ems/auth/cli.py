"""``phoenyra-ems user …``: manage users, roles, site grants and API tokens.

Exit codes: 0 success, 1 user error (one line on stderr: unknown user, duplicate, bad role or name),
2 usage error (argparse's message).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from phoenyra_ems.auth.models import AuthError, Role
from phoenyra_ems.auth.store import AuthStore

PROG = "phoenyra-ems user"
WHERE = """which database (options before COMMAND):
  -c CONFIG, --config CONFIG   the auth database of that configuration (api.auth_db)
  --db DB                      this auth database file
  neither                      data/auth.db (the default api.auth_db)

The demo keeps its users apart, in data/demo/auth.db:
  phoenyra-ems user --db data/demo/auth.db list
  phoenyra-ems user --db data/demo/auth.db add alice --role operator"""


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _parser(out: TextIO, err: TextIO) -> argparse.ArgumentParser:
    class Parser(argparse.ArgumentParser):
        """argparse that writes to ``out`` / ``err`` and never calls ``sys.exit``."""

        def _print_message(self, message: str, file: object = None) -> None:
            if message:
                (err if file is sys.stderr else out).write(message)

        def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
            if message:
                err.write(message)
            raise _Exit(status)

    parser = Parser(
        prog=PROG,
        usage=f"{PROG} [-c CONFIG | --db DB] COMMAND …",
        description="Manage users, roles, site access and API tokens.",
        epilog=WHERE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    roles = "|".join(Role)

    add = sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", default=Role.VIEWER.value, metavar=roles, help="default: viewer")

    role = sub.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", metavar=roles)

    for command, text in (("grant", "give a user access to a site"), ("ungrant", "withdraw access")):
        p = sub.add_parser(command, help=text)
        p.add_argument("name")
        p.add_argument("site")

    sub.add_parser("token", help="create an API token (printed once, as the last line)").add_argument("name")
    sub.add_parser("revoke", help="revoke all of a user's tokens").add_argument("name")
    sub.add_parser("list", help="list users, roles, sites and active tokens")
    sub.add_parser("remove", help="remove a user with their tokens and grants").add_argument("name")
    return parser


async def _run(ns: argparse.Namespace, db_path: str, out: TextIO, err: TextIO) -> None:
    async with AuthStore(db_path) as store:
        command = ns.command
        if command == "add":
            role = Role.parse(ns.role)
            await store.add_user(ns.name, role)
            out.write(f"added user {ns.name} ({role})\n")
        elif command == "role":
            role = Role.parse(ns.role)
            await store.set_role(ns.name, role)
            out.write(f"user {ns.name} is now {role}\n")
        elif command == "grant":
            await store.grant(ns.name, ns.site)
            out.write(f"granted {ns.name} access to site {ns.site}\n")
        elif command == "ungrant":
            if await store.ungrant(ns.name, ns.site):
                out.write(f"withdrew {ns.name}'s access to site {ns.site}\n")
            else:
                out.write(f"{ns.name} had no access to site {ns.site}\n")
        elif command == "token":
            token = await store.create_token(ns.name)
            err.write(f"new API token for {ns.name} (shown once; store it now):\n")
            err.flush()
            out.write(token + "\n")
        elif command == "revoke":
            count = await store.revoke(ns.name)
            out.write(f"revoked {count} token{'' if count == 1 else 's'} of {ns.name}\n")
        elif command == "list":
            users = await store.list_users()
            if not users:
                out.write("no users\n")
                return
            rows = [("NAME", "ROLE", "TOKENS", "SITES")] + [
                (
                    u.name,
                    str(u.role),
                    str(u.active_tokens),
                    "* (all)" if u.role is Role.ADMIN else ",".join(u.sites) or "-",
                )
                for u in users
            ]
            widths = [max(len(r[i]) for r in rows) for i in range(3)]
            for r in rows:
                out.write(
                    "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] + "\n"
                )
        elif command == "remove":
            await store.remove_user(ns.name)
            out.write(f"removed user {ns.name}\n")
        else:  # pragma: no cover - argparse restricts the choices
            raise AssertionError(command)


def user_main(args: Sequence[str], db_path: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one ``user`` subcommand against the auth database at ``db_path``; returns the exit code.

    Synchronous (it runs its own event loop): call it from a plain function, not from a coroutine.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        ns = _parser(out, err).parse_args(list(args))
    except _Exit as exc:
        return exc.status
    try:
        asyncio.run(_run(ns, db_path, out, err))
    except AuthError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except (sqlite3.Error, OSError) as exc:
        err.write(f"error: auth database {db_path}: {exc}\n")
        return 1
    return 0
