"""A month of service desk records for the report tests, made through the desk's services.

November 2026 in Shanghai, each step at its own instant of a clock the seeding moves: five
calls that ended each way a call ends (answered twice, missed, voicemail, abandoned), one web
issue, and two calls just outside the month — 23:00 on 31 October and 00:30 on 1 December local
time, which is still 30 November in UTC — that the November report must leave out. The two
answered calls are worked to opposite ends: one recorded, answered and resolved well within
the P1 targets and scored well; one on a Saturday night, recorded late, answered and resolved
past the targets and scored poorly (which reopens it). :class:`Expected` holds what the records
imply, worked out from the same specification the seeding follows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.config import load_config
from hotline.desk.callback import CallbackScores
from hotline.desk.service import Desk
from hotline.issues import IssueService
from hotline.services import build_calendar
from hotline.store import Store
from hotline.store.records import NewCall
from tests.interop.peers import LOOPBACK
from tests.interop.serve_helpers import HotlineServer

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=SH)
"""The server's ``--clock``: the report opens on the month before, November 2026."""
PASSWORD = "reports-pass-2026"
OPERATOR, MANAGER, ENGINEER = "chenjing", "wangjun", "luoyu"
FAST, SLOW = "zhangwei", "liuyang"
"""The engineers of the well-worked and the badly-worked call."""


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Expected:
    """What the November records imply, counted as they are made."""

    issues: int = 0
    after_hours: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    categories: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(category or "-", source) -> issues."""
    dispositions: Counter[str] = field(default_factory=Counter)
    phone_calls: int = 0
    recorded_in_time: int = 0
    response: dict[str, list[bool]] = field(default_factory=dict)
    resolution: dict[str, list[bool]] = field(default_factory=dict)
    resolved: int = 0
    reopened: int = 0
    scores: dict[str, list[int]] = field(default_factory=lambda: {"efficiency": [], "result": [], "attitude": []})
    dispatched: Counter[str] = field(default_factory=Counter)
    ids: dict[str, int] = field(default_factory=dict)


async def seed(server: HotlineServer) -> Expected:
    config = load_config(server.config_path)
    clock = Clock()
    e = Expected()
    async with Store(server.database) as store:
        issues = IssueService(store, config.site.timezone, clock=clock)
        desk = Desk(store, build_calendar(config), config.desk, clock=clock)

        async def call(name: str, started: datetime, minutes: float, disposition: str, *,
                       in_month: bool = True, after_hours: bool = False) -> int:
            clock.at = started
            number = f"+86135000{len(e.ids):05d}"
            record, issue = await issues.create_issue_for_call(NewCall(
                sip_call_id=f"reports-{name}@test", started_at=started, from_uri=f"sip:{number}@{LOOPBACK}",
                caller_raw=number, caller_key=number))
            clock.at = started + timedelta(minutes=minutes)
            await store.calls.end(record.id, clock.at, disposition)
            e.ids[name] = issue.id
            if in_month:
                e.issues += 1
                e.after_hours += after_hours
                e.sources["phone"] += 1
                e.dispositions[disposition] += 1
                e.phone_calls += 1
            return issue.id

        async def record(issue_id: int, after: float, priority: str, category: str, *, in_time: bool,
                         source: str = "phone") -> None:
            clock.at += timedelta(minutes=after)
            await desk.transition(issue_id, "recorded", actor=OPERATOR, changes={
                "category": category, "priority": priority, "description": f"report test {priority}"})
            e.categories[(category, source)] += 1
            e.recorded_in_time += in_time and source == "phone"

        async def dispatch(issue_id: int, after: float, to: str | None = None) -> None:
            clock.at += timedelta(minutes=after)
            result = await desk.dispatch(issue_id, actor=OPERATOR, to=to, note="report test" if to else "")
            assert result.person_id is not None, result
            e.dispatched[result.person_id] += 1

        async def work(issue_id: int, owner: str, respond_after: float, resolve_after: float, priority: str,
                       scores: tuple[int, int, int]) -> None:
            created = (await store.issues.get(issue_id)).created_at  # type: ignore[union-attr]
            sla = config.desk.sla[priority]
            assert not sla.response.business and not sla.resolution.business, "P1 runs around the clock"
            clock.at += timedelta(minutes=respond_after)
            await desk.transition(issue_id, "in_progress", actor=owner)
            e.response.setdefault(priority, []).append(clock.at - created <= timedelta(minutes=sla.response.minutes))
            clock.at += timedelta(minutes=resolve_after)
            await desk.resolve(issue_id, by=owner, resolution="fixed for the report test")
            e.resolution.setdefault(priority, []).append(
                clock.at - created <= timedelta(minutes=sla.resolution.minutes))
            e.resolved += 1
            clock.at += timedelta(hours=2)
            outcome = await desk.record_callback(issue_id, CallbackScores(*scores), by=OPERATOR)
            e.reopened += outcome.reopened
            if outcome.reopened:  # its resolution clock runs again: no longer measured
                e.resolution[priority].pop()
            for key, value in zip(("efficiency", "result", "attitude"), scores, strict=True):
                e.scores[key].append(value)

        # Tuesday 10:00: answered, recorded in 3 minutes, answered and resolved well inside P1's targets.
        quick = await call("quick", datetime(2026, 11, 3, 10, 0, tzinfo=SH), 2, "answered")
        await record(quick, 3, "P1", "network", in_time=True)
        await dispatch(quick, 1, FAST)
        await work(quick, FAST, 8, 50, "P1", (5, 4, 5))
        # Saturday 22:00 (after hours): recorded 45 minutes after the call, worked past both targets.
        slow = await call("slow", datetime(2026, 11, 7, 22, 0, tzinfo=SH), 3, "answered", after_hours=True)
        await record(slow, 45, "P1", "network", in_time=False)
        await dispatch(slow, 5, SLOW)
        await work(slow, SLOW, 180, 300, "P1", (2, 3, 1))
        # Calls that reached nobody: one recorded in time, two never recorded.
        missed = await call("missed", datetime(2026, 11, 10, 9, 30, tzinfo=SH), 1, "missed")
        await record(missed, 5, "P3", "printer", in_time=True)
        await call("voicemail", datetime(2026, 11, 12, 14, 0, tzinfo=SH), 2, "voicemail")
        await call("abandoned", datetime(2026, 11, 12, 15, 0, tzinfo=SH), 0.5, "abandoned")
        for _ in range(2):  # vm and abandoned: no category
            e.categories[("-", "phone")] += 1
        # A web issue on Friday 11:00, dispatched by the desk's own rule.
        clock.at = datetime(2026, 11, 20, 11, 0, tzinfo=SH)
        web = await issues.create_issue(source="web", actor=OPERATOR, fields={"description": "web form"})
        e.ids["web"] = web.id
        e.issues += 1
        e.sources["web"] += 1
        await record(web.id, 2, "P4", "printer", in_time=False, source="web")
        await dispatch(web.id, 1)
        # Just outside November, either side (local time).
        await call("october", datetime(2026, 10, 31, 23, 0, tzinfo=SH), 2, "answered", in_month=False)
        await call("december", datetime(2026, 12, 1, 0, 30, tzinfo=SH), 2, "missed", in_month=False)
        clock.at = NOW
        await issues.flag_recording_overdue()
        await desk.sweep_sla()
    return e


def add_users(server: HotlineServer) -> None:
    server.add_users({OPERATOR: "operator", MANAGER: "manager", ENGINEER: "engineer", FAST: "engineer"},
                     PASSWORD)
