"""The score ledger and manual adjustments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.store.convert import from_json, parse_time
from hotline.store.db import Database, utc_text
from hotline.store.records import IssueEvent

__all__ = ["Adjustment", "ScoreEntry", "ScoreStore"]


@dataclass(frozen=True)
class ScoreEntry:
    """One line of the ledger; ``key`` identifies what earned or cost the points."""

    key: str
    person_id: str
    month: str
    points: float
    issue_id: int | None
    reason: str


@dataclass(frozen=True)
class Adjustment:
    id: int
    person_id: str
    month: str
    points: float
    reason: str
    made_by: str
    made_at: datetime
    issue_id: int | None


def _event(r: object) -> IssueEvent:
    row = dict(r)  # type: ignore[call-overload]
    at = parse_time(row["at"])
    assert at is not None
    return IssueEvent(row["id"], row["issue_id"], at, row["actor"], row["kind"],
                      from_json(row["before"]), from_json(row["after"]), row["note"])


class ScoreStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, entries: Iterable[ScoreEntry]) -> int:
        """Add ledger entries not there yet (by key); returns how many were new."""
        rows = [(e.key, e.person_id, e.month, e.points, e.issue_id, e.reason) for e in entries]
        if not rows:
            return 0
        async with self._db.transaction() as conn:
            before = conn.total_changes
            await conn.executemany(
                "INSERT OR IGNORE INTO desk_scores (key, person_id, month, points, issue_id, reason)"
                " VALUES (?, ?, ?, ?, ?, ?)", rows)
            return conn.total_changes - before

    async def adjust(self, *, person_id: str, month: str, points: float, reason: str, made_by: str,
                     at: datetime, issue_id: int | None) -> int:
        """Append a manual adjustment and its ledger entry in one transaction."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO desk_score_adjustments (person_id, month, points, reason, made_by, made_at,"
                " issue_id) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (person_id, month, points, reason, made_by, utc_text(at), issue_id),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            await conn.execute(
                "INSERT INTO desk_scores (key, person_id, month, points, issue_id, reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (f"adjust:{row[0]}", person_id, month, points, issue_id, f"manual by {made_by}: {reason}"))
        return int(row[0])

    async def adjustments(self) -> list[Adjustment]:
        rows = await self._db.fetch_all("SELECT * FROM desk_score_adjustments ORDER BY id")
        out = []
        for r in rows:
            at = parse_time(r["made_at"])
            assert at is not None
            out.append(Adjustment(r["id"], r["person_id"], r["month"], r["points"], r["reason"],
                                  r["made_by"], at, r["issue_id"]))
        return out

    async def ledger(self, month: str | None = None) -> list[ScoreEntry]:
        sql, params = "SELECT * FROM desk_scores", ()  # type: tuple[str, tuple[str, ...]]
        if month is not None:
            sql, params = sql + " WHERE month = ?", (month,)
        rows = await self._db.fetch_all(sql + " ORDER BY key", params)
        return [ScoreEntry(r["key"], r["person_id"], r["month"], r["points"], r["issue_id"], r["reason"])
                for r in rows]

    async def totals(self, first_month: str, last_month: str) -> list[tuple[str, str, float]]:
        """(month, person, points) for the months ``first_month``..``last_month``."""
        rows = await self._db.fetch_all(
            "SELECT month, person_id, SUM(points) FROM desk_scores WHERE month BETWEEN ? AND ?"
            " GROUP BY month, person_id ORDER BY month, SUM(points) DESC, person_id",
            (first_month, last_month))
        return [(r[0], r[1], float(r[2])) for r in rows]

    async def scorable_issues(self, open_states: Sequence[str]) -> list[int]:
        """Issues that can have entries: called back, or open past their SLA."""
        marks = ",".join("?" * len(open_states))
        rows = await self._db.fetch_all(
            "SELECT DISTINCT issue_id FROM issue_events WHERE kind = 'callback' UNION"
            f" SELECT id FROM issues WHERE status IN ({marks}) AND owner IS NOT NULL ORDER BY 1",
            tuple(open_states))
        return [int(r[0]) for r in rows]

    async def events_of(self, issue_ids: Sequence[int]) -> dict[int, list[IssueEvent]]:
        out: dict[int, list[IssueEvent]] = {i: [] for i in issue_ids}
        for start in range(0, len(issue_ids), 500):
            chunk = issue_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for r in await self._db.fetch_all(
                    f"SELECT * FROM issue_events WHERE issue_id IN ({marks}) ORDER BY issue_id, id",
                    tuple(chunk)):
                out[r["issue_id"]].append(_event(r))
        return out
