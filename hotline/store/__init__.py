"""The only place with SQL. One :class:`Store` per process, opened by the app.

Callers use the aggregate stores (``store.issues``, ``store.calls``,
``store.directory``, ``store.people``, ``store.rota``) and the records of
:mod:`hotline.store.records`; none of them sees a cursor, so a PostgreSQL
backend can be added here alone.
"""

from __future__ import annotations

from pathlib import Path

from hotline.store.accounts import AccountStore
from hotline.store.calls import CallStore
from hotline.store.db import Database, StoreError
from hotline.store.directory import DirectoryStore
from hotline.store.issues import EventDraft, IssueStore, StaleIssue
from hotline.store.people import PeopleStore
from hotline.store.rota import RotaStore

__all__ = ["EventDraft", "StaleIssue", "Store", "StoreError"]


class Store:
    """The database and its aggregates."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.calls = CallStore(self.db)
        self.issues = IssueStore(self.db)
        self.directory = DirectoryStore(self.db)
        self.people = PeopleStore(self.db)
        self.rota = RotaStore(self.db)
        self.accounts = AccountStore(self.db)

    async def open(self, *, migrate: bool = True) -> None:
        await self.db.open(migrate=migrate)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
