"""The record page's "call back" panel: the numbers offered, the user's desk phone, past call backs.

:func:`dial_context` gives the record page (:mod:`.issue_page`) what ``_issue_dial.html``
shows; the form posts to :mod:`.issue_dial`. The numbers come from the call-back dialer
(``CALLBACKS``, present while the SIP endpoint runs): the employee's numbers as the directory
holds them and the issue's caller ID, each under a key -- the form carries the key, never the
number. Each outbound call of the issue is listed with its attempts and what its disposition
means for the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline.calls.callback_plan import Refusal
from hotline.console.render import N_
from hotline.console.security import USER
from hotline.keys import CALLBACKS, STORE
from hotline.store.outbound import OutboundCallStore
from hotline.store.records import IssueRecord

__all__ = ["DIAL_ROLES", "OFFER_LABELS", "OUTCOME_MESSAGES", "REFUSAL_MESSAGES", "dial_context"]

DIAL_ROLES = ("operator", "engineer", "manager", "admin")
"""Roles that may call an employee back (from their own desk phone)."""

OFFER_LABELS: Mapping[str, str] = {
    "mobile": N_("Mobile (directory)"),
    "extension": N_("Extension (directory)"),
    "caller": N_("The number that called"),
}

REFUSAL_MESSAGES: Mapping[str, str] = {
    Refusal.NO_DESK_PHONE: N_("You have no desk phone on your account: an administrator sets it with "
                              "hotline add-user --desk-phone. Nothing was dialled."),
    Refusal.NOT_OFFERED: N_("That is not one of the numbers offered for this issue. Nothing was dialled."),
    Refusal.ALREADY_RUNNING: N_("A call back of this issue is already in progress. Nothing was dialled."),
    Refusal.NO_PROXY: N_("The server has no outbound proxy (sip.outbound.proxy) to dial numbers "
                         "through. Nothing was dialled."),
}

OUTCOME_MESSAGES: Mapping[str, str] = {
    "": N_("In progress: answer your desk phone, then the employee is dialled."),
    "answered": N_("The employee answered and was connected to you."),
    "operator-unanswered": N_("Your desk phone did not answer or was busy: the employee was not dialled."),
    "missed": N_("The employee did not answer or was busy."),
    "abandoned": N_("You hung up before the employee answered."),
    "failed": N_("The call back failed."),
    "interrupted": N_("The call back was cut off when the server stopped."),
}
"""What an outbound call's disposition (``""`` while it lasts) means for the user."""


def _when(text: object) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


async def dial_context(request: web.Request, issue: IssueRecord) -> dict[str, Any]:
    """The ``dial`` entry of the record page's context."""
    app = request.app
    user = request[USER]
    assert user is not None
    history = await OutboundCallStore(app[STORE].db).for_issue(issue.id)
    calls = [{
        "call": o.call, "placed_by": o.placed_by,
        "message": OUTCOME_MESSAGES.get(o.call.disposition or "", OUTCOME_MESSAGES["failed"]),
        "attempts": [{**a, "when": _when(a.get("at", ""))} for a in o.call.attempts],
    } for o in history]
    dialer = app.get(CALLBACKS)
    enabled = dialer is not None and user.has(*DIAL_ROLES)
    offers = await dialer.offers(issue) if dialer is not None and enabled else ()
    return {
        "enabled": enabled,
        "offers": [(o.key, o.dial, OFFER_LABELS.get(o.key, o.key)) for o in offers],
        "desk_phone": await dialer.desk_phone(user.id) if dialer is not None and enabled else None,
        "running": dialer.running(issue.id) if dialer is not None else False,
        "calls": calls,
    }
