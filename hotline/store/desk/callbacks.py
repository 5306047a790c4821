"""The callback queue (回访) and recorded callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hotline.store.convert import parse_time
from hotline.store.db import Database
from hotline.store.issues import issue_record
from hotline.store.records import IssueRecord

__all__ = ["Callback", "CallbackStore"]


@dataclass(frozen=True)
class Callback:
    """A callback (回访) to the employee after resolution."""

    issue_id: int
    at: datetime
    by: str
    efficiency: int
    result: int
    attitude: int
    fixed: bool
    comment: str
    reopened: bool
    id: int | None = field(default=None, compare=False)


class CallbackStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def queue(self, limit: int = 100) -> list[IssueRecord]:
        """Resolved issues waiting for their callback, longest waiting first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM issues WHERE status = 'resolved' ORDER BY updated_at, id LIMIT ?", (limit,))
        return [issue_record(r) for r in rows]

    async def for_issue(self, issue_id: int) -> list[Callback]:
        rows = await self._db.fetch_all(
            "SELECT * FROM desk_callbacks WHERE issue_id = ? ORDER BY id", (issue_id,))
        out = []
        for r in rows:
            at = parse_time(r["at"])
            assert at is not None
            out.append(Callback(r["issue_id"], at, r["by"], r["efficiency"], r["result"], r["attitude"],
                                bool(r["fixed"]), r["comment"], bool(r["reopened"]), r["id"]))
        return out
