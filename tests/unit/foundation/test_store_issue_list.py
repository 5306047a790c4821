"""The console's issue list on a real SQLite file: which index a page walks, and that the pages are
the same whichever filter drives the walk."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hotline.store import Store
from hotline.store.issues import PRIORITY_BUCKETS, IssueFilter, driver_counts_sql, issue_list_sql
from hotline.store.records import Category, IssueRecord, Post

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
CATEGORIES = ("network", "printer", "erp")


async def make_issues(store: Store, n: int, seed: int = 3) -> list[IssueRecord]:
    await store.people.upsert_posts([Post("it", "IT")])
    await store.people.upsert_categories([Category(c, c, "it") for c in CATEGORIES])
    rng = random.Random(seed)
    out = []
    for i in range(n):
        # Two issues share each instant: the id breaks the tie in every walk.
        at = T0 + timedelta(minutes=i // 2)
        fields = {"category": "printer" if i % 15 == 0 else rng.choice(("network", "erp")),
                  "priority": rng.choice(("P1", "P1", "P2", "P3", None)),
                  "call_back": rng.random() < 0.2}
        out.append(await store.issues.create(
            source=rng.choice(("phone", "web")), at=at, local_year=2026,
            status=rng.choice(("new", "closed", "closed")), actor="test",
            fields={k: v for k, v in fields.items() if v is not None}))
    return out


def matches(issue: IssueRecord, f: IssueFilter) -> bool:
    return ((f.status is None or issue.status == f.status)
            and (f.category is None or issue.category == f.category)
            and (f.priority is None or issue.priority == (f.priority or None))
            and (f.source is None or issue.source == f.source)
            and (f.call_back is None or issue.call_back == f.call_back))


def expected_order(issues: list[IssueRecord], f: IssueFilter, sort: str) -> list[int]:
    chosen = [i for i in issues if matches(i, f)]
    newest = sorted(chosen, key=lambda i: (i.created_at, i.id), reverse=True)
    if sort == "oldest":
        return [i.id for i in reversed(newest)]
    if sort == "priority":
        return [i.id for bucket in PRIORITY_BUCKETS for i in newest if i.priority == bucket]
    return [i.id for i in newest]


async def walk(store: Store, f: IssueFilter, sort: str) -> list[int]:
    seen: list[int] = []
    before = None
    for _ in range(100):
        page = await store.issues.list_page(f, sort=sort, before=before, limit=7)
        seen += [r.issue.id for r in page.rows]
        if page.next_before is None:
            return seen
        before = page.next_before
    raise AssertionError("the pages never ended")


async def walked_index(store: Store, sql: str, params: list[object]) -> str:
    plan = [r[3] for r in await store.db.fetch_all("EXPLAIN QUERY PLAN " + sql, params)]
    (walk_,) = [p for p in plan if p.startswith(("SCAN i ", "SEARCH i "))]
    assert not any("TEMP B-TREE" in p for p in plan), plan
    return walk_.split(" USING INDEX ")[1].split(" ")[0]


async def test_the_rarest_filter_by_count_drives_the_walk(store: Store) -> None:
    issues = await make_issues(store, 90)
    f = IssueFilter(category="printer", priority="P1")
    probe = driver_counts_sql(f, sort="newest")
    assert probe is not None
    row = await store.db.fetch_one(*probe)
    assert row is not None
    counts = dict(zip(row.keys(), row, strict=True))
    assert counts == {"category": sum(i.category == "printer" for i in issues),
                      "priority": sum(i.priority == "P1" for i in issues)}
    assert counts["category"] < counts["priority"]
    ((sql, params),) = issue_list_sql(f, sort="newest", cursor=None, limit=51, counts=counts)
    assert await walked_index(store, sql, params) == "issues_category_created"
    # Without counts the shares decide: P1 is rarer than a category on a real desk.
    ((sql, params),) = issue_list_sql(f, sort="newest", cursor=None, limit=51)
    assert await walked_index(store, sql, params) == "issues_priority_created"
    # A single indexed filter has no choice to make: nothing is counted.
    assert driver_counts_sql(IssueFilter(category="printer"), sort="newest") is None
    assert driver_counts_sql(IssueFilter(ids=(1, 2), status="new"), sort="newest") is None


async def test_pages_are_the_same_whichever_filter_drives(store: Store) -> None:
    issues = await make_issues(store, 120)
    filters = [
        IssueFilter(), IssueFilter(status="new"), IssueFilter(category="printer"),
        IssueFilter(category="printer", priority="P1"), IssueFilter(category="network", status="closed"),
        IssueFilter(priority=""), IssueFilter(call_back=True), IssueFilter(call_back=True, category="erp"),
        IssueFilter(call_back=False, source="web", status="closed"),
        IssueFilter(status="new", category="printer", priority="P3", call_back=True),
    ]
    for f in filters:
        for sort in ("newest", "oldest", "priority"):
            assert await walk(store, f, sort) == expected_order(issues, f, sort), (f, sort)
