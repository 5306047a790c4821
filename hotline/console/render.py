"""Rendering console pages: every template gets the user, the CSRF token, the language's helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.console.i18n import DEFAULT_LANGUAGE
from hotline.console.security import CATALOGS, LOGIN_CSRF, USER
from hotline.keys import CALENDAR, CLOCK, CONFIG

__all__ = ["N_", "language_of", "page", "text"]

def N_(message: str) -> str:
    """Mark ``message`` for the catalogs; it is translated where it is shown."""
    return message


NAV = (
    # (path, label, roles that see it)
    ("/", N_("Home"), ()),
    ("/live", N_("Live calls"), ("operator", "manager", "admin")),
    ("/issues", N_("Issues"), ("operator", "engineer", "manager", "admin")),
    ("/audit", N_("Audit log"), ("manager", "admin")),
    ("/admin/people", N_("Staff and posts"), ("manager", "admin")),
    ("/reports", N_("Reports"), ("manager", "admin")),
    ("/admin/flows", N_("IVR and incidents"), ("manager", "admin")),
    ("/admin/calendar", N_("Calendar"), ("manager", "admin")),
    ("/admin/rota", N_("On-call rota"), ("manager", "admin")),
)


def language_of(request: web.Request) -> str:
    user = request.get(USER)
    if user is not None:
        return user.language
    chosen = request.cookies.get("hotline_lang")
    return chosen if chosen in ("zh", "en") else DEFAULT_LANGUAGE


def text(request: web.Request, message: str, **values: Any) -> str:
    """``message`` in the request's language, for flash messages and errors made in Python."""
    translated = request.app[CATALOGS].gettext(language_of(request))(message)
    return translated % values if values else translated


def page(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
         status: int = 200) -> web.Response:
    app = request.app
    user = request.get(USER)
    language = language_of(request)
    nav = [(path, label) for path, label, roles in NAV
           if user is not None and (not roles or user.has(*roles))]
    clock = app[CLOCK]
    full = {
        **app[CATALOGS].helpers(language),
        "site": app[CONFIG].site.name,
        "user": user,
        "csrf": user.csrf if user is not None else request.get(LOGIN_CSRF, ""),
        "nav": nav,
        "path": request.path,
        "lang": language,
        # A rehearsal clock (--clock) is shown on every page in the page's language.
        "rehearsal_now": clock.now() if clock.shifted else None,
        # No calendar for a year about to begin: shown on every page until a year file is saved.
        "calendar_warning": app[CALENDAR].coverage_warning(clock()) if CALENDAR in app else None,
        **(context or {}),
    }
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    return response
