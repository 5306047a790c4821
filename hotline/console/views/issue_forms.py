"""The record page's forms (``POST /issues/{id}/{action}``): post, check, change, redirect.

Each POST carries the session's CSRF token (checked by the security middleware) and the
version of the issue the form was rendered from — its status and ``updated_at``, the
optimistic lock. In order:

1. the role: :func:`~.issue_rules.may`, on the issue as it is now (403 otherwise, however the
   form was made);
2. the version: if the issue changed since the form was rendered, the page comes back (409)
   saying who changed what meanwhile, with the typed input kept;
3. the fields: an invalid value brings the page back (400) with the message next to the field
   and the input kept;
4. the change itself, always through the desk (:class:`~hotline.desk.service.Desk`) with
   ``actor = user.id``, so the audit trail names the user. A refusal of the desk — an illegal
   transition (:class:`~hotline.issues.IssueError`) or a lost race (:class:`StaleIssue`, the
   store's lock on the status) — brings the page back (409) the same way;
5. success: 303 to the record page (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline.console.render import N_, text
from hotline.console.security import USER, requires
from hotline.console.sessions import User
from hotline.console.views.issue_page import get_issue, render_issue
from hotline.console.views.issue_rules import PRIORITIES, READERS, STATUS_LABELS, applies, may
from hotline.desk.callback import CallbackScores
from hotline.issues import IssueError
from hotline.keys import DESK, STORE
from hotline.store import StaleIssue
from hotline.store.records import IssueEvent, IssueRecord

__all__ = ["MAX_TEXT", "Checked", "changes_since", "check_form", "issue_action"]

MAX_TEXT = 4000
"""Longest description, note, resolution or reason accepted."""
MAX_TITLE = 120

REQUIRED = N_("Required.")
CHOOSE = N_("Choose one of the choices.")
TOO_LONG = N_("Too long: at most %(max)s characters.")
SCORE = N_("A score from 1 to 5.")


@dataclass(frozen=True)
class Facts:
    """What a form's values are checked against."""

    categories: frozenset[str]
    people: frozenset[str]
    """Active staff (dispatch and reassign targets)."""


@dataclass
class Checked:
    """A form's values once checked, and the errors by field (message id, values)."""

    values: dict[str, Any]
    errors: dict[str, tuple[str, dict[str, Any]]]


def check_form(action: str, form: Mapping[str, str], issue: IssueRecord, facts: Facts) -> Checked:
    """Check the fields of ``action``'s form (pure; see the module doc)."""
    out = Checked({}, {})

    def textual(name: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
        value = form.get(name, "").strip()
        if required and not value:
            out.errors[name] = (REQUIRED, {})
        elif len(value) > limit:
            out.errors[name] = (TOO_LONG, {"max": limit})
        out.values[name] = value
        return value

    def pick(name: str, allowed: frozenset[str] | tuple[str, ...], *, required: bool = True) -> str | None:
        value = form.get(name, "").strip()
        if not value and not required:
            return None
        if value not in allowed:
            out.errors[name] = (CHOOSE, {})
            return None
        out.values[name] = value
        return value

    if action == "complete":
        pick("category", facts.categories)
        pick("priority", PRIORITIES)
        textual("description")
    elif action == "dispatch":
        if pick("mode", ("auto", "manual")) == "manual":
            pick("person", facts.people)
            textual("reason")
    elif action == "reassign":
        pick("person", facts.people - {issue.owner or ""})
        textual("reason")
    elif action == "note":
        textual("text")
    elif action == "resolve":
        textual("resolution")
    elif action == "callback":
        for name in ("efficiency", "result", "attitude"):
            value = form.get(name, "").strip()
            if value not in ("1", "2", "3", "4", "5"):
                out.errors[name] = (SCORE, {})
            else:
                out.values[name] = int(value)
        out.values["fixed"] = pick("fixed", ("yes", "no")) == "yes"
        textual("comment", required=False, limit=1000)
    elif action == "reopen":
        textual("reason")
    elif action == "close":
        # Closing a completed callback needs no words; closing without work must say why.
        textual("reason", required=issue.status != "callback_done")
    elif action == "article":
        textual("title", required=False, limit=MAX_TITLE)
        textual("symptoms", required=False)
        textual("fix", required=False)
    return out


def changes_since(events: list[IssueEvent], updated_at: str) -> list[IssueEvent]:
    """The audit events after the version a form was made from (all of them if unreadable)."""
    try:
        seen = datetime.fromisoformat(updated_at)
    except ValueError:
        return events
    return [e for e in events if e.at > seen]


Perform = Callable[[web.Request, IssueRecord, dict[str, Any], User], Awaitable[Any]]


async def _complete(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    return await request.app[DESK].transition(
        issue.id, "recorded", actor=user.id,
        changes={"category": v["category"], "priority": v["priority"], "description": v["description"]})


async def _dispatch(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    if v["mode"] == "manual":
        return await request.app[DESK].dispatch(issue.id, actor=user.id, to=v["person"], note=v["reason"])
    return await request.app[DESK].dispatch(issue.id, actor=user.id)


async def _reassign(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    return await request.app[DESK].reassign(issue.id, v["person"], actor=user.id, note=v["reason"])


async def _note(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    return await request.app[DESK].add_note(issue.id, by=user.id, text=v["text"])


async def _resolve(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    return await request.app[DESK].resolve(issue.id, by=user.id, resolution=v["resolution"])


async def _callback(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    scores = CallbackScores(v["efficiency"], v["result"], v["attitude"])
    return await request.app[DESK].record_callback(issue.id, scores, by=user.id, fixed=v["fixed"],
                                                   comment=v["comment"])


async def _reopen(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    return await request.app[DESK].transition(issue.id, "reopened", actor=user.id, note=v["reason"])


async def _close(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    if not v["reason"]:
        return await request.app[DESK].close(issue.id, by=user.id)
    return await request.app[DESK].transition(issue.id, "closed", actor=user.id, note=v["reason"])


async def _article(request: web.Request, issue: IssueRecord, v: dict[str, Any], user: User) -> Any:
    return await request.app[DESK].article_from_issue(
        issue.id, by=user.id, title=v["title"] or None, symptoms=v["symptoms"] or None, fix=v["fix"] or None)


PERFORM: Mapping[str, Perform] = {
    "complete": _complete, "dispatch": _dispatch, "reassign": _reassign, "note": _note,
    "resolve": _resolve, "callback": _callback, "reopen": _reopen, "close": _close, "article": _article,
}


@requires(*READERS)
async def issue_action(request: web.Request) -> web.StreamResponse:
    app = request.app
    action = request.match_info["action"]
    if action not in PERFORM:
        raise web.HTTPNotFound(text=f"no such form: {action}")
    user = request[USER]
    assert user is not None
    issue = await get_issue(request)
    if not may(user, action, issue):
        raise web.HTTPForbidden(text=text(request, "Your role does not allow this on this issue."))
    posted = await request.post()
    typed = {k: v for k, v in posted.items() if isinstance(v, str) and k != "_csrf"}
    store = app[STORE]
    people = await store.people.all(active_only=True)
    facts = Facts(frozenset(c.id for c in await store.people.categories()), frozenset(p.id for p in people))
    checked = check_form(action, typed, issue, facts)
    errors = {k: text(request, msg, **vals) for k, (msg, vals) in checked.errors.items()}

    async def again(status: int, refusal: str | None, current: IssueRecord,
                    meanwhile: list[IssueEvent] | None = None) -> web.Response:
        return await render_issue(
            request, current, status=status, kept={action: typed}, errors={action: errors},
            refusals={action: refusal} if refusal else None,
            conflict={action: meanwhile} if meanwhile is not None else None)

    async def changed_meanwhile(current: IssueRecord) -> web.Response:
        meanwhile = changes_since(await store.issues.events(current.id), typed.get("v_updated", ""))
        names = {p.id: p.name for p in await store.people.all()}
        who = ", ".join(dict.fromkeys(names.get(e.actor, e.actor) for e in meanwhile)) or "?"
        return await again(409, text(request, "%(who)s changed this issue meanwhile. What you typed is kept "
                                              "below: check the record and submit again.", who=who),
                           current, meanwhile)

    if "v_status" not in typed or "v_updated" not in typed:
        return await again(400, text(request, "This form is incomplete: reload the page."), issue)
    if typed["v_status"] != issue.status or typed["v_updated"] != issue.updated_at.isoformat():
        return await changed_meanwhile(issue)
    if errors:
        return await again(400, None, issue)
    if not applies(action, issue):
        label = text(request, STATUS_LABELS.get(issue.status, issue.status))
        return await again(409, text(request, "Not possible while the issue is %(status)s.", status=label),
                           issue)
    try:
        await PERFORM[action](request, issue, checked.values, user)
    except StaleIssue:
        return await changed_meanwhile(await get_issue(request))
    except (IssueError, ValueError) as exc:
        current = await get_issue(request)
        return await again(409, text(request, "The desk refused the change: %(reason)s", reason=str(exc)),
                           current)
    raise web.HTTPSeeOther(f"/issues/{issue.id}?done={action}#{action}")
