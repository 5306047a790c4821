"""Staff, posts, categories and the A/B assignments of people to posts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from hotline.store.accounts import AuditEntry, append_audit
from hotline.store.db import Database, utc_text
from hotline.store.records import Category, Person, Post, PostAssignment

__all__ = ["PeopleStore"]


def _person(row: object) -> Person:
    r = dict(row)  # type: ignore[call-overload]
    return Person(
        id=r["id"], name=r["name"], mobile=r["mobile"], extension=r["extension"], email=r["email"],
        roles=tuple(x for x in r["roles"].split(",") if x), active=bool(r["active"]),
    )


_UPSERT_PERSON = (
    "INSERT INTO people (id, name, mobile, extension, email, roles, active, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
    " mobile=excluded.mobile, extension=excluded.extension, email=excluded.email,"
    " roles=excluded.roles, active=excluded.active")


def _person_row(p: Person, now: str) -> tuple[object, ...]:
    return (p.id, p.name, p.mobile, p.extension, p.email, ",".join(p.roles), int(p.active), now)


class PeopleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_people(self, people: Iterable[Person]) -> None:
        now = utc_text(datetime.now(UTC))
        await self._db.execute_many(_UPSERT_PERSON, [_person_row(p, now) for p in people])

    async def save_person(self, person: Person, *, audit: AuditEntry) -> None:
        """Insert or update one person, with the console's audit line in the same transaction."""
        async with self._db.transaction() as conn:
            await conn.execute(_UPSERT_PERSON, _person_row(person, utc_text(audit.at)))
            await append_audit(conn, audit)

    async def get(self, person_id: str) -> Person | None:
        row = await self._db.fetch_one("SELECT * FROM people WHERE id = ?", (person_id,))
        return None if row is None else _person(row)

    async def all(self, *, active_only: bool = False) -> list[Person]:
        sql = "SELECT * FROM people" + (" WHERE active = 1" if active_only else "") + " ORDER BY id"
        return [_person(r) for r in await self._db.fetch_all(sql)]

    async def upsert_posts(self, posts: Iterable[Post]) -> None:
        await self._db.execute_many(
            "INSERT INTO posts (id, name, description) VALUES (?, ?, ?) ON CONFLICT(id)"
            " DO UPDATE SET name=excluded.name, description=excluded.description",
            [(p.id, p.name, p.description) for p in posts],
        )

    async def posts(self) -> list[Post]:
        rows = await self._db.fetch_all("SELECT id, name, description FROM posts ORDER BY id")
        return [Post(r["id"], r["name"], r["description"]) for r in rows]

    async def upsert_categories(self, categories: Iterable[Category]) -> None:
        await self._db.execute_many(
            "INSERT INTO categories (id, name, post_id, dtmf, name_en) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name, post_id=excluded.post_id,"
            " dtmf=excluded.dtmf, name_en=excluded.name_en",
            [(c.id, c.name, c.post_id, c.dtmf, c.name_en) for c in categories],
        )

    async def categories(self) -> list[Category]:
        rows = await self._db.fetch_all(
            "SELECT id, name, post_id, dtmf, name_en FROM categories ORDER BY id")
        return [Category(r["id"], r["name"], r["post_id"], r["dtmf"], r["name_en"]) for r in rows]

    async def set_assignments(self, post_id: str, assignments: Iterable[PostAssignment], *,
                              audit: AuditEntry | None = None) -> None:
        """Replace a post's A/B assignments in one transaction (with its audit line, if given).

        Dispatch and call routing read the assignments at each decision, so the change
        applies to the next issue or call without a reload.
        """
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM post_assignments WHERE post_id = ?", (post_id,))
            await conn.executemany(
                "INSERT INTO post_assignments (post_id, person_id, role, rank) VALUES (?, ?, ?, ?)",
                [(post_id, a.person_id, a.role, a.rank) for a in assignments],
            )
            if audit is not None:
                await append_audit(conn, audit)

    async def assignments(self, post_id: str | None = None) -> list[PostAssignment]:
        sql = "SELECT post_id, person_id, role, rank FROM post_assignments"
        params: tuple[str, ...] = ()
        if post_id is not None:
            sql += " WHERE post_id = ?"
            params = (post_id,)
        rows = await self._db.fetch_all(sql + " ORDER BY post_id, role, rank", params)
        return [PostAssignment(r["post_id"], r["person_id"], r["role"], r["rank"]) for r in rows]
