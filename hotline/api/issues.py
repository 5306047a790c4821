"""The API's issue routes: list, read, create, transition, notes.

The list takes the console list's query parameters, checked by the same
:func:`~hotline.console.views.issues_list.parse_list_query`; a transition is one of the
record page's actions, checked by the same :func:`~hotline.console.views.issue_forms.check_form`
and :func:`~hotline.console.views.issue_rules.may`, and performed by the same desk calls — the
API is another way into the console's rules, not a second set of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from hotline.api.errors import ApiError
from hotline.api.schemas import CREATE_SOURCES, TRANSITIONS
from hotline.api.shapes import body_of, issue_event_json, issue_json, json_response
from hotline.console.security import USER
from hotline.console.sessions import User
from hotline.console.views.issue_forms import MAX_TEXT, PERFORM, Facts, check_form
from hotline.console.views.issue_rules import PRIORITIES, applies, may
from hotline.console.views.issues_list import FIELDS, parse_list_query
from hotline.issues import IssueError
from hotline.keys import CONFIG, DESK, ISSUES, STORE
from hotline.store import StaleIssue, StoreError
from hotline.store.records import IssueRecord

__all__ = ["create_issue", "issue_notes", "list_issues", "read_issue", "transition_issue", "write_note"]

MAX_LIMIT = 200
SEARCH_LIMIT = 100


def _user(request: web.Request) -> User:
    user = request.get(USER)
    assert user is not None  # the route's guard let it through
    return user


async def _issue(request: web.Request) -> IssueRecord:
    issue = await request.app[STORE].issues.get(int(request.match_info["id"]))
    if issue is None:
        raise ApiError(404, "not_found", f"no issue with id {request.match_info['id']}")
    return issue


def page_limit(query: Mapping[str, str]) -> int:
    text = query.get("limit", "50")
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_field", f"limit: a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(text)


async def list_issues(request: web.Request) -> web.Response:
    app = request.app
    store = app[STORE]
    unknown = sorted(set(request.query) - set(FIELDS) - {"limit"})
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    limit = page_limit(request.query)
    categories = {c.id for c in await store.people.categories()}
    people = {p.id for p in await store.people.all()}
    req, errors = parse_list_query(request.query, categories=categories, people=people,
                                   tz=app[CONFIG].site.timezone)
    if errors:
        name, (message, values) = sorted(errors.items())[0]
        raise ApiError(400, "invalid_field", f"{name}: {message % values if values else message}", field=name)
    if req.q:
        hits = await app[DESK].search(req.q, limit=min(limit, SEARCH_LIMIT), kinds=("issue",))
        rows = []
        if hits:
            found = await store.issues.list_page(replace(req.filter, ids=tuple(h.id for h in hits)),
                                                 limit=len(hits))
            by_id = {r.issue.id: r for r in found.rows}
            rows = [by_id[h.id] for h in hits if h.id in by_id]
        next_before = None
    else:
        try:
            page = await store.issues.list_page(req.filter, sort=req.sort, before=req.before, limit=limit)
        except StoreError as exc:
            raise ApiError(400, "invalid_field", f"before: {exc}", field="before") from None
        rows, next_before = list(page.rows), page.next_before
    return json_response({
        "issues": [{"issue": issue_json(r.issue), "call_disposition": r.disposition, "sla_state": r.sla_state}
                   for r in rows],
        "next_before": next_before,
    })


async def read_issue(request: web.Request) -> web.Response:
    issue = await _issue(request)
    events = await request.app[STORE].issues.events(issue.id)
    return json_response({"issue": issue_json(issue), "events": [issue_event_json(e) for e in events]})


def _text(body: Mapping[str, Any], name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name}: a string", field=name)
    value = value.strip()
    if required and not value:
        raise ApiError(400, "missing_field", f"{name} is required", field=name)
    if len(value) > limit:
        raise ApiError(400, "invalid_field", f"{name}: at most {limit} characters", field=name)
    return value


async def create_issue(request: web.Request) -> web.Response:
    """A new issue from another source; recorded at once when it has a category, dispatched on ask."""
    app = request.app
    store, user = app[STORE], _user(request)
    body = await body_of(request)
    unknown = sorted(set(body) - {"source", "description", "category", "priority", "employee_id",
                                  "caller_name", "tags", "dispatch"})
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {unknown[0]!r}", field=unknown[0])
    source = _text(body, "source", required=True)
    if source not in CREATE_SOURCES:
        raise ApiError(400, "invalid_field", f"source: one of {', '.join(CREATE_SOURCES)}", field="source")
    description = _text(body, "description", required=True)
    category = _text(body, "category")
    if category is not None and category not in {c.id for c in await store.people.categories()}:
        raise ApiError(400, "invalid_field", f"category: no category {category!r}", field="category")
    priority = _text(body, "priority")
    if priority is not None and priority not in PRIORITIES:
        raise ApiError(400, "invalid_field", f"priority: one of {', '.join(PRIORITIES)}", field="priority")
    employee_id = _text(body, "employee_id", limit=64)
    caller_name = _text(body, "caller_name", limit=100)
    if employee_id:
        employee = await store.directory.get(employee_id)
        if employee is None:
            raise ApiError(400, "invalid_field", f"employee_id: no employee {employee_id!r} in the directory",
                           field="employee_id")
        caller_name = caller_name or employee.name
    tags = body.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 10 or not all(isinstance(t, str) and 0 < len(t) <= 40
                                                               for t in tags):
        raise ApiError(400, "invalid_field", "tags: at most 10 strings of 1 to 40 characters", field="tags")
    dispatch = body.get("dispatch", False)
    if not isinstance(dispatch, bool):
        raise ApiError(400, "invalid_field", "dispatch: true or false", field="dispatch")
    if dispatch and category is None:
        raise ApiError(400, "missing_field", "category is required to dispatch", field="category")
    fields: dict[str, Any] = {"description": description}
    if employee_id:
        fields["employee_id"] = employee_id
    if caller_name:
        fields["caller_name"] = caller_name
    if tags:
        fields["tags"] = list(dict.fromkeys(tags))
    issue = await app[ISSUES].create_issue(source=source, actor=user.id, fields=fields)
    desk = app[DESK]
    if category is not None:
        changes = {"category": category, "priority": priority or desk.ctx.settings.default_priority}
        issue = await desk.transition(issue.id, "recorded", actor=user.id, changes=changes)
        if dispatch:
            issue = (await desk.dispatch(issue.id, actor=user.id)).issue
    elif priority is not None:
        issue = await app[ISSUES].update_fields(issue.id, actor=user.id, changes={"priority": priority})
    return json_response({"issue": issue_json(issue)}, status=201,
                         headers={"Location": f"/api/issues/{issue.id}"})


def _form_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | str):
        return str(value)
    raise ApiError(400, "invalid_field", f"{name}: a string, number or boolean", field=name)


async def transition_issue(request: web.Request) -> web.Response:
    app = request.app
    store, user = app[STORE], _user(request)
    issue = await _issue(request)
    body = await body_of(request)
    action = _text(body, "action", required=True)
    if action not in TRANSITIONS:
        raise ApiError(400, "invalid_field", f"action: one of {', '.join(TRANSITIONS)}", field="action")
    expect = body.get("expect_status")
    if not may(user, action, issue):
        raise ApiError(403, "forbidden", f"your roles do not allow {action} on {issue.number}")
    if expect is not None and expect != issue.status:
        raise ApiError(409, "conflict", f"{issue.number} is {issue.status} now, not {expect}")
    form = {k: _form_value(k, v) for k, v in body.items() if k not in ("action", "expect_status")}
    people = await store.people.all(active_only=True)
    facts = Facts(frozenset(c.id for c in await store.people.categories()), frozenset(p.id for p in people))
    checked = check_form(action, form, issue, facts)
    if checked.errors:
        name, (message, values) = sorted(checked.errors.items())[0]
        code = "missing_field" if not form.get(name) else "invalid_field"
        raise ApiError(400, code, f"{name}: {message % values if values else message}", field=name)
    if not applies(action, issue):
        raise ApiError(409, "conflict", f"{action} is not possible while {issue.number} is {issue.status}")
    try:
        await PERFORM[action](request, issue, checked.values, user)
    except StaleIssue as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except (IssueError, ValueError) as exc:
        raise ApiError(409, "conflict", f"the desk refused the change: {exc}") from None
    return json_response({"issue": issue_json(await _issue(request))})


async def issue_notes(request: web.Request) -> web.Response:
    issue = await _issue(request)
    return json_response({"notes": [issue_event_json(e) for e in await request.app[DESK].notes(issue.id)]})


async def write_note(request: web.Request) -> web.Response:
    user = _user(request)
    issue = await _issue(request)
    body = await body_of(request)
    unknown = sorted(set(body) - {"text"})
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {unknown[0]!r}", field=unknown[0])
    text = _text(body, "text", required=True)
    assert text is not None
    if not may(user, "note", issue):
        raise ApiError(403, "forbidden", f"your roles do not allow notes on {issue.number}")
    if not applies("note", issue):
        raise ApiError(409, "conflict", f"notes are not possible while {issue.number} is {issue.status}")
    try:
        updated = await request.app[DESK].add_note(issue.id, by=user.id, text=text)
    except StaleIssue as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except (IssueError, ValueError) as exc:
        raise ApiError(409, "conflict", f"the desk refused the note: {exc}") from None
    return json_response({"issue": issue_json(updated)}, status=201)
