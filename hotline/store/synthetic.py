"""A synthetic history of issues for benchmarks: a million records in a few minutes.

:func:`fill_history` adds years of issues to a database that already holds staff, posts,
categories and a directory (``hotline init-db --demo``), with what the console shows of each:
the call behind a phone issue (IVR keys, attempts, who answered, disposition), the audit
trail (created, dispatched, progress, resolved), the desk's SLA projection, the dispatch log,
notifications and callbacks. The distributions follow a plant's service desk: days weighted
5:1 to weekdays and 85 % to office hours (Beijing time), Zipf-like categories, states by age
(old issues are closed; about 1.5 % still open), owners from each category's post (A role four
times in five), 30 % of the issues from the 1 % of employees who call most, Chinese
descriptions with assets and buildings for the full-text search.

It writes with the standard ``sqlite3`` module in big transactions and ``synchronous=OFF``
(bulk loading, not the server's write path: nobody waits for these rows), through the same
tables and triggers (the FTS index is kept by migration 0002's triggers). Deterministic for a
seed; :data:`GENERATOR_VERSION` changes whenever the data it makes changes, so a cached file
can be keyed by it.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from hotline.store.db import StoreError, utc_text

__all__ = ["GENERATOR_VERSION", "HistoryFacts", "fill_history"]

GENERATOR_VERSION = 1

BEIJING = timezone(timedelta(hours=8))
DEVICES = ["打印机", "笔记本电脑", "台式机", "VPN 客户端", "Outlook 邮箱", "ERP 系统", "无线网络", "显示器",
           "扫描仪", "IP 电话", "MES 终端", "DCS 操作站", "共享盘", "视频会议", "门禁卡", "Teams"]
PROBLEMS = ["无法连接", "速度很慢", "蓝屏", "无法登录", "报错 0x80070005", "卡纸", "没有声音", "频繁掉线",
            "无法打印", "密码过期", "证书过期", "cannot start", "keeps crashing", "access denied", "黑屏"]
FIXES = ["重启后恢复", "更换网线", "重装驱动", "重置密码", "清理缓存", "更换硒鼓", "升级固件",
         "调整交换机端口", "reinstalled the client", "renewed the certificate",
         "replaced the power supply", "远程协助处理"]
NOTES = ["已远程查看，等待用户反馈", "备件已申请", "联系厂商工程师", "现场处理中", "waiting for the vendor",
         "用户不在座位，改约明天上午"]
OLD_STATES = ["closed"] * 95 + ["callback_done"] * 3 + ["resolved"] * 2
RECENT_STATES = (["closed"] * 40 + ["callback_done"] * 15 + ["resolved"] * 15 + ["in_progress"] * 12
                 + ["dispatched"] * 8 + ["pending_caller"] * 5 + ["recorded"] * 3 + ["new"] + ["reopened"])
SOURCES = ["phone"] * 70 + ["web"] * 15 + ["email"] * 8 + ["walk-in"] * 5 + ["monitoring"] * 2
PRIORITIES = ["P1"] * 2 + ["P2"] * 10 + ["P3"] * 60 + ["P4"] * 28
DISPOSITIONS = ["answered"] * 88 + ["voicemail"] * 5 + ["abandoned"] * 4 + ["missed"] * 3
DONE = {"resolved", "callback_done", "closed"}
OWNED = DONE | {"dispatched", "in_progress", "pending_caller", "reopened"}
CHUNK = 50_000


@dataclass(frozen=True)
class HistoryFacts:
    """What :func:`fill_history` wrote."""

    issues: int
    calls: int
    events: int
    first_id: int
    last_id: int


@dataclass(frozen=True)
class _Site:
    categories: list[tuple[str, str, str | None]]
    """(category, post, menu digit)"""
    post_people: dict[str, list[str]]
    """Each post's people, A role first."""
    employees: list[tuple[str, str, str]]
    """(employee id, name, caller key)"""


def _site(conn: sqlite3.Connection) -> _Site:
    categories = [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT id, post_id, dtmf FROM categories ORDER BY id")]
    post_people: dict[str, list[str]] = {}
    for post, person in conn.execute(
            "SELECT post_id, person_id FROM post_assignments ORDER BY post_id, role, rank"):
        post_people.setdefault(post, []).append(person)
    employees = [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT d.employee_id, d.name, MIN(n.key) FROM directory d"
        " JOIN directory_numbers n ON n.employee_id = d.employee_id AND n.kind = 'mobile'"
        " GROUP BY d.employee_id ORDER BY d.employee_id")]
    if not categories or not employees or not post_people:
        raise StoreError("synthetic history needs staff, posts, categories and a directory first "
                         "(hotline init-db --demo)")
    return _Site(categories, post_people, employees)


def _zipf(rng: random.Random, n: int, s: float) -> int:
    """An index in [0, n) with a heavy head (a few categories and callers dominate)."""
    return min(n - 1, int(rng.paretovariate(s)) - 1)


def _moments(rng: random.Random, issues: int, now: datetime, years: int) -> Iterator[datetime]:
    """``issues`` creation instants over the last ``years`` years, in order."""
    first = now.astimezone(BEIJING).date() - timedelta(days=365 * years)
    days = [first + timedelta(days=i) for i in range((now.astimezone(BEIJING).date() - first).days + 1)]
    weights = [5.0 if d.weekday() < 5 else 1.0 for d in days]
    per_day = [0] * len(days)
    for i in rng.choices(range(len(days)), weights=weights, k=issues):
        per_day[i] += 1
    for d, n in zip(days, per_day, strict=True):
        yield from sorted(_moment(rng, d, now) for _ in range(n))


def _moment(rng: random.Random, d: date, now: datetime) -> datetime:
    while True:  # today's issues come before now
        office = rng.random() < 0.85
        minute = rng.randrange(8 * 60, 17 * 60 + 30) if office else rng.randrange(24 * 60)
        t = datetime(d.year, d.month, d.day, minute // 60, minute % 60, rng.randrange(60),
                     rng.randrange(1_000_000), tzinfo=BEIJING)
        if t <= now:
            return t


def fill_history(path: Path, *, issues: int, now: datetime, seed: int = 7, years: int = 3) -> HistoryFacts:
    """Add ``issues`` issues created over the last ``years`` years before ``now`` (see the module doc)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        site = _site(conn)
        facts = _fill(conn, site, rng, issues, now, years)
        conn.execute("PRAGMA optimize")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return facts
    finally:
        conn.close()


def _fill(conn: sqlite3.Connection, site: _Site, rng: random.Random, issues: int, now: datetime,
          years: int) -> HistoryFacts:
    first_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM issues").fetchone()[0])
    call_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0])
    counters = {str(r[0]): int(r[1]) for r in conn.execute("SELECT name, value FROM counters")}
    buffers: dict[str, list[tuple[object, ...]]] = {k: [] for k in (
        "calls", "issues", "events", "desk", "log", "callbacks", "outbox")}
    recent = now - timedelta(days=30)
    iid, n_calls, n_events = first_id - 1, 0, 0
    frequent = max(1, len(site.employees) // 100)
    for t in _moments(rng, issues, now, years):
        iid += 1
        year_key = f"issue:{t.year}"
        counters[year_key] = counters.get(year_key, 0) + 1
        status = rng.choice(OLD_STATES if t < recent else RECENT_STATES)
        category, post, digit = site.categories[_zipf(rng, len(site.categories), 1.1)]
        staff = site.post_people.get(post) or next(iter(site.post_people.values()))
        # Repeat callers: 30 % of issues come from the 1 % of employees who call most.
        who = rng.randrange(frequent) if rng.random() < 0.3 else rng.randrange(len(site.employees))
        emp_id, emp_name, caller_key = site.employees[who]
        source = rng.choice(SOURCES)
        priority = rng.choice(PRIORITIES) if status != "new" else None
        owner = None
        if status in OWNED:
            deputy = rng.random() >= 0.8 and len(staff) > 1
            owner = staff[1 + rng.randrange(len(staff) - 1)] if deputy else staff[0]
        description = (f"{rng.choice(DEVICES)}{rng.choice(PROBLEMS)}，资产 A{rng.randrange(10000, 99999)}，"
                       f"{rng.choice(('炼油一部', '化工二部', '仓储中心', '质检中心', '财务部', '研究院'))}"
                       f"{rng.randrange(1, 30)}号楼") if status != "new" else ""
        resolution = rng.choice(FIXES) if status in DONE else ""
        created = utc_text(t)
        ended_at = recorded_at = None
        this_call = None
        overdue = 0
        if source == "phone":
            call_id += 1
            n_calls += 1
            this_call = call_id
            ended = t + timedelta(seconds=30 + rng.expovariate(1 / 200))
            ended_at = utc_text(ended)
            disposition = rng.choice(DISPOSITIONS)
            answered_by = staff[0] if disposition == "answered" else None
            attempts = [{"target": "desk", "person": staff[0],
                         "at": utc_text(t + timedelta(seconds=15)),
                         "outcome": "answered" if answered_by else "no-answer"}]
            menu = [{"node": "menu", "digit": digit, "choice": category}] if digit else []
            buffers["calls"].append((
                call_id, f"bench-{call_id}@hotline", "in", f"sip:{caller_key}@trunk", emp_name, caller_key,
                caller_key, emp_id, "sip:8000@hotline", created,
                utc_text(t + timedelta(seconds=15)) if answered_by else None, ended_at, disposition, "desk",
                answered_by, digit or "", "default", "zh", json.dumps(menu, ensure_ascii=False),
                json.dumps(attempts, ensure_ascii=False), 15.0, (ended - t).total_seconds() - 15,
            ))
            delay = rng.expovariate(1 / 12)
            overdue = int(delay > 27)
            if status != "new":
                recorded_at = utc_text(ended + timedelta(minutes=delay))
        updated = t
        events: list[tuple[object, ...]] = [(iid, created, "system", "created", None,
                                             json.dumps({"status": "new", "source": source}), "")]
        planned = None
        if owner is not None:
            dispatched = t + timedelta(minutes=5 + rng.expovariate(1 / 10))
            planned = utc_text(dispatched + timedelta(days=3))
            reason = "A role available" if owner == staff[0] else "A role busy: B role with the least load"
            events.append((iid, utc_text(dispatched), "system", "status", json.dumps({"status": "recorded"}),
                           json.dumps({"status": "dispatched", "owner": owner}), reason))
            buffers["log"].append((iid, utc_text(dispatched), post, owner,
                                   "A" if owner == staff[0] else "B", reason))
            responded = dispatched + timedelta(minutes=rng.expovariate(1 / 60))
            note_at = responded + timedelta(minutes=rng.expovariate(1 / 120))
            events.append((iid, utc_text(note_at), owner, "progress", None, None, rng.choice(NOTES)))
            resolved = note_at + timedelta(minutes=rng.expovariate(1 / 600)) if status in DONE else None
            met = int(rng.random() < 0.9) if resolved else None
            if resolved is not None:
                events.append((iid, utc_text(resolved), owner, "status",
                               json.dumps({"status": "in_progress"}),
                               json.dumps({"status": "resolved", "resolution": resolution}), ""))
                updated = resolved
            else:
                updated = note_at
            buffers["desk"].append((iid, utc_text(responded), utc_text(resolved) if resolved else None,
                                    int(rng.random() < 0.95), met,
                                    _sla_state(rng, met),
                                    utc_text(note_at)))
            if t >= recent:
                buffers["outbox"].append((utc_text(dispatched), iid, "dispatched", owner, "robot",
                                          json.dumps({"issue": iid}), "sent", 1, utc_text(dispatched),
                                          utc_text(dispatched + timedelta(seconds=2))))
            if status in ("callback_done", "closed") and resolved is not None and rng.random() < 0.6:
                at = resolved + timedelta(hours=20)
                scores = [rng.choice((3, 4, 4, 5, 5, 5)) for _ in range(3)]
                buffers["callbacks"].append((iid, utc_text(at), "ivr", *scores, 1, 0))
                if status == "closed":
                    updated = at
        n_events += len(events)
        buffers["events"].extend(events)
        buffers["issues"].append((
            iid, f"HL-{t.year}-{counters[year_key]:06d}", source, this_call, caller_key, emp_name, emp_id,
            status, category if status != "new" else None, priority, description, resolution, owner, planned,
            created, utc_text(updated), ended_at, recorded_at, overdue,
            int(source == "phone" and status == "new"),
        ))
        if len(buffers["issues"]) >= CHUNK:
            _flush(conn, buffers)
    _flush(conn, buffers)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO counters (name, value) VALUES (?, ?)"
                     " ON CONFLICT(name) DO UPDATE SET value = excluded.value", list(counters.items()))
    conn.execute("COMMIT")
    return HistoryFacts(iid - first_id + 1, n_calls, n_events, first_id, iid)


def _sla_state(rng: random.Random, met: int | None) -> str:
    """Resolved: met or breached for good; open: mostly on track."""
    if met is not None:
        return "met" if met else "breached"
    return rng.choice(("on_track",) * 17 + ("at_risk", "at_risk", "breached"))


def _flush(conn: sqlite3.Connection, b: dict[str, list[tuple[object, ...]]]) -> None:
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO calls (id, sip_call_id, direction, from_uri, from_display, caller_raw, caller_key,"
        " employee_id, to_uri, started_at, answered_at, ended_at, disposition, route, answered_by, digits,"
        " flow, language, menu, attempts, ring_seconds, talk_seconds)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", b["calls"])
    conn.executemany(
        "INSERT INTO issues (id, number, source, call_id, caller_key, caller_name, employee_id, status,"
        " category, priority, description, resolution, owner, planned_at, created_at, updated_at,"
        " call_ended_at, recorded_at, recording_overdue, call_back)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", b["issues"])
    conn.executemany("INSERT INTO issue_events (issue_id, at, actor, kind, before, after, note)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)", b["events"])
    conn.executemany("INSERT INTO desk_issue (issue_id, first_response_at, resolved_at, response_met,"
                     " resolution_met, sla_state, last_note_at) VALUES (?, ?, ?, ?, ?, ?, ?)", b["desk"])
    conn.executemany("INSERT INTO desk_dispatch_log (issue_id, at, post_id, person_id, role, reason, actor)"
                     " VALUES (?, ?, ?, ?, ?, ?, 'system')", b["log"])
    conn.executemany("INSERT INTO desk_callbacks (issue_id, at, by, efficiency, result, attitude, fixed,"
                     " comment, reopened) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)", b["callbacks"])
    conn.executemany("INSERT INTO desk_outbox (created_at, issue_id, event, recipient, channel, payload,"
                     " state, attempts, next_attempt_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     b["outbox"])
    conn.execute("COMMIT")
    for rows in b.values():
        rows.clear()

