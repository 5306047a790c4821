"""Figures for the operators' endpoints (``/healthz``, ``/metrics``): small, indexed queries.

Read-only over tables other stores own (``desk_outbox``, ``issues``, ``desk_issue``); each
query is one round trip on the reader, so a scrape every few seconds costs the server little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hotline.store.convert import parse_time
from hotline.store.db import Database

__all__ = ["OpsStore", "OutboxFigures"]


@dataclass(frozen=True)
class OutboxFigures:
    """Where the notification outbox stands."""

    backlog: int
    """Rows waiting to be delivered (``pending``), retries included."""
    retrying: int
    """Pending rows whose last attempt failed (waiting for their back-off)."""
    dead: int
    """Rows given up after the last retry: delivery failures nobody will retry."""
    oldest_due: datetime | None
    """The earliest moment a pending row became due (None: nothing pending)."""


class OpsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def outbox(self) -> OutboxFigures:
        # The pending rows come from the partial index desk_outbox_due; dead rows are few but
        # unindexed, a scan the scrape interval (seconds) easily affords.
        pending = await self._db.fetch_one(
            "SELECT COUNT(*), COALESCE(SUM(last_error IS NOT NULL), 0), MIN(next_attempt_at)"
            " FROM desk_outbox WHERE state = 'pending'")
        dead = await self._db.fetch_value("SELECT COUNT(*) FROM desk_outbox WHERE state = 'dead'")
        assert pending is not None
        return OutboxFigures(backlog=int(pending[0]), retrying=int(pending[1]), dead=int(dead or 0),
                             oldest_due=parse_time(pending[2]))

    async def sla_states(self, statuses: Sequence[str]) -> dict[tuple[str, str], int]:
        """(priority, SLA state) → open issues, for the issues in ``statuses``.

        Issues the SLA sweep has not read yet have the state ``"unprojected"``.
        """
        marks = ",".join("?" * len(statuses))
        rows = await self._db.fetch_all(
            "SELECT i.priority, COALESCE(d.sla_state, 'unprojected'), COUNT(*) FROM issues i"
            f" LEFT JOIN desk_issue d ON d.issue_id = i.id WHERE i.status IN ({marks})"
            " GROUP BY 1, 2", tuple(statuses))
        return {(str(r[0] or "none"), str(r[1])): int(r[2]) for r in rows}

    async def schema_version(self) -> int:
        """The highest migration applied to the open database."""
        return int(await self._db.fetch_value("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
