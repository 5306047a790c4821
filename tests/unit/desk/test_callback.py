"""Resolution, the callback queue, scores from an operator or the IVR, reopen on poor scores."""

from __future__ import annotations

import pytest
from deskkit import Clock, new_issue, sh

from hotline.desk.callback import CallbackScores
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.issues import IssueError


def test_scores_from_dtmf_digits() -> None:
    assert CallbackScores.from_digits("534") == CallbackScores(5, 3, 4)
    for bad in ("53", "5340", "536", "5*4", ""):
        with pytest.raises(ValueError, match="three digits"):
            CallbackScores.from_digits(bad)
    with pytest.raises(ValueError, match="attitude must be an integer 1…5"):
        CallbackScores(5, 5, 0)


async def resolved(desk: Desk, clock: Clock) -> int:
    issue_id = await new_issue(desk)
    await desk.dispatch(issue_id)
    clock.t = sh(2026, 11, 23, 10, 0)
    with pytest.raises(IssueError, match="resolution text is required"):
        await desk.resolve(issue_id, by="zhang", resolution="  ")
    await desk.resolve(issue_id, by="zhang", resolution="重新配置了打印机 IP")
    return issue_id


async def test_good_callback_completes(desk: Desk, clock: Clock) -> None:
    issue_id = await resolved(desk, clock)
    assert [i.id for i in await desk.callback_queue()] == [issue_id]
    clock.t = sh(2026, 11, 23, 15, 0)
    outcome = await desk.record_callback(issue_id, CallbackScores.from_digits("545"), by="ivr")
    assert not outcome.reopened and outcome.issue.status == "callback_done"
    assert await desk.callback_queue() == []
    [cb] = await desk.callbacks_of(issue_id)
    assert (cb.by, cb.efficiency, cb.result, cb.attitude, cb.fixed, cb.at) == (
        "ivr", 5, 4, 5, True, sh(2026, 11, 23, 15, 0))
    events = await desk.ctx.store.issues.events(issue_id)
    assert [e.kind for e in events[-2:]] == ["callback", "status"]
    assert events[-2].note == "callback by ivr: efficiency 5, result 4, attitude 5, fixed yes"
    with pytest.raises(IssueError, match="only resolved issues"):
        await desk.record_callback(issue_id, CallbackScores(5, 5, 5))
    assert (await desk.close(issue_id, by="op")).status == "closed"


@pytest.mark.parametrize(("scores", "fixed", "reason"), [
    (CallbackScores(5, 2, 5), True, "score ≤ 2"),
    (CallbackScores(5, 5, 5), False, "caller says not fixed"),
])
async def test_poor_or_unfixed_reopens_and_notifies_owner(
    desk: Desk, clock: Clock, scores: CallbackScores, fixed: bool, reason: str,
) -> None:
    desk.ctx.settings = DeskSettings(channels=(ChannelSettings("mail", "smtp"),))
    issue_id = await resolved(desk, clock)
    outcome = await desk.record_callback(issue_id, scores, by="op1", fixed=fixed, comment="还是打不出来")
    assert outcome.reopened and outcome.issue.status == "reopened" and outcome.reason == reason
    assert outcome.issue.owner == "zhang"
    rows = await desk.ctx.store.db.fetch_all(
        "SELECT event, recipient FROM desk_outbox WHERE issue_id = ? AND event != 'dispatched' ORDER BY id",
        (issue_id,))
    assert [tuple(r) for r in rows] == [("reopened", "zhang"), ("poor_callback", "boss")]
    [cb] = await desk.callbacks_of(issue_id)
    assert cb.reopened and cb.comment == "还是打不出来"
    # The reopened issue goes back to work and can be resolved and called back again.
    await desk.transition(issue_id, "in_progress", actor="zhang")
    await desk.resolve(issue_id, by="zhang", resolution="更换硒鼓")
    assert not (await desk.record_callback(issue_id, CallbackScores(4, 4, 4))).reopened
