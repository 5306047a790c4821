"""Settings changed in the console (``site_settings``): a JSON value per name, with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.store.convert import from_json, parse_time, to_json
from hotline.store.db import Database, utc_text

__all__ = ["SettingsStore", "StoredSetting"]


@dataclass(frozen=True)
class StoredSetting:
    name: str
    value: Any
    """The JSON value as Python (dicts, lists, strings, numbers)."""
    updated_at: datetime
    updated_by: str


class SettingsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> StoredSetting | None:
        row = await self._db.fetch_one("SELECT * FROM site_settings WHERE name = ?", (name,))
        if row is None:
            return None
        at = parse_time(row["updated_at"])
        assert at is not None
        return StoredSetting(row["name"], from_json(row["value"]), at, row["updated_by"])

    async def put(self, name: str, value: Any, *, by: str, at: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO site_settings (name, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (name, to_json(value), utc_text(at), by))

    async def remove(self, name: str) -> bool:
        """Forget a setting (the configuration file's applies again); False if it was not set."""
        async with self._db.transaction() as conn, conn.execute(
                "DELETE FROM site_settings WHERE name = ? RETURNING name", (name,)) as cur:
            return await cur.fetchone() is not None
