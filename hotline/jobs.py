"""Periodic jobs of the running server: the recording rule, SLA sweeps, daily scores and digests.

One asyncio task owned by the app (started and cancelled-and-awaited in a cleanup context).
Each job is idempotent — flagging, sweeping, accruing and the once-a-day digest all check what
is already done in the database — so a restart, or two ticks close together, never doubles
anything. A job that fails is logged and retried on the next tick; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from hotline.desk.service import Desk
from hotline.issues import IssueService

log = logging.getLogger(__name__)

__all__ = ["Jobs"]

DAILY_AT = time(8, 0)
"""Local time after which the daily jobs run (digests reach owners at the start of the day)."""


class Jobs:
    def __init__(self, issues: IssueService, desk: Desk, tz: ZoneInfo, *, interval: float = 60.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.issues = issues
        self.desk = desk
        self.tz = tz
        self.interval = interval
        self._clock = clock
        self._daily_done: date | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hotline-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        """One tick: every-minute jobs, and the daily ones once per local day after 08:00."""
        await self._guarded("recording overdue", self.issues.flag_recording_overdue)
        await self._guarded("SLA sweep", self.desk.sweep_sla)
        local = self._clock().astimezone(self.tz)
        if local.time() >= DAILY_AT and self._daily_done != local.date():
            await self._guarded("score accrual", self.desk.accrue_scores)
            await self._guarded("daily digests", self.desk.send_digests)
            self._daily_done = local.date()

    async def _run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval)

    @staticmethod
    async def _guarded(name: str, job: Callable[[], Awaitable[object]]) -> None:
        try:
            result = await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic job %s failed; retried on the next tick", name)
        else:
            if _worth_logging(result):
                log.info("%s: %s", name, result)


def _worth_logging(result: object) -> bool:
    """Something happened: a non-empty list or count, or a result record with a non-empty field."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return any(vars(result).values())
    return bool(result)
