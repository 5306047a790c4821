"""Every statement of the service report's extra figures reads the range through an index.

The report covers a month of a table that grows by a month every month; a statement that walks
all issues or the whole audit trail (which the planner chose for the reopen count at a million
issues, 1.4 s of a 2 s page) costs more every year. The statements are recorded while the real
methods run on a migrated SQLite file, then each is explained with its own parameters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline.store import Store
from hotline.store.service_report import ServiceReportStore
from tests.unit.console.test_queue_plans import full_scans, plan

SH = ZoneInfo("Asia/Shanghai")


async def test_the_reports_statements_use_indexes(store: Store) -> None:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    on_reader: list[str] = []
    real: Callable[..., Awaitable[Any]] = store.db.fetch_all

    def recording(sql: str, params: Sequence[Any] = (), *, background: bool = False) -> Awaitable[Any]:
        seen.append((sql, tuple(params)))
        if not background:
            on_reader.append(sql)
        return real(sql, params, background=background)

    store.db.fetch_all = recording  # type: ignore[method-assign]  # fetch_one and fetch_value read through it
    figures = ServiceReportStore(store.db)
    lo, hi = datetime(2026, 11, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH)
    await figures.source_by_category(lo, hi)
    await figures.created_per_hour(lo, hi)
    await figures.call_dispositions(lo, hi)
    for owner in (None, "zhangwei"):
        await figures.sla_by_priority(lo, hi, owner)
        await figures.reopens(lo, hi, owner)
        await figures.callback_scores(lo, hi, owner)
    await figures.points("2026-11", "2026-11")
    await figures.ledger("zhangwei", "2026-11", "2026-11")
    await figures.dispatches(lo, hi)
    await figures.owned("zhangwei", lo, hi)
    assert len(seen) >= 16, seen
    assert on_reader == []  # a month's report never holds the reader the console's pages use
    for sql, values in seen:
        lines = plan(store.db.path, sql, values)
        tables = [line for line in full_scans(lines) if not line.startswith("SCAN (subquery")]
        assert not tables, (sql, lines)
    reopens = [(sql, values) for sql, values in seen if "issue_events" in sql]
    assert len(reopens) == 2
    for sql, values in reopens:  # the month's issues lead; the audit trail is read per issue
        lines = plan(store.db.path, sql, values)
        assert any("issue_events_issue (issue_id=?)" in line for line in lines), lines
        assert any(line.startswith("SEARCH i USING") for line in lines), lines
