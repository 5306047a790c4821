"""The API's errors: JSON bodies with a stable ``code`` a client can branch on.

``{"error": {"code": "invalid_field", "field": "priority", "message": "..."}}`` — ``code`` is
one of :data:`CODES` and never changes meaning; ``field`` names the offending input when
there is one; ``message`` is English prose for people and may change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = ["CODES", "ApiError", "error_body", "error_response", "from_http"]

CODES: Mapping[str, str] = {
    "invalid_json": "the body is not a JSON object",
    "invalid_field": "a field or query parameter has a value it may not have",
    "missing_field": "a required field is missing",
    "unauthorized": "no credentials, or a token that is wrong, revoked or expired",
    "forbidden": "the token's (or session's) roles do not allow this",
    "csrf": "a console session's request without its CSRF token",
    "not_found": "no such route or record",
    "method_not_allowed": "the route does not take this method",
    "conflict": "the issue changed meanwhile, or the desk refused the change in its state",
    "rate_limited": "too many requests for this token: retry after Retry-After seconds",
    "too_large": "the body is too large",
    "bad_request": "the request is malformed",
    "internal": "a fault of the server",
}
"""Every error code and what it means (also listed in the OpenAPI document)."""

_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "rate_limited"}


class ApiError(Exception):
    """An API error (raise it from a view; the API's middleware answers it)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        assert code in CODES, code
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, field=self.field, headers=self.headers)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(code, message, field), status=status, headers=headers,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


def from_http(exc: web.HTTPException) -> web.Response:
    """A plain aiohttp error (a view's ``HTTPBadRequest``, the router's 404, a role check's 403,
    the login redirect of a page) as the API's JSON error."""
    status = exc.status
    if 300 <= status < 400:  # "log in first" as a page would say it
        return error_response(401, "unauthorized", "send an API token (Authorization: Bearer …) or log in")
    code = _BY_STATUS.get(status, "internal" if status >= 500 else "bad_request")
    message = exc.text or exc.reason
    if status == 403 and "CSRF" in message:
        code = "csrf"
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
    return error_response(status, code, message.removeprefix(f"{status}: "), headers=headers)
