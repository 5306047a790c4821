"""The console inside the one application: middlewares, routes, sessions, catalogs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from hotline.api.setup import setup_api
from hotline.console import live
from hotline.console.i18n import load_catalogs
from hotline.console.security import CATALOGS, LIMITER, SESSIONS, security_middlewares
from hotline.console.sessions import LoginLimiter, SessionManager
from hotline.console.views import (
    admin_calendar,
    admin_directory,
    admin_flows,
    admin_people,
    admin_reports,
    admin_rota,
    audit,
    auth,
    home,
    incidents,
    issues,
    queues,
)
from hotline.keys import CLOCK, CONFIG, STORE

__all__ = ["setup_console"]

log = logging.getLogger(__name__)

EXPIRE_EVERY = 300.0
"""Seconds between sweeps of expired sessions."""


async def _console_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sessions need the open store; expired ones are swept now and then."""
    config = app[CONFIG]
    sessions = SessionManager(app[STORE], config.web.secret, app[CLOCK])
    app[SESSIONS] = sessions

    async def sweep() -> None:
        while True:
            with contextlib.suppress(Exception):
                await sessions.expire()
            await asyncio.sleep(EXPIRE_EVERY)

    task = asyncio.ensure_future(sweep())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup_console(app: web.Application, web_root: Path) -> None:
    """Add the console to ``app`` (call from the app factory, after the store's context)."""
    config = app[CONFIG]
    app.middlewares.extend(security_middlewares())
    app[CATALOGS] = load_catalogs(web_root / "locale", config.site.timezone)
    app[LIMITER] = LoginLimiter()
    app.cleanup_ctx.append(_console_ctx)
    app.cleanup_ctx.append(live.live_ctx)
    r = app.router
    r.add_get("/login", auth.login_form)
    r.add_post("/login", auth.login_submit)
    r.add_post("/logout", auth.logout)
    r.add_post("/language", auth.language)
    r.add_get("/home", home.home)
    r.add_get("/audit", audit.audit_log)
    issues.add_routes(r)
    incidents.add_routes(r)
    queues.add_routes(r)
    setup_api(app)
    admin_flows.add_routes(r)
    admin_reports.add_routes(r)
    admin_calendar.add_routes(r)
    admin_rota.add_routes(r)
    admin_directory.add_routes(r)
    admin_people.add_routes(r)
    live.setup_live(app)
