"""``hotline backup PATH`` and ``hotline restore PATH``: the database file, safely.

``backup`` may run while the server takes calls (the copy is the database as it was when the
backup began); ``restore`` refuses while a server holds the database, refuses a backup that
fails ``PRAGMA integrity_check`` or comes from a newer hotline, and keeps the replaced file
aside. How, and why it is consistent: :mod:`hotline.store.backup`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hotline.config import Config
from hotline.store.backup import BackupError, backup_database, restore_database

__all__ = ["add_backup_arguments", "add_restore_arguments", "run_backup", "run_restore"]


ConfigArg = Callable[[argparse.ArgumentParser], None]


def add_backup_arguments(parser: argparse.ArgumentParser, config_arg: ConfigArg) -> None:
    config_arg(parser)
    parser.add_argument("path", type=Path, help="the backup file to write (must not exist yet)")


def add_restore_arguments(parser: argparse.ArgumentParser, config_arg: ConfigArg) -> None:
    config_arg(parser)
    parser.add_argument("path", type=Path, help="the backup file to put in place of the database")


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB ({n} bytes)"


def run_backup(config: Config, args: argparse.Namespace) -> int:
    try:
        result = backup_database(config.database.path, args.path)
    except BackupError as exc:
        print(f"backup: {exc}", file=sys.stderr)
        return 1
    print(f"{config.database.path} backed up to {result.path}: {_size(result.bytes)} in "
          f"{result.seconds:.2f} s, schema version {result.schema_version}")
    return 0


def run_restore(config: Config, args: argparse.Namespace) -> int:
    try:
        result = restore_database(args.path, config.database.path)
    except BackupError as exc:
        print(f"restore: {exc}", file=sys.stderr)
        print(f"restore: {config.database.path} is unchanged", file=sys.stderr)
        return 1
    print(f"{args.path} restored to {result.path}: {_size(result.bytes)}, schema version "
          f"{result.schema_version} (newer migrations run when the server starts)")
    if result.kept_aside is not None:
        print(f"the database it replaced is kept as {result.kept_aside}")
    return 0
