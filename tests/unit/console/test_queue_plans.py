"""Every statement the work queues run finds its issues through an index (EXPLAIN QUERY PLAN).

The queues are read on every home page of every operator, engineer and manager, all day; a
statement that scans the issues table costs more each year. The statements are the ones the
queues really run: the store's reads are recorded (the real methods still run) while the three
roles' queues are gathered on a migrated SQLite file, then each is explained with its own
parameters — which also covers the desk's callback queue and stale-issue query, written elsewhere.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.calendar import BusinessCalendar, load_calendar_dir
from hotline.console.views.queues import UNASSIGNED_STATES, engineer_queues, manager_queues, operator_queues
from hotline.desk.service import Desk
from hotline.desk.settings import DeskSettings
from hotline.desk.timeline import OPEN_STATES
from hotline.desk.workflow import SWEPT_STATES
from hotline.store import Store
from hotline.store import queues as q
from tests.conftest import ROOT

NOW_TEXT = "2026-12-02T10:00+08:00"


def plan(db: Path, sql: str, params: Sequence[Any]) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, list(params))]


def full_scans(lines: list[str]) -> list[str]:
    """Plan lines that read a table row by row without an index."""
    return [line for line in lines if line.startswith("SCAN ") and " USING " not in line]


async def test_the_queues_run_only_indexed_statements(store: Store) -> None:
    office = ((time(8, 0), time(12, 0)), (time(13, 30), time(17, 30)))
    calendar = BusinessCalendar(ZoneInfo("Asia/Shanghai"), dict.fromkeys(range(5), office),
                                load_calendar_dir(ROOT / "config" / "calendar"))
    now = datetime.fromisoformat(NOW_TEXT)
    desk = Desk(store, calendar, DeskSettings(), clock=lambda: now)
    seen: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("fetch_all", "fetch_one", "fetch_value"):
        real: Callable[..., Awaitable[Any]] = getattr(store.db, name)

        def recording(sql: str, params: Sequence[Any] = (), *, _real: Any = real) -> Awaitable[Any]:
            seen.append((sql, tuple(params)))
            return _real(sql, params)

        setattr(store.db, name, recording)
    await operator_queues(store, desk, now)
    await engineer_queues(store, "zhangwei")
    await manager_queues(store, desk, now)
    # Counts run only when a queue is longer than a page: explain them too.
    for query in (q.to_complete(), q.to_call_back(), q.overdue_recordings(), q.owned("zhangwei", OPEN_STATES),
                  q.in_sla_state("breached", SWEPT_STATES), q.unassigned(UNASSIGNED_STATES)):
        count_sql, count_params = q.queue_count_sql(query)
        seen.append((count_sql, tuple(count_params)))
    assert len(seen) >= 14, seen
    for sql, values in seen:
        lines = plan(store.db.path, sql, values)
        assert any("USING" in line for line in lines), (sql, lines)
        assert not full_scans(lines), (sql, lines)
    # The desk's callback queue reads resolved issues in waiting order straight off
    # issues_status_updated (0006), never sorting them all.
    (callback_queue,) = [(sql, values) for sql, values in seen if "status = 'resolved'" in sql]
    lines = plan(store.db.path, *callback_queue)
    assert any("issues_status_updated" in line for line in lines) and not any("TEMP B-TREE" in line for line in lines)


def test_the_call_back_queue_skips_closed_issues_by_its_index(tmp_path: Path) -> None:
    """The flag stays on closed issues: the queue's index holds the open ones only."""
    sql, params = q.queue_sql(q.to_call_back(), 50)
    db = tmp_path / "plan.sqlite3"

    async def make() -> None:
        async with Store(db):
            pass

    asyncio.run(make())
    lines = plan(db, sql, params)
    assert any("issues_call_back_open" in line for line in lines), lines
