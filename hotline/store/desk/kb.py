"""Knowledge-base articles and full-text search (FTS5 trigram) over issues and articles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.store.convert import parse_time
from hotline.store.db import Database, utc_text
from hotline.store.issues import EventDraft, append_event

__all__ = ["MARK_END", "MARK_START", "Article", "KbStore"]

MARK_START = "\ue000"
"""Start of a highlighted match in snippets (a private-use character no text contains)."""
MARK_END = "\ue001"


@dataclass(frozen=True)
class Article:
    id: int
    issue_id: int | None
    title: str
    symptoms: str
    fix: str
    category: str | None
    created_by: str
    created_at: datetime


def _article(r: Any) -> Article:
    at = parse_time(r["created_at"])
    assert at is not None
    return Article(r["id"], r["issue_id"], r["title"], r["symptoms"], r["fix"], r["category"],
                   r["created_by"], at)


def _unmark(text: str) -> str:
    return text.replace(MARK_START, "").replace(MARK_END, "")


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE's wildcards in ``term`` escaped (use with ``ESCAPE '\\'``)."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class KbStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, issue_id: int | None, title: str, symptoms: str, fix: str,
                     category: str | None, by: str, at: datetime) -> Article:
        """Insert an article (and, when made from an issue, an audit event on the issue).

        Marker characters are dropped from the texts: FTS5's ``snippet()`` could not tell a
        pasted one from its own.
        """
        title, symptoms, fix = (_unmark(t) for t in (title, symptoms, fix))
        async with self._db.transaction() as conn:
            async with conn.execute(
                "INSERT INTO kb_articles (issue_id, title, symptoms, fix, category, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (issue_id, title, symptoms, fix, category, by, utc_text(at)),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            if issue_id is not None:
                await append_event(conn, issue_id, at, EventDraft(
                    by, "kb_article", None, {"article": row["id"]}, f"knowledge-base article: {title}"))
        return _article(row)

    async def get(self, article_id: int) -> Article | None:
        row = await self._db.fetch_one("SELECT * FROM kb_articles WHERE id = ?", (article_id,))
        return None if row is None else _article(row)

    async def search_issues(self, match: str, likes: list[str], limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` issues matching the FTS expression ``match`` and every LIKE pattern.

        Newest first by rowid, which FTS5 walks backwards without touching older matches; no
        ``bm25()`` here: it counts every match of each phrase in the whole index to weigh it,
        which costs tens of milliseconds for a common phrase in a million issues.
        """
        # Short-term filters on the issues row itself: reading an external-content FTS column
        # costs the same lookup, and this way FTS5 plans the MATCH alone.
        extra = "".join(" AND (i.description LIKE ? ESCAPE '\\' OR i.resolution LIKE ? ESCAPE '\\')"
                        for _ in likes)
        rows = await self._db.fetch_all(
            "SELECT i.id, i.number, i.status, i.category, i.created_at, i.description, i.resolution"
            f" FROM issues_fts f JOIN issues i ON i.id = f.rowid WHERE issues_fts MATCH ?{extra}"
            " ORDER BY f.rowid DESC LIMIT ?",
            (match, *[p for p in likes for _ in (0, 1)], limit))
        return [dict(r) for r in rows]

    async def search_articles(self, match: str, likes: list[str], limit: int) -> list[dict[str, Any]]:
        extra = "".join(" AND (f.title LIKE ? ESCAPE '\\' OR f.symptoms LIKE ? ESCAPE '\\'"
                        " OR f.fix LIKE ? ESCAPE '\\')" for _ in likes)
        rows = await self._db.fetch_all(
            "SELECT a.id, a.title, a.category, a.created_at, m.score, m.snip FROM"
            " (SELECT f.rowid AS rid, bm25(kb_fts, 5.0, 2.0, 1.0) AS score,"
            f"   snippet(kb_fts, -1, '{MARK_START}', '{MARK_END}', '…', 24) AS snip"
            f"  FROM kb_fts f WHERE kb_fts MATCH ?{extra} ORDER BY rank LIMIT ?) m"
            " JOIN kb_articles a ON a.id = m.rid ORDER BY m.score",
            (match, *[p for p in likes for _ in (0, 1, 2)], limit))
        return [dict(r) for r in rows]

    async def scan_issues(self, likes: list[str], limit: int, scan: int) -> list[dict[str, Any]]:
        """Short queries the trigram index cannot serve: LIKE over the ``scan`` newest issues."""
        where = " AND ".join("(description LIKE ? ESCAPE '\\' OR resolution LIKE ? ESCAPE '\\')"
                             for _ in likes)
        rows = await self._db.fetch_all(
            "SELECT id, number, status, category, created_at, description, resolution FROM issues"
            f" WHERE id > (SELECT COALESCE(MAX(id), 0) FROM issues) - ? AND {where}"
            " ORDER BY id DESC LIMIT ?", (scan, *[p for p in likes for _ in (0, 1)], limit))
        return [dict(r) for r in rows]

    async def scan_articles(self, likes: list[str], limit: int) -> list[dict[str, Any]]:
        where = " AND ".join("(title LIKE ? ESCAPE '\\' OR symptoms LIKE ? ESCAPE '\\'"
                             " OR fix LIKE ? ESCAPE '\\')" for _ in likes)
        rows = await self._db.fetch_all(
            f"SELECT id, title, category, created_at, symptoms, fix FROM kb_articles WHERE {where}"
            " ORDER BY id DESC LIMIT ?", (*[p for p in likes for _ in (0, 1, 2)], limit))
        return [dict(r) for r in rows]
