"""The employee directory: who is calling, by any of their numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from hotline.store.accounts import AuditEntry, append_audit
from hotline.store.db import Database, utc_text
from hotline.store.records import Employee

__all__ = ["DirectoryStore"]

_COLUMNS = "employee_id, name, department, location, email, extension, mobile, desk_numbers"


def _employee(row: object) -> Employee:
    r = dict(row)  # type: ignore[call-overload]
    return Employee(
        employee_id=r["employee_id"], name=r["name"], department=r["department"],
        location=r["location"], email=r["email"], extension=r["extension"], mobile=r["mobile"],
        desk_numbers=tuple(json.loads(r["desk_numbers"])),
    )


def _number_rows(e: Employee) -> list[tuple[str, str, str]]:
    rows: dict[str, str] = {}
    for key in e.desk_numbers:
        rows.setdefault(key, "desk")
    if e.extension:
        rows.setdefault(f"ext:{e.extension}", "extension")
    if e.mobile:
        rows[e.mobile] = "mobile"
    return [(key, e.employee_id, kind) for key, kind in rows.items()]


class DirectoryStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(self, employees: Sequence[Employee], *,
                     audit: AuditEntry | None = None) -> tuple[int, int]:
        """Insert or update employees by employee id; return (inserted, updated).

        Idempotent: importing the same file twice changes nothing. An employee's
        numbers are replaced by the new row's, so a changed mobile stops matching.
        ``audit`` (the console's import) commits with the rows.
        """
        now = utc_text(datetime.now(UTC))
        async with self._db.transaction() as conn:
            ids = [e.employee_id for e in employees]
            existing: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                async with conn.execute(
                    f"SELECT employee_id FROM directory WHERE employee_id IN ({marks})", chunk
                ) as cur:
                    existing.update(r[0] for r in await cur.fetchall())
            await conn.executemany(
                f"INSERT INTO directory ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(employee_id) DO UPDATE SET name=excluded.name,"
                " department=excluded.department, location=excluded.location, email=excluded.email,"
                " extension=excluded.extension, mobile=excluded.mobile,"
                " desk_numbers=excluded.desk_numbers, updated_at=excluded.updated_at",
                [(e.employee_id, e.name, e.department, e.location, e.email, e.extension, e.mobile,
                  json.dumps(list(e.desk_numbers)), now) for e in employees],
            )
            await conn.executemany(
                "DELETE FROM directory_numbers WHERE employee_id = ?",
                [(i,) for i in existing],
            )
            rows: list[tuple[str, str, str]] = []
            for e in employees:
                rows.extend(_number_rows(e))
            await conn.executemany(
                "INSERT OR IGNORE INTO directory_numbers (key, employee_id, kind) VALUES (?, ?, ?)",
                rows,
            )
            if audit is not None:
                await append_audit(conn, audit)
        return len(set(ids) - existing), len(existing)

    async def get(self, employee_id: str) -> Employee | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM directory WHERE employee_id = ?", (employee_id,)
        )
        return None if row is None else _employee(row)

    async def lookup(self, keys: Iterable[str]) -> list[Employee]:
        """Employees having any of these number keys, mobile matches first."""
        keys = [k for k in keys if k]
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = await self._db.fetch_all(
            f"SELECT {', '.join('d.' + c.strip() for c in _COLUMNS.split(','))}"
            f" FROM directory_numbers n JOIN directory d ON d.employee_id = n.employee_id"
            f" WHERE n.key IN ({marks})"
            " ORDER BY CASE n.kind WHEN 'mobile' THEN 0 WHEN 'extension' THEN 1 ELSE 2 END,"
            " d.employee_id",
            keys,
        )
        seen: set[str] = set()
        out = []
        for row in rows:
            if row["employee_id"] not in seen:
                seen.add(row["employee_id"])
                out.append(_employee(row))
        return out

    async def search(self, text: str, number_keys: Sequence[str] = (), *, limit: int = 50) -> list[Employee]:
        """Employees whose id starts with ``text``, whose name, department or location holds
        it, or who have one of ``number_keys`` (the searched text read as a phone number);
        by employee id. Names are not indexed for substrings: a scan, fine for an
        administrator's search over a directory of some 100,000 people.
        """
        text = text.strip()
        if not text and not number_keys:
            return []
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses, params = [], []  # type: tuple[list[str], list[str]]
        if text:
            clauses += ["employee_id = ?", "employee_id LIKE ? ESCAPE '\\'",
                        "name LIKE ? ESCAPE '\\'", "department LIKE ? ESCAPE '\\'",
                        "location LIKE ? ESCAPE '\\'"]
            params += [text, like[1:], like, like, like]
        keys = [k for k in number_keys if k]
        if keys:
            marks = ",".join("?" * len(keys))
            clauses.append(
                f"employee_id IN (SELECT employee_id FROM directory_numbers WHERE key IN ({marks}))")
            params += keys
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM directory WHERE {' OR '.join(clauses)} ORDER BY employee_id LIMIT ?",
            (*params, limit))
        return [_employee(r) for r in rows]

    async def count(self) -> int:
        return int(await self._db.fetch_value("SELECT COUNT(*) FROM directory"))
