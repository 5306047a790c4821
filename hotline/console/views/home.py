"""The home page: the work queues of every role the logged-in user holds."""

from __future__ import annotations

from aiohttp import web

from hotline.console.security import USER, requires
from hotline.console.views.queues import render_queues, roles_of

__all__ = ["home"]


@requires()
async def home(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    assert user is not None
    return await render_queues(request, "home.html", roles_of(user), single=False)
