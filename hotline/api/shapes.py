"""Records as the API's JSON (the shapes of :mod:`hotline.api.schemas`), and reading bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline.api.errors import ApiError
from hotline.store.records import CallRecord, Employee, IssueEvent, IssueRecord

__all__ = ["body_of", "call_json", "employee_json", "issue_event_json", "issue_json", "json_response", "when"]

MAX_BODY = 64 * 1024


def when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def body_of(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or :class:`ApiError` ``invalid_json``."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"at most {MAX_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", f"at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "the body is not JSON (UTF-8)") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "expected a JSON object")
    return body


def issue_json(issue: IssueRecord) -> dict[str, Any]:
    return {
        "id": issue.id, "number": issue.number, "source": issue.source, "status": issue.status,
        "category": issue.category, "priority": issue.priority, "description": issue.description,
        "resolution": issue.resolution, "owner": issue.owner, "caller_name": issue.caller_name,
        "employee_id": issue.employee_id, "caller_key": issue.caller_key, "call_id": issue.call_id,
        "created_at": when(issue.created_at), "updated_at": when(issue.updated_at),
        "planned_at": when(issue.planned_at), "call_ended_at": when(issue.call_ended_at),
        "recorded_at": when(issue.recorded_at), "recording_overdue": issue.recording_overdue,
        "tags": list(issue.tags), "call_back": issue.call_back, "merged_into": issue.merged_into,
    }


def issue_event_json(event: IssueEvent) -> dict[str, Any]:
    return {"id": event.id, "at": when(event.at), "actor": event.actor, "kind": event.kind,
            "before": event.before, "after": event.after, "note": event.note}


def call_json(call: CallRecord, issue: IssueRecord | None) -> dict[str, Any]:
    return {
        "id": call.id, "direction": call.direction, "caller": call.caller_raw, "caller_key": call.caller_key,
        "employee_id": call.employee_id, "started_at": when(call.started_at),
        "answered_at": when(call.answered_at), "ended_at": when(call.ended_at),
        "disposition": call.disposition, "route": call.route, "answered_by": call.answered_by,
        "digits": call.digits, "flow": call.flow, "language": call.language,
        "ring_seconds": call.ring_seconds,
        "menu": list(call.menu), "attempts": list(call.attempts),
        "issue": None if issue is None else {"id": issue.id, "number": issue.number, "status": issue.status},
    }


def employee_json(e: Employee) -> dict[str, Any]:
    return {"employee_id": e.employee_id, "name": e.name, "department": e.department, "location": e.location,
            "email": e.email, "extension": e.extension, "mobile": e.mobile,
            "desk_numbers": list(e.desk_numbers)}
