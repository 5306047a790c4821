"""The delivery worker: drains the outbox with retries, exponential backoff and leases.

Theory of operation
-------------------
The worker claims a batch of due rows under a lease of
:attr:`DeskSettings.lease_seconds` (one ``UPDATE … RETURNING``, so two workers —
two processes on a shared database — never hold the same row), sends them
concurrently, then marks each ``sent`` or schedules its retry after
``backoff_base · 2^(attempts-1)`` seconds (at most ``backoff_cap``); after
``max_attempts`` the row is ``dead`` and shown as failed on its issue.

The guarantee is *at least once*: a row is never lost (it stays ``pending``
until a peer accepted it) and is sent twice only if the worker died — or its
lease ran out — after the peer accepted it and before ``sent`` was committed.
Every message carries the row id so a receiver can drop such a repeat.

Whoever starts the worker (the app's cleanup context) stops and awaits it:
:meth:`DeliveryWorker.stop` cancels the loop, and gives back the leases of
deliveries it interrupted so the next worker retries them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from hotline.desk.context import utc_now
from hotline.desk.notify.channels import Channel
from hotline.desk.settings import DeskSettings
from hotline.store.desk.outbox import OutboxRow, OutboxStore

log = logging.getLogger(__name__)

__all__ = ["DeliveryWorker", "backoff"]


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


class DeliveryWorker:
    def __init__(self, outbox: OutboxStore, channels: Mapping[str, Channel], settings: DeskSettings, *,
                 clock: Callable[[], datetime] = utc_now, worker_id: str | None = None,
                 batch: int = 20, idle_seconds: float = 5.0) -> None:
        self.outbox = outbox
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.batch = batch
        self.idle_seconds = idle_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("delivery worker already started")
        self._task = asyncio.create_task(self._run(), name=f"outbox {self.id}")

    async def stop(self) -> None:
        """Cancel the loop, await it, and give back the leases of interrupted deliveries."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        released = await self.outbox.release(self.id)
        if released:
            log.info("outbox %s: released %d interrupted deliveries", self.id, released)

    def wake(self) -> None:
        """New rows were enqueued: look now instead of at the next idle tick."""
        self._wake.set()

    # -- work ----------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns the number of rows attempted."""
        now = self.clock()
        rows = await self.outbox.claim(self.id, now, now + timedelta(seconds=self.settings.lease_seconds),
                                       self.batch)
        if rows:
            await asyncio.gather(*(self._deliver(r) for r in rows))
        return len(rows)

    async def _deliver(self, row: OutboxRow) -> None:
        channel = self.channels.get(row.channel)
        try:
            if channel is None:
                raise LookupError(f"no channel named {row.channel!r} is configured")
            await asyncio.wait_for(channel.send(row), timeout=self._timeout(row))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure is the peer's or the config's: retry, never crash
            error = f"{type(exc).__name__}: {exc}"
            if row.attempts >= self.settings.max_attempts:
                log.warning("outbox %d (%s to %s) given up after %d attempts: %s",
                            row.id, row.event, row.recipient, row.attempts, error)
                await self.outbox.mark_failed(row.id, self.id, error, None)
            else:
                wait = backoff(row.attempts, self.settings.backoff_base, self.settings.backoff_cap)
                await self.outbox.mark_failed(row.id, self.id, error,
                                              self.clock() + timedelta(seconds=wait))
            return
        if not await self.outbox.mark_sent(row.id, self.id, self.clock()):
            log.warning("outbox %d: lease lost before it was marked sent; it may be sent again", row.id)

    def _timeout(self, row: OutboxRow) -> float:
        for ch in self.settings.channels:
            if ch.name == row.channel:
                return min(ch.timeout, self.settings.lease_seconds)
        return self.settings.lease_seconds

    async def _run(self) -> None:
        while True:
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped: log, wait, try again
                log.exception("outbox %s: claiming failed", self.id)
                done = 0
            if done:
                continue
            self._wake.clear()
            delay = self.idle_seconds
            nxt = await self.outbox.next_due()
            if nxt is not None:
                delay = max(0.0, min(delay, (nxt - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
