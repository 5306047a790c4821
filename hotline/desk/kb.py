"""Knowledge base and full-text search over issues and articles, Chinese and English.

Search uses SQLite FTS5 with the ``trigram`` tokenizer: every three-character
window is indexed, so Chinese (no spaces between words) and English are found
by substring, case-insensitively, without a word segmenter. A query is split on
whitespace into terms that must all occur; each term of three or more characters
becomes a quoted FTS phrase (so ``"``, ``*``, ``AND``, ``-`` typed by a user are
text, never query syntax). A trigram index cannot look up one or two characters
(``网络``, ``PC``): such terms filter the FTS hits with ``LIKE`` when the query
has a longer term too, and otherwise fall back to a ``LIKE`` scan of the newest
:attr:`DeskSettings.search_short_scan` issues (recent issues are what the desk
looks for; the bound keeps a two-character query from scanning a million rows).

Articles (a small table) are ranked by FTS5's BM25, titles weighing most.
Issues are ranked by :func:`relevance` among the newest
:attr:`DeskSettings.search_candidates` matches: FTS5 walks a term's matches
newest-first cheaply, whereas its BM25 counts every match of each phrase in the
whole index to weigh it — tens of milliseconds for a common phrase in a million
issues — and the desk looks for recent issues first anyway. Articles come
before issues (curated fixes first; the two scores are not comparable). Hits
carry a snippet in
which matches sit between :data:`MARK_START` and :data:`MARK_END`, two
private-use characters: the console escapes the text, then turns the markers
into ``<mark>`` (see :func:`segments`), so a snippet can never inject markup.
Texts are returned as typed — never escaped or rendered here — except that marker
characters pasted into a text are dropped (:func:`unmark`: from issue texts when
their snippet is made, from articles when they are written), so a user cannot fake
a highlight; control characters in a query separate terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.desk.context import DeskContext
from hotline.issues import IssueError
from hotline.store.desk.kb import MARK_END, MARK_START, Article, like_pattern

__all__ = [
    "MARK_END", "MARK_START", "KnowledgeBase", "ParsedQuery", "SearchHit", "parse_query", "relevance",
    "segments", "unmark",
]

TRIGRAM = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[str, ...]
    match: str | None
    """FTS5 expression of the long terms (None if every term is short)."""
    short: tuple[str, ...]
    """Terms of 1–2 characters, matched with LIKE."""


def unmark(text: str) -> str:
    """``text`` without the two marker characters (a pasted one would fake a highlight)."""
    return text.replace(MARK_START, "").replace(MARK_END, "")


def parse_query(text: str) -> ParsedQuery:
    """Split a user's query into FTS phrases and short LIKE terms."""
    # Control characters separate terms: FTS5 reads a NUL inside a phrase as its end
    # ("unterminated string").
    clean = _CONTROL.sub(" ", text.replace(MARK_START, " ").replace(MARK_END, " "))
    terms = tuple(dict.fromkeys(t for t in clean.split() if t))
    long = [t for t in terms if len(t) >= TRIGRAM]
    short = tuple(t for t in terms if len(t) < TRIGRAM)
    match = " AND ".join('"' + t.replace('"', '""') + '"' for t in long) if long else None
    return ParsedQuery(terms, match, short)


def relevance(terms: tuple[str, ...], description: str, resolution: str) -> float:
    """Occurrences of the terms, description counting double, normalised by length (BM25-like)."""
    d, r = description.lower(), resolution.lower()
    hits = sum(2 * d.count(t.lower()) + r.count(t.lower()) for t in terms)
    return hits / (1 + (len(d) + len(r)) / 100)


def segments(snippet: str) -> list[tuple[str, bool]]:
    """A snippet as (text, highlighted) pieces, for escaping and rendering."""
    out: list[tuple[str, bool]] = []
    rest, hot = snippet, False
    while rest:
        mark = MARK_END if hot else MARK_START
        i = rest.find(mark)
        piece, rest = (rest, "") if i < 0 else (rest[:i], rest[i + 1:])
        if piece:
            out.append((piece, hot))
        hot = not hot if i >= 0 else hot
    return out


def highlight(text: str, terms: tuple[str, ...], width: int = 24) -> str:
    """A snippet around the first match of any term, every match marked (the LIKE fallback)."""
    text = unmark(text)
    low = text.lower()
    hits = sorted((low.find(t.lower()), t) for t in terms if low.find(t.lower()) >= 0)
    if not hits:
        return text[:width * 2]
    first = hits[0][0]
    start, end = max(0, first - width), min(len(text), first + width * 2)
    window = text[start:end]
    marked, i, wl = [], 0, window.lower()
    while i < len(window):
        hit = next((t for t in sorted(terms, key=len, reverse=True) if wl.startswith(t.lower(), i)), None)
        if hit:
            marked.append(MARK_START + window[i:i + len(hit)] + MARK_END)
            i += len(hit)
        else:
            marked.append(window[i])
            i += 1
    return ("…" if start else "") + "".join(marked) + ("…" if end < len(text) else "")


@dataclass(frozen=True)
class SearchHit:
    kind: str
    """"issue" or "article"."""
    id: int
    title: str
    """Issue number or article title."""
    snippet: str
    """Text around the matches, matches between MARK_START and MARK_END."""
    score: float
    """Lower is better: BM25 for articles, minus :func:`relevance` for issues, 0 for LIKE-only
    hits (which come newest first)."""
    category: str | None
    created_at: datetime
    status: str | None = None


class KnowledgeBase:
    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    async def article_from_issue(self, issue_id: int, *, by: str, title: str | None = None,
                                 symptoms: str | None = None, fix: str | None = None) -> Article:
        """An article made from a resolved issue; fields default to the issue's texts."""
        issue = await self.ctx.store.issues.get(issue_id)
        if issue is None:
            raise IssueError(f"no issue with id {issue_id}")
        if issue.status not in ("resolved", "callback_done", "closed") or not issue.resolution.strip():
            raise IssueError(f"{issue.number} is {issue.status}: only resolved issues become articles")
        first_line = issue.description.strip().splitlines()[0] if issue.description.strip() else issue.number
        return await self.ctx.desk.kb.create(
            issue_id=issue_id, title=(title or first_line[:60]).strip(),
            symptoms=(symptoms if symptoms is not None else issue.description).strip(),
            fix=(fix if fix is not None else issue.resolution).strip(), category=issue.category,
            by=by, at=self.ctx.now())

    async def write_article(self, *, title: str, symptoms: str, fix: str, category: str | None,
                            by: str) -> Article:
        if not title.strip() or not fix.strip():
            raise IssueError("an article needs a title and a fix")
        return await self.ctx.desk.kb.create(issue_id=None, title=title.strip(), symptoms=symptoms.strip(),
                                             fix=fix.strip(), category=category, by=by, at=self.ctx.now())

    async def search(self, text: str, *, limit: int = 20,
                     kinds: tuple[str, ...] = ("article", "issue")) -> list[SearchHit]:
        """Issues and articles containing every term of ``text``, best first."""
        q = parse_query(text)
        if not q.terms:
            return []
        kb = self.ctx.desk.kb
        likes = [like_pattern(t) for t in q.short]
        hits: list[SearchHit] = []
        if q.match is not None:
            if "article" in kinds:
                hits += [self._article_hit(r, r["snip"], r["score"])
                         for r in await kb.search_articles(q.match, likes, limit)]
            if "issue" in kinds:
                rows = await kb.search_issues(q.match, likes, self.ctx.settings.search_candidates)
                scored = sorted(rows, key=lambda r: (-relevance(q.terms, r["description"], r["resolution"]),
                                                     -r["id"]))
                hits += [self._issue_hit(r, highlight(_issue_text(r), q.terms),
                                         -relevance(q.terms, r["description"], r["resolution"]))
                         for r in scored[:limit]]
            hits.sort(key=lambda h: (h.kind != "article", h.score))
            # A short term's matches are not marked by FTS; mark them in the snippet.
            if q.short:
                hits = [SearchHit(h.kind, h.id, h.title, _mark_more(h.snippet, q.short), h.score,
                                  h.category, h.created_at, h.status) for h in hits]
            return hits[:limit]
        if "article" in kinds:
            hits += [self._article_hit(r, highlight(f"{r['title']} {r['symptoms']} {r['fix']}", q.terms), 0.0)
                     for r in await kb.scan_articles(likes, limit)]
        if "issue" in kinds:
            hits += [self._issue_hit(r, highlight(_issue_text(r), q.terms), 0.0)
                     for r in await kb.scan_issues(likes, limit, self.ctx.settings.search_short_scan)]
        return hits[:limit]

    @staticmethod
    def _issue_hit(r: dict[str, Any], snippet: str, score: float) -> SearchHit:
        return SearchHit("issue", r["id"], r["number"], snippet, score, r["category"],
                         datetime.fromisoformat(r["created_at"]), r["status"])

    @staticmethod
    def _article_hit(r: dict[str, Any], snippet: str, score: float) -> SearchHit:
        return SearchHit("article", r["id"], r["title"], snippet, score, r["category"],
                         datetime.fromisoformat(r["created_at"]))


def _issue_text(r: dict[str, Any]) -> str:
    return f"{r['description']} — {r['resolution']}" if r["resolution"] else r["description"]


def _mark_more(snippet: str, terms: tuple[str, ...]) -> str:
    """Mark ``terms`` in the unmarked parts of a snippet."""
    out = []
    for text, hot in segments(snippet):
        out.append(MARK_START + text + MARK_END if hot else highlight(text, terms, width=10_000))
    return "".join(out)
