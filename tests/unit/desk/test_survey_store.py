"""Survey attempts on a real SQLite file: the call row they make, partial answers, the current
resolution's attempts, closing what a crash left open, the audit entry when they are spent."""

from __future__ import annotations

import json
from datetime import datetime

from deskkit import Clock, new_issue, sh

from hotline.desk.callback import CallbackScores
from hotline.desk.service import Desk
from hotline.store.records import NewCall
from hotline.store.survey import SurveyStore


def survey_call(at: datetime, number: str = "+8613800000001") -> NewCall:
    return NewCall(sip_call_id=f"survey-{number}-{at.isoformat()}", started_at=at,
                   from_uri="8000", caller_raw=number, caller_key=number, to_uri=number, direction="out")


async def resolved(desk: Desk, clock: Clock) -> int:
    issue_id = await new_issue(desk)
    await desk.dispatch(issue_id)
    clock.t = sh(2026, 11, 23, 10, 0)
    await desk.resolve(issue_id, by="zhang", resolution="换了网线")
    return issue_id


async def test_an_attempt_is_an_outbound_call_row_and_keeps_partial_answers(desk: Desk, clock: Clock) -> None:
    store = desk.ctx.store
    surveys = SurveyStore(store.db)
    issue_id = await resolved(desk, clock)
    clock.t = sh(2026, 11, 23, 14, 0)
    call_id, attempt_id = await surveys.start(survey_call(clock.t), issue_id=issue_id, attempt=1,
                                              employee_id=None)
    call = await store.calls.get(call_id)
    assert call is not None and call.direction == "out"
    row = await store.db.fetch_one("SELECT issue_id, placed_by, flow FROM calls WHERE id = ?", (call_id,))
    assert row is not None and (row["issue_id"], row["placed_by"], row["flow"]) == (issue_id, None, "survey")
    events = await store.issues.events(issue_id)
    assert (events[-1].kind, events[-1].actor) == ("call_back", "survey")
    await surveys.answers(attempt_id, scores={"efficiency": 4}, not_fixed=True, keys="40")
    (open_attempt,) = (await surveys.current([issue_id]))[issue_id]
    assert (open_attempt.outcome, open_attempt.efficiency, open_attempt.result, open_attempt.not_fixed,
            open_attempt.keys, open_attempt.call_id) == (None, 4, None, True, "40", call_id)
    # A crash left it open: the next start closes it as interrupted, answers kept.
    assert await surveys.close_interrupted(sh(2026, 11, 23, 15, 0)) == 1
    assert await surveys.close_interrupted(sh(2026, 11, 23, 15, 0)) == 0
    (closed,) = await surveys.for_issue(issue_id)
    assert (closed.outcome, closed.ended_at, closed.efficiency) == ("interrupted", sh(2026, 11, 23, 15, 0), 4)


async def test_attempts_count_per_resolution_and_spent_ones_go_on_the_record(desk: Desk, clock: Clock) -> None:
    store = desk.ctx.store
    surveys = SurveyStore(store.db)
    issue_id = await resolved(desk, clock)
    for hour in (11, 13):
        clock.t = sh(2026, 11, 23, hour, 0)
        _, attempt_id = await surveys.start(survey_call(clock.t), issue_id=issue_id, attempt=hour, employee_id=None)
        await surveys.finish(attempt_id, clock.t, "no-answer")
    assert [a.outcome for a in (await surveys.current([issue_id]))[issue_id]] == ["no-answer", "no-answer"]
    await surveys.gave_up(issue_id, clock.t, attempts=[{"outcome": "no-answer"}, {"outcome": "no-answer"}])
    event = (await store.issues.events(issue_id))[-1]
    assert event.kind == "survey_gave_up" and "left to the operators" in event.note
    assert json.loads(json.dumps(event.after))["attempts"][0]["outcome"] == "no-answer"
    # An operator's callback says not fixed: reopened, worked on, resolved again -- a new round.
    clock.t = sh(2026, 11, 24, 9, 30)
    await desk.record_callback(issue_id, CallbackScores(5, 5, 5), by="zhang", fixed=False)
    await desk.transition(issue_id, "in_progress", actor="zhang")
    clock.t = sh(2026, 11, 24, 11, 0)
    await desk.resolve(issue_id, by="zhang", resolution="这次真的修好了")
    assert (await surveys.current([issue_id]))[issue_id] == []
    assert len(await surveys.for_issue(issue_id)) == 2
