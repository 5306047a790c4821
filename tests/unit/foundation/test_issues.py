"""The issue life cycle: every (from, to) pair, audit events, the 30-minute recording rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.issues import (
    TRANSITIONS,
    IllegalTransition,
    IssueError,
    IssueService,
    Status,
    check_transition,
)
from hotline.store import EventDraft, StaleIssue, Store
from hotline.store.records import Category, Employee, NewCall, Post

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The life cycle as the service desk describes it, written out independently of TRANSITIONS.
EXPECTED_LEGAL = {
    ("new", "recorded"), ("new", "closed"),
    ("recorded", "dispatched"), ("recorded", "resolved"), ("recorded", "closed"),
    ("dispatched", "in_progress"), ("dispatched", "resolved"), ("dispatched", "recorded"),
    ("in_progress", "pending_caller"), ("in_progress", "resolved"),
    ("pending_caller", "in_progress"), ("pending_caller", "resolved"),
    ("resolved", "callback_done"), ("resolved", "reopened"),
    ("callback_done", "closed"), ("callback_done", "reopened"),
    ("closed", "reopened"),
    ("reopened", "dispatched"), ("reopened", "in_progress"), ("reopened", "resolved"),
}


@pytest.mark.parametrize(("a", "b"), list(itertools.product([s.value for s in Status], repeat=2)))
def test_every_pair(a: str, b: str) -> None:
    if (a, b) in EXPECTED_LEGAL:
        assert check_transition(a, b) is Status(b)
    else:
        with pytest.raises(IllegalTransition, match=f"cannot become {b}"):
            check_transition(a, b)


def test_table_matches_description() -> None:
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == EXPECTED_LEGAL
    assert set(TRANSITIONS) == set(Status)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


async def seed(store: Store) -> None:
    await store.people.upsert_posts([Post("network", "网络")])
    await store.people.upsert_categories([Category("network", "网络故障", "network", "1")])
    await store.directory.upsert([Employee("E100", "王芳", "炼油一部", mobile="+8613812345678")])


async def test_call_creates_linked_issue_and_audit(store: Store) -> None:
    await seed(store)
    clock = Clock(datetime(2026, 12, 31, 17, 0, tzinfo=UTC))  # already 2027 in Shanghai
    service = IssueService(store, SHANGHAI, clock)
    call, issue = await service.create_issue_for_call(NewCall(
        "call-1", clock.t, from_uri="sip:+8613812345678@10.0.0.1", from_display="WANG",
        caller_raw="+8613812345678", caller_key="+8613812345678"))
    assert issue.number == "HL-2027-000001"
    assert (issue.employee_id, issue.caller_name, issue.call_id) == ("E100", "王芳", call.id)
    _, unknown = await service.create_issue_for_call(
        NewCall("call-2", clock.t, from_display="Visitor", caller_key="+8613900000000"))
    assert (unknown.employee_id, unknown.caller_name) == (None, "Visitor")
    events = await store.issues.events(issue.id)
    assert [(e.kind, e.actor, e.after) for e in events] == [
        ("created", "system", {"call": "call-1", "source": "phone", "status": "new"})]


async def test_transitions_audit_before_and_after(store: Store) -> None:
    await seed(store)
    clock = Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    service = IssueService(store, SHANGHAI, clock)
    _, issue = await service.create_issue_for_call(NewCall("c", clock.t))
    with pytest.raises(IssueError, match="category and description are required"):
        await service.transition(issue.id, "recorded", actor="op1")
    clock.t += timedelta(minutes=5)
    issue = await service.transition(issue.id, "recorded", actor="op1", changes={
        "category": "network", "description": "打印机无法连接网络", "priority": "P3"})
    assert issue.status == "recorded" and issue.recorded_at == clock.t
    with pytest.raises(IllegalTransition):
        await service.transition(issue.id, "callback_done", actor="op1")
    with pytest.raises(IssueError, match="resolution text is required"):
        await service.transition(issue.id, "resolved", actor="op1")
    issue = await service.transition(issue.id, "resolved", actor="op1",
                                      changes={"resolution": "重启交换机端口"})
    with pytest.raises(IssueError, match="say why"):
        await service.transition(issue.id, "reopened", actor="op1")
    events = await store.issues.events(issue.id)
    assert [e.kind for e in events] == ["created", "status", "status"]
    assert events[1].before == {"status": "new", "category": None, "description": "",
                                "priority": None, "recorded_at": None}
    assert events[1].after is not None and events[1].after["category"] == "network"
    assert events[2].after == {"status": "resolved", "resolution": "重启交换机端口"}


async def test_concurrent_change_is_refused(store: Store) -> None:
    clock = Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    service = IssueService(store, SHANGHAI, clock)
    _, issue = await service.create_issue_for_call(NewCall("c", clock.t))
    await store.issues.apply(issue.id, expect_status="new", changes={"status": "closed"},
                             at=clock.t, event=EventDraft("a", "status"))
    with pytest.raises(StaleIssue, match="is closed now, not new"):
        await store.issues.apply(issue.id, expect_status="new", changes={"status": "recorded"},
                                 at=clock.t, event=EventDraft("b", "status"))


async def test_recording_overdue_after_thirty_minutes(store: Store) -> None:
    await seed(store)
    clock = Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    service = IssueService(store, SHANGHAI, clock)
    call_a, a = await service.create_issue_for_call(NewCall("a", clock.t))
    call_b, b = await service.create_issue_for_call(NewCall("b", clock.t))
    _, still_on_call = await service.create_issue_for_call(NewCall("c", clock.t))
    await store.calls.end(call_a.id, clock.t + timedelta(minutes=1), "abandoned")
    await store.calls.end(call_b.id, clock.t + timedelta(minutes=1), "answered")
    await service.transition(b.id, "recorded", actor="op", changes={
        "category": "network", "description": "VPN 连不上"})
    clock.t += timedelta(minutes=31)
    assert await service.flag_recording_overdue() == []  # 30 min after the end, not the start
    clock.t += timedelta(seconds=61)
    assert await service.flag_recording_overdue() == [a.id]
    assert await service.flag_recording_overdue() == []  # flagged once
    flagged = await store.issues.get(a.id)
    assert flagged is not None and flagged.recording_overdue
    assert not (await store.issues.get(still_on_call.id)).recording_overdue  # type: ignore[union-attr]
    assert [e.kind for e in await store.issues.events(a.id)] == ["created", "recording_overdue"]
