"""Helpers shared by the desk tests (fixtures are in conftest.py)."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.desk.service import Desk
from hotline.issues import IssueService

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config" / "calendar"
SH = ZoneInfo("Asia/Shanghai")
OFFICE = ((time(8, 0), time(12, 0)), (time(13, 30), time(17, 30)))


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t



async def new_issue(desk: Desk, *, category: str = "network", priority: str = "P3",
                    description: str = "打印机无法连接网络", status: str = "recorded") -> int:
    """An issue created (and recorded) now, as the duty desk would."""
    issues = IssueService(desk.ctx.store, SH, desk.ctx.clock)
    t = desk.ctx.now()
    issue = await desk.ctx.store.issues.create(
        source="phone", at=t, local_year=t.astimezone(SH).year, status="new", actor="op",
        fields={"category": category, "priority": priority, "description": description})
    if status != "new":
        issue = await issues.transition(issue.id, "recorded", actor="op")
    return issue.id
