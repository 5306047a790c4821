"""Logging in and out, and choosing the language.

A login opens a new session (the cookie is replaced, so a cookie planted beforehand is
worthless), is rate-limited per user id and per address, and is audited whether it succeeds or
not. Password checks run in a thread: scrypt is slow on purpose.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from aiohttp import web

from hotline.console.passwords import hash_password, needs_rehash, verify_password
from hotline.console.render import page, text
from hotline.console.security import LIMITER, LOGIN_CSRF, LOGIN_CSRF_COOKIE, SESSIONS, USER, requires
from hotline.console.sessions import COOKIE
from hotline.keys import CLOCK, STORE
from hotline.store.accounts import AuditEntry

__all__ = ["language", "login_form", "login_submit", "logout"]

# A hash of a random password: unknown users cost as much time as known ones.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _address(request: web.Request) -> str:
    return request.remote or ""


def _cookie(response: web.StreamResponse, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", path="/", max_age=max_age,
                        secure=False)


async def login_form(request: web.Request, *, error: str | None = None, user_id: str = "",
                     status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    request[LOGIN_CSRF] = token
    response = page(request, "login.html", {"error": error, "user_id": user_id,
                                            "next": _safe_next(request.query.get("next"))},
                    status=status)
    _cookie(response, LOGIN_CSRF_COOKIE, token)
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    app = request.app
    store, limiter = app[STORE], app[LIMITER]
    form = await request.post()
    user_id = str(form.get("user", "")).strip()[:64]
    password = str(form.get("password", ""))[:256]
    keys = [f"user:{user_id.lower()}", f"addr:{_address(request)}"]
    now = time.monotonic()
    wait = limiter.retry_after(keys, now)
    if wait > 0:
        await store.accounts.audit(AuditEntry(app[CLOCK](), user_id or "-", "login_refused",
                                              f"rate limited for {wait:.0f} s", _address(request)))
        return await login_form(request, user_id=user_id, status=429,
                                error=text(request, "Too many failed attempts. Try again in "
                                                    "%(seconds)d seconds.", seconds=int(wait) + 1))
    account = await store.accounts.get(user_id) if user_id else None
    person = await store.people.get(user_id) if account is not None else None
    stored = account.password_hash if account is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, password, stored)
    if not ok or account is None or person is None or not person.active:
        limiter.failed(keys, now)
        await store.accounts.audit(AuditEntry(app[CLOCK](), user_id or "-", "login_failed", "",
                                              _address(request)))
        return await login_form(request, user_id=user_id, status=401,
                                error=text(request, "Wrong user id or password."))
    limiter.succeeded(keys)
    if needs_rehash(account.password_hash):
        await store.accounts.set_password(account.person_id, await asyncio.to_thread(hash_password, password),
                                          app[CLOCK]())
    await app[SESSIONS].close(request.cookies.get(COOKIE))  # whatever session came with the request
    cookie = await app[SESSIONS].open(person.id, address=_address(request),
                                      user_agent=request.headers.get("User-Agent", ""))
    await store.accounts.audit(AuditEntry(app[CLOCK](), person.id, "login", "", _address(request)))
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    _cookie(response, COOKIE, cookie)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@requires()
async def logout(request: web.Request) -> web.StreamResponse:
    app = request.app
    user = request[USER]
    assert user is not None
    await app[SESSIONS].close(request.cookies.get(COOKIE))
    await app[STORE].accounts.audit(AuditEntry(app[CLOCK](), user.id, "logout", "", _address(request)))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


@requires()
async def language(request: web.Request) -> web.StreamResponse:
    """Switch the user's language (kept on the account)."""
    app = request.app
    user = request[USER]
    assert user is not None
    form = await request.post()
    chosen = str(form.get("language", ""))
    if chosen not in ("zh", "en"):
        raise web.HTTPBadRequest(text="language must be zh or en")
    await app[STORE].accounts.set_language(user.id, chosen)
    await app[STORE].accounts.audit(AuditEntry(app[CLOCK](), user.id, "language", chosen, _address(request)))
    raise web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
