"""Periodic jobs on a real store: the 30-minute rule fires, daily jobs run once per local day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.config import load_config
from hotline.desk.service import Desk
from hotline.issues import IssueService
from hotline.jobs import Jobs
from hotline.services import build_calendar
from hotline.store import Store
from hotline.store.records import NewCall
from tests.conftest import EXAMPLE_CONFIG

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


async def test_jobs_flag_overdue_and_run_daily_once(store: Store) -> None:
    clock = Clock(datetime(2026, 11, 25, 7, 50, tzinfo=SHANGHAI).astimezone(UTC))
    issues = IssueService(store, SHANGHAI, clock)
    desk = Desk(store, build_calendar(load_config(EXAMPLE_CONFIG)), clock=clock)
    daily: list[datetime] = []

    async def digests() -> list[str]:
        daily.append(clock.t)
        return []

    desk.send_digests = digests  # type: ignore[method-assign]  # observe the daily job only
    jobs = Jobs(issues, desk, SHANGHAI, clock=clock)
    call, issue = await issues.create_issue_for_call(NewCall("c1", clock.t))
    await store.calls.end(call.id, clock.t, "abandoned")
    await jobs.run_once()
    assert daily == []  # 07:50: before the daily time
    clock.t += timedelta(minutes=31)  # 08:21
    await jobs.run_once()
    await jobs.run_once()
    assert len(daily) == 1
    flagged = await store.issues.get(issue.id)
    assert flagged is not None and flagged.recording_overdue
    clock.t += timedelta(days=1)
    await jobs.run_once()
    assert len(daily) == 2
