"""Schema 3: the dispatch log accepts the role ``on_call``; a version-2 file keeps its log rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hotline.store import Store
from hotline.store.db import available_migrations

T = "2026-11-28T13:04:00.000000+00:00"


def _version_2_file(path: Path) -> None:
    """A database as hotline with schema 2 left it, with one dispatch-log row."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at TEXT NOT NULL)")
        for m in available_migrations()[:2]:
            conn.executescript(m.sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (m.version, m.name, T))
        conn.execute("INSERT INTO people (id, name, created_at) VALUES ('li', '李娜', ?)", (T,))
        conn.execute("INSERT INTO issues (number, source, status, created_at, updated_at)"
                     " VALUES ('HL-2026-000001', 'phone', 'dispatched', ?, ?)", (T, T))
        conn.execute("INSERT INTO desk_dispatch_log (issue_id, at, post_id, person_id, role, reason,"
                     " actor) VALUES (1, ?, NULL, 'li', 'B', 'A zhang on leave → B li', 'system')", (T,))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO desk_dispatch_log (issue_id, at, person_id, role, reason, actor)"
                         " VALUES (1, ?, 'li', 'on_call', 'x', 'system')", (T,))


async def test_version_2_log_survives_and_takes_on_call(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    _version_2_file(path)
    async with Store(path) as store:
        assert await store.db.schema_version() == len(available_migrations())
        rows = await store.db.fetch_all("SELECT id, person_id, role, reason FROM desk_dispatch_log")
        assert [tuple(r) for r in rows] == [(1, "li", "B", "A zhang on leave → B li")]
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("INSERT INTO desk_dispatch_log (issue_id, at, person_id, role, reason, actor)"
                     " VALUES (1, ?, 'li', 'on_call', 'after hours', 'system')", (T,))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO desk_dispatch_log (issue_id, at, person_id, role, reason, actor)"
                         " VALUES (1, ?, 'li', 'boss', 'x', 'system')", (T,))
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'desk_dispatch_log'")}
        assert {"desk_dispatch_log_issue", "desk_dispatch_log_person"} <= indexes
