"""The home page: what needs doing now, for the logged-in user's roles."""

from __future__ import annotations

from aiohttp import web

from hotline.console.render import page
from hotline.console.security import USER, requires
from hotline.issues import RECORDING_DEADLINE
from hotline.keys import CLOCK, STORE

__all__ = ["home"]


@requires()
async def home(request: web.Request) -> web.Response:
    app = request.app
    user = request[USER]
    assert user is not None
    store, now = app[STORE], app[CLOCK]()
    context: dict[str, object] = {}
    if user.has("operator", "manager", "admin"):
        entries = []
        for issue in await store.issues.awaiting_entry(50):
            due = issue.call_ended_at + RECORDING_DEADLINE if issue.call_ended_at else None
            left = (due - now).total_seconds() if due is not None else None
            entries.append({"issue": issue, "due": due,
                            "minutes_left": None if left is None else int(left // 60),
                            "overdue": issue.recording_overdue or (left is not None and left < 0)})
        context["awaiting_entry"] = entries
        context["call_back"] = await store.issues.to_call_back(50)
    return page(request, "home.html", context)
