"""Major incidents: declared with a parent issue, callers' issues merged into it, cleared.

The rules (who may declare, what a call does) live in ``hotline.incidents``; here, that a
declaration and its parent issue are one transaction, and that linking a call merges its issue
and counts it in one transaction too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.store.convert import from_json, parse_time, to_json
from hotline.store.db import Database, StoreError, utc_text
from hotline.store.issues import EventDraft, append_event, issue_record, merge_issue, next_number
from hotline.store.records import IssueRecord

__all__ = ["Incident", "IncidentStore", "LinkedCaller"]


@dataclass(frozen=True, slots=True)
class Incident:
    """A major incident as stored."""

    id: int
    title: str
    categories: tuple[str, ...]
    """The categories it affects."""
    announcement: str
    """What the IVR says about it before the menu."""
    issue_id: int
    """The parent issue every linked call is merged into."""
    issue_number: str
    declared_at: datetime
    declared_by: str
    cleared_at: datetime | None
    cleared_by: str | None
    callers: int
    """Calls linked to it."""

    @property
    def active(self) -> bool:
        return self.cleared_at is None


@dataclass(frozen=True, slots=True)
class LinkedCaller:
    """Someone who called about an incident: who to tell when it is cleared."""

    recipient: str
    """The employee id, or the caller's number when the directory does not know them."""
    name: str | None
    email: str | None
    mobile: str | None


_SELECT = ("SELECT n.*, i.number AS issue_number FROM incidents n JOIN issues i ON i.id = n.issue_id")


def _incident(r: object) -> Incident:
    d = dict(r)  # type: ignore[call-overload]
    declared = parse_time(d["declared_at"])
    assert declared is not None
    return Incident(d["id"], d["title"], tuple(from_json(d["categories"]) or ()), d["announcement"],
                    d["issue_id"], d["issue_number"], declared, d["declared_by"],
                    parse_time(d["cleared_at"]), d["cleared_by"], d["callers"])


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def declare(self, *, title: str, categories: Sequence[str], announcement: str, at: datetime,
                      by: str, local_year: int, priority: str) -> Incident:
        """Open the parent issue (recorded, ready to dispatch) and the incident, together."""
        async with self._db.transaction() as conn:
            number = await next_number(conn, local_year)
            stamp = utc_text(at)
            async with conn.execute(
                "INSERT INTO issues (number, source, status, category, priority, description, tags,"
                " created_at, updated_at, recorded_at) VALUES (?, 'web', 'recorded', ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING *",
                (number, categories[0] if categories else None, priority, f"{title}\n{announcement}",
                 to_json(["major-incident"]), stamp, stamp, stamp),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            issue = issue_record(row)
            async with conn.execute(
                "INSERT INTO incidents (title, categories, announcement, issue_id, declared_at, declared_by)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (title, to_json(list(categories)), announcement, issue.id, stamp, by),
            ) as cur:
                id_row = await cur.fetchone()
            assert id_row is not None
            await append_event(conn, issue.id, at, EventDraft(
                by, "created", None, {"status": "recorded", "source": "web", "incident": int(id_row[0]),
                                      "categories": list(categories)}, f"major incident declared: {title}"))
        return Incident(int(id_row[0]), title, tuple(categories), announcement, issue.id, number, at, by,
                        None, None, 0)

    async def get(self, incident_id: int) -> Incident | None:
        row = await self._db.fetch_one(f"{_SELECT} WHERE n.id = ?", (incident_id,))
        return None if row is None else _incident(row)

    async def active(self) -> list[Incident]:
        """Incidents not cleared, newest first."""
        rows = await self._db.fetch_all(f"{_SELECT} WHERE n.cleared_at IS NULL ORDER BY n.id DESC")
        return [_incident(r) for r in rows]

    async def recent(self, limit: int = 50) -> list[Incident]:
        """Every incident, newest first."""
        rows = await self._db.fetch_all(f"{_SELECT} ORDER BY n.id DESC LIMIT ?", (limit,))
        return [_incident(r) for r in rows]

    async def link_call(self, incident: Incident, issue: IssueRecord, parent: IssueRecord, *,
                        status: str, at: datetime, actor: str) -> Incident:
        """Merge a call's issue into the incident's parent and count the call, in one transaction."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE incidents SET callers = callers + 1 WHERE id = ? AND cleared_at IS NULL"
                " RETURNING callers", (incident.id,),
            ) as cur:
                counted = await cur.fetchone()
            if counted is None:
                raise StoreError(f"incident {incident.id} is cleared: no call can be linked to it")
            await merge_issue(conn, issue, parent, status=status, at=at, actor=actor,
                              note=f"caller is calling about major incident {incident.id}: {incident.title}",
                              call_id=issue.call_id)
        linked = await self.get(incident.id)
        assert linked is not None
        return linked

    async def clear(self, incident_id: int, *, at: datetime, by: str, note: str) -> Incident:
        """Mark the incident over (the parent issue stays, to be resolved as usual)."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "UPDATE incidents SET cleared_at = ?, cleared_by = ? WHERE id = ? AND cleared_at IS NULL"
                " RETURNING issue_id", (utc_text(at), by, incident_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise StoreError(f"no active incident with id {incident_id}")
            await append_event(conn, int(row[0]), at, EventDraft(
                by, "incident_cleared", None, {"incident": incident_id}, note))
        cleared = await self.get(incident_id)
        assert cleared is not None
        return cleared

    async def linked_callers(self, issue_id: int) -> list[LinkedCaller]:
        """Everyone whose call was merged into ``issue_id``, once each, in the order they called."""
        rows = await self._db.fetch_all(
            "SELECT i.employee_id, i.caller_key, i.caller_name, d.name, d.email, d.mobile FROM issues i"
            " LEFT JOIN directory d ON d.employee_id = i.employee_id"
            " WHERE i.merged_into = ? ORDER BY i.id", (issue_id,))
        out: dict[str, LinkedCaller] = {}
        for r in rows:
            recipient = r[0] or r[1]
            if recipient and recipient not in out:
                out[recipient] = LinkedCaller(recipient, r[3] or r[2], r[4], r[5] or r[1])
        return list(out.values())
