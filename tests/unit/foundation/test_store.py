"""The store on real SQLite files: migrations, pragmas, durability of a new call's rows."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.store import EventDraft, Store, StoreError
from hotline.store.db import available_migrations
from hotline.store.records import Employee, NewCall, Person, Post, RotaChange

T0 = datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC)


async def test_migrations_from_empty_and_rerun(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with Store(path) as store:
        assert await store.db.schema_version() == len(available_migrations())
        assert await store.db.migrate() == []  # re-run applies nothing
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"people", "posts", "post_assignments", "directory", "calls", "issues",
                "issue_events", "schema_migrations"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    async with Store(path) as store:  # reopening an up-to-date file is fine
        assert await store.db.migrate() == []


async def test_pragmas_on_every_connection(store: Store) -> None:
    assert await store.db.fetch_value("PRAGMA foreign_keys") == 1
    assert await store.db.fetch_value("PRAGMA busy_timeout") == 5000


async def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with Store(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    store = Store(path)
    with pytest.raises(StoreError, match="newer than this hotline"):
        await store.open()
    await store.close()


def test_a_failed_open_leaves_no_connection_that_keeps_the_process_alive(tmp_path: Path) -> None:
    # An aiosqlite connection is a non-daemon thread: one left open by a failed open kept
    # `hotline init-db` from exiting after it had reported the error.
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at TEXT NOT NULL)")
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from hotline.store import Store\n"
        "async def main():\n"
        "    await Store(Path(sys.argv[1])).open()\n"
        "asyncio.run(main())\n"
    )
    # The error leaves main() with its traceback, which holds the store, as in `hotline init-db`.
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1 and "StoreError" in done.stderr and "newer than" in done.stderr, done.stderr


async def test_call_and_issue_committed_before_return(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with Store(path) as store:
        call, issue = await store.issues.create_for_call(
            NewCall("abc@host", T0, caller_raw="+8613812345678", caller_key="+8613812345678"),
            employee_id=None, caller_name="张伟", local_year=2026, status="new",
        )
        # A separate, plain sqlite3 connection sees both rows at once: they are committed.
        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT number, call_id, caller_name FROM issues").fetchone()
        assert row == (issue.number, call.id, "张伟")
        assert issue.number == "HL-2026-000001"


async def test_issue_numbers_count_per_year(store: Store) -> None:
    numbers = []
    for year in (2026, 2026, 2027, 2026):
        _, issue = await store.issues.create_for_call(
            NewCall(f"c{len(numbers)}", T0), employee_id=None, caller_name=None,
            local_year=year, status="new")
        numbers.append(issue.number)
    assert numbers == ["HL-2026-000001", "HL-2026-000002", "HL-2027-000001", "HL-2026-000003"]


async def test_audit_trail_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with Store(path) as store:
        await store.issues.create_for_call(NewCall("c1", T0), employee_id=None, caller_name=None,
                                           local_year=2026, status="new")
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE issue_events SET actor = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM issue_events")


async def test_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.db.transaction() as conn:
            await conn.execute("INSERT INTO posts (id, name) VALUES ('x', 'X')")
            raise RuntimeError("boom")
    assert await store.people.posts() == []


async def test_directory_upsert_is_idempotent_and_replaces_numbers(store: Store) -> None:
    e = Employee("E001", "李娜", "信息中心", "A栋", mobile="+8613812345678",
                 desk_numbers=("+8657187654321",), extension="2345")
    assert await store.directory.upsert([e]) == (1, 0)
    assert await store.directory.upsert([e]) == (0, 1)
    assert [x.employee_id for x in await store.directory.lookup(["+8613812345678"])] == ["E001"]
    assert [x.name for x in await store.directory.lookup(["ext:2345"])] == ["李娜"]
    moved = Employee("E001", "李娜", "信息中心", "B栋", mobile="+8613900000000")
    await store.directory.upsert([moved])
    assert await store.directory.lookup(["+8613812345678"]) == []
    assert (await store.directory.get("E001")) == moved
    assert await store.directory.count() == 1


async def test_foreign_keys_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with store.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO post_assignments (post_id, person_id, role) VALUES ('nope', 'nobody', 'A')")


async def test_rota_changes_roundtrip(store: Store) -> None:
    await store.people.upsert_people([Person("zhangwei", "张伟"), Person("liyang", "李阳")])
    change = RotaChange("it-oncall", "override", T0, T0.replace(hour=9), "liyang", "zhangwei",
                        "chenjing", "张伟 sick leave", T0)
    await store.rota.add(change)
    found = await store.rota.between("it-oncall", T0.replace(hour=3), T0.replace(hour=4))
    assert found == [change]
    assert await store.rota.between("it-oncall", T0.replace(hour=9), T0.replace(hour=10)) == []


async def test_caller_history_and_open_issues(store: Store) -> None:
    for n, status in enumerate(["closed", "new", "closed", "recorded"]):
        _, issue = await store.issues.create_for_call(
            NewCall(f"c{n}", T0, caller_key="+8613812345678"), employee_id=None, caller_name=None,
            local_year=2026, status="new")
        if status != "new":
            await store.issues.apply(issue.id, expect_status="new", changes={"status": status},
                                     at=T0, event=EventDraft("op", "status"))
    history = await store.issues.history_for_caller(caller_key="+8613812345678", employee_id=None)
    assert [i.status for i in history] == ["recorded", "closed", "new", "closed"]
    open_ = await store.issues.open_for_caller(caller_key="+8613812345678", employee_id=None)
    assert [i.status for i in open_] == ["recorded", "new"]
    assert await store.issues.open_for_caller(caller_key=None, employee_id=None) == []


async def test_cancelled_writers_never_leave_the_connection_in_a_transaction(store: Store) -> None:
    import asyncio

    async def slow_writer(pause: float) -> None:
        async with store.db.transaction() as conn:
            await conn.execute("INSERT INTO posts (id, name) VALUES ('slow', 'x')")
            await asyncio.sleep(pause)

    # Cancelled at every step: before BEGIN ran, inside the body, and while committing.
    for delay in (0, 0.0005, 0.002, 0.05):
        task = asyncio.create_task(slow_writer(0.01))
        await asyncio.sleep(delay)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with store.db.transaction() as conn:  # the writer is usable again
            await conn.execute("INSERT OR REPLACE INTO posts (id, name) VALUES (?, 'ok')", (f"p{delay}",))
    names = {p.id for p in await store.people.posts()}
    assert {"p0", "p0.0005", "p0.002", "p0.05"} <= names


async def test_a_write_runs_whole_on_its_thread_and_returns_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    async with Store(path) as store:
        def add_two(conn: sqlite3.Connection, first: str, *, second: str) -> int:
            conn.execute("INSERT INTO posts (id, name) VALUES (?, 'x')", (first,))
            conn.execute("INSERT INTO posts (id, name) VALUES (?, 'y')", (second,))
            return int(conn.execute("SELECT count(*) FROM posts").fetchone()[0])

        assert await store.db.write(add_two, "a", second="b") == 2
        with sqlite3.connect(path) as other:  # committed: another connection sees both
            assert other.execute("SELECT id FROM posts ORDER BY id").fetchall() == [("a",), ("b",)]


async def test_a_failed_write_leaves_nothing_and_the_thread_usable(store: Store) -> None:
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO posts (id, name) VALUES ('half', 'x')")
        conn.execute("INSERT INTO posts (id, name) VALUES ('half', 'again')")  # primary key

    with pytest.raises(sqlite3.IntegrityError):
        await store.db.write(half_then_fail)
    assert await store.people.posts() == []
    await store.db.write(lambda conn: conn.execute("INSERT INTO posts (id, name) VALUES ('ok', 'x')"))
    assert [p.id for p in await store.people.posts()] == ["ok"]


async def test_a_cancelled_write_still_commits_and_the_next_waits_for_it(store: Store) -> None:
    import asyncio
    import threading

    started, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO posts (id, name) VALUES ('slow', 'x')")
        started.set()
        release.wait(5)

    task = asyncio.create_task(store.db.write(slow))
    while not started.is_set():
        await asyncio.sleep(0.001)
    task.cancel()
    later = asyncio.create_task(store.db.write(
        lambda conn: conn.execute("INSERT INTO posts (id, name) VALUES ('later', 'x')")))
    aiosqlite_writer = asyncio.create_task(store.people.upsert_posts([Post("p1", "P1")]))
    await asyncio.sleep(0.02)
    assert task.cancelled() and not later.done() and not aiosqlite_writer.done()
    release.set()
    await later
    await aiosqlite_writer
    # The cancelled caller stopped waiting, but its transaction ran whole and committed.
    assert sorted(p.id for p in await store.people.posts()) == ["later", "p1", "slow"]


async def test_writes_queued_together_commit_together_and_fail_alone(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "h.sqlite3"
    async with Store(path) as store:
        def insert(conn: sqlite3.Connection, post: str) -> str:
            conn.execute("INSERT INTO posts (id, name) VALUES (?, 'x')", (post,))
            if post.startswith("bad"):
                raise ValueError(post)
            return post

        # Queued in one go: the first runs alone, the other 29 wait and go in one commit.
        results = await asyncio.gather(
            *(store.db.write(insert, f"bad{i}" if i % 10 == 5 else f"p{i}") for i in range(30)),
            return_exceptions=True)
        assert [str(r) for r in results] == [f"bad{i}" if i % 10 == 5 else f"p{i}" for i in range(30)]
        assert all(isinstance(r, ValueError) for i, r in enumerate(results) if i % 10 == 5)
    with sqlite3.connect(path) as conn:
        ids = sorted(r[0] for r in conn.execute("SELECT id FROM posts"))
    assert ids == sorted(f"p{i}" for i in range(30) if i % 10 != 5)


async def test_call_rows_updated_in_one_write_refuse_an_unknown_call(store: Store) -> None:
    call, _ = await store.issues.create_for_call(NewCall("c1", T0), employee_id=None,
                                                 caller_name=None, local_year=2026, status="new")
    await store.calls.add_menu_choice(call.id, {"node": "menu", "digit": "2", "choice": "network"}, "2")
    await store.calls.add_attempt(call.id, {"target": "desk", "outcome": "busy"})
    await store.calls.end(call.id, T0, "answered")
    got = await store.calls.get(call.id)
    assert got is not None and got.digits == "2" and got.ended_at == T0
    assert got.menu == ({"node": "menu", "digit": "2", "choice": "network"},)
    assert got.attempts == ({"target": "desk", "outcome": "busy"},)
    assert (await store.issues.get(1)).call_ended_at == T0  # type: ignore[union-attr]
    for write in (store.calls.end(999, T0, "answered"), store.calls.update(999, route="x"),
                  store.calls.add_digits(999, "1")):
        with pytest.raises(StoreError, match="no call 999"):
            await write


async def test_a_long_background_read_does_not_hold_up_the_reader(store: Store) -> None:
    import asyncio

    # Some hundreds of milliseconds of SQLite work, like the SLA sweep over every open issue.
    slow = asyncio.create_task(store.db.fetch_value(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
        " SELECT count(*) FROM c", background=True))
    await asyncio.sleep(0.02)
    assert not slow.done()
    assert await store.db.fetch_value("SELECT count(*) FROM posts") == 0
    assert not slow.done()  # the page's read did not queue behind it
    assert await slow == 3000000
