"""Availability (leave, shifts), the facts dispatch decides on, and the dispatch log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from hotline.store.accounts import AuditEntry, append_audit
from hotline.store.convert import parse_time
from hotline.store.db import Database, utc_text

__all__ = ["DispatchEntry", "DispatchStore", "Leave", "WeeklyShift"]


@dataclass(frozen=True)
class Leave:
    """A person away for the local days ``starts_on``..``ends_on`` inclusive."""

    person_id: str
    starts_on: date
    ends_on: date
    reason: str = ""
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class WeeklyShift:
    """A weekly working window in site-local time; ``ends`` "24:00" is the end of the day.

    Not :class:`hotline.rota.Shift` (a stretch of the on-call rota with one chain): this is
    when a desk engineer works, and dispatch passes them over outside it.
    """

    person_id: str
    weekday: int
    starts: str
    ends: str


@dataclass(frozen=True)
class DispatchEntry:
    """One line of the dispatch log."""

    issue_id: int
    at: datetime
    post_id: str | None
    person_id: str | None
    role: str | None
    reason: str
    actor: str
    id: int | None = field(default=None, compare=False)


def _leave(r: object) -> Leave:
    row = dict(r)  # type: ignore[call-overload]
    return Leave(row["person_id"], date.fromisoformat(row["starts_on"]),
                 date.fromisoformat(row["ends_on"]), row["reason"], row["id"])


class DispatchStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- availability --------------------------------------------------------------------------
    async def add_leave(self, leave: Leave, *, made_by: str, at: datetime | None = None,
                        audit: AuditEntry | None = None) -> int:
        """Store a leave (with the console's audit line in the same transaction, if given)."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO desk_leave (person_id, starts_on, ends_on, reason, made_by, made_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (leave.person_id, leave.starts_on.isoformat(), leave.ends_on.isoformat(),
                 leave.reason, made_by, utc_text(at or datetime.now(UTC))),
            ) as cur:
                row = await cur.fetchone()
            if audit is not None:
                await append_audit(conn, audit)
        assert row is not None
        return int(row[0])

    async def remove_leave(self, leave_id: int, *, audit: AuditEntry | None = None) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM desk_leave WHERE id = ?", (leave_id,))
            if audit is not None:
                await append_audit(conn, audit)

    async def leave(self, leave_id: int) -> Leave | None:
        row = await self._db.fetch_one("SELECT * FROM desk_leave WHERE id = ?", (leave_id,))
        return None if row is None else _leave(row)

    async def leaves(self, person_ids: Sequence[str], first: date, last: date) -> list[Leave]:
        """Leave of these people overlapping the local days ``first``..``last``."""
        if not person_ids:
            return []
        marks = ",".join("?" * len(person_ids))
        rows = await self._db.fetch_all(
            f"SELECT * FROM desk_leave WHERE person_id IN ({marks}) AND ends_on >= ?"
            " AND starts_on <= ? ORDER BY starts_on", (*person_ids, first.isoformat(), last.isoformat()),
        )
        return [_leave(r) for r in rows]

    async def set_shifts(self, person_id: str, shifts: Iterable[WeeklyShift], *,
                         audit: AuditEntry | None = None) -> None:
        """Replace a person's weekly shifts (none: works the desk's business hours)."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM desk_shifts WHERE person_id = ?", (person_id,))
            await conn.executemany(
                "INSERT INTO desk_shifts (person_id, weekday, starts, ends) VALUES (?, ?, ?, ?)",
                [(person_id, s.weekday, s.starts, s.ends) for s in shifts],
            )
            if audit is not None:
                await append_audit(conn, audit)

    async def shifts(self, person_ids: Sequence[str]) -> list[WeeklyShift]:
        if not person_ids:
            return []
        marks = ",".join("?" * len(person_ids))
        rows = await self._db.fetch_all(
            f"SELECT person_id, weekday, starts, ends FROM desk_shifts WHERE person_id IN ({marks})"
            " ORDER BY person_id, weekday, starts", tuple(person_ids))
        return [WeeklyShift(r[0], r[1], r[2], r[3]) for r in rows]

    # -- facts for the decision ----------------------------------------------------------------
    async def post_of_category(self, category: str) -> str | None:
        value = await self._db.fetch_value("SELECT post_id FROM categories WHERE id = ?", (category,))
        return None if value is None else str(value)

    async def inactive(self, person_ids: Sequence[str]) -> set[str]:
        if not person_ids:
            return set()
        marks = ",".join("?" * len(person_ids))
        rows = await self._db.fetch_all(
            f"SELECT id FROM people WHERE id IN ({marks}) AND active = 0", tuple(person_ids))
        return {r[0] for r in rows}

    async def open_counts(self, person_ids: Sequence[str], open_states: Sequence[str]) -> dict[str, int]:
        """Open issues per person (uses the ``issues_owner`` index)."""
        if not person_ids:
            return {}
        pm, sm = ",".join("?" * len(person_ids)), ",".join("?" * len(open_states))
        rows = await self._db.fetch_all(
            f"SELECT owner, COUNT(*) FROM issues WHERE owner IN ({pm}) AND status IN ({sm})"
            " GROUP BY owner", (*person_ids, *open_states))
        counts = {p: 0 for p in person_ids}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    async def last_dispatched(self, person_ids: Sequence[str]) -> dict[str, datetime]:
        if not person_ids:
            return {}
        # One indexed MAX per person beats a GROUP BY over a long log.
        out: dict[str, datetime] = {}
        for p in person_ids:
            value = await self._db.fetch_value(
                "SELECT MAX(at) FROM desk_dispatch_log WHERE person_id = ? AND role != 'escalation'",
                (p,))
            t = parse_time(value)
            if t is not None:
                out[p] = t
        return out

    async def with_role(self, role: str) -> list[str]:
        """Active people holding ``role`` (operator, engineer, manager, admin)."""
        rows = await self._db.fetch_all(
            "SELECT id FROM people WHERE active = 1 AND (',' || roles || ',') LIKE ? ORDER BY id",
            (f"%,{role},%",))
        return [r[0] for r in rows]

    async def managers(self) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT id FROM people WHERE active = 1 AND (',' || roles || ',') LIKE '%,manager,%'"
            " ORDER BY id")
        return [r[0] for r in rows]

    async def contacts(self, person_ids: Sequence[str]) -> dict[str, dict[str, str | None]]:
        """Name, e-mail and mobile of people, for notification payloads."""
        if not person_ids:
            return {}
        marks = ",".join("?" * len(person_ids))
        rows = await self._db.fetch_all(
            f"SELECT id, name, email, mobile FROM people WHERE id IN ({marks})", tuple(person_ids))
        return {r[0]: {"name": r[1], "email": r[2], "mobile": r[3]} for r in rows}

    # -- the log -------------------------------------------------------------------------------
    async def log(self, issue_id: int | None = None, limit: int = 100) -> list[DispatchEntry]:
        sql, params = "SELECT * FROM desk_dispatch_log", ()  # type: tuple[str, tuple[int, ...]]
        if issue_id is not None:
            sql, params = sql + " WHERE issue_id = ?", (issue_id,)
        rows = await self._db.fetch_all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        out = []
        for r in rows:
            at = parse_time(r["at"])
            assert at is not None
            out.append(DispatchEntry(r["issue_id"], at, r["post_id"], r["person_id"], r["role"],
                                     r["reason"], r["actor"], r["id"]))
        return out
