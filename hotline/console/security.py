"""What every console request goes through: security headers, the session, CSRF, roles.

* Every response carries a Content-Security-Policy without inline script or style
  (``default-src 'self'``; no CDN: customer sites have no internet), ``frame-ancestors 'none'``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and no caching of pages
  with personal data.
* The session cookie, if any, becomes ``request[USER]`` (:class:`~hotline.console.sessions.User`)
  or None.
* A state-changing request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token in
  the form field ``_csrf`` or the ``X-CSRF-Token`` header, else 403; before login the login
  form is protected by a double-submit token (a cookie and a field that must match).
* Views declare who may use them with :func:`requires`; the check is on the server, whatever
  the menu shows. A role a user lacks gets 403; no session gets a redirect to the login page
  (or 401 for requests that are not a page).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from hotline.console.i18n import Catalogs
from hotline.console.sessions import COOKIE, LoginLimiter, SessionManager, User

__all__ = ["API_TOKEN", "CATALOGS", "LIMITER", "LOGIN_CSRF", "LOGIN_CSRF_COOKIE", "SESSIONS", "USER",
           "csrf_ok", "requires", "security_middlewares"]

SESSIONS = web.AppKey("sessions", SessionManager)
CATALOGS = web.AppKey("catalogs", Catalogs)
LIMITER = web.AppKey("login_limiter", LoginLimiter)
USER = web.RequestKey("user", User)
"""``request[USER]``: the :class:`User` of the session; absent when nobody is logged in."""
API_TOKEN = web.RequestKey("api_token", int)
"""``request[API_TOKEN]``: the id of the API token that authenticated the request (``hotline.api``)."""
LOGIN_CSRF = web.RequestKey("login_csrf", str)
"""``request[LOGIN_CSRF]``: the login form's double-submit token, set while it is rendered."""

LOGIN_CSRF_COOKIE = "hotline_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _headers(response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    if response.content_type in ("text/html", "application/json"):
        h.setdefault("Cache-Control", "no-store")


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _headers(exc)
        raise
    if not response.prepared:
        _headers(response)
    return response


async def _submitted_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("_csrf")
        return value if isinstance(value, str) else ""
    return ""


def csrf_ok(expected: str, submitted: str) -> bool:
    return bool(expected) and bool(submitted) and hmac.compare_digest(expected, submitted)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.get(API_TOKEN) is not None:
        # An API token's request: its user is set, it has no session and needs no CSRF token.
        return await handler(request)
    app = request.app
    user = None
    if SESSIONS in app and not request.path.startswith(("/static/", "/healthz")):
        user = await app[SESSIONS].resolve(request.cookies.get(COOKIE))
    if user is not None:
        request[USER] = user
    if request.method in UNSAFE and not request.path.startswith("/recordings/"):
        submitted = await _submitted_token(request)
        # Before login: the login form's double-submit token.
        expected = user.csrf if user is not None else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not csrf_ok(expected, submitted):
            raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page and try again")
    return await handler(request)


def security_middlewares() -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    return [headers_middleware, session_middleware]


def requires(*roles: str) -> Callable[[Handler], Handler]:
    """Only logged-in users holding one of ``roles`` (any logged-in user without roles given)."""

    def decorate(view: Handler) -> Handler:
        @wraps(view)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = request.get(USER)
            if user is None:
                if request.method == "GET" and "application/json" not in request.headers.get("Accept", ""):
                    raise web.HTTPFound(f"/login?next={request.rel_url.path_qs}")
                raise web.HTTPUnauthorized(text="log in first")
            if roles and not user.has(*roles):
                raise web.HTTPForbidden(text="your role does not allow this")
            return await view(request)

        guarded.roles = roles  # type: ignore[attr-defined]
        return guarded

    return decorate
