"""Desk benchmark at 1,000,000 issues: search, the monthly service report, dispatch.

Fills a fresh SQLite file (schema from the migrations, FTS kept by its triggers) with
realistic data — three years of issues weighted to working hours, Zipf-like categories and
repeat callers, life-cycle states by age, SLA projections, callbacks, dispatch log, audit
events — then measures through :class:`hotline.desk.service.Desk` (aiosqlite, as the server):

  * full-text search p50/p99 (Chinese, English, mixed, rare and frequent terms) and, apart,
    the 1–2 character LIKE fallback,
  * the service report for one month (JSON-ready data),
  * dispatch p50/p99 (availability, load, least-recent, SLA planned date, audit event,
    dispatch log, projection, outbox row, COMMIT),

and, in the same run on the same file, a baseline: an indexed point query through the same
aiosqlite reader, and through bare ``sqlite3``.

    .venv/bin/python bench/desk.py [--issues 1000000] [--samples 200] [--db PATH] [--keep]
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
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline.calendar import BusinessCalendar, load_calendar_dir
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.store import Store
from hotline.store.db import utc_text

ROOT = Path(__file__).resolve().parent.parent
SH = ZoneInfo("Asia/Shanghai")
OFFICE = ((dtime(8), dtime(12)), (dtime(13, 30), dtime(17, 30)))
PEOPLE = [f"p{i:02d}" for i in range(1, 20)]  # the seed: 19 people …
POSTS = [f"post{i:02d}" for i in range(1, 64)]  # … covering 63 posts
DEVICES = ["打印机", "笔记本电脑", "台式机", "VPN 客户端", "Outlook 邮箱", "ERP 系统", "无线网络", "显示器",
           "扫描仪", "IP 电话", "MES 终端", "DCS 操作站", "共享盘", "视频会议", "门禁卡", "Teams"]
PROBLEMS = ["无法连接", "速度很慢", "蓝屏", "无法登录", "报错 0x80070005", "卡纸", "没有声音", "频繁掉线",
            "无法打印", "密码过期", "证书过期", "cannot start", "keeps crashing", "access denied", "黑屏"]
FIXES = ["重启后恢复", "更换网线", "重装驱动", "重置密码", "清理缓存", "更换硒鼓", "升级固件",
         "调整交换机端口", "reinstalled the client", "renewed the certificate",
         "replaced the power supply", "远程协助处理"]
PLACES = ["炼油一部", "化工二部", "仓储中心", "质检中心", "财务部", "人力资源部", "销售公司", "研究院"]
OLD_STATES = ["closed"] * 95 + ["callback_done"] * 3 + ["resolved"] * 2
RECENT_STATES = (["closed"] * 40 + ["callback_done"] * 15 + ["resolved"] * 15 + ["in_progress"] * 12
                 + ["dispatched"] * 8 + ["pending_caller"] * 5 + ["recorded"] * 3 + ["new"] + ["reopened"])
SOURCES = ["phone"] * 70 + ["web"] * 15 + ["email"] * 8 + ["walk-in"] * 5 + ["monitoring"] * 2
PRIORITIES = ["P1"] * 2 + ["P2"] * 10 + ["P3"] * 60 + ["P4"] * 28
DONE = {"resolved", "callback_done", "closed"}
OWNED = DONE | {"dispatched", "in_progress", "pending_caller", "reopened"}
START = date(2024, 1, 1)
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=SH)

SEARCHES = ["打印机 卡纸", "VPN 客户端", "报错 0x80070005", "certificate", "keeps crashing",
            "DCS 操作站 黑屏", "资产 A12345", "化工二部 无法登录", "Outlook 邮箱", "重装驱动",
            "MES 终端 频繁掉线", "replaced the power", "视频会议 没有声音", "证书过期",
            "共享盘 access denied", "门禁卡", "Teams 无法连接", "仓储中心 扫描仪", "蓝屏 重启后恢复",
            "研究院 显示器"]
SHORT_SEARCHES = ["蓝屏", "卡纸", "黑屏", "PC", "网"]


def site_calendar() -> BusinessCalendar:
    data = load_calendar_dir(ROOT / "config" / "calendar")
    return BusinessCalendar(SH, {wd: OFFICE for wd in range(5)}, data)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def zipf_index(rng: random.Random, n: int, s: float = 1.1) -> int:
    """An index in [0, n) with a heavy head (a few categories/callers dominate)."""
    return min(n - 1, int(rng.paretovariate(s)) - 1)


def populate(path: Path, issues: int, cal: BusinessCalendar, seed: int) -> None:
    """Bulk-fill with plain sqlite3 in big transactions (schema and FTS triggers from the migrations)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    created = utc_text(datetime(2024, 1, 1, tzinfo=UTC))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO people (id, name, email, roles, created_at) VALUES (?, ?, ?, ?, ?)",
                     [(p, p, f"{p}@example.com", "engineer", created) for p in PEOPLE]
                     + [("boss", "boss", "boss@example.com", "manager", created)])
    conn.executemany("INSERT INTO posts (id, name) VALUES (?, ?)", [(p, p) for p in POSTS])
    conn.executemany("INSERT INTO categories (id, name, post_id) VALUES (?, ?, ?)",
                     [(p, p, p) for p in POSTS])
    for k, post in enumerate(POSTS):
        conn.executemany("INSERT INTO post_assignments VALUES (?, ?, ?, ?)", [
            (post, PEOPLE[k % 19], "A", 0), (post, PEOPLE[(k + 1) % 19], "B", 1),
            (post, PEOPLE[(k + 5) % 19], "B", 2)])
    employees = 20_000
    conn.executemany(
        "INSERT INTO directory (employee_id, name, department, mobile, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(f"E{i:05d}", f"员工{i}", rng.choice(PLACES), f"+86138{i:08d}", created) for i in range(employees)])
    conn.execute("COMMIT")

    # Days weighted 5:1 working:rest; 85 % of issues in office hours, the rest round the clock.
    days = [START + timedelta(days=i) for i in range((NOW.date() - START).days + 1)]
    weights = [5.0 if cal.is_working_day(d) else 1.0 for d in days]
    per_day = [0] * len(days)
    for i in rng.choices(range(len(days)), weights=weights, k=issues):
        per_day[i] += 1
    counters: dict[int, int] = {}
    next_id, chunk = 1, 100_000
    buf_issues: list[tuple[object, ...]] = []
    buf_events: list[tuple[object, ...]] = []
    buf_desk: list[tuple[object, ...]] = []
    buf_cb: list[tuple[object, ...]] = []
    buf_log: list[tuple[object, ...]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO issues (id, number, source, caller_key, caller_name, employee_id,"
                         " status, category, priority, description, resolution, owner, planned_at,"
                         " created_at, updated_at, call_ended_at, recorded_at, recording_overdue)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", buf_issues)
        conn.executemany("INSERT INTO issue_events (issue_id, at, actor, kind, after) VALUES (?, ?, ?, ?, ?)",
                         buf_events)
        conn.executemany("INSERT INTO desk_issue (issue_id, first_response_at, resolved_at, response_met,"
                         " resolution_met, sla_state) VALUES (?, ?, ?, ?, ?, ?)", buf_desk)
        conn.executemany("INSERT INTO desk_callbacks (issue_id, at, by, efficiency, result, attitude, fixed,"
                         " comment, reopened) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)", buf_cb)
        conn.executemany("INSERT INTO desk_dispatch_log (issue_id, at, post_id, person_id, role, reason,"
                         " actor) VALUES (?, ?, ?, ?, ?, ?, 'system')", buf_log)
        conn.execute("COMMIT")
        for b in (buf_issues, buf_events, buf_desk, buf_cb, buf_log):
            b.clear()

    recent = NOW - timedelta(days=30)
    for d, n in zip(days, per_day, strict=True):
        times = []
        for _ in range(n):
            office = rng.random() < 0.85
            minute = rng.randrange(8 * 60, 17 * 60 + 30) if office else rng.randrange(24 * 60)
            times.append(datetime(d.year, d.month, d.day, minute // 60, minute % 60, rng.randrange(60),
                                  tzinfo=SH))
        times.sort()
        for t in times:
            if t > NOW:
                continue
            iid = next_id
            next_id += 1
            counters[t.year] = counters.get(t.year, 0) + 1
            number = f"HL-{t.year}-{counters[t.year]:06d}"
            status = rng.choice(OLD_STATES if t < recent else RECENT_STATES)
            post = POSTS[zipf_index(rng, len(POSTS))]
            k = POSTS.index(post)
            emp = zipf_index(rng, employees, 0.6)
            source = rng.choice(SOURCES)
            prio = rng.choice(PRIORITIES)
            desc = (f"{rng.choice(DEVICES)}{rng.choice(PROBLEMS)}，资产 A{rng.randrange(10000, 99999)}，"
                    f"{rng.choice(PLACES)}{rng.randrange(1, 30)}号楼")
            res = rng.choice(FIXES) if status in DONE else ""
            owner = None
            if status in OWNED:
                owner = PEOPLE[k % 19] if rng.random() < 0.8 else PEOPLE[(k + 1 + 4 * rng.randrange(2)) % 19]
            ts = utc_text(t)
            ended = utc_text(t + timedelta(minutes=3)) if source == "phone" else None
            rec_delay = rng.expovariate(1 / 12)
            recorded = utc_text(t + timedelta(minutes=3 + rec_delay)) if status != "new" else None
            buf_issues.append((iid, number, source, f"+86138{emp:08d}", f"员工{emp}", f"E{emp:05d}", status,
                               post, prio, desc, res, owner,
                               utc_text(t + timedelta(days=3)) if owner else None,
                               ts, ts, ended, recorded, int(source == "phone" and rec_delay > 27)))
            buf_events.append((iid, ts, "system", "created", '{"status": "new"}'))
            if owner:
                buf_log.append((iid, utc_text(t + timedelta(minutes=10)), post, owner, "A", "A available"))
                responded = t + timedelta(minutes=rng.expovariate(1 / 90))
                resolved = t + timedelta(minutes=rng.expovariate(1 / 900)) if status in DONE else None
                met = int(rng.random() < 0.9) if resolved else None
                buf_desk.append((iid, utc_text(responded), utc_text(resolved) if resolved else None,
                                 int(rng.random() < 0.95), met, "met" if met else "on_track"))
                if status in ("callback_done", "closed") and resolved and rng.random() < 0.6:
                    scores = [rng.choice((3, 4, 4, 5, 5, 5)) for _ in range(3)]
                    buf_cb.append((iid, utc_text(resolved + timedelta(hours=20)), "ivr", *scores, 1, 0))
            if len(buf_issues) >= chunk:
                flush()
    flush()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO counters (name, value) VALUES (?, ?)",
                     [(f"issue:{y}", v) for y, v in counters.items()])
    conn.execute("COMMIT")
    conn.execute("PRAGMA optimize")
    conn.close()


async def timed(n: int, make: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await make(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def row(name: str, ms: list[float], goal: str = "", base: float | None = None) -> str:
    p50, p99 = statistics.median(ms), percentile(ms, 99)
    ratio = f" ({p99 / base:.0f}× baseline p99)" if base else ""
    return f"| {name} | {len(ms)} | {p50:.3f} ms | **{p99:.3f} ms**{ratio} | {max(ms):.2f} ms | {goal} |"


async def measure(path: Path, samples: int, seed: int) -> list[str]:
    rng = random.Random(seed + 1)
    cal = site_calendar()
    settings = DeskSettings(channels=(ChannelSettings("robot", "webhook", url="http://127.0.0.1:9/"),))
    clock_t = [NOW]
    store = Store(path)
    await store.open()
    try:
        desk = Desk(store, cal, settings, clock=lambda: clock_t[0])
        total = await store.issues.count()
        lines = [f"issues in the file: {total:,}", "",
                 "| operation | n | p50 | p99 | max | goal |", "|---|---|---|---|---|---|"]
        base = await timed(samples * 5, lambda i: store.db.fetch_one(
            "SELECT * FROM issues WHERE id = ?", (rng.randrange(1, total),)))
        raw = sqlite3.connect(path)
        raw_ms = []
        for _ in range(samples * 5):
            t0 = time.perf_counter()
            raw.execute("SELECT * FROM issues WHERE id = ?", (rng.randrange(1, total),)).fetchone()
            raw_ms.append((time.perf_counter() - t0) * 1000)
        raw.close()
        base_p99 = percentile(base, 99)
        lines.append(row("baseline: bare sqlite3 point query by id", raw_ms))
        lines.append(row("baseline: same query through the aiosqlite reader", base))
        queries = [SEARCHES[i % len(SEARCHES)] for i in range(samples)]
        search = await timed(len(queries), lambda i: desk.search(queries[i], limit=20))
        lines.append(row("search, 3+ character terms (FTS5 trigram, ranked, snippets)", search,
                         "p99 ≤ 100 ms", base_p99))
        short = await timed(max(20, samples // 5),
                            lambda i: desk.search(SHORT_SEARCHES[i % len(SHORT_SEARCHES)], limit=20))
        lines.append(row("search, 1–2 character terms (LIKE over newest 50,000)", short, "", base_p99))
        report: list[float] = []
        for month in (9, 10, 8):
            t0 = time.perf_counter()
            rep = await desk.report(date(2026, month, 1), date(2026, month + 1, 1) - timedelta(days=1))
            report.append((time.perf_counter() - t0) * 1000)
        lines.append(row(f"monthly service report ({rep.data['issues']:,} issues in 2026-08)", report,
                         "≤ 1 s", base_p99))
        ids = []
        for i in range(samples):
            issue = await store.issues.create(
                source="phone", at=NOW, local_year=2026, status="recorded", actor="bench",
                fields={"category": POSTS[zipf_index(rng, len(POSTS))], "priority": rng.choice(PRIORITIES),
                        "description": f"bench {i} 打印机无法连接"})
            ids.append(issue.id)
        dispatch = await timed(len(ids), lambda i: desk.dispatch(ids[i]))
        lines.append(row("dispatch (A/B choice, SLA planned date, event, log, outbox, COMMIT)", dispatch,
                         "p99 ≤ 10 ms", base_p99))
        return lines
    finally:
        await store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--db", type=Path, help="reuse (or keep) this file instead of a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hotline-desk-bench-"))
    path = args.db or tmp / "desk.sqlite3"
    cal = site_calendar()
    if not path.exists():
        async def migrate() -> None:
            async with Store(path, synchronous="off"):
                pass
        asyncio.run(migrate())
        t0 = time.perf_counter()
        populate(path, args.issues, cal, args.seed)
        print(f"filled {path} with {args.issues:,} issues in {time.perf_counter() - t0:.1f} s, "
              f"{path.stat().st_size / 1e6:.0f} MB", file=sys.stderr)
    for line in asyncio.run(measure(path, args.samples, args.seed)):
        print(line)
    if not (args.keep or args.db):
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
