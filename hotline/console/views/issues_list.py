"""The issue list (``GET /issues``): filters, full-text search, sort and keyset pagination.

Every filter value is checked against what it may be (a status of the life cycle, a category
or person that exists, a date ``YYYY-MM-DD``…) before anything reaches the store; a bad value
gets the list page back with status 400 and the message next to its field. Dates are local
days of the site's timezone. With ``q`` the list is the full-text search of the desk
(:meth:`~hotline.desk.service.Desk.search`), best match first, narrowed by the same filters;
without it, the store's keyset pages (``before=<id>``: the last issue of the previous page).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from hotline.console.render import N_, language_of, page, text
from hotline.console.security import USER, requires
from hotline.console.views.issue_rules import (
    DISPOSITION_LABELS,
    PRIORITIES,
    READERS,
    SLA_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
)
from hotline.desk.kb import segments
from hotline.keys import CONFIG, DESK, STORE
from hotline.store import StoreError
from hotline.store.issues import LIST_SORTS, IssueFilter, IssueListRow
from hotline.store.records import Category, Person

__all__ = ["FIELDS", "ListRequest", "category_label", "issue_list", "parse_list_query"]

PAGE_SIZE = 50
SEARCH_LIMIT = 100
"""Search hits shown (best first); search results are not paged."""
MAX_QUERY = 200

FIELDS = ("q", "status", "category", "priority", "owner", "source", "from", "to", "overdue", "call_back",
          "sla", "disposition", "sort", "before")
"""The query parameters the list understands (others are ignored)."""

SORT_LABELS = {"newest": N_("Newest first"), "oldest": N_("Oldest first"), "priority": N_("Priority first")}
NOT_A_CHOICE = N_("Not one of the choices: %(value)s")
NOBODY = "none"
"""The owner (or priority) value meaning "not set"."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURSOR = re.compile(r"\d{1,18}")

FieldError = tuple[str, dict[str, Any]]
"""A message id and its values, translated when shown."""


@dataclass(frozen=True)
class ListRequest:
    """A checked list request."""

    filter: IssueFilter = field(default_factory=IssueFilter)
    sort: str = "newest"
    before: int | None = None
    q: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    """The parameters as given (non-empty ones), to fill the form and build page links."""


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "…"


def parse_list_query(query: Mapping[str, str], *, categories: set[str], people: set[str],
                     tz: ZoneInfo) -> tuple[ListRequest, dict[str, FieldError]]:
    """Check the list's query parameters; returns the request and the errors by field."""
    values = {k: query[k].strip() for k in FIELDS if k in query and query[k].strip()}
    errors: dict[str, FieldError] = {}

    def choose(name: str, allowed: set[str] | Mapping[str, Any] | tuple[str, ...]) -> str | None:
        value = values.get(name)
        if value is None:
            return None
        if value not in allowed:
            errors[name] = (NOT_A_CHOICE, {"value": _shown(value)})
            return None
        return value

    def yes_no(name: str) -> bool | None:
        value = choose(name, ("yes", "no"))
        return None if value is None else value == "yes"

    def day(name: str) -> date | None:
        value = values.get(name)
        if value is None:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            parsed = date.fromisoformat(value)
            if not 1900 <= parsed.year <= 9000:
                raise ValueError(value)
        except ValueError:
            errors[name] = (N_("Not a date (YYYY-MM-DD): %(value)s"), {"value": _shown(value)})
            return None
        return parsed

    status = choose("status", STATUS_LABELS)
    category = choose("category", categories)
    priority = choose("priority", (*PRIORITIES, NOBODY))
    owner = choose("owner", people | {NOBODY})
    source = choose("source", SOURCE_LABELS)
    first, last = day("from"), day("to")
    if first is not None and last is not None and first > last:
        errors["to"] = (N_("The end date is before the start date."), {})
    overdue, call_back = yes_no("overdue"), yes_no("call_back")
    sla = choose("sla", SLA_LABELS)
    disposition = choose("disposition", DISPOSITION_LABELS)
    sort = choose("sort", LIST_SORTS) or "newest"
    before = None
    if "before" in values:
        if _CURSOR.fullmatch(values["before"]):
            before = int(values["before"])
        else:
            errors["before"] = (N_("Not a page cursor: %(value)s"), {"value": _shown(values["before"])})
    q = values.get("q", "")
    if len(q) > MAX_QUERY:
        errors["q"] = (N_("The search text is too long (at most %(max)s characters)."), {"max": MAX_QUERY})
    f = IssueFilter(
        status=status, category=category,
        priority="" if priority == NOBODY else priority, owner="" if owner == NOBODY else owner,
        source=source,
        created_from=datetime.combine(first, time(0), tz) if first else None,
        created_to=datetime.combine(last + timedelta(days=1), time(0), tz) if last else None,
        recording_overdue=overdue, call_back=call_back, sla_state=sla, disposition=disposition,
    )
    return ListRequest(f, sort, before, q, values), errors


def category_label(category: Category | None, language: str) -> str:
    if category is None:
        return ""
    return (category.name_en or category.name) if language == "en" else category.name


@requires(*READERS)
async def issue_list(request: web.Request) -> web.Response:
    app = request.app
    store, user = app[STORE], request[USER]
    assert user is not None
    categories = await store.people.categories()
    people = await store.people.all()
    req, errors = parse_list_query(request.query, categories={c.id for c in categories},
                                   people={p.id for p in people}, tz=app[CONFIG].site.timezone)
    rows: list[IssueListRow] = []
    snippets: dict[int, list[tuple[str, bool]]] = {}
    next_before = None
    if not errors and req.q:
        hits = await app[DESK].search(req.q, limit=SEARCH_LIMIT, kinds=("issue",))
        if hits:
            found = await store.issues.list_page(replace(req.filter, ids=tuple(h.id for h in hits)),
                                                 limit=len(hits))
            by_id = {r.issue.id: r for r in found.rows}
            rows = [by_id[h.id] for h in hits if h.id in by_id]
            snippets = {h.id: segments(h.snippet) for h in hits}
    elif not errors:
        try:
            result = await store.issues.list_page(req.filter, sort=req.sort, before=req.before,
                                                  limit=PAGE_SIZE)
        except StoreError:
            errors["before"] = (N_("This page cursor names no issue: start from the first page."), {})
        else:
            rows, next_before = list(result.rows), result.next_before
    language = language_of(request)
    context = {
        "rows": rows, "snippets": snippets, "values": req.values, "searching": bool(req.q),
        "errors": {k: text(request, msg, **vals) for k, (msg, vals) in errors.items()},
        "next_query": urlencode({**{k: v for k, v in req.values.items() if k != "before"},
                                 "before": next_before}) if next_before else None,
        "first_query": urlencode({k: v for k, v in req.values.items() if k != "before"}),
        "paged": req.before is not None,
        "categories": [(c.id, category_label(c, language)) for c in categories],
        "category_names": {c.id: category_label(c, language) for c in categories},
        "people": people, "people_names": _names(people),
        "statuses": STATUS_LABELS, "dispositions": DISPOSITION_LABELS, "sla_states": SLA_LABELS,
        "sources": SOURCE_LABELS, "priorities": PRIORITIES, "sorts": SORT_LABELS,
    }
    return page(request, "issues.html", context, status=400 if errors else 200)


def _names(people: list[Person]) -> dict[str, str]:
    return {p.id: p.name for p in people}
