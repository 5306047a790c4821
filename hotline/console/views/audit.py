"""The console's own audit log (logins, failed logins, user changes): managers and admins only."""

from __future__ import annotations

from aiohttp import web

from hotline.console.render import page
from hotline.console.security import requires
from hotline.keys import STORE

__all__ = ["audit_log"]


@requires("manager", "admin")
async def audit_log(request: web.Request) -> web.Response:
    entries = await request.app[STORE].accounts.audit_log(200)
    return page(request, "audit.html", {"entries": entries})
