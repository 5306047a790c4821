"""The API's route table: what is served, who may use it, and what it answers — one source for
the router and for the OpenAPI document (:func:`openapi`), so the two cannot drift apart.

The major-incident routes are served by the console's view (:mod:`hotline.console.views.incidents`)
and listed here with ``handler=None``: documented, guarded there.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hotline import __version__
from hotline.api import issues, records
from hotline.api.errors import CODES, ApiError
from hotline.api.schemas import SCHEMAS, ref
from hotline.console.security import USER
from hotline.console.views.issue_rules import MANAGERS, READERS
from hotline.console.views.issues_list import FIELDS

__all__ = ["ROUTES", "Param", "Route", "add_routes", "openapi"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CREATORS = ("operator", "manager", "admin")


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" or "query"
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """OpenAPI form: ``/api/issues/{id}``."""
    summary: str
    roles: tuple[str, ...]
    handler: Handler | None
    responses: Mapping[int, str]
    """Success statuses and their schema names; the error statuses are added by :func:`openapi`."""
    params: tuple[Param, ...] = ()
    body: str | None = None
    pattern: str = ""
    """The aiohttp path when it constrains a parameter (``{id:\\d+}``)."""
    errors: tuple[int, ...] = field(default=(400, 401, 403, 429))


ID = Param("id", "path", {"type": "integer", "minimum": 1})
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": issues.MAX_LIMIT, "default": 50},
              "how many (at most 200)")
LIST_PARAMS = (
    Param("q", "query", {"type": "string", "maxLength": 200},
          "full-text search (best match first, not paged)"),
    Param("status", "query", {"type": "string"}), Param("category", "query", {"type": "string"}),
    Param("priority", "query", {"type": "string", "enum": ["P1", "P2", "P3", "P4", "none"]}),
    Param("owner", "query", {"type": "string"}, 'a person id, or "none"'),
    Param("source", "query", {"type": "string"}),
    Param("from", "query", {"type": "string", "format": "date"}, "created on or after this local day"),
    Param("to", "query", {"type": "string", "format": "date"}, "created on or before this local day"),
    Param("overdue", "query", {"type": "string", "enum": ["yes", "no"]}, "recording overdue"),
    Param("call_back", "query", {"type": "string", "enum": ["yes", "no"]}),
    Param("sla", "query", {"type": "string"}), Param("disposition", "query", {"type": "string"}),
    Param("sort", "query", {"type": "string", "enum": ["newest", "oldest", "priority"]}),
    Param("before", "query", {"type": "integer"}, "next_before of the previous page (keyset pagination)"),
    LIMIT,
)
assert {p.name for p in LIST_PARAMS} == {*FIELDS, "limit"}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/issues", "List issues with the console list's filters", READERS, issues.list_issues,
          {200: "IssueList"}, LIST_PARAMS),
    Route("POST", "/api/issues", "Create an issue from another source (web, e-mail, monitoring, walk-in)",
          CREATORS, issues.create_issue, {201: "IssueResult"}, body="NewIssue"),
    Route("GET", "/api/issues/{id}", "Read an issue with its audit trail", READERS, issues.read_issue,
          {200: "IssueDetail"}, (ID,), pattern=r"/api/issues/{id:\d+}", errors=(401, 403, 404, 429)),
    Route("POST", "/api/issues/{id}/transition", "Perform an action of the issue's life cycle", READERS,
          issues.transition_issue, {200: "IssueResult"}, (ID,), body="Transition",
          pattern=r"/api/issues/{id:\d+}/transition", errors=(400, 401, 403, 404, 409, 429)),
    Route("GET", "/api/issues/{id}/notes", "The issue's progress notes", READERS, issues.issue_notes,
          {200: "NoteList"}, (ID,), pattern=r"/api/issues/{id:\d+}/notes", errors=(401, 403, 404, 429)),
    Route("POST", "/api/issues/{id}/notes", "Add a progress note", READERS, issues.write_note,
          {201: "IssueResult"}, (ID,), body="NewNote", pattern=r"/api/issues/{id:\d+}/notes",
          errors=(400, 401, 403, 404, 409, 429)),
    Route("GET", "/api/calls", "The latest calls, newest first, with their issues", READERS,
          records.list_calls,
          {200: "CallList"}, (LIMIT,)),
    Route("GET", "/api/calls/{id}", "Read a call record", READERS, records.read_call, {200: "Call"}, (ID,),
          pattern=r"/api/calls/{id:\d+}", errors=(401, 403, 404, 429)),
    Route("GET", "/api/directory", "Search the employee directory", READERS, records.search_directory,
          {200: "EmployeeList"}, (Param("q", "query", {"type": "string", "minLength": 1, "maxLength": 100}),
                                  LIMIT)),
    Route("GET", "/api/directory/{employee_id}", "Read an employee", READERS, records.read_employee,
          {200: "Employee"}, (Param("employee_id", "path", {"type": "string"}),),
          errors=(401, 403, 404, 429)),
    Route("GET", "/api/rota/now", "Who is on call now, in every rota, and whether it is working time",
          READERS, records.on_call_now,
          {200: "RotaNow"}, errors=(401, 403, 429)),
    Route("GET", "/api/incidents", "Major incidents (active; all=1: cleared ones too)", MANAGERS, None,
          {200: "IncidentList"}, (Param("all", "query", {"type": "string", "enum": ["0", "1", "true"]}),),
          errors=(401, 403, 429)),
    Route("POST", "/api/incidents", "Declare a major incident", MANAGERS, None, {201: "Incident"},
          body="NewIncident"),
    Route("POST", "/api/incidents/{id}/clear", "Clear a major incident (notify: tell its callers)", MANAGERS,
          None, {200: "ClearedIncident"}, (ID,), body="ClearIncident"),
)


def _guarded(route: Route) -> Handler:
    """The route's handler behind its role check (the token or session was resolved before)."""
    handler = route.handler
    assert handler is not None

    async def guarded(request: web.Request) -> web.StreamResponse:
        user = request.get(USER)
        if user is None:
            raise ApiError(401, "unauthorized", "send an API token (Authorization: Bearer …) or log in")
        if not user.has(*route.roles):
            raise ApiError(403, "forbidden", f"this needs one of the roles {', '.join(route.roles)}")
        return await handler(request)

    return guarded


def add_routes(router: web.UrlDispatcher) -> None:
    for route in ROUTES:
        if route.handler is not None:
            router.add_route(route.method, route.pattern or route.path, _guarded(route))
    router.add_get("/api/openapi.json", serve_openapi)


async def serve_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi())


_ERROR_TEXT = {400: "Bad input (see error.code and error.field)",
               401: "No token, or a wrong, revoked or expired one",
               403: "The roles do not allow this (or a console request without its CSRF token)",
               404: "No such record", 409: "The issue changed meanwhile, or the action does not apply now",
               429: "Too many requests for this token (Retry-After)"}


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ROUTES`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.method.lower() + "_" + re.sub(r"[^a-z_]", "", route.path.replace("/", "_")),
            "description": f"Roles: {', '.join(route.roles)}.",
            "responses": {
                str(status): {"description": "OK" if status < 300 else "Created",
                              "content": {"application/json": {"schema": ref(name)}}}
                for status, name in route.responses.items()},
        }
        for status in route.errors:
            op["responses"][str(status)] = {"description": _ERROR_TEXT[status],
                                            "content": {"application/json": {"schema": ref("Error")}}}
        if route.params:
            op["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.where == "path", "schema": dict(p.schema),
                 **({"description": p.description} if p.description else {})}
                for p in route.params]
        if route.body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ref(route.body)}}}
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline API", "version": __version__,
                 "description": "The IT service-desk hotline's JSON API. Errors are "
                                '{"error": {"code", "message", "field"?}} with these codes: '
                                + "; ".join(f"{k}: {v}" for k, v in CODES.items()) + "."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from `hotline add-token USER`; no CSRF token needed."},
                "session": {"type": "apiKey", "in": "cookie", "name": "hotline_session",
                            "description": "A console session; state-changing requests also need its "
                                           "CSRF token in X-CSRF-Token."},
            },
        },
    }
