"""Major incidents as JSON for the console: list, declare, clear (managers and admins).

``GET /api/incidents`` (``?all=1`` for cleared ones too), ``POST /api/incidents`` with
``{"title", "categories": [...], "say"}``, ``POST /api/incidents/{id}/clear`` with
``{"notify": true|false}``. The session and its CSRF token (``X-CSRF-Token``) are checked by
the console's middleware as for every state-changing request; bad input is a 400 with the reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.console.security import USER, requires
from hotline.incidents import Incident, IncidentError
from hotline.keys import INCIDENTS

__all__ = ["add_routes", "incident_json"]


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id, "title": incident.title, "categories": list(incident.categories),
        "announcement": incident.announcement, "issue_id": incident.issue_id,
        "issue_number": incident.issue_number, "active": incident.active,
        "declared_at": incident.declared_at.isoformat(timespec="seconds"),
        "declared_by": incident.declared_by,
        "cleared_at": incident.cleared_at.isoformat(timespec="seconds") if incident.cleared_at else None,
        "cleared_by": incident.cleared_by, "callers": incident.callers,
    }


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message, content_type="text/plain")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("expected a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("expected a JSON object")
    return body


@requires("manager", "admin")
async def list_incidents(request: web.Request) -> web.Response:
    service = request.app[INCIDENTS]
    every = request.query.get("all") in ("1", "true")
    incidents = await (service.recent() if every else service.active())
    return web.json_response({"incidents": [incident_json(i) for i in incidents]})


@requires("manager", "admin")
async def declare_incident(request: web.Request) -> web.Response:
    body = await _body(request)
    title, say, categories = body.get("title"), body.get("say"), body.get("categories", [])
    if not isinstance(title, str) or not isinstance(say, str):
        raise _bad('"title" and "say" must be strings')
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise _bad('"categories" must be a list of category ids')
    try:
        incident = await request.app[INCIDENTS].declare(title, categories=categories, announcement=say,
                                                        by=request[USER].id)
    except IncidentError as exc:
        raise _bad(str(exc)) from None
    return web.json_response(incident_json(incident), status=201)


@requires("manager", "admin")
async def clear_incident(request: web.Request) -> web.Response:
    body = await _body(request) if request.can_read_body else {}
    notify = body.get("notify", False)
    if not isinstance(notify, bool):
        raise _bad('"notify" must be true or false')
    try:
        cleared = await request.app[INCIDENTS].clear(int(request.match_info["id"]),
                                                     by=request[USER].id, notify=notify)
    except IncidentError as exc:
        raise _bad(str(exc)) from None
    return web.json_response({**incident_json(cleared.incident), "notified": list(cleared.notified)})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/incidents", list_incidents)
    router.add_post("/api/incidents", declare_incident)
    router.add_post(r"/api/incidents/{id:\d+}/clear", clear_incident)
