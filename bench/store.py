"""Store benchmark: the three queries a call makes, at 1,000,000 issues and 200,000 employees.

Prints p50/p99 for
  * create issue for a call (IssueService.create_issue_for_call: caller lookup, call row,
    issue row, audit event, COMMIT),
  * look up a caller (directory by number key),
  * open issues for a caller,
and, measured in the same run on the same file, a bare ``sqlite3`` INSERT + COMMIT, so the
figures can be read as a ratio on a shared, noisy machine.

    .venv/bin/python bench/store.py [--issues 1000000] [--employees 200000] [--samples 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.issues import IssueService
from hotline.store import Store
from hotline.store.records import NewCall

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUSES = ["closed"] * 80 + ["callback_done"] * 6 + ["resolved"] * 5 + ["in_progress"] * 4 + \
    ["dispatched"] * 2 + ["recorded"] * 2 + ["new"]
CATEGORIES = ["network", "desktop", "printer", "email", "erp", "mes", "account", "vpn", "phone", "dcs"]


def mobile(i: int) -> str:
    return f"+86138{i:08d}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def populate(path: Path, employees: int, issues: int, seed: int) -> None:
    """Bulk-fill with plain sqlite3 in big transactions (the schema comes from the migrations)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with conn:
        conn.executemany("INSERT INTO posts (id, name) VALUES (?, ?)", [(c, c) for c in CATEGORIES])
        conn.executemany("INSERT INTO categories (id, name, post_id) VALUES (?, ?, ?)",
                         [(c, c, c) for c in CATEGORIES])
        conn.executemany(
            "INSERT INTO directory (employee_id, name, department, mobile, extension, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ((f"E{i:06d}", f"员工{i}", f"部门{i % 40}", mobile(i), f"{200000 + i}", now.isoformat())
             for i in range(employees)))
        conn.executemany(
            "INSERT INTO directory_numbers (key, employee_id, kind) VALUES (?, ?, ?)",
            ((key, f"E{i:06d}", kind) for i in range(employees)
             for key, kind in ((mobile(i), "mobile"), (f"ext:{200000 + i}", "extension"))))
    # Repeat callers: 30 % of calls come from the 1 % of employees who call most.
    frequent = max(1, employees // 100)
    start = now - timedelta(days=3 * 365)
    batch = []
    for n in range(issues):
        who = rng.randrange(frequent) if rng.random() < 0.3 else rng.randrange(employees)
        known = rng.random() < 0.85
        at = (start + timedelta(seconds=n * 94)).isoformat()
        batch.append((f"HL-{2023 + n * 3 // issues}-{n:07d}", "phone", mobile(who),
                      f"员工{who}" if known else None, f"E{who:06d}" if known else None,
                      rng.choice(STATUSES), rng.choice(CATEGORIES), f"P{rng.choice('2333344')}",
                      "description text " * 3, at, at))
        if len(batch) == 50000:
            _insert_issues(conn, batch)
            batch = []
    if batch:
        _insert_issues(conn, batch)
    conn.execute("INSERT INTO counters VALUES ('issue:2026', 5000000)")
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _insert_issues(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    with conn:
        conn.executemany(
            "INSERT INTO issues (number, source, caller_key, caller_name, employee_id, status,"
            " category, priority, description, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


async def timed(samples: int, op: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(samples):
        t0 = time.perf_counter()
        await op(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bare_insert_commit(path: Path, samples: int, synchronous: str) -> list[float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, v TEXT)")
    out = []
    for i in range(samples):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_baseline (v) VALUES (?)", (f"row {i}",))
        conn.execute("COMMIT")
        out.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return out


def report(name: str, values: list[float], baseline: float | None = None) -> str:
    p50, p99 = statistics.median(values), percentile(values, 99)
    ratio = f"  p50 = {p50 / baseline:5.1f}× bare" if baseline else ""
    return f"  {name:<34} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   max {max(values):7.3f} ms{ratio}"


async def measure(path: Path, employees: int, samples: int, synchronous: str) -> list[str]:
    rng = random.Random(7)
    store = Store(path, synchronous=synchronous)
    await store.open()
    service = IssueService(store, SHANGHAI)
    t = datetime.now(UTC)

    async def create(i: int) -> object:
        who = rng.randrange(employees)
        return await service.create_issue_for_call(NewCall(
            f"bench-{synchronous}-{i}@127.0.0.1", t, from_uri=f"sip:{mobile(who)}@127.0.0.1",
            caller_raw=mobile(who), caller_key=mobile(who)))

    async def lookup(i: int) -> object:
        return await store.directory.lookup([mobile(rng.randrange(employees))])

    async def open_issues(i: int) -> object:
        # Half the look-ups are for frequent callers, who have the longest histories.
        who = rng.randrange(max(1, employees // 100)) if i % 2 else rng.randrange(employees)
        return await store.issues.open_for_caller(caller_key=mobile(who), employee_id=f"E{who:06d}")

    await timed(50, create)  # warm caches
    results = [
        ("create issue for a call", await timed(samples, create)),
        ("look up a caller", await timed(samples, lookup)),
        ("open issues for a caller", await timed(samples, open_issues)),
    ]
    await store.close()
    base = bare_insert_commit(path, samples, synchronous)
    base_p50 = statistics.median(base)
    lines = [f"synchronous={synchronous}:", report("bare sqlite3 INSERT+COMMIT", base)]
    lines += [report(name, values, base_p50 if name.startswith("create") else None)
              for name, values in results]
    return lines


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=1_000_000)
    parser.add_argument("--employees", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.sqlite3"
        async with Store(path):
            pass  # schema from the migrations
        t0 = time.perf_counter()
        populate(path, args.employees, args.issues, seed=1)
        print(f"populated {args.issues:,} issues, {args.employees:,} employees in "
              f"{time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
        for sync in ("full", "normal"):
            print("\n".join(await measure(path, args.employees, args.samples, sync)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
