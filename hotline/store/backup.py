"""Backing up the database while the server writes it, and putting a backup back.

A backup is SQLite's online backup API copying every page in ONE step: the step reads inside
one read transaction, and with WAL a reader sees the database as it was when its transaction
began while the server's writer goes on. So the copy holds exactly the transactions committed
before the backup began (every call and issue row whose ``COMMIT`` had returned), none half.
A step-by-step copy would restart whenever the server wrote meanwhile — under steady calls it
might never finish. The copy is written next to its final name, switched out of WAL (one
self-contained file), checked with ``quick_check``, synced and only then renamed into place.

A restore refuses while anything holds the database open — the server's connections hold a
shared lock on the file for as long as they are open, so an exclusive lock that cannot be had
at once means a server (or another hotline command) is using it. It refuses a backup that is
not a hotline database, fails ``PRAGMA integrity_check``, or has a schema newer than this
hotline; then, holding the exclusive lock, it folds the old file's WAL into it, keeps the old
file aside (``<name>.before-restore-<time>``) and moves a synced copy of the backup into place.
An older schema is fine: the server migrates it on start.

These run in a command of their own, not on the server's event loop, so they use ``sqlite3``
directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hotline.store.db import BUSY_TIMEOUT_MS, StoreError, available_migrations

__all__ = ["BackupError", "BackupResult", "RestoreResult", "backup_database", "database_in_use",
           "restore_database"]

INTEGRITY_LINES = 10
"""How many of ``integrity_check``'s complaints a refusal quotes."""


class BackupError(StoreError):
    """A backup or restore was refused; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float
    schema_version: int


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    bytes: int
    schema_version: int
    kept_aside: Path | None
    """Where the database that was replaced now is (None: there was none)."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as f:
        os.fsync(f.fileno())


def _schema_version(conn: sqlite3.Connection, shown: Path) -> int:
    """The backup's highest applied migration; refuses what is not a hotline database."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    if has_table is None:
        raise BackupError(f"{shown}: not a hotline database (no schema_migrations table)")
    version = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
    known = len(available_migrations())
    if version > known:
        raise BackupError(f"{shown}: schema version {version} is newer than this hotline ({known}); "
                          "restore it with the hotline that wrote it")
    if version < 1:
        raise BackupError(f"{shown}: not a hotline database (no migration applied)")
    return version


def backup_database(source: Path, target: Path) -> BackupResult:
    """Copy the database at ``source`` to the new file ``target`` (see the module doc)."""
    if not source.is_file():
        raise BackupError(f"{source}: no database there")
    if target.exists():
        raise BackupError(f"{target}: exists; give a new file name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    started = time.monotonic()
    try:
        src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            dst = sqlite3.connect(partial, isolation_level=None)
            try:
                src.backup(dst, pages=-1)  # one step: one read transaction, one snapshot
                dst.execute("PRAGMA journal_mode = DELETE")
                check = [r[0] for r in dst.execute("PRAGMA quick_check")]
                if check != ["ok"]:
                    raise BackupError(f"{target}: the copy fails quick_check: {'; '.join(check[:3])}")
                version = _schema_version(dst, source)
            finally:
                dst.close()
        finally:
            src.close()
        _fsync_file(partial)
        os.rename(partial, target)
        _fsync_dir(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: backup failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(target, target.stat().st_size, time.monotonic() - started, version)


def _check_backup(backup: Path) -> int:
    """The backup's schema version, once it passes ``integrity_check``; else a refusal."""
    if not backup.is_file():
        raise BackupError(f"{backup}: no such file")
    try:
        conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"{backup}: cannot be opened: {exc}") from None
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            shown = "; ".join(problems[:INTEGRITY_LINES])
            raise BackupError(f"{backup}: fails PRAGMA integrity_check ({len(problems)} problem(s)): {shown}")
        return _schema_version(conn, backup)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{backup}: not a usable SQLite database: {exc}") from None
    finally:
        conn.close()


def _lock_exclusively(database: Path) -> sqlite3.Connection:
    """A connection holding the database's exclusive lock, or a refusal if anyone has it open."""
    conn = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        # Exclusive locking mode keeps the lock after COMMIT, until the connection closes.
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(f"{database}: in use by a running hotline server or command; stop it "
                              "before restoring") from None
        raise BackupError(f"{database}: cannot be locked: {exc}") from None
    return conn


def database_in_use(database: Path) -> bool:
    """Whether some process holds ``database`` open (a running server does, all the time)."""
    if not database.exists():
        return False
    try:
        _lock_exclusively(database).close()
    except BackupError:
        return True
    return False


def restore_database(backup: Path, database: Path, *, now: datetime | None = None) -> RestoreResult:
    """Replace ``database`` by a copy of ``backup`` (see the module doc)."""
    version = _check_backup(backup)
    if backup.resolve() == database.resolve():
        raise BackupError(f"{backup}: is the database itself")
    database.parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    partial = database.with_name(f".{database.name}.{os.getpid()}.restoring")
    lock: sqlite3.Connection | None = None
    aside: Path | None = None
    try:
        if database.exists():
            lock = _lock_exclusively(database)
            # Fold the WAL into the file and leave rollback mode: the old file then stands alone
            # (no -wal/-shm left behind to be mistaken for the restored database's).
            lock.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            lock.execute("PRAGMA journal_mode = DELETE")
        shutil.copyfile(backup, partial)
        _fsync_file(partial)
        if lock is not None:
            aside = database.with_name(f"{database.name}.before-restore-{stamp}")
            os.rename(database, aside)
        for suffix in ("-wal", "-shm"):
            # Nobody's (the lock proved it, or there was no database): they must not meet the new file.
            with contextlib.suppress(FileNotFoundError):
                database.with_name(database.name + suffix).unlink()
        os.rename(partial, database)
        _fsync_dir(database.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"{database}: restore failed: {exc}") from None
    finally:
        if lock is not None:
            lock.close()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return RestoreResult(database, database.stat().st_size, version, aside)
