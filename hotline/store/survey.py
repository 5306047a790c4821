"""Survey attempts: the automated callback calls made for a resolved issue and what was keyed.

An attempt is started with its outbound call row (``calls``, ``direction = 'out'``, flow
``survey``, linked to the issue, committed by :class:`OutboundCallStore`) and closed with its
outcome and answers, partial or complete. The attempts of an issue's current resolution are
those that started at or after ``desk_issue.resolved_at``: a reopened and again resolved issue
gets its attempts anew. When the attempts are spent, the issue's audit trail says so
(``survey_gave_up``) and the issue stays in the callback queue for an operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.store.convert import parse_time
from hotline.store.db import Database, utc_text
from hotline.store.issues import EventDraft, append_event
from hotline.store.outbound import OutboundCallStore
from hotline.store.records import NewCall

__all__ = ["SurveyAttempt", "SurveyStore"]


@dataclass(frozen=True, slots=True)
class SurveyAttempt:
    """One survey call as stored."""

    id: int
    issue_id: int
    call_id: int | None
    attempt: int
    """1 for the first call of the resolution, 2 for the retry…"""
    number: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    efficiency: int | None
    result: int | None
    attitude: int | None
    not_fixed: bool
    keys: str


def _attempt(row: object) -> SurveyAttempt:
    r = row  # aiosqlite.Row
    started = parse_time(r["started_at"])  # type: ignore[index]
    assert started is not None
    return SurveyAttempt(
        r["id"], r["issue_id"], r["call_id"], r["attempt"], r["number"], started,  # type: ignore[index]
        parse_time(r["ended_at"]), r["outcome"], r["efficiency"], r["result"],  # type: ignore[index]
        r["attitude"], bool(r["not_fixed"]), r["keys"])  # type: ignore[index]


class SurveyStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._outbound = OutboundCallStore(db)

    async def current(self, issue_ids: Sequence[int]) -> dict[int, list[SurveyAttempt]]:
        """The attempts of each issue's current resolution, oldest first."""
        out: dict[int, list[SurveyAttempt]] = {i: [] for i in issue_ids}
        if not issue_ids:
            return out
        marks = ", ".join("?" for _ in issue_ids)
        rows = await self._db.fetch_all(
            "SELECT s.* FROM survey_attempts s LEFT JOIN desk_issue d ON d.issue_id = s.issue_id"
            f" WHERE s.issue_id IN ({marks}) AND (d.resolved_at IS NULL OR s.started_at >= d.resolved_at)"
            " ORDER BY s.issue_id, s.started_at, s.id", tuple(issue_ids))
        for row in rows:
            out[row["issue_id"]].append(_attempt(row))
        return out

    async def for_issue(self, issue_id: int) -> list[SurveyAttempt]:
        """Every attempt ever made for the issue, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM survey_attempts WHERE issue_id = ? ORDER BY started_at, id", (issue_id,))
        return [_attempt(r) for r in rows]

    async def start(self, call: NewCall, *, issue_id: int, attempt: int, employee_id: str | None
                    ) -> tuple[int, int]:
        """Commit the outbound call row (with its ``call_back`` audit entry) and the attempt row;
        returns (call id, attempt id)."""
        placed = await self._outbound.create(
            call, issue_id=issue_id, placed_by=None, employee_id=employee_id,
            note={"survey": attempt, "number": call.to_uri}, flow="survey")
        async with self._db.transaction() as conn, conn.execute(
            "INSERT INTO survey_attempts (issue_id, call_id, attempt, number, started_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (issue_id, placed.call.id, attempt, call.to_uri, utc_text(call.started_at)),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return placed.call.id, int(row["id"])

    async def answers(self, attempt_id: int, *, scores: dict[str, int], not_fixed: bool, keys: str) -> None:
        """What has been keyed so far (written as it comes, so a hang-up loses nothing)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE survey_attempts SET efficiency = ?, result = ?, attitude = ?, not_fixed = ?,"
                " keys = ? WHERE id = ?",
                (scores.get("efficiency"), scores.get("result"), scores.get("attitude"), int(not_fixed),
                 keys[:64], attempt_id))

    async def finish(self, attempt_id: int, at: datetime, outcome: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("UPDATE survey_attempts SET ended_at = ?, outcome = ? WHERE id = ?",
                               (utc_text(at), outcome, attempt_id))

    async def close_interrupted(self, at: datetime) -> int:
        """Attempts left running by a stopped server, closed as ``interrupted``; their count."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE survey_attempts SET ended_at = ?, outcome = 'interrupted' WHERE outcome IS NULL",
                (utc_text(at),))
            return cur.rowcount

    async def gave_up(self, issue_id: int, at: datetime, *, attempts: list[dict[str, object]]) -> None:
        """Put on the issue's audit trail that the survey calls are spent: an operator takes it."""
        async with self._db.transaction() as conn:
            await append_event(conn, issue_id, at, EventDraft(
                actor="survey", kind="survey_gave_up", after={"attempts": attempts},
                note=f"{len(attempts)} survey call(s) without an answer: left to the operators"))
