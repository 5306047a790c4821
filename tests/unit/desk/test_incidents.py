"""Major incidents and merged calls, on the real store: declare, link callers, clear and notify."""

from __future__ import annotations

from datetime import timedelta

import pytest
from deskkit import SH, Clock

from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.incidents import IncidentError, IncidentService
from hotline.issues import IssueError, IssueService
from hotline.store import Store
from hotline.store.records import Employee, IssueRecord, NewCall


@pytest.fixture
def settings() -> DeskSettings:
    # A channel, so that notifications become outbox rows (nothing is delivered in these tests).
    return DeskSettings(channels=(ChannelSettings("robot", "webhook", url="http://127.0.0.1:9/"),))


@pytest.fixture
def issues(desk: Desk, clock: Clock) -> IssueService:
    return IssueService(desk.ctx.store, SH, clock)


@pytest.fixture
def incidents(desk: Desk, issues: IssueService, clock: Clock) -> IncidentService:
    return IncidentService(desk.ctx.store, issues, SH, clock, desk=desk)


async def call_from(issues: IssueService, clock: Clock, number: str) -> IssueRecord:
    """A call arriving now from ``number``: its row and its issue, as the controller makes them."""
    clock.t += timedelta(minutes=1)
    _, issue = await issues.create_issue_for_call(NewCall(f"sip-{number}-{clock.t:%H%M}", clock.t,
                                                          caller_key=number))
    return issue


async def test_declare_checks_its_input_and_opens_a_recorded_parent_issue(
    incidents: IncidentService, store: Store,
) -> None:
    with pytest.raises(IncidentError, match="no category 'mail'"):
        await incidents.declare("邮件系统故障", categories=["mail"], announcement="邮件不可用", by="boss")
    with pytest.raises(IncidentError, match="title"):
        await incidents.declare("  ", categories=[], announcement="邮件不可用", by="boss")
    with pytest.raises(IncidentError, match="at most 300"):
        await incidents.declare("邮件系统故障", categories=[], announcement="长" * 301, by="boss")
    assert await incidents.active() == []

    incident = await incidents.declare("邮件系统故障", categories=["network", "network"],
                                       announcement=" 邮件系统目前无法使用，\n工程师正在处理 ", by="boss")
    assert (incident.categories, incident.announcement, incident.callers, incident.active) == (
        ("network",), "邮件系统目前无法使用， 工程师正在处理", 0, True)
    parent = await store.issues.get(incident.issue_id)
    assert parent is not None and parent.number == incident.issue_number
    assert (parent.status, parent.priority, parent.category, parent.tags) == (
        "recorded", "P1", "network", ("major-incident",))
    assert [i.id for i in await incidents.active()] == [incident.id]


async def test_three_callers_are_merged_into_one_parent_and_cleared_with_a_notice(
    incidents: IncidentService, issues: IssueService, store: Store, desk: Desk, clock: Clock,
) -> None:
    await store.directory.upsert([Employee("E1001", "陈静", department="财务部", email="chen@example.com",
                                           mobile="+8613800000001")])
    incident = await incidents.declare("邮件系统故障", categories=["network"], announcement="邮件不可用",
                                       by="boss")
    callers = ["+8613800000001", "+8613800000002", "+8613800000002"]
    own = [await call_from(issues, clock, number) for number in callers]
    for issue in own:
        linked = await incidents.link_call(incident.id, issue.id)
    assert linked.callers == 3
    merged = await store.issues.merged_into(incident.issue_id)
    assert [i.id for i in merged] == [i.id for i in own]
    assert all(i.status == "closed" and i.merged_into == incident.issue_id and i.call_id for i in merged)
    # Nothing open remains for those callers, and the trail of both sides says what happened.
    assert await store.issues.open_for_caller(caller_key=callers[1], employee_id=None) == []
    assert [e.kind for e in await store.issues.events(own[0].id)] == ["created", "merged"]
    merged_in = [e for e in await store.issues.events(incident.issue_id) if e.kind == "merged_in"]
    assert [e.after["issue"] for e in merged_in if e.after] == [i.number for i in own]
    with pytest.raises(IncidentError, match="already linked"):
        await incidents.link_call(incident.id, own[0].id)

    cleared = await incidents.clear(incident.id, by="boss", notify=True)
    assert not cleared.incident.active and cleared.incident.cleared_by == "boss"
    # One notice per caller (the one who called twice is told once), through the outbox.
    assert sorted(cleared.notified) == ["+8613800000002", "E1001"]
    rows = await desk.notifications(incident.issue_id)
    assert sorted((r.event, r.recipient) for r in rows) == [
        ("incident_cleared", "+8613800000002"), ("incident_cleared", "E1001")]
    chen = next(r for r in rows if r.recipient == "E1001")
    assert chen.payload["recipient_email"] == "chen@example.com"
    assert chen.payload["recipient_name"] == "陈静"
    assert await incidents.active() == []
    late = await call_from(issues, clock, "+8613800000003")
    with pytest.raises(IncidentError, match="cleared"):
        await incidents.link_call(incident.id, late.id)
    with pytest.raises(IncidentError, match="already cleared"):
        await incidents.clear(incident.id, by="boss")
    assert (await store.issues.get(late.id)).status == "new"  # type: ignore[union-attr]


async def test_a_repeat_caller_is_offered_worked_issues_and_merged_into_one(
    issues: IssueService, store: Store, clock: Clock,
) -> None:
    number = "+8613800000009"
    abandoned = await call_from(issues, clock, number)  # never recorded: not "in progress"
    first = await call_from(issues, clock, number)
    await issues.transition(first.id, "recorded", actor="op",
                            changes={"category": "network", "description": "无法上网"})
    second = await call_from(issues, clock, number)
    await issues.transition(second.id, "recorded", actor="op",
                            changes={"category": "erp", "description": "ERP 登录失败"})
    now = await call_from(issues, clock, number)

    offered = await issues.open_issues_of_caller(caller_key=number, employee_id=None, besides=now.id)
    assert [i.id for i in offered] == [second.id, first.id]  # newest first, at most two
    assert abandoned.id not in [i.id for i in offered]

    parent = await issues.merge_call_issue(now.id, first.id, actor="ivr", note="caller pressed 1")
    assert parent.id == first.id
    merged = await store.issues.get(now.id)
    assert merged is not None and (merged.status, merged.merged_into) == ("closed", first.id)
    assert await issues.latest_issue_of_caller(caller_key=number, employee_id=None) == await store.issues.get(
        second.id)
    with pytest.raises(IssueError, match="itself"):
        await issues.merge_call_issue(first.id, first.id, actor="ivr", note="")
    with pytest.raises(IssueError, match="closed"):
        await issues.merge_call_issue(second.id, now.id, actor="ivr", note="")
