"""Dispatch: A first, least-loaded B on leave, everyone away flagged, the log, coverage."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from deskkit import Clock, new_issue, sh

from hotline.desk.dispatch import Candidate, choose, format_span
from hotline.desk.service import Desk
from hotline.issues import IllegalTransition, IssueError
from hotline.store.desk.dispatch import Leave, WeeklyShift


def test_format_span() -> None:
    assert format_span(date(2026, 11, 20), date(2026, 11, 22)) == "2026-11-20..22"
    assert format_span(date(2026, 11, 30), date(2026, 12, 2)) == "2026-11-30..12-02"
    assert format_span(date(2026, 12, 31), date(2027, 1, 2)) == "2026-12-31..2027-01-02"
    assert format_span(date(2026, 5, 1), date(2026, 5, 1)) == "2026-05-01"


def test_choose_tie_broken_by_least_recently_dispatched() -> None:
    t = datetime(2026, 11, 1).astimezone()
    cands = [Candidate("zhang", "A", 0, "on leave 2026-11-20..22", 0, None),
             Candidate("li", "B", 1, None, 2, t),
             Candidate("wang", "B", 2, None, 2, t - timedelta(days=1)),
             Candidate("zhao", "B", 3, None, 3, None)]
    d = choose(cands)
    assert d.person_id == "wang" and d.role == "B"
    assert d.reason.startswith("A zhang on leave 2026-11-20..22 → B wang (fewest open issues: 2")
    # Never dispatched beats any time.
    d = choose([*cands[:2], Candidate("wang", "B", 2, None, 2, None)])
    assert d.person_id == "wang" and "least recently dispatched: never" in d.reason


async def test_a_role_available_gets_it(desk: Desk) -> None:
    issue_id = await new_issue(desk)
    result = await desk.dispatch(issue_id)
    assert (result.person_id, result.flagged, result.issue.status) == ("zhang", False, "dispatched")
    assert result.issue.owner == "zhang" and result.issue.planned_at is not None
    [entry] = await desk.dispatch_log(issue_id)
    assert (entry.person_id, entry.role, entry.reason) == ("zhang", "A", "A zhang available")
    events = await desk.ctx.store.issues.events(issue_id)
    assert events[-1].kind == "status" and events[-1].after is not None
    assert events[-1].after["owner"] == "zhang" and events[-1].note == "A zhang available"


async def test_a_on_leave_goes_to_least_loaded_b(desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 20, 10, 0)  # Friday
    await desk.add_leave(Leave("zhang", date(2026, 11, 20), date(2026, 11, 22), "年假"), made_by="boss")
    # li (rank 1) already has two open issues, wang (rank 2) one: wang is less loaded.
    for person, n in (("li", 2), ("wang", 1)):
        for _ in range(n):
            await desk.dispatch(await new_issue(desk), actor="boss", to=person, note="load")
    issue_id = await new_issue(desk)
    result = await desk.dispatch(issue_id)
    assert result.person_id == "wang"
    assert result.reason == "A zhang on leave 2026-11-20..22 → B wang (fewest open issues: 1)"
    [entry] = await desk.dispatch_log(issue_id)
    assert (entry.role, entry.reason) == ("B", result.reason)
    # On Monday zhang is back.
    clock.t = sh(2026, 11, 23, 9, 0)
    assert (await desk.dispatch(await new_issue(desk))).person_id == "zhang"


async def test_everyone_away_is_unassigned_and_flagged(desk: Desk, clock: Clock) -> None:
    clock.t = sh(2026, 11, 20, 10, 0)
    await desk.add_leave(Leave("zhao", date(2026, 11, 16), date(2026, 11, 27)), made_by="boss")
    issue_id = await new_issue(desk, category="erp")
    result = await desk.dispatch(issue_id)
    assert result.flagged and result.person_id is None
    assert result.reason == "nobody available: A zhao on leave 2026-11-16..27"
    assert result.issue.status == "recorded" and result.issue.owner is None  # kept, not dropped
    proj = await desk.ctx.desk.changes.projection(issue_id)
    assert proj is not None and proj["unassigned"] == 1
    [entry] = await desk.dispatch_log(issue_id)
    assert entry.person_id is None and entry.reason == result.reason
    assert [e.kind for e in await desk.ctx.store.issues.events(issue_id)][-1] == "unassigned"
    # A later manual dispatch clears the flag.
    result = await desk.dispatch(issue_id, actor="boss", to="zhang", note="zhao away, zhang knows ERP")
    assert result.issue.owner == "zhang"
    proj = await desk.ctx.desk.changes.projection(issue_id)
    assert proj is not None and proj["unassigned"] == 0


async def test_shift_and_24x7_fall_back_to_next_business_start(desk: Desk, clock: Clock) -> None:
    # li works nights on Mondays; at 22:00 on Monday a P1 goes to li (A zhang is off hours).
    await desk.set_shifts("zhang", [WeeklyShift("zhang", wd, "08:00", "17:30") for wd in range(5)])
    await desk.set_shifts("li", [WeeklyShift("li", 0, "17:30", "24:00")])
    await desk.set_shifts("wang", [WeeklyShift("wang", 1, "08:00", "17:30")])
    clock.t = sh(2026, 11, 23, 22, 0)
    result = await desk.dispatch(await new_issue(desk, priority="P1"))
    assert result.person_id == "li"
    assert "A zhang off shift at 2026-11-23 22:00" in result.reason
    # A P3 at the same moment waits for the next business start: zhang at 08:00 Tuesday.
    assert (await desk.dispatch(await new_issue(desk, priority="P3"))).person_id == "zhang"
    # Tuesday 23:00: nobody is on shift now; the P1 goes to whoever is there at 08:00.
    clock.t = sh(2026, 11, 24, 23, 0)
    result = await desk.dispatch(await new_issue(desk, priority="P1"))
    assert result.person_id == "zhang" and result.reason.startswith("nobody on duty now; at 2026-11-25 08:00")


async def test_manual_dispatch_needs_a_reason_and_legal_state(desk: Desk) -> None:
    issue_id = await new_issue(desk)
    with pytest.raises(IssueError, match="say why"):
        await desk.dispatch(issue_id, actor="boss", to="li")
    await desk.dispatch(issue_id, actor="boss", to="li", note="li knows this printer")
    with pytest.raises(IllegalTransition):
        await desk.dispatch(issue_id)
    [entry] = await desk.dispatch_log(issue_id)
    assert (entry.role, entry.actor, entry.reason) == ("manual", "boss", "manual by boss: li knows this printer")


async def test_coverage_lists_uncovered_working_days(desk: Desk) -> None:
    await desk.add_leave(Leave("zhao", date(2026, 9, 30), date(2026, 10, 9)), made_by="boss")
    gaps = await desk.coverage(date(2026, 9, 29), date(2026, 10, 12))
    # 10-01..07 are holidays, 10-10 is a make-up Saturday (zhao back), 10-11 is Sunday.
    assert [(g.day, g.post_id) for g in gaps] == [
        (date(2026, 9, 30), "erp"), (date(2026, 10, 8), "erp"), (date(2026, 10, 9), "erp")]
    assert gaps[0].reasons == "A zhao on leave 2026-09-30..10-09"


async def test_reassign_is_logged_and_needs_a_reason(desk: Desk) -> None:
    issue_id = await new_issue(desk)
    with pytest.raises(IssueError, match="only issues being worked"):
        await desk.reassign(issue_id, "li", actor="boss", note="x")
    await desk.dispatch(issue_id)
    with pytest.raises(IssueError, match="say why"):
        await desk.reassign(issue_id, "li", actor="boss", note="")
    issue = await desk.reassign(issue_id, "li", actor="boss", note="zhang 出差")
    assert issue.owner == "li" and issue.status == "dispatched"
    entry = (await desk.dispatch_log(issue_id))[0]
    assert (entry.person_id, entry.role, entry.reason) == (
        "li", "manual", "reassigned by boss from zhang: zhang 出差")
    last = (await desk.ctx.store.issues.events(issue_id))[-1]
    assert (last.kind, last.before, last.after) == ("fields", {"owner": "zhang"}, {"owner": "li"})
