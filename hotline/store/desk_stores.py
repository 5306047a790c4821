"""The desk's aggregate stores over one :class:`~hotline.store.db.Database`."""

from __future__ import annotations

from hotline.store.db import Database
from hotline.store.desk_callbacks import CallbackStore
from hotline.store.desk_changes import DeskChangeStore
from hotline.store.desk_dispatch import DispatchStore
from hotline.store.desk_kb import KbStore
from hotline.store.desk_outbox import OutboxStore
from hotline.store.desk_progress import ProgressStore
from hotline.store.desk_report import ReportStore
from hotline.store.desk_scores import ScoreStore

__all__ = ["DeskStores"]


class DeskStores:
    """``changes`` (the unit of work), ``dispatch`` (availability and the log), …"""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.changes = DeskChangeStore(db)
        self.dispatch = DispatchStore(db)
        self.progress = ProgressStore(db)
        self.callbacks = CallbackStore(db)
        self.scores = ScoreStore(db)
        self.outbox = OutboxStore(db)
        self.kb = KbStore(db)
        self.report = ReportStore(db)
