"""The API inside the one application: its middleware and routes.

Theory of operation. A request under ``/api/`` passes the API's middleware, which sits just
outside the console's session middleware:

* With an ``Authorization`` header it is a token request: the token must be good
  (:class:`~hotline.api.tokens.TokenAuth`, else 401) and within its rate (else 429 with
  ``Retry-After``); its person becomes ``request[USER]`` and the session middleware, seeing
  ``request[API_TOKEN]``, neither reads cookies nor asks for a CSRF token — a bearer token is
  never sent by a browser on its own, so a forged cross-site request cannot carry it.
* Without one it is a console request: the session cookie and, for a change, its CSRF token,
  exactly as for the console's pages.

Whatever goes wrong under ``/api/`` is answered as the API's JSON error
(:mod:`hotline.api.errors`), including the router's 404 and the console guards' 401/403.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from hotline.api.errors import ApiError, error_response, from_http
from hotline.api.ratelimit import RateLimiter
from hotline.api.routes import add_routes
from hotline.api.tokens import TokenAuth
from hotline.console.security import API_TOKEN, USER, session_middleware
from hotline.keys import CLOCK, CONFIG, STORE

__all__ = ["RATE", "TOKENS", "setup_api"]

log = logging.getLogger(__name__)

TOKENS = web.AppKey("api_tokens", TokenAuth)
RATE = web.AppKey("api_rate", RateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            if TOKENS not in request.app:  # the store is not open yet
                raise ApiError(401, "unauthorized", "the server is starting: try again")
            principal = await request.app[TOKENS].resolve(authorization)
            wait = request.app[RATE].take(principal.token.id, time.monotonic())
            if wait > 0:
                raise ApiError(429, "rate_limited", f"too many requests: retry in {wait:.1f} s",
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})
            request[USER] = principal.user
            request[API_TOKEN] = principal.token.id
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        return from_http(exc)
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return error_response(500, "internal", "the server failed: the fault is logged")


async def _api_ctx(app: web.Application) -> AsyncIterator[None]:
    app[TOKENS] = TokenAuth(app[STORE], app[CLOCK])
    yield


def setup_api(app: web.Application) -> None:
    """Add the API to ``app`` (after the console's middlewares, from the console's setup)."""
    settings = app[CONFIG].api
    app[RATE] = RateLimiter(settings.rate_per_second, settings.burst)
    # Just outside the session middleware: it must see a token's request before cookies are read.
    app.middlewares.insert(app.middlewares.index(session_middleware), api_middleware)
    app.cleanup_ctx.append(_api_ctx)
    add_routes(app.router)
