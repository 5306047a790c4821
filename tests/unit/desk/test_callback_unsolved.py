"""A callback cut short after "not solved": the issue reopens at once, like a poor callback."""

from __future__ import annotations

import pytest
from deskkit import Clock, new_issue, sh

from hotline.desk.callback import CallbackScores
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.issues import IssueError


async def resolved(desk: Desk, clock: Clock) -> int:
    issue_id = await new_issue(desk)
    await desk.dispatch(issue_id)
    clock.t = sh(2026, 11, 23, 10, 0)
    await desk.resolve(issue_id, by="zhang", resolution="重新配置了打印机 IP")
    return issue_id


async def test_not_solved_then_hung_up_reopens_with_the_partial_answers(desk: Desk, clock: Clock) -> None:
    desk.ctx.settings = DeskSettings(channels=(ChannelSettings("mail", "smtp"),))
    issue_id = await resolved(desk, clock)
    clock.t = sh(2026, 11, 23, 15, 0)
    outcome = await desk.record_unsolved_callback(issue_id, {"efficiency": 4}, by="ivr",
                                                  comment="survey call #7, hung-up")
    assert outcome.reopened and outcome.issue.status == "reopened"
    assert outcome.reason == "caller says not fixed (callback cut short)"
    assert await desk.callback_queue() == []  # not called again for this resolution
    # Audited: the partial answers, then the status change with the reason.
    events = await desk.ctx.store.issues.events(issue_id)
    partial, status = events[-2:]
    assert (partial.kind, partial.actor, partial.at) == ("callback_partial", "ivr", sh(2026, 11, 23, 15, 0))
    assert partial.after == {"efficiency": 4, "fixed": False, "reopened": True, "complete": False}
    assert partial.note == "callback by ivr cut short: fixed no, efficiency 4 — survey call #7, hung-up"
    assert (status.kind, status.after, status.note) == (
        "status", {"status": "reopened"}, "caller says not fixed (callback cut short)")
    # Notified as a poor callback is: the owner and the managers.
    rows = await desk.ctx.store.db.fetch_all(
        "SELECT event, recipient FROM desk_outbox WHERE issue_id = ? AND event != 'dispatched' ORDER BY id",
        (issue_id,))
    assert [tuple(r) for r in rows] == [("reopened", "zhang"), ("poor_callback", "boss")]
    # No callback row (it holds three scores) and no points for the owner.
    assert await desk.callbacks_of(issue_id) == []
    assert [e for e in await desk.score_ledger() if e.key == f"resolve:{issue_id}"] == []
    # Worked again and resolved again, the next callback counts as usual.
    await desk.transition(issue_id, "in_progress", actor="zhang")
    await desk.resolve(issue_id, by="zhang", resolution="更换硒鼓")
    assert not (await desk.record_callback(issue_id, CallbackScores(4, 4, 4))).reopened


async def test_no_scores_at_all_still_reopens(desk: Desk, clock: Clock) -> None:
    issue_id = await resolved(desk, clock)
    outcome = await desk.record_unsolved_callback(issue_id, {})
    assert outcome.issue.status == "reopened"
    partial = (await desk.ctx.store.issues.events(issue_id))[-2]
    assert partial.note == "callback by ivr cut short: fixed no, no scores"


async def test_only_a_resolved_issue_and_only_real_scores(desk: Desk, clock: Clock) -> None:
    issue_id = await resolved(desk, clock)
    for bad in ({"speed": 3}, {"result": 0}, {"attitude": 6}, {"efficiency": True}):
        with pytest.raises(ValueError, match="callback score"):
            await desk.record_unsolved_callback(issue_id, bad)
    assert (await desk.ctx.store.issues.get(issue_id)).status == "resolved"  # type: ignore[union-attr]
    await desk.record_callback(issue_id, CallbackScores(5, 5, 5))  # an operator was faster
    with pytest.raises(IssueError, match="only resolved issues"):
        await desk.record_unsolved_callback(issue_id, {"efficiency": 2})
    assert [e.kind for e in await desk.ctx.store.issues.events(issue_id)].count("callback_partial") == 0
