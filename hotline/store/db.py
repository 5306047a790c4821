"""The SQLite database: connections, pragmas, migrations and transactions.

Aiosqlite connections to one WAL file: a *writer*, used by one transaction
at a time (an ``asyncio.Lock`` serialises them, because a coroutine switch in
the middle of a transaction on a shared connection would mix two callers'
writes), a *reader* for queries, which WAL lets run beside a write, and a
*background* reader for the long ones (the SLA sweep over every open issue,
the monthly report), which would otherwise hold the reader for a tenth of a
second to a second while every console page waits.

Writes that must not be lost (a new call, a new issue) go through
:meth:`Database.transaction`, whose ``COMMIT`` has returned — with
``synchronous=FULL``, on disk — before the caller is told anything.

The writes every call makes (its call and issue rows, the answer, the end, each
menu choice) go through :meth:`Database.write` instead: each a plain function
run on a thread of its own, and the writes queued meanwhile committed together,
so a batch costs one hand-over between the event loop and a thread and one sync
to disk, instead of a hand-over per statement and fetch (aiosqlite's way, twenty
per call — the largest share of a call set-up's CPU) and a sync per write. It
holds the same lock, so a transaction of either kind runs alone.

Migrations are the numbered ``migrations/NNNN_name.sql`` files shipped in the
package, applied in order on start and by ``hotline init-db``; the applied
versions are kept in ``schema_migrations``. Re-running is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

__all__ = ["Database", "Migration", "StoreError", "available_migrations", "utc_text"]

BUSY_TIMEOUT_MS = 5000
# Writes committed together at most (Database.write): bounds how long one commit holds the lock.
MAX_WRITES_PER_COMMIT = 200

P = ParamSpec("P")
T = TypeVar("T")


class StoreError(Exception):
    """The database refused an operation (constraint, missing row, bad state)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migrations shipped in ``hotline/store/migrations``, in version order."""
    out = []
    folder = resources.files("hotline.store") / "migrations"
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", entry.name)
        if match:
            out.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if versions != list(range(1, len(out) + 1)):
        raise StoreError(f"migration versions must be 1..N without gaps, found {versions}")
    return out


def utc_text(moment: datetime) -> str:
    """An aware datetime as the UTC ISO text stored in every timestamp column."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: store timestamps must carry a time zone")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class _QueuedWrite:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outcome: asyncio.Future[Any]


class Database:
    """One SQLite file opened for the server (or a command)."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self.path = path
        self.synchronous = synchronous.upper()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._background: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        # The thread of Database.write and its own connection (made on that thread).
        self._write_thread: ThreadPoolExecutor | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._queued_writes: list[_QueuedWrite] = []
        self._committer: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, *, migrate: bool = True) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            if migrate:
                await self.migrate()
            self._reader = await self._connect()
            self._background = await self._connect()
            self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="hotline-db-write")
            await asyncio.get_running_loop().run_in_executor(self._write_thread, self._open_write_conn)
        except BaseException:
            # An open aiosqlite connection is a non-daemon thread: left behind, it keeps the
            # process from exiting after the error has been reported (init-db hung).
            await self.close()
            raise

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        for pragma in self._pragmas():
            await conn.execute(pragma)
        return conn

    def _pragmas(self) -> list[str]:
        return [f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA journal_mode = WAL",
                f"PRAGMA synchronous = {self.synchronous}", "PRAGMA foreign_keys = ON"]

    def _open_write_conn(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma in self._pragmas():
            conn.execute(pragma)
        self._write_conn = conn

    def _close_write_conn(self) -> None:
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer  # the writes queued so far are committed first
            self._committer = None
        for conn in (self._reader, self._background, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._background = self._writer = None
        if self._write_thread is not None:
            async with self._write_lock:
                await asyncio.get_running_loop().run_in_executor(
                    self._write_thread, self._close_write_conn)
            self._write_thread.shutdown(wait=True)
            self._write_thread = None

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- migrations ------------------------------------------------------------------------
    async def schema_version(self) -> int:
        conn = self._require(self._writer)
        async with conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ) as cur:
            if await cur.fetchone() is None:
                return 0
        async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> list[int]:
        """Apply every shipped migration not applied yet; return the versions applied."""
        conn = self._require(self._writer)
        async with self._write_lock:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            current = await self.schema_version()
            known = available_migrations()
            if current > len(known):
                raise StoreError(
                    f"{self.path}: schema version {current} is newer than this hotline "
                    f"({len(known)}); upgrade hotline instead of downgrading the database"
                )
            applied = []
            for migration in known[current:]:
                # executescript commits on its own; wrap it so a failing migration leaves nothing.
                script = (
                    "BEGIN IMMEDIATE;\n" + migration.sql + "\n"
                    f"INSERT INTO schema_migrations VALUES ({migration.version}, "
                    f"'{migration.name}', '{utc_text(datetime.now(UTC))}');\nCOMMIT;"
                )
                try:
                    await conn.executescript(script)
                except Exception:
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                    raise
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration.version)
            return applied

    # -- access ----------------------------------------------------------------------------
    @staticmethod
    def _require(conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StoreError("database is not open")
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer; rolled back on any exception.

        Safe against cancellation at any await: aiosqlite runs a connection's statements in
        order on its thread, so a ROLLBACK queued after a cancelled BEGIN (or a failed COMMIT)
        always runs after it, and the shared writer is never left inside a transaction.
        """
        conn = self._require(self._writer)
        async with self._write_lock:
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                await asyncio.shield(self._rollback(conn))
                raise

    async def write(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in a transaction on the write thread; its result once
        committed. An exception from ``fn`` undoes what ``fn`` wrote and is raised here.

        Writes queued while the thread is busy are committed together (group commit): each in a
        savepoint of one ``BEGIN IMMEDIATE`` … ``COMMIT``, so one write's failure undoes only its
        own work, while the batch pays one thread hop and one sync to disk. With calls arriving
        faster than a commit takes, that is what keeps a call's three writes from queueing.

        ``fn`` is plain blocking code on a ``sqlite3.Connection`` (rows are ``sqlite3.Row``) and
        must not touch the event loop. Once queued a write runs: cancelling the caller only
        stops its waiting, as a cancelled ``COMMIT`` could not be taken back either.
        """
        if self._write_thread is None or self._write_conn is None:
            raise StoreError("database is not open")
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Any] = loop.create_future()
        self._queued_writes.append(_QueuedWrite(fn, args, kwargs, outcome))
        if self._committer is None or self._committer.done():
            self._committer = loop.create_task(self._commit_queued(), name="hotline-db-commit")
        return await asyncio.shield(outcome)

    async def _commit_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queued_writes:
            async with self._write_lock:
                batch = self._queued_writes[:MAX_WRITES_PER_COMMIT]
                del self._queued_writes[:MAX_WRITES_PER_COMMIT]
                results = await loop.run_in_executor(self._write_thread, self._commit_batch, batch)
            for queued, (ok, value) in zip(batch, results, strict=True):
                if ok:
                    queued.outcome.set_result(value)
                else:
                    queued.outcome.set_exception(value)

    def _commit_batch(self, batch: list[_QueuedWrite]) -> list[tuple[bool, Any]]:
        conn = self._write_conn
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for queued in batch:
                conn.execute("SAVEPOINT one_write")
                try:
                    value = queued.fn(conn, *queued.args, **queued.kwargs)
                except Exception as exc:
                    conn.execute("ROLLBACK TO one_write")
                    conn.execute("RELEASE one_write")
                    results.append((False, exc))
                else:
                    conn.execute("RELEASE one_write")
                    results.append((True, value))
            conn.execute("COMMIT")
        except BaseException as exc:
            # BEGIN, a savepoint or COMMIT failed (disk full, I/O error, a write that broke the
            # transaction itself): nothing of the batch is on disk, and every writer is told.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return [(False, exc)] * len(batch)
        return results

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        # "no transaction is active" means the BEGIN never ran, or the COMMIT did: fine.
        with contextlib.suppress(sqlite3.OperationalError):
            await conn.execute("ROLLBACK")

    # Every read is ONE call on the reader's thread (execute, fetch, close). A cursor left open
    # across an await -- execute() in one hop, fetchone() in the next -- keeps the shared reader
    # inside a read transaction, and every other task's query on it then sees that old snapshot:
    # an issue committed a moment ago reads as missing.

    async def fetch_all(self, sql: str, params: Sequence[Any] = (), *,
                        background: bool = False) -> list[aiosqlite.Row]:
        """The rows of one query, on the reader; ``background`` for long reads (the SLA sweep,
        reports) on a reader of their own, so that a console page never waits behind them."""
        conn = self._require(self._background if background else self._reader)
        return list(await conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Sequence[Any] = (), *,
                        background: bool = False) -> aiosqlite.Row | None:
        rows = await self.fetch_all(sql, params, background=background)
        return rows[0] if rows else None

    async def fetch_value(self, sql: str, params: Sequence[Any] = (), *, background: bool = False) -> Any:
        row = await self.fetch_one(sql, params, background=background)
        return None if row is None else row[0]

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)
