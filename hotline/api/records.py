"""The API's read-only routes besides issues: calls, the employee directory, who is on call."""

from __future__ import annotations

from aiohttp import web

from hotline.api.errors import ApiError
from hotline.api.issues import page_limit
from hotline.api.shapes import call_json, employee_json, json_response, when
from hotline.keys import CALENDAR, CLOCK, ROTA, STORE

__all__ = ["list_calls", "on_call_now", "read_call", "read_employee", "search_directory"]

MAX_SEARCH = 100


async def list_calls(request: web.Request) -> web.Response:
    """The latest calls, newest first, each with its issue."""
    store = request.app[STORE]
    calls = await store.calls.recent(page_limit(request.query))
    issues = await store.issues.for_calls([c.id for c in calls])
    return json_response({"calls": [call_json(c, issues.get(c.id)) for c in calls]})


async def read_call(request: web.Request) -> web.Response:
    store = request.app[STORE]
    call = await store.calls.get(int(request.match_info["id"]))
    if call is None:
        raise ApiError(404, "not_found", f"no call with id {request.match_info['id']}")
    return json_response(call_json(call, await store.issues.for_call(call.id)))


async def search_directory(request: web.Request) -> web.Response:
    """Employees whose id, name, department or location match ``q``."""
    q = request.query.get("q", "").strip()
    if not q:
        raise ApiError(400, "missing_field", "q: the text to search for is required", field="q")
    if len(q) > MAX_SEARCH:
        raise ApiError(400, "invalid_field", f"q: at most {MAX_SEARCH} characters", field="q")
    found = await request.app[STORE].directory.search(q, limit=page_limit(request.query))
    return json_response({"employees": [employee_json(e) for e in found]})


async def read_employee(request: web.Request) -> web.Response:
    employee = await request.app[STORE].directory.get(request.match_info["employee_id"])
    if employee is None:
        raise ApiError(404, "not_found", "no such employee in the directory")
    return json_response(employee_json(employee))


async def on_call_now(request: web.Request) -> web.Response:
    """Each rota's chain at this moment (primary first), with the stretch it holds for, and
    whether it is working time now (calls go to the duty desk; otherwise to the on-call chain)."""
    app = request.app
    rota, now = app[ROTA], app[CLOCK]()
    names = {p.id: p.name for p in await app[STORE].people.all()}
    out = []
    for name in rota.rotations:
        on_call = rota.on_call(now, name)
        out.append({
            "rota": name, "chain": [{"id": p, "name": names.get(p, p)} for p in on_call.chain],
            "shift_start": when(on_call.shift_start), "shift_end": when(on_call.shift_end),
            "source": str(on_call.source), "note": on_call.note,
            "next_handover": when(rota.next_handover(now, name)),
        })
    return json_response({"at": when(now), "business_hours": app[CALENDAR].is_business_time(now),
                          "rotas": out})
