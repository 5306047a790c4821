"""What the console's issue pages need to know: labels, who may do what, when each form applies.

Pure: no request, no store. The labels are message ids (marked with ``N_``) that templates
translate; the permission rule is :func:`may`, checked by the server on every POST whatever
the page showed.
"""

from __future__ import annotations

from collections.abc import Mapping

from hotline.console.render import N_
from hotline.console.sessions import User
from hotline.desk.sla import SlaState
from hotline.desk.timeline import OPEN_STATES
from hotline.issues import Status
from hotline.store.records import IssueRecord

__all__ = [
    "ACTIONS", "DISPOSITION_LABELS", "MANAGERS", "PRIORITIES", "READERS", "SLA_LABELS", "SOURCE_LABELS",
    "STATUS_LABELS", "applies", "available", "may",
]

READERS = ("operator", "engineer", "manager", "admin")
"""Roles that may read issues."""
MANAGERS = ("manager", "admin")
"""Roles that may do everything."""

STATUS_LABELS: Mapping[str, str] = {
    Status.NEW: N_("New"),
    Status.RECORDED: N_("Recorded"),
    Status.DISPATCHED: N_("Dispatched"),
    Status.IN_PROGRESS: N_("In progress"),
    Status.PENDING_CALLER: N_("Waiting for the caller"),
    Status.RESOLVED: N_("Resolved"),
    Status.CALLBACK_DONE: N_("Callback done"),
    Status.CLOSED: N_("Closed"),
    Status.REOPENED: N_("Reopened"),
}
DISPOSITION_LABELS: Mapping[str, str] = {
    "answered": N_("Answered"),
    "voicemail": N_("Voicemail"),
    "missed": N_("Missed"),
    "abandoned": N_("Abandoned"),
    "rejected": N_("Rejected"),
    "failed": N_("Failed"),
    "redirected": N_("Redirected"),
    "transferred": N_("Transferred"),
    "interrupted": N_("Interrupted"),
}
"""How a call ended (``calls.disposition``; see ``hotline.calls.interpreter``)."""
SLA_LABELS: Mapping[str, str] = {
    SlaState.ON_TRACK: N_("On track"),
    SlaState.AT_RISK: N_("At risk"),
    SlaState.BREACHED: N_("Breached"),
    SlaState.PAUSED: N_("Paused"),
    SlaState.MET: N_("Met"),
}
SOURCE_LABELS: Mapping[str, str] = {
    "phone": N_("Phone"),
    "web": N_("Web"),
    "email": N_("E-mail"),
    "walk-in": N_("Walk-in"),
    "monitoring": N_("Monitoring"),
}
PRIORITIES = ("P1", "P2", "P3", "P4")

ACTIONS = ("complete", "dispatch", "reassign", "note", "resolve", "callback", "reopen", "close", "article")
"""The forms of the record page, in the order the page shows them."""

_OPERATOR_ACTIONS = frozenset({"complete", "dispatch", "callback", "close"})
_OWNER_ACTIONS = frozenset({"note", "resolve"})

_APPLIES: Mapping[str, frozenset[str]] = {
    "complete": frozenset({Status.NEW}),
    "dispatch": frozenset({Status.RECORDED, Status.REOPENED}),
    "reassign": frozenset(OPEN_STATES),
    "note": frozenset(OPEN_STATES),
    "resolve": frozenset({Status.RECORDED, *OPEN_STATES}),
    "callback": frozenset({Status.RESOLVED}),
    "reopen": frozenset({Status.RESOLVED, Status.CALLBACK_DONE, Status.CLOSED}),
    "close": frozenset({Status.NEW, Status.RECORDED, Status.CALLBACK_DONE}),
    "article": frozenset({Status.RESOLVED, Status.CALLBACK_DONE, Status.CLOSED}),
}


def may(user: User, action: str, issue: IssueRecord) -> bool:
    """Whether ``user`` may do ``action`` on ``issue``.

    Operators complete, dispatch, call back and close; engineers add notes to and resolve
    the issues they own; managers and admins do everything (notes and resolutions on any
    issue, reassigning, reopening, knowledge articles).
    """
    if action not in _APPLIES:
        return False
    if user.has(*MANAGERS):
        return True
    if action in _OPERATOR_ACTIONS:
        return user.has("operator")
    if action in _OWNER_ACTIONS:
        return user.has("engineer") and issue.owner is not None and issue.owner == user.id
    return False


def applies(action: str, issue: IssueRecord) -> bool:
    """Whether ``action`` makes sense in the issue's status (the desk has the last word)."""
    if action == "article" and not issue.resolution.strip():
        return False
    return issue.status in _APPLIES.get(action, frozenset())


def available(user: User, issue: IssueRecord) -> list[str]:
    """The forms to show ``user`` on ``issue``'s page."""
    return [a for a in ACTIONS if may(user, a, issue) and applies(a, issue)]
