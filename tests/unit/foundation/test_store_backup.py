"""Backup and restore of the database on real SQLite files (hotline.store.backup).

The server-under-load case (a backup taken while ``hotline serve`` writes calls) is in
tests/interop/test_serve_operations.py; here the rules: what a backup holds, what a restore
refuses and what it keeps.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.store import Store
from hotline.store.backup import BackupError, backup_database, database_in_use, restore_database
from hotline.store.db import available_migrations
from hotline.store.records import NewCall

T0 = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)


async def make_database(path: Path, calls: int) -> None:
    async with Store(path) as store:
        for n in range(calls):
            await store.issues.create_for_call(
                NewCall(sip_call_id=f"{path.stem}-{n}@x", started_at=T0, caller_raw="13800000000",
                        caller_key="+8613800000000"),
                employee_id=None, caller_name=None, local_year=2026, status="new")


def call_ids(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [r[0] for r in db.execute("SELECT sip_call_id FROM calls ORDER BY id")]


async def test_backup_is_a_checked_standalone_copy(tmp_path: Path) -> None:
    source = tmp_path / "live.sqlite3"
    await make_database(source, 5)
    target = tmp_path / "copy.sqlite3"
    async with Store(source) as store:  # held open, WAL in use, as by a running server
        # A write in progress when the backup runs is not in it: the copy is one snapshot.
        async with store.db.transaction() as conn:
            await conn.execute("UPDATE calls SET sip_call_id = 'changed' WHERE id = 1")
            result = backup_database(source, target)
            assert database_in_use(source)
        assert (await store.calls.get(1)).sip_call_id == "changed"  # type: ignore[union-attr]
    assert result.path == target and result.bytes == target.stat().st_size > 0
    assert result.schema_version == len(available_migrations())
    assert call_ids(target) == [f"live-{n}@x" for n in range(5)]
    with sqlite3.connect(target) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not (tmp_path / "copy.sqlite3-wal").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial left
    with pytest.raises(BackupError, match="exists"):
        backup_database(source, target)
    with pytest.raises(BackupError, match="no database"):
        backup_database(tmp_path / "missing.sqlite3", tmp_path / "other.sqlite3")


async def test_restore_replaces_and_keeps_the_old_file_aside(tmp_path: Path) -> None:
    live, old = tmp_path / "live.sqlite3", tmp_path / "old.sqlite3"
    await make_database(old, 2)
    await make_database(live, 4)
    backup = tmp_path / "b.sqlite3"
    backup_database(old, backup)
    result = restore_database(backup, live, now=datetime(2026, 12, 3, 7, 0, tzinfo=UTC))
    assert call_ids(live) == ["old-0@x", "old-1@x"]
    assert result.kept_aside == tmp_path / "live.sqlite3.before-restore-20261203T070000Z"
    assert call_ids(result.kept_aside) == [f"live-{n}@x" for n in range(4)]
    assert not (tmp_path / "live.sqlite3-wal").exists() and not (tmp_path / "live.sqlite3-shm").exists()
    async with Store(live) as store:  # the server opens (and migrates) it as usual
        assert await store.ops.schema_version() == len(available_migrations())
        assert await store.issues.count() == 2


async def test_restore_into_a_new_place(tmp_path: Path) -> None:
    await make_database(tmp_path / "a.sqlite3", 1)
    result = restore_database(tmp_path / "a.sqlite3", tmp_path / "var" / "new.sqlite3")
    assert result.kept_aside is None
    assert call_ids(tmp_path / "var" / "new.sqlite3") == ["a-0@x"]


def damage(path: Path) -> None:
    """Overwrite a page in the middle of the file with garbage (the header stays valid)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    pages = len(data) // page
    assert pages > 4, pages
    middle = (pages // 2) * page
    data[middle:middle + page] = b"\xa5" * page
    path.write_bytes(bytes(data))


async def test_restore_refuses_a_damaged_or_foreign_file_and_changes_nothing(tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite3"
    await make_database(live, 3)
    before = live.read_bytes()
    damaged = tmp_path / "damaged.sqlite3"
    await make_database(damaged, 40)
    backup_database(damaged, tmp_path / "d.sqlite3")
    damage(tmp_path / "d.sqlite3")
    with pytest.raises(BackupError, match=r"integrity_check|not a usable SQLite database"):
        restore_database(tmp_path / "d.sqlite3", live)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(BackupError, match=r"not a usable SQLite database|cannot be opened"):
        restore_database(garbage, live)
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(BackupError, match="not a hotline database"):
        restore_database(foreign, live)
    newer = tmp_path / "newer.sqlite3"
    backup_database(live, newer)
    with sqlite3.connect(newer) as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2030-01-01')")
    with pytest.raises(BackupError, match="newer than this hotline"):
        restore_database(newer, live)
    assert live.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "before-restore" in p.name) == []


async def test_restore_refuses_while_the_database_is_open(tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite3"
    await make_database(live, 1)
    backup = tmp_path / "b.sqlite3"
    backup_database(live, backup)
    async with Store(live) as store:
        with pytest.raises(BackupError, match="in use by a running hotline"):
            restore_database(backup, live)
        assert await store.issues.count() == 1  # and the open store never noticed
    assert not database_in_use(live)
    restore_database(backup, live)
