"""The figures of the monthly service report that the desk's report does not compute.

Each query reads the issues *created* in ``[lo, hi)`` through ``issues_created`` (or the calls
*started* in it through ``calls_started``, the callbacks *made* in it through
``desk_callbacks_at``) and reaches the related rows by their issue's index, so a month costs the
same at a million issues as at a thousand. The dispatch log is read through the issues, not by
its own time: a dispatch belongs to the month its issue came in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from hotline.store.db import Database, utc_text

__all__ = ["DispatchCount", "EngineerPoints", "PrioritySla", "ReopenCount", "ServiceReportStore"]


@dataclass(frozen=True, slots=True)
class PrioritySla:
    priority: str
    """P1..P4, or "-" for issues without a priority."""
    response_met: int
    response_measured: int
    resolution_met: int
    resolution_measured: int


@dataclass(frozen=True, slots=True)
class ReopenCount:
    resolved: int
    """Issues created in the range that were resolved at least once."""
    reopened: int
    """Of them, reopened at least once (by a callback or by hand)."""


@dataclass(frozen=True, slots=True)
class EngineerPoints:
    person_id: str
    earned: float
    """Sum of the positive ledger entries."""
    deducted: float
    """Sum of the negative entries (a negative number)."""
    deductions: int
    """How many negative entries."""


@dataclass(frozen=True, slots=True)
class DispatchCount:
    person_id: str | None
    """None: dispatch found nobody."""
    role: str | None
    count: int


class ServiceReportStore:
    def __init__(self, db: Database) -> None:
        # A month's report reads for up to a second: on the background reader, so that the
        # console's pages do not wait behind it.
        self._fetch_all = partial(db.fetch_all, background=True)
        self._fetch_one = partial(db.fetch_one, background=True)

    async def source_by_category(self, lo: datetime, hi: datetime) -> list[tuple[str, str, int]]:
        """(category or "-", source, issues) for issues created in ``[lo, hi)``."""
        rows = await self._fetch_all(
            "SELECT COALESCE(category, '-'), source, COUNT(*) FROM issues WHERE created_at >= ?"
            " AND created_at < ? GROUP BY 1, 2 ORDER BY 1, 2", (utc_text(lo), utc_text(hi)))
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def created_per_hour(self, lo: datetime, hi: datetime) -> list[tuple[str, int]]:
        """("YYYY-MM-DDTHH" in UTC, issues created in that hour): the caller makes local days of them."""
        rows = await self._fetch_all(
            "SELECT substr(created_at, 1, 13), COUNT(*) FROM issues WHERE created_at >= ? AND created_at < ?"
            " GROUP BY 1 ORDER BY 1", (utc_text(lo), utc_text(hi)))
        return [(r[0], int(r[1])) for r in rows]

    async def call_dispositions(self, lo: datetime, hi: datetime) -> dict[str, int]:
        """Incoming calls started in ``[lo, hi)`` per disposition ("-": still going or unknown)."""
        rows = await self._fetch_all(
            "SELECT COALESCE(disposition, '-'), COUNT(*) FROM calls WHERE started_at >= ? AND started_at < ?"
            " AND direction = 'in' GROUP BY 1 ORDER BY 2 DESC, 1", (utc_text(lo), utc_text(hi)))
        return {r[0]: int(r[1]) for r in rows}

    async def sla_by_priority(self, lo: datetime, hi: datetime,
                              owner: str | None = None) -> list[PrioritySla]:
        """Both SLA clocks' met/measured counts per priority (of ``owner``'s issues if given)."""
        mine = " AND i.owner = ?" if owner is not None else ""
        rows = await self._fetch_all(
            "SELECT COALESCE(i.priority, '-'), COALESCE(SUM(d.response_met), 0), COUNT(d.response_met),"
            " COALESCE(SUM(d.resolution_met), 0), COUNT(d.resolution_met)"
            " FROM issues i JOIN desk_issue d ON d.issue_id = i.id"
            f" WHERE i.created_at >= ? AND i.created_at < ?{mine} GROUP BY 1 ORDER BY 1",
            (utc_text(lo), utc_text(hi), *((owner,) if owner is not None else ())))
        return [PrioritySla(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    async def reopens(self, lo: datetime, hi: datetime, owner: str | None = None) -> ReopenCount:
        """Issues created in the range ever resolved, and of them ever reopened (from the audit trail)."""
        mine = " AND i.owner = ?" if owner is not None else ""
        # Left to itself the planner walks the whole audit trail, or all issues in id order for the
        # GROUP BY: the month's issues come from their date index and lead the join (CROSS JOIN).
        index = "issues_owner_created" if owner is not None else "issues_created"
        row = await self._fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(reopened), 0) FROM ("
            " SELECT MAX(json_extract(e.after, '$.status') = 'reopened') AS reopened"
            f" FROM issues i INDEXED BY {index} CROSS JOIN issue_events e ON e.issue_id = i.id"
            f" WHERE i.created_at >= ? AND i.created_at < ?{mine} AND e.kind = 'status'"
            " AND json_extract(e.after, '$.status') IN ('resolved', 'reopened')"
            " GROUP BY e.issue_id HAVING MAX(json_extract(e.after, '$.status') = 'resolved'))",
            (utc_text(lo), utc_text(hi), *((owner,) if owner is not None else ())))
        assert row is not None
        return ReopenCount(int(row[0]), int(row[1]))

    async def callback_scores(self, lo: datetime, hi: datetime,
                              owner: str | None = None) -> dict[str, dict[int, int]]:
        """For callbacks made in ``[lo, hi)``: dimension -> score 1..5 -> how many gave it."""
        join, mine = ((" JOIN issues i ON i.id = c.issue_id", " AND i.owner = ?") if owner is not None
                      else ("", ""))
        out: dict[str, dict[int, int]] = {}
        for dimension in ("efficiency", "result", "attitude"):
            rows = await self._fetch_all(
                f"SELECT c.{dimension}, COUNT(*) FROM desk_callbacks c{join}"
                f" WHERE c.at >= ? AND c.at < ?{mine} GROUP BY 1",
                (utc_text(lo), utc_text(hi), *((owner,) if owner is not None else ())))
            out[dimension] = {int(r[0]): int(r[1]) for r in rows}
        return out

    async def points(self, first_month: str, last_month: str) -> list[EngineerPoints]:
        """Each person's ledger over the months ``first_month``..``last_month`` ("YYYY-MM")."""
        rows = await self._fetch_all(
            "SELECT person_id, COALESCE(SUM(CASE WHEN points > 0 THEN points END), 0),"
            " COALESCE(SUM(CASE WHEN points < 0 THEN points END), 0), COALESCE(SUM(points < 0), 0)"
            " FROM desk_scores WHERE month BETWEEN ? AND ? GROUP BY 1 ORDER BY 1", (first_month, last_month))
        return [EngineerPoints(r[0], float(r[1]), float(r[2]), int(r[3])) for r in rows]

    async def ledger(self, person_id: str, first_month: str, last_month: str) -> list[tuple[str, float, str]]:
        """One person's ledger entries (month, points, reason), in month and key order."""
        rows = await self._fetch_all(
            "SELECT month, points, reason FROM desk_scores WHERE month BETWEEN ? AND ? AND person_id = ?"
            " ORDER BY month, key", (first_month, last_month, person_id))
        return [(r[0], float(r[1]), r[2]) for r in rows]

    async def dispatches(self, lo: datetime, hi: datetime) -> list[DispatchCount]:
        """Dispatch log entries of the issues created in the range, per person and role."""
        rows = await self._fetch_all(
            "SELECT l.person_id, l.role, COUNT(*) FROM issues i JOIN desk_dispatch_log l ON l.issue_id = i.id"
            " WHERE i.created_at >= ? AND i.created_at < ? GROUP BY 1, 2 ORDER BY 1, 2",
            (utc_text(lo), utc_text(hi)))
        return [DispatchCount(r[0], r[1], int(r[2])) for r in rows]

    async def owned(self, person_id: str, lo: datetime, hi: datetime) -> tuple[int, int]:
        """(issues created in the range owned by ``person_id``, of them done)."""
        row = await self._fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(status IN ('resolved', 'callback_done', 'closed')), 0) FROM issues"
            " WHERE owner = ? AND created_at >= ? AND created_at < ?",
            (person_id, utc_text(lo), utc_text(hi)))
        assert row is not None
        return int(row[0]), int(row[1])
