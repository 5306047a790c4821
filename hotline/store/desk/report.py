"""The aggregate queries behind the service report (one pass each over the range's issues)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline.store.db import Database, utc_text

__all__ = ["ReportStore"]

GROUPABLE = ("source", "category", "priority", "status", "owner")


class ReportStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def counts(self, column: str, lo: datetime, hi: datetime) -> dict[str, int]:
        """Issues created in ``[lo, hi)`` per value of ``column``."""
        if column not in GROUPABLE:
            raise ValueError(f"cannot group issues by {column!r}")
        rows = await self._db.fetch_all(
            f"SELECT COALESCE({column}, '-'), COUNT(*) FROM issues WHERE created_at >= ?"
            f" AND created_at < ? GROUP BY 1 ORDER BY 2 DESC, 1", (utc_text(lo), utc_text(hi)))
        return {r[0]: int(r[1]) for r in rows}

    async def timings(self, lo: datetime, hi: datetime) -> list[tuple[Any, ...]]:
        """(created_at, first_response_at, resolved_at, response_met, resolution_met, priority)."""
        rows = await self._db.fetch_all(
            "SELECT i.created_at, d.first_response_at, d.resolved_at, d.response_met, d.resolution_met,"
            " i.priority FROM issues i LEFT JOIN desk_issue d ON d.issue_id = i.id"
            " WHERE i.created_at >= ? AND i.created_at < ?", (utc_text(lo), utc_text(hi)))
        return [tuple(r) for r in rows]

    async def recording(self, lo: datetime, hi: datetime, minutes: int) -> tuple[int, int]:
        """(phone issues whose call ended, of them recorded within ``minutes``)."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(recorded_at IS NOT NULL AND recording_overdue = 0 AND"
            " (julianday(recorded_at) - julianday(call_ended_at)) * 1440 <= ?), 0) FROM issues"
            " WHERE created_at >= ? AND created_at < ? AND source = 'phone' AND call_ended_at IS NOT NULL",
            (minutes, utc_text(lo), utc_text(hi)))
        assert row is not None
        return int(row[0]), int(row[1])

    async def callbacks(self, lo: datetime, hi: datetime) -> dict[str, Any]:
        row = await self._db.fetch_one(
            "SELECT COUNT(*), AVG(efficiency), AVG(result), AVG(attitude),"
            " COALESCE(SUM(MIN(efficiency, result, attitude) <= 2), 0), COALESCE(SUM(fixed = 0), 0),"
            " COALESCE(SUM(reopened), 0) FROM desk_callbacks WHERE at >= ? AND at < ?",
            (utc_text(lo), utc_text(hi)))
        assert row is not None
        return {"count": int(row[0]), "efficiency": row[1], "result": row[2], "attitude": row[3],
                "poor": int(row[4]), "not_fixed": int(row[5]), "reopened": int(row[6])}

    async def people(self, lo: datetime, hi: datetime) -> list[tuple[str, int, int]]:
        """(owner, issues created in range, of them done)."""
        rows = await self._db.fetch_all(
            "SELECT owner, COUNT(*), SUM(status IN ('resolved', 'callback_done', 'closed')) FROM issues"
            " WHERE created_at >= ? AND created_at < ? AND owner IS NOT NULL GROUP BY owner"
            " ORDER BY 2 DESC, 1", (utc_text(lo), utc_text(hi)))
        return [(r[0], int(r[1]), int(r[2] or 0)) for r in rows]

    async def points(self, first_month: str, last_month: str) -> dict[str, float]:
        rows = await self._db.fetch_all(
            "SELECT person_id, SUM(points) FROM desk_scores WHERE month BETWEEN ? AND ? GROUP BY 1",
            (first_month, last_month))
        return {r[0]: float(r[1]) for r in rows}

    async def repeat_callers(self, lo: datetime, hi: datetime, limit: int) -> list[tuple[str, str, int]]:
        """(employee id or number, name, issues) of callers with two or more issues."""
        rows = await self._db.fetch_all(
            "SELECT COALESCE(employee_id, caller_key) AS who, MAX(caller_name), COUNT(*) FROM issues"
            " WHERE created_at >= ? AND created_at < ? AND COALESCE(employee_id, caller_key) IS NOT NULL"
            " GROUP BY who HAVING COUNT(*) >= 2 ORDER BY 3 DESC, 1 LIMIT ?",
            (utc_text(lo), utc_text(hi), limit))
        return [(r[0], r[1] or "", int(r[2])) for r in rows]
