"""The call record of call control on real SQLite files: attempts, menu trail, crash recovery."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hotline.store import EventDraft, Store
from hotline.store.records import Category, NewCall, Post

T0 = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)


async def new_call(store: Store, sip_id: str) -> tuple[int, int]:
    call, issue = await store.issues.create_for_call(
        NewCall(sip_call_id=sip_id, started_at=T0, caller_raw="13800000000",
                caller_key="+8613800000000"),
        employee_id=None, caller_name=None, local_year=2026, status="new")
    return call.id, issue.id


async def test_attempts_menu_and_times_accumulate(tmp_path: Path) -> None:
    async with Store(tmp_path / "h.sqlite3") as store:
        call_id, _ = await new_call(store, "a@x")
        await store.calls.add_menu_choice(call_id, {"node": "menu", "digit": "2", "choice": "network"})
        await store.calls.add_attempt(call_id, {"target": "+8613911112222", "person": "zhangwei",
                                                "outcome": "no-answer", "at": T0})
        await store.calls.add_attempt(call_id, {"target": "+8613933334444", "person": "liuyang",
                                                "outcome": "answered"})
        await store.calls.update(call_id, flow="default", language="en", ring_seconds=12.5,
                                 talk_seconds=61.0, route="oncall:liuyang", answered_by="liuyang",
                                 voicemail=None)
        record = await store.calls.get(call_id)
    assert record is not None
    assert record.menu == ({"node": "menu", "digit": "2", "choice": "network"},)
    assert [a["outcome"] for a in record.attempts] == ["no-answer", "answered"]
    assert record.attempts[0]["at"] == "2026-10-01 15:00:00+00:00"  # JSON text of the instant
    assert (record.flow, record.language, record.ring_seconds, record.talk_seconds) == (
        "default", "en", 12.5, 61.0)
    assert record.route == "oncall:liuyang" and record.answered_by == "liuyang"


async def test_calls_left_open_by_a_crash_close_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with Store(path) as store:
        open_id, open_issue = await new_call(store, "open@x")
        done_id, _ = await new_call(store, "done@x")
        await store.calls.end(done_id, T0 + timedelta(seconds=30), "answered")
        restart = T0 + timedelta(hours=1)
        assert await store.calls.close_interrupted(restart) == [open_id]
        assert await store.calls.close_interrupted(restart) == []  # idempotent
        opened, done = await store.calls.get(open_id), await store.calls.get(done_id)
        issue = await store.issues.get(open_issue)
    assert opened is not None and done is not None and issue is not None
    assert (opened.disposition, opened.ended_at) == ("interrupted", restart)
    assert done.disposition == "answered"
    assert issue.call_ended_at == restart  # the 30-minute recording rule counts from here
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NULL").fetchone()[0] == 0


async def test_issue_tags_and_call_back_flag_and_category_english_name(tmp_path: Path) -> None:
    async with Store(tmp_path / "h.sqlite3") as store:
        await store.people.upsert_posts([Post("network", "网络")])
        await store.people.upsert_categories([Category("network", "网络", "network", "2", "Network")])
        _, issue_id = await new_call(store, "t@x")
        issue = await store.issues.apply(
            issue_id, expect_status="new", changes={"tags": ["vip", "after-hours"], "call_back": True},
            at=T0, event=EventDraft("ivr", "fields"))
        (category,) = await store.people.categories()
    assert issue.tags == ("vip", "after-hours") and issue.call_back is True
    assert category.name_en == "Network" and category.dtmf == "2"


async def test_a_row_just_committed_is_visible_to_the_next_read_while_others_read(tmp_path: Path) -> None:
    """Reads share one connection: none may leave it in an old snapshot for the others."""
    async with Store(tmp_path / "h.sqlite3") as store:
        for n in range(200):
            await new_call(store, f"old-{n}")
        stop = asyncio.Event()

        async def busy_reader() -> None:
            while not stop.is_set():
                await store.issues.recent(300)
                await store.calls.recent(300)

        readers = [asyncio.ensure_future(busy_reader()) for _ in range(3)]
        missing = []
        try:
            for n in range(80):
                _, issue_id = await new_call(store, f"new-{n}")
                if await store.issues.get(issue_id) is None:
                    missing.append(issue_id)
        finally:
            stop.set()
            await asyncio.gather(*readers)
    assert missing == []
