"""Issues and their append-only audit trail.

The store enforces what the database must (a change and its audit event are
one transaction; a status change only applies if the issue is still in the
status the caller saw); the rules of which change is allowed live in
``hotline.issues``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiosqlite

from hotline.store.calls import call_record
from hotline.store.convert import from_json, parse_time, to_json
from hotline.store.db import Database, StoreError, utc_text
from hotline.store.records import CallRecord, IssueEvent, IssueRecord, NewCall

__all__ = [
    "EventDraft", "IssueStore", "StaleIssue", "append_event", "apply_change", "db_value", "issue_record",
    "merge_issue", "next_number",
]

UPDATABLE = {
    "status", "category", "priority", "description", "resolution", "owner", "planned_at",
    "caller_name", "employee_id", "recorded_at", "recording_overdue", "tags", "call_back",
}


class StaleIssue(StoreError):
    """The issue changed since it was read (another operator was faster)."""


@dataclass(frozen=True)
class EventDraft:
    """An audit event to append with a change."""

    actor: str
    kind: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    note: str = ""


def issue_record(row: object) -> IssueRecord:
    r = dict(row)  # type: ignore[call-overload]
    created, updated = parse_time(r["created_at"]), parse_time(r["updated_at"])
    assert created is not None and updated is not None
    return IssueRecord(
        id=r["id"], number=r["number"], source=r["source"], call_id=r["call_id"],
        caller_key=r["caller_key"], caller_name=r["caller_name"], employee_id=r["employee_id"],
        status=r["status"], category=r["category"], priority=r["priority"],
        description=r["description"], resolution=r["resolution"], owner=r["owner"],
        planned_at=parse_time(r["planned_at"]), created_at=created, updated_at=updated,
        call_ended_at=parse_time(r["call_ended_at"]), recorded_at=parse_time(r["recorded_at"]),
        recording_overdue=bool(r["recording_overdue"]), tags=tuple(from_json(r["tags"]) or ()),
        call_back=bool(r["call_back"]), merged_into=r.get("merged_into"),
    )


def db_value(value: Any) -> Any:
    """A Python value as stored in a column (timestamps as UTC text, booleans as 0/1)."""
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | tuple):
        return to_json(list(value))
    return value


_INSERT_EVENT = ("INSERT INTO issue_events (issue_id, at, actor, kind, before, after, note)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?)")
_NEXT_NUMBER = ("INSERT INTO counters (name, value) VALUES (?, 1)"
                " ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value")


def _event_params(issue_id: int, at: datetime, e: EventDraft) -> tuple[Any, ...]:
    return (issue_id, utc_text(at), e.actor, e.kind,
            to_json(dict(e.before)) if e.before is not None else None,
            to_json(dict(e.after)) if e.after is not None else None, e.note)


def _number_text(year: int, value: int) -> str:
    return f"HL-{year}-{value:06d}"


async def append_event(conn: aiosqlite.Connection, issue_id: int, at: datetime, e: EventDraft) -> None:
    await conn.execute(_INSERT_EVENT, _event_params(issue_id, at, e))


async def next_number(conn: aiosqlite.Connection, year: int) -> str:
    async with conn.execute(_NEXT_NUMBER, (f"issue:{year}",)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return _number_text(year, int(row[0]))


def _create_for_call(
    conn: sqlite3.Connection, call: NewCall, *, employee_id: str | None, caller_name: str | None,
    local_year: int, status: str,
) -> tuple[CallRecord, IssueRecord]:
    started = utc_text(call.started_at)
    call_row = conn.execute(
        "INSERT INTO calls (sip_call_id, direction, from_uri, from_display, caller_raw,"
        " caller_key, employee_id, to_uri, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING *",
        (call.sip_call_id, call.direction, call.from_uri, call.from_display,
         call.caller_raw, call.caller_key, employee_id, call.to_uri, started),
    ).fetchone()
    counter = conn.execute(_NEXT_NUMBER, (f"issue:{local_year}",)).fetchone()
    issue_row = conn.execute(
        "INSERT INTO issues (number, source, call_id, caller_key, caller_name, employee_id,"
        " status, created_at, updated_at) VALUES (?, 'phone', ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (_number_text(local_year, int(counter[0])), call_row["id"], call.caller_key, caller_name,
         employee_id, status, started, started),
    ).fetchone()
    conn.execute(_INSERT_EVENT, _event_params(issue_row["id"], call.started_at, EventDraft(
        actor="system", kind="created", after={"status": status, "source": "phone",
                                               "call": call.sip_call_id},
    )))
    return call_record(call_row), issue_record(issue_row)


async def apply_change(
    conn: aiosqlite.Connection, issue_id: int, *, expect_status: str, changes: Mapping[str, Any],
    at: datetime, events: Sequence[EventDraft],
) -> IssueRecord:
    """Update an issue and append its audit events on an open transaction.

    The one way an issue changes: :meth:`IssueStore.apply` wraps it in its own transaction,
    the desk (``store/desk/changes.py``) calls it inside a transaction that also writes the
    dispatch log and the outbox. Refused with :class:`StaleIssue` if the issue is no longer in
    ``expect_status`` (another operator was faster).
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise StoreError(f"issues: cannot update {sorted(unknown)}")
    sets = ", ".join([*(f"{k} = ?" for k in changes), "updated_at = ?"])
    values = [*(db_value(v) for v in changes.values()), utc_text(at)]
    async with conn.execute(
        f"UPDATE issues SET {sets} WHERE id = ? AND status = ? RETURNING *",
        (*values, issue_id, expect_status),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        async with conn.execute("SELECT status FROM issues WHERE id = ?", (issue_id,)) as cur:
            current = await cur.fetchone()
        if current is None:
            raise StoreError(f"no issue with id {issue_id}")
        raise StaleIssue(
            f"issue {issue_id} is {current[0]} now, not {expect_status}: reload and retry"
        )
    for event in events:
        await append_event(conn, issue_id, at, event)
    return issue_record(row)


async def merge_issue(
    conn: aiosqlite.Connection, issue: IssueRecord, into: IssueRecord, *, status: str, at: datetime,
    actor: str, note: str, call_id: int | None,
) -> IssueRecord:
    """Close ``issue`` as merged into ``into`` on an open transaction; audit both, delete nothing.

    Refused with :class:`StaleIssue` if ``issue`` changed since it was read, and with
    :class:`StoreError` if ``into`` was itself merged or closed meanwhile.
    """
    async with conn.execute("SELECT status, merged_into FROM issues WHERE id = ?", (into.id,)) as cur:
        target = await cur.fetchone()
    if target is None or target[1] is not None or target[0] == "closed":
        raise StoreError(f"issue {into.number} is closed or merged: nothing can be merged into it")
    merged = await apply_change(
        conn, issue.id, expect_status=issue.status, changes={"status": status}, at=at,
        events=(EventDraft(actor, "merged", {"status": issue.status},
                           {"status": status, "merged_into": into.number}, note),))
    await conn.execute("UPDATE issues SET merged_into = ? WHERE id = ?", (into.id, issue.id))
    await conn.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (utc_text(at), into.id))
    await append_event(conn, into.id, at, EventDraft(
        actor, "merged_in", None, {"issue": issue.number, "call": call_id}, note))
    return replace(merged, merged_into=into.id)


class IssueStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_for_call(
        self, call: NewCall, *, employee_id: str | None, caller_name: str | None,
        local_year: int, status: str,
    ) -> tuple[CallRecord, IssueRecord]:
        """Commit a call row and its issue row together; return both once on disk.

        One transaction run whole on the write thread: this is the write every call waits for
        before it is answered, and as aiosqlite statements it took a dozen thread hops.
        """
        return await self._db.write(_create_for_call, call, employee_id=employee_id,
                                    caller_name=caller_name, local_year=local_year, status=status)

    async def create(
        self, *, source: str, at: datetime, local_year: int, status: str, actor: str,
        fields: Mapping[str, Any],
    ) -> IssueRecord:
        """Create an issue that did not come from a call (web form, walk-in, e-mail)."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise StoreError(f"issues: unknown fields {sorted(unknown)}")
        async with self._db.transaction() as conn:
            number = await next_number(conn, local_year)
            names = ["number", "source", "status", "created_at", "updated_at", *fields]
            values = [number, source, status, utc_text(at), utc_text(at),
                      *(db_value(v) for v in fields.values())]
            async with conn.execute(
                f"INSERT INTO issues ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
                " RETURNING *", values,
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            await append_event(conn, row["id"], at, EventDraft(
                actor=actor, kind="created", after={"status": status, "source": source, **fields},
            ))
        return issue_record(row)

    async def apply(
        self, issue_id: int, *, expect_status: str, changes: Mapping[str, Any], at: datetime,
        event: EventDraft,
    ) -> IssueRecord:
        """Update fields and append the event in one transaction.

        Refused with :class:`StaleIssue` if the issue is no longer in ``expect_status``.
        """
        async with self._db.transaction() as conn:
            return await apply_change(conn, issue_id, expect_status=expect_status,
                                      changes=changes, at=at, events=(event,))

    async def merge(self, issue: IssueRecord, into: IssueRecord, *, status: str, at: datetime,
                    actor: str, note: str) -> IssueRecord:
        """Close ``issue`` as merged into ``into`` (see :func:`merge_issue`), in its own transaction."""
        async with self._db.transaction() as conn:
            return await merge_issue(conn, issue, into, status=status, at=at, actor=actor, note=note,
                                     call_id=issue.call_id)

    async def merged_into(self, issue_id: int) -> list[IssueRecord]:
        """The issues merged into this one (one per call about it), oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM issues WHERE merged_into = ? ORDER BY id", (issue_id,))
        return [issue_record(r) for r in rows]

    async def get(self, issue_id: int) -> IssueRecord | None:
        row = await self._db.fetch_one("SELECT * FROM issues WHERE id = ?", (issue_id,))
        return None if row is None else issue_record(row)

    async def by_number(self, number: str) -> IssueRecord | None:
        row = await self._db.fetch_one("SELECT * FROM issues WHERE number = ?", (number,))
        return None if row is None else issue_record(row)

    async def for_call(self, call_id: int) -> IssueRecord | None:
        row = await self._db.fetch_one("SELECT * FROM issues WHERE call_id = ?", (call_id,))
        return None if row is None else issue_record(row)

    async def for_calls(self, call_ids: Sequence[int]) -> dict[int, IssueRecord]:
        """The issues of these calls, by call id (calls without an issue are left out)."""
        out: dict[int, IssueRecord] = {}
        ids = list(call_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = await self._db.fetch_all(
                f"SELECT * FROM issues WHERE call_id IN ({','.join('?' * len(chunk))})", chunk)
            for row in rows:
                issue = issue_record(row)
                assert issue.call_id is not None
                out[issue.call_id] = issue
        return out

    async def events(self, issue_id: int) -> list[IssueEvent]:
        rows = await self._db.fetch_all(
            "SELECT * FROM issue_events WHERE issue_id = ? ORDER BY id", (issue_id,)
        )
        out = []
        for r in rows:
            at = parse_time(r["at"])
            assert at is not None
            out.append(IssueEvent(r["id"], r["issue_id"], at, r["actor"], r["kind"],
                                  from_json(r["before"]), from_json(r["after"]), r["note"]))
        return out

    async def open_for_caller(
        self, *, caller_key: str | None, employee_id: str | None, limit: int = 20,
    ) -> list[IssueRecord]:
        """Issues not yet closed for this employee (or, for unknown callers, this number)."""
        # Spelled "status <> 'closed'" so that SQLite can use the partial open-issue indexes.
        return await self._for_caller(caller_key, employee_id, "AND status <> 'closed'", limit)

    async def history_for_caller(
        self, *, caller_key: str | None, employee_id: str | None, limit: int = 20
    ) -> list[IssueRecord]:
        """This employee's (or number's) issues, newest first."""
        return await self._for_caller(caller_key, employee_id, "", limit)

    async def _for_caller(
        self, caller_key: str | None, employee_id: str | None, extra: str, limit: int
    ) -> list[IssueRecord]:
        # A known employee is matched by id (all their numbers); an unknown caller by number.
        if employee_id:
            where, key = "employee_id = ?", employee_id
        elif caller_key:
            where, key = "caller_key = ?", caller_key
        else:
            return []
        rows = await self._db.fetch_all(
            f"SELECT * FROM issues WHERE {where} {extra} ORDER BY id DESC LIMIT ?", (key, limit)
        )
        return [issue_record(r) for r in rows]

    async def flag_recording_overdue(self, *, status: str, ended_before: datetime, at: datetime) -> list[int]:
        """Flag issues still in ``status`` whose call ended before ``ended_before``."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE issues SET recording_overdue = 1, updated_at = ? WHERE status = ?"
                " AND recording_overdue = 0 AND call_ended_at IS NOT NULL AND call_ended_at < ?"
                " RETURNING id",
                (utc_text(at), status, utc_text(ended_before)),
            ) as cur:
                ids = [int(r[0]) for r in await cur.fetchall()]
            for issue_id in ids:
                await append_event(conn, issue_id, at, EventDraft(
                    actor="system", kind="recording_overdue",
                    before={"recording_overdue": False}, after={"recording_overdue": True},
                    note="category and description not completed within 30 minutes of the call",
                ))
        return ids

    async def awaiting_entry(self, limit: int = 50) -> list[IssueRecord]:
        """Issues still ``new`` (the record not completed yet), oldest call first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM issues WHERE status = 'new' ORDER BY created_at, id LIMIT ?", (limit,))
        return [issue_record(r) for r in rows]

    async def to_call_back(self, limit: int = 50) -> list[IssueRecord]:
        """Issues flagged for a call back (missed or refused calls) and not closed, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM issues WHERE call_back = 1 AND status <> 'closed' ORDER BY id LIMIT ?", (limit,))
        return [issue_record(r) for r in rows]

    async def count(self, status: str | None = None) -> int:
        if status is None:
            return int(await self._db.fetch_value("SELECT COUNT(*) FROM issues"))
        return int(await self._db.fetch_value("SELECT COUNT(*) FROM issues WHERE status = ?", (status,)))

    async def recent(self, limit: int = 50) -> list[IssueRecord]:
        rows = await self._db.fetch_all("SELECT * FROM issues ORDER BY id DESC LIMIT ?", (limit,))
        return [issue_record(r) for r in rows]

    # -- the console's issue list ------------------------------------------------------------
    async def list_page(self, f: IssueFilter, *, sort: str = "newest", before: int | None = None,
                        limit: int = 50) -> IssuePage:
        """One page of the issue list (see :func:`issue_list_sql`); ``before`` is the last issue
        of the previous page (keyset pagination: never OFFSET, so page 1,000 costs what page 1
        does). Raises :class:`StoreError` if ``before`` names no issue."""
        cursor: tuple[str | None, str, int] | None = None
        if before is not None:
            row = await self._db.fetch_one(
                "SELECT priority, created_at, id FROM issues WHERE id = ?", (before,))
            if row is None:
                raise StoreError(f"no issue with id {before} to continue the list after")
            cursor = (row["priority"], row["created_at"], row["id"])
        counts: dict[str, int] = {}
        probe = driver_counts_sql(f, sort=sort)
        if probe is not None:
            row = await self._db.fetch_one(*probe)
            assert row is not None
            counts = dict(zip(row.keys(), (int(v) for v in row), strict=True))
        rows: list[IssueListRow] = []
        for sql, params in issue_list_sql(f, sort=sort, cursor=cursor, limit=limit + 1, counts=counts):
            for r in await self._db.fetch_all(sql, params):
                rows.append(IssueListRow(issue_record(r), r["call_disposition"], r["sla"]))
            if len(rows) > limit:
                break
        more = len(rows) > limit
        rows = rows[:limit]
        return IssuePage(tuple(rows), rows[-1].issue.id if more and rows else None)


@dataclass(frozen=True)
class IssueFilter:
    """What the console's issue list may be narrowed to; None everywhere: every issue."""

    status: str | None = None
    category: str | None = None
    priority: str | None = None
    """"P1".."P4"; "" for issues without a priority."""
    owner: str | None = None
    """A person id; "" for issues nobody owns."""
    source: str | None = None
    created_from: datetime | None = None
    """Created at or after this instant."""
    created_to: datetime | None = None
    """Created before this instant."""
    recording_overdue: bool | None = None
    call_back: bool | None = None
    sla_state: str | None = None
    """The desk's stored SLA projection (``desk_issue.sla_state``; none yet counts as on_track)."""
    disposition: str | None = None
    """How the issue's call ended (``calls.disposition``: missed, voicemail, abandoned…)."""
    ids: tuple[int, ...] | None = None
    """Only these issues (e.g. the hits of a full-text search)."""


@dataclass(frozen=True)
class IssueListRow:
    issue: IssueRecord
    disposition: str | None
    """The disposition of the issue's call, if it came from one."""
    sla_state: str | None
    """The stored SLA state, None if the desk has not projected one yet."""


@dataclass(frozen=True)
class IssuePage:
    rows: tuple[IssueListRow, ...]
    next_before: int | None
    """The cursor of the next page (the last row's id), None on the last page."""


LIST_SORTS = ("newest", "oldest", "priority")
PRIORITY_BUCKETS: tuple[str | None, ...] = ("P1", "P2", "P3", "P4", None)

# The share of all issues a filter value keeps, roughly, on a desk after a few years (most
# issues closed, P3, from the phone; a few dozen categories and owners): what decides between
# two filters when counting them told nothing (both past DRIVER_COUNT_CAP).
_STATUS_SHARE = {"closed": 0.9}
_OPEN_SHARE = 0.005
_PRIORITY_SHARE: dict[str | None, float] = {"P1": 0.02, "P2": 0.1, "P3": 0.6, "P4": 0.3, None: 0.03}
_SOURCE_SHARE = {"phone": 0.7, "web": 0.15, "email": 0.08, "walk-in": 0.05, "monitoring": 0.02}
_ONE_OF_MANY = 0.05
"""A category, an owner."""
_FLAGGED = 0.01
"""Issues flagged for a call back, or whose recording is overdue."""
DRIVER_COUNT_CAP = 5000
"""Index entries counted at most per candidate filter when choosing the walk (see issue_list_sql)."""


@dataclass(frozen=True)
class _Candidate:
    key: str
    """The column whose index would drive; "priority:P1"… for a bucket of the priority sort."""
    column: str
    clause: str
    """The filter on the bare column (so that its index serves it)."""
    params: tuple[Any, ...]
    share: float


def _candidates(f: IssueFilter, *, buckets: bool) -> list[_Candidate]:
    """The indexed filters of ``f`` that could drive a walk (and the priority sort's buckets)."""
    out: list[_Candidate] = []
    if f.status is not None:
        out.append(_Candidate("status", "status", "i.status = ?", (f.status,),
                              _STATUS_SHARE.get(f.status, _OPEN_SHARE)))
    if f.priority is not None:
        value = f.priority or None
        out.append(_Candidate("priority", "priority",
                              "i.priority IS NULL" if value is None else "i.priority = ?",
                              () if value is None else (value,), _PRIORITY_SHARE.get(value, _ONE_OF_MANY)))
    elif buckets:
        for bucket in PRIORITY_BUCKETS:
            out.append(_Candidate(f"priority:{bucket or ''}", "priority",
                                  "i.priority IS NULL" if bucket is None else "i.priority = ?",
                                  () if bucket is None else (bucket,), _PRIORITY_SHARE[bucket]))
    if f.category is not None:
        out.append(_Candidate("category", "category", "i.category = ?", (f.category,), _ONE_OF_MANY))
    if f.owner is not None:
        out.append(_Candidate("owner", "owner", "i.owner IS NULL" if f.owner == "" else "i.owner = ?",
                              () if f.owner == "" else (f.owner,),
                              _PRIORITY_SHARE[None] if f.owner == "" else _ONE_OF_MANY))
    if f.source is not None:
        out.append(_Candidate("source", "source", "i.source = ?", (f.source,),
                              _SOURCE_SHARE.get(f.source, _ONE_OF_MANY)))
    # Only "flagged" is rare; the partial indexes serve "= 1" written out, not a parameter.
    if f.call_back:
        out.append(_Candidate("call_back", "call_back", "i.call_back = 1", (), _FLAGGED))
    if f.recording_overdue:
        out.append(_Candidate("recording_overdue", "recording_overdue", "i.recording_overdue = 1", (),
                              _FLAGGED))
    return out


def driver_counts_sql(f: IssueFilter, *, sort: str) -> tuple[str, list[Any]] | None:
    """One query counting, for each filter that could drive the list's walk, its issues in the
    list's date range, up to :data:`DRIVER_COUNT_CAP` each (a bounded walk of its index); None
    when there is no choice to make. Its row, by candidate, goes to :func:`issue_list_sql`."""
    if f.ids is not None:
        return None
    candidates = _candidates(f, buckets=sort == "priority")
    walks = 1 if sort != "priority" or f.priority is not None else len(PRIORITY_BUCKETS)
    if len(candidates) <= walks:
        return None
    dates, date_params = [], []
    if f.created_from is not None:
        dates.append(" AND i.created_at >= ?")
        date_params.append(utc_text(f.created_from))
    if f.created_to is not None:
        dates.append(" AND i.created_at < ?")
        date_params.append(utc_text(f.created_to))
    parts, params = [], []
    for c in candidates:
        parts.append(f"(SELECT COUNT(*) FROM (SELECT 1 FROM issues i WHERE {c.clause}{''.join(dates)}"
                     f" LIMIT {DRIVER_COUNT_CAP})) AS \"{c.key}\"")
        params += [*c.params, *date_params]
    return "SELECT " + ", ".join(parts), params


def _driver(f: IssueFilter, bucket: tuple[str | None] | None, counts: Mapping[str, int]) -> str | None:
    """The column whose index the walk follows: the filter with the fewest issues (counted, or
    by share); None: the created index."""
    best: tuple[int, float, str] | None = None
    for c in _candidates(f, buckets=bucket is not None):
        if c.key.startswith("priority:") and bucket is not None and c.key != f"priority:{bucket[0] or ''}":
            continue
        rank = (counts.get(c.key, DRIVER_COUNT_CAP), c.share, c.column)
        if best is None or rank < best:
            best = rank
    return None if best is None else best[2]


def issue_list_sql(
    f: IssueFilter, *, sort: str, cursor: tuple[str | None, str, int] | None, limit: int,
    counts: Mapping[str, int] | None = None,
) -> list[tuple[str, list[Any]]]:
    """The queries of one list page, to run in order until ``limit`` rows are found.

    Access paths, for a million issues: every query walks an index in the list's order and
    stops after ``limit`` matches, never sorting. A walk costs the rows it meets before the
    page is full — all of them when few match —, so it follows the index of the *rarest*
    filter: ``counts`` (the row of :func:`driver_counts_sql`: each candidate's issues in the date
    range, counted up to a cap) decides, the shares above break ties. Each indexed filter has an
    index ``(column, created_at)`` (``issues_status``, migration 0007's
    ``issues_category_created``, ``issues_priority_created``, ``issues_owner_created``,
    ``issues_source_created``, and the partial ``issues_call_back_created`` and
    ``issues_overdue_created``); without one, ``issues_created``. The other filters' columns are
    spelled ``+column`` so that SQLite, which has no statistics to compare them, cannot prefer
    a commoner one, and are checked on the rows the walk meets. The rowid breaks ties (every
    index ends with it), so the keyset ``(created_at, id) < (?, ?)`` and the date range are a
    range on whichever index is walked. The call's disposition and the SLA state are one
    primary-key lookup each. Sorting by priority runs one such walk per priority, P1 first,
    issues without one last. The hits of a search (``ids``) are fetched by rowid and sorted
    (at most a few hundred). ``cursor`` is (priority, created_at, id) of the previous page's
    last row.

    The worst page therefore costs about as many rows as its rarest indexed filter keeps in
    the date range (a page of "SLA breached" alone walks until 50 breached issues were met; two
    common filters that never meet, past the cap both, still walk one of them whole).
    """
    if sort not in LIST_SORTS:
        raise StoreError(f"issue list: unknown sort {sort!r}")
    desc = sort != "oldest"
    order = "DESC" if desc else "ASC"
    select = ("SELECT i.*, (SELECT c.disposition FROM calls c WHERE c.id = i.call_id) AS call_disposition,"
              " (SELECT d.sla_state FROM desk_issue d WHERE d.issue_id = i.id) AS sla FROM issues i")
    keyset = f"(i.created_at, i.id) {'<' if desc else '>'} (?, ?)"

    def tail(driver: str | None) -> str:
        # A search's hits: sorted by hand ("+"), not by walking an index past a million rows.
        plus = "+" if driver == "ids" else ""
        return f" ORDER BY {plus}i.created_at {order}, {plus}i.id {order} LIMIT ?"

    if sort != "priority" or f.priority is not None:
        driver = "ids" if f.ids is not None else _driver(f, None, counts or {})
        clauses, values = _list_filters(f, driver)
        if cursor is not None:
            clauses.append(keyset)
            values += [cursor[1], cursor[2]]
        return [(select + _where_sql(clauses) + tail(driver), [*values, limit])]
    queries = []
    buckets = list(PRIORITY_BUCKETS)
    if cursor is not None:
        known = cursor[0] if cursor[0] in PRIORITY_BUCKETS else None
        buckets = buckets[buckets.index(known):]
    for n, bucket in enumerate(buckets):
        driver = "ids" if f.ids is not None else _driver(f, (bucket,), counts or {})
        clauses, values = _list_filters(f, driver)
        column = "i.priority" if driver == "priority" else "+i.priority"
        if bucket is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"{column} = ?")
            values.append(bucket)
        if n == 0 and cursor is not None:
            clauses.append(keyset)
            values += [cursor[1], cursor[2]]
        queries.append((select + _where_sql(clauses) + tail(driver), [*values, limit]))
    return queries


def _where_sql(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def _list_filters(f: IssueFilter, driver: str | None) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    def col(name: str) -> str:
        return f"i.{name}" if name == driver else f"+i.{name}"

    if f.status is not None:
        add(f"{col('status')} = ?", f.status)
    if f.category is not None:
        add(f"{col('category')} = ?", f.category)
    if f.priority == "":
        add(f"{col('priority')} IS NULL")
    elif f.priority is not None:
        add(f"{col('priority')} = ?", f.priority)
    if f.owner == "":
        add(f"{col('owner')} IS NULL")
    elif f.owner is not None:
        add(f"{col('owner')} = ?", f.owner)
    if f.source is not None:
        add(f"{col('source')} = ?", f.source)
    if f.created_from is not None:
        add("i.created_at >= ?", utc_text(f.created_from))
    if f.created_to is not None:
        add("i.created_at < ?", utc_text(f.created_to))
    # The flags' partial indexes serve "= 1" written out; a parameter could be anything.
    if f.recording_overdue is not None:
        add(f"{col('recording_overdue')} = {int(f.recording_overdue)}")
    if f.call_back is not None:
        add(f"{col('call_back')} = {int(f.call_back)}")
    if f.sla_state is not None:
        add("COALESCE((SELECT d.sla_state FROM desk_issue d WHERE d.issue_id = i.id), 'on_track') = ?",
            f.sla_state)
    if f.disposition is not None:
        add("EXISTS (SELECT 1 FROM calls c WHERE c.id = i.call_id AND c.disposition = ?)", f.disposition)
    if f.ids is not None:
        ids = list(f.ids) or [0]
        add(f"i.id IN ({','.join('?' * len(ids))})", *ids)
    return clauses, params
