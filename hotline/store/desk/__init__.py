"""The service desk's stores, over the one database of the :class:`~hotline.store.Store`.

Reached as ``store.desk`` (never built on its own). Each module holds one store and the
records it hands out and takes in; which tables each one owns is listed in
:mod:`hotline.store`.
"""

from __future__ import annotations

from hotline.store.db import Database
from hotline.store.desk.callbacks import CallbackStore
from hotline.store.desk.changes import DeskChangeStore
from hotline.store.desk.dispatch import DispatchStore
from hotline.store.desk.kb import KbStore
from hotline.store.desk.outbox import OutboxStore
from hotline.store.desk.progress import ProgressStore
from hotline.store.desk.report import ReportStore
from hotline.store.desk.scores import ScoreStore

__all__ = ["DeskStores"]


class DeskStores:
    """``changes`` (the unit of work), ``dispatch`` (availability and the log), …"""

    def __init__(self, db: Database) -> None:
        self.changes = DeskChangeStore(db)
        self.dispatch = DispatchStore(db)
        self.progress = ProgressStore(db)
        self.callbacks = CallbackStore(db)
        self.scores = ScoreStore(db)
        self.outbox = OutboxStore(db)
        self.kb = KbStore(db)
        self.report = ReportStore(db)
