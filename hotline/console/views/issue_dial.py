"""``POST /issues/{id}/dial``: call the employee back (click-to-dial) from the user's desk phone.

The form posts the key of one of the offered numbers (``number``: ``mobile``, ``extension`` or
``caller``), never a number: the dialer (``CALLBACKS``) builds the offers again and dials only
what the key names. A refusal brings the record page back with the reason -- 400 for a key that
is not offered (a forged or stale form), 409 when the call back cannot start now, 503 without a
SIP endpoint -- and nothing is dialled. A call back that starts answers 303 to the record page;
how it goes (desk phone answered, employee busy…) appears in its panel as the call row fills.
"""

from __future__ import annotations

from aiohttp import web

from hotline.calls.callback_plan import Refusal
from hotline.console.render import text
from hotline.console.security import USER, requires
from hotline.console.views.issue_dial_panel import DIAL_ROLES, REFUSAL_MESSAGES
from hotline.console.views.issue_page import get_issue, render_issue
from hotline.keys import CALLBACKS

__all__ = ["dial"]

MAX_KEY = 40


@requires(*DIAL_ROLES)
async def dial(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    assert user is not None
    issue = await get_issue(request)
    posted = await request.post()
    key = posted.get("number")
    key = key[:MAX_KEY] if isinstance(key, str) else ""
    dialer = request.app.get(CALLBACKS)
    if dialer is None:
        return await render_issue(request, issue, status=503, refusals={
            "dial": text(request, "Calls cannot be placed now: the SIP endpoint is not running.")})
    outcome = await dialer.start(issue, user.id, key)
    if isinstance(outcome, Refusal):
        status = 400 if outcome is Refusal.NOT_OFFERED else 409
        return await render_issue(request, await get_issue(request), status=status,
                                  refusals={"dial": text(request, REFUSAL_MESSAGES[outcome])})
    raise web.HTTPSeeOther(f"/issues/{issue.id}?done=dial#dial")
