"""The record page (``GET /issues/{id}``): an issue with its call, history, SLA and forms.

What it shows: the issue's fields; its call — the keys pressed in the IVR, every attempt to
reach someone (who, when, outcome), the disposition, who answered, the voicemail and the
recording behind signed, expiring links; progress notes; the dispatch log with its reasons;
notifications with their delivery state; callbacks; the audit trail; both SLA clocks; the issue
it was merged into (a repeat caller's call, a call about a major incident) or, on that parent,
the issues merged into it. The
forms the user may use in the issue's status (:func:`~.issue_rules.available`) follow;
:mod:`.issue_forms` posts them and, on a refusal, renders this page again through
:func:`render_issue` with what was typed.

Voicemails are served like recordings (:mod:`hotline.console.recordings`, the same checks:
HMAC, expiry, the file the call record names and only inside ``[media] recordings_dir``), under
``/voicemails/{call}.wav`` with a key of their own, so a recording link never opens a voicemail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline.console.recordings import recording_handler, signed_recording_url
from hotline.console.render import N_, language_of, page
from hotline.console.security import USER, requires
from hotline.console.views.issue_dial_panel import dial_context
from hotline.console.views.issue_rules import (
    DISPOSITION_LABELS,
    PRIORITIES,
    READERS,
    SLA_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    available,
)
from hotline.console.views.issues_list import category_label
from hotline.desk.dispatch import Candidate, choose
from hotline.desk.oncall import describe
from hotline.issues import RECORDING_DEADLINE
from hotline.keys import CLOCK, CONFIG, DESK, STORE
from hotline.store.records import IssueEvent, IssueRecord

__all__ = ["Suggestion", "get_issue", "issue_page", "render_issue", "voicemail", "voicemail_url"]

DONE_MESSAGES = {
    "complete": N_("The record is complete."),
    "dispatch": N_("The issue was dispatched."),
    "reassign": N_("The issue was reassigned."),
    "note": N_("The progress note was added."),
    "resolve": N_("The issue is resolved."),
    "callback": N_("The callback was recorded."),
    "reopen": N_("The issue was reopened."),
    "close": N_("The issue is closed."),
    "article": N_("The knowledge article was written."),
    "dial": N_("The call back started: answer your desk phone."),
}
"""What the page says after a form went through (``?done=<action>``, post/redirect/get)."""

MERGED_SHOWN = 100
"""Issues merged into a parent listed on its page (a major incident can gather many calls)."""


def _voicemail_secret(secret: str) -> str:
    return "voicemail:" + secret


def voicemail_url(secret: str, call_id: int) -> str:
    """The signed link of call ``call_id``'s voicemail (see the module doc)."""
    url = signed_recording_url(_voicemail_secret(secret), call_id)
    return "/voicemails/" + url.removeprefix("/recordings/")


async def voicemail(request: web.Request) -> web.StreamResponse:
    """``GET /voicemails/{call_id}.wav?expires=…&sig=…``."""
    app = request.app
    config = app[CONFIG]

    async def lookup(call_id: int) -> str | None:
        call = await app[STORE].calls.get(call_id)
        return None if call is None else call.voicemail

    handler = recording_handler(_voicemail_secret(config.web.secret), config.media.recordings_dir, lookup)
    return await handler(request)


@dataclass(frozen=True)
class Suggestion:
    """Who dispatch would pick now, and why (the dispatch log records the final decision)."""

    person_id: str | None
    role: str | None
    reason: str
    candidates: tuple[Candidate, ...] = ()


async def suggest(request: web.Request, issue: IssueRecord) -> Suggestion | None:
    """The A/B suggestion for ``issue`` as the desk's dispatcher sees it now."""
    app = request.app
    if not issue.category:
        return None
    desk, now = app[DESK], app[CLOCK]()
    on_call = await desk.dispatcher.on_call.pick(issue.priority, now)
    if on_call is not None and on_call.person_id is not None:
        return Suggestion(on_call.person_id, "on_call", describe(on_call))
    categories = {c.id: c for c in await app[STORE].people.categories()}
    category = categories.get(issue.category)
    if category is None:
        return None
    candidates = await desk.dispatcher.candidates(category.post_id, now)
    decision = choose(candidates)
    return Suggestion(decision.person_id, decision.role, decision.reason, tuple(candidates))


async def get_issue(request: web.Request) -> IssueRecord:
    issue_id = int(request.match_info["issue_id"])
    issue = await request.app[STORE].issues.get(issue_id) if issue_id < 2**63 else None
    if issue is None:
        raise web.HTTPNotFound(text=f"no issue {issue_id}")
    return issue


@requires(*READERS)
async def issue_page(request: web.Request) -> web.Response:
    issue = await get_issue(request)
    done = request.query.get("done", "")
    return await render_issue(request, issue, done=done if done in DONE_MESSAGES else "")


def version_of(issue: IssueRecord) -> dict[str, str]:
    """The optimistic lock the forms carry: the status and ``updated_at`` they were made from."""
    return {"status": issue.status, "updated_at": issue.updated_at.isoformat()}


async def render_issue(
    request: web.Request, issue: IssueRecord, *, status: int = 200, done: str = "",
    kept: Mapping[str, Mapping[str, str]] | None = None,
    errors: Mapping[str, Mapping[str, str]] | None = None,
    refusals: Mapping[str, str] | None = None,
    conflict: Mapping[str, list[IssueEvent]] | None = None,
) -> web.Response:
    """The record page; after a refused form, with what was typed (``kept[action]``), the
    field errors, the refusal message and the changes made meanwhile by someone else."""
    app = request.app
    store, desk, config, user = app[STORE], app[DESK], app[CONFIG], request[USER]
    assert user is not None
    now = app[CLOCK]()
    call = await store.calls.get(issue.call_id) if issue.call_id is not None else None
    people = {p.id: p for p in await store.people.all()}
    categories = await store.people.categories()
    language = language_of(request)
    actions = available(user, issue)
    kept = kept or {}
    # A form that no longer applies (the issue moved on) still shows what was typed into it.
    shown = [*actions, *(a for a in kept if a not in actions)]
    events = await store.issues.events(issue.id)
    context: dict[str, Any] = {
        "issue": issue, "call": call, "version": version_of(issue),
        "events": events,
        "notes": await desk.notes(issue.id),
        "dispatch_log": await desk.dispatch_log(issue.id),
        "notifications": await desk.notifications(issue.id),
        "callbacks": await desk.callbacks_of(issue.id),
        # A row written outside the services may have no event at all: no clock to read, but
        # the record must still be shown.
        "sla": await desk.sla(issue.id) if events else None,
        "people": people, "active_people": [p for p in people.values() if p.active],
        "categories": [(c.id, category_label(c, language)) for c in categories],
        "category_names": {c.id: category_label(c, language) for c in categories},
        "statuses": STATUS_LABELS, "dispositions": DISPOSITION_LABELS, "sla_states": SLA_LABELS,
        "sources": SOURCE_LABELS, "priorities": PRIORITIES,
        "forms": shown, "allowed": actions, "done": done, "done_messages": DONE_MESSAGES,
        "kept": kept, "errors": errors or {}, "refusals": refusals or {}, "conflict": conflict or {},
        "countdown": _countdown(issue, now),
        "suggestion": await suggest(request, issue) if "dispatch" in shown else None,
        "attempts": _attempts(call.attempts) if call is not None else [],
        "recording_url": None, "voicemail_url": None,
        "dial": await dial_context(request, issue),
        "merged_into": await store.issues.get(issue.merged_into) if issue.merged_into is not None else None,
        "merged_in": await store.issues.merged_into(issue.id),
        "merged_shown": MERGED_SHOWN,
    }
    if call is not None and call.recording:
        context["recording_url"] = signed_recording_url(config.web.secret, call.id)
    if call is not None and call.voicemail:
        context["voicemail_url"] = voicemail_url(config.web.secret, call.id)
    return page(request, "issue.html", context, status=status)


def _countdown(issue: IssueRecord, now: datetime) -> dict[str, Any] | None:
    """The 30 minutes an operator has to complete the record, counted from the call's end."""
    if issue.status != "new":
        return None
    if issue.call_ended_at is None:
        return {"due": None, "minutes": None, "overdue": issue.recording_overdue}
    due = issue.call_ended_at + RECORDING_DEADLINE
    left = (due - now).total_seconds()
    return {"due": due, "minutes": int(abs(left) // 60), "overdue": issue.recording_overdue or left < 0}


def _attempts(attempts: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The call's attempts with ``when`` parsed (stored as ISO text), for local times."""
    out = []
    for a in attempts:
        try:
            when = datetime.fromisoformat(str(a.get("at", "")))
        except ValueError:
            when = None
        out.append({**a, "when": when if when is not None and when.tzinfo is not None else None})
    return out
