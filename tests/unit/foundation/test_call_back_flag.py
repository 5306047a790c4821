"""Clearing the "call back" flag once the caller was reached: the queue empties, the trail says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.issues import IssueService
from hotline.store import Store
from hotline.store.queues import QueueStore
from hotline.store.records import NewCall

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


async def test_a_reached_caller_leaves_the_call_back_queue_once(store: Store) -> None:
    service = IssueService(store, SHANGHAI, lambda: T0 + timedelta(minutes=5))
    _, missed = await service.create_issue_for_call(NewCall("missed", T0, caller_key="+8613812345678"))
    _, other = await service.create_issue_for_call(NewCall("other", T0, caller_key="+8613812345679"))
    for issue in (missed, other):
        await service.update_fields(issue.id, actor="system", changes={"call_back": True},
                                    note="nobody answered and no voicemail was left")
    assert [r.issue.id for r in (await QueueStore(store.db).to_call_back()).rows] == [missed.id, other.id]

    cleared = await service.clear_call_back(missed.id, actor="chenjing",
                                            note="caller reached by a call back (call #9)")
    assert cleared is not None and not cleared.call_back and cleared.status == "new"
    assert [r.issue.id for r in (await QueueStore(store.db).to_call_back()).rows] == [other.id]
    last = (await store.issues.events(missed.id))[-1]
    assert (last.actor, last.kind, last.before, last.after, last.note, last.at) == (
        "chenjing", "fields", {"call_back": True}, {"call_back": False},
        "caller reached by a call back (call #9)", T0 + timedelta(minutes=5))

    # Reached again (the survey call after the call back): nothing to clear, nothing written.
    count = len(await store.issues.events(missed.id))
    assert await service.clear_call_back(missed.id, actor="survey", note="again") is None
    assert len(await store.issues.events(missed.id)) == count
