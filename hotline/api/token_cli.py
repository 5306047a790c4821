"""``hotline add-token USER`` and ``hotline revoke-token ID``: the JSON API's bearer tokens.

The token is printed once and never stored (only its SHA-256); both commands are audited in
the console's audit log with the acting system user.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hotline.config import Config

__all__ = ["add_revoke_arguments", "add_token_arguments", "run_add", "run_revoke"]

ROLES = ("operator", "engineer", "manager", "admin")


ConfigArg = Callable[[argparse.ArgumentParser], None]


def add_token_arguments(p: argparse.ArgumentParser, config_arg: ConfigArg) -> None:
    config_arg(p)
    p.add_argument("user", help="the staff id (people.id) the token acts for, e.g. a service account")
    p.add_argument("--name", default="", help='what the token is for, e.g. "monitoring"')
    p.add_argument("--expires", type=float, metavar="DAYS",
                   help="valid for this many days (default: until revoked)")
    p.add_argument("--role", action="append", choices=ROLES,
                   help="narrow the token to these of the user's roles (repeat; default: all of them)")


def add_revoke_arguments(p: argparse.ArgumentParser, config_arg: ConfigArg) -> None:
    config_arg(p)
    p.add_argument("id", type=int, help="the token's id (printed by add-token)")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


async def run_add(config: Config, args: argparse.Namespace) -> int:
    from hotline.api.tokens import hash_token, new_token
    from hotline.store import Store, StoreError

    if args.expires is not None and not 0 < args.expires <= 3650:
        print("add-token: --expires: a number of days from 0 to 3650", file=sys.stderr)
        return 2
    if len(args.name) > 100:
        print("add-token: --name: at most 100 characters", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    token = new_token()
    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        person = await store.people.get(args.user)
        if person is None or not person.active:
            print(f"add-token: {args.user!r} is not active staff", file=sys.stderr)
            return 2
        roles = tuple(dict.fromkeys(args.role)) if args.role else None
        missing = [r for r in roles or () if r not in person.roles]
        if missing:
            print(f"add-token: {args.user} does not hold the role(s) {', '.join(missing)}", file=sys.stderr)
            return 2
        try:
            row = await store.tokens.create(
                token_hash=hash_token(token), person_id=person.id, name=args.name, roles=roles, at=now,
                by=_actor(), expires_at=now + timedelta(days=args.expires) if args.expires else None)
        except StoreError as exc:
            print(f"add-token: {exc}", file=sys.stderr)
            return 2
    scope = ", ".join(roles or person.roles) or "(no roles)"
    expiry = row.expires_at.isoformat(timespec="seconds") if row.expires_at else "never"
    print(f"token {row.id} for {person.id} (roles {scope}; expires {expiry}); it is shown only now:",
          file=sys.stderr)
    print(token)
    return 0


async def run_revoke(config: Config, args: argparse.Namespace) -> int:
    from hotline.store import Store, StoreError

    async with Store(config.database.path, synchronous=config.database.synchronous) as store:
        try:
            row = await store.tokens.revoke(args.id, at=datetime.now(UTC), by=_actor())
        except StoreError as exc:
            print(f"revoke-token: {exc}", file=sys.stderr)
            return 2
    print(f"token {row.id} of {row.person_id} revoked")
    return 0
