"""The JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the API's bodies.

Named here once; the OpenAPI document puts them under ``components/schemas`` and the routes
refer to them by name. Every object lists its properties and forbids others, so a response
that grows a field without its schema fails the tests that check responses against it.
"""

from __future__ import annotations

from typing import Any

from hotline.api.errors import CODES
from hotline.console.views.issue_rules import DISPOSITION_LABELS, PRIORITIES, SLA_LABELS
from hotline.issues import Status

__all__ = ["CREATE_SOURCES", "SCHEMAS", "TRANSITIONS", "ref"]

CREATE_SOURCES = ("web", "email", "monitoring", "walk-in")
"""Sources an issue may be created from through the API (phone issues come with their call)."""
TRANSITIONS = ("complete", "dispatch", "reassign", "resolve", "callback", "reopen", "close")
"""The record page's actions that the API's transition route performs."""


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, "additionalProperties": False}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
OPT_STR = _nullable(STR)
OPT_TIME = _nullable(TIME)
OPT_INT = _nullable(INT)
ANY_OBJ = _nullable({"type": "object"})

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _obj({"error": _obj({
        "code": {"type": "string", "enum": sorted(CODES)}, "message": STR, "field": STR},
        ["code", "message"])}),
    "Issue": _obj({
        "id": INT, "number": STR, "source": {"type": "string", "enum": ["phone", *CREATE_SOURCES]},
        "status": {"type": "string", "enum": [s.value for s in Status]},
        "category": OPT_STR, "priority": _nullable({"type": "string", "enum": list(PRIORITIES)}),
        "description": STR, "resolution": STR, "owner": OPT_STR, "caller_name": OPT_STR,
        "employee_id": OPT_STR, "caller_key": OPT_STR, "call_id": OPT_INT, "created_at": TIME,
        "updated_at": TIME, "planned_at": OPT_TIME, "call_ended_at": OPT_TIME, "recorded_at": OPT_TIME,
        "recording_overdue": BOOL, "tags": {"type": "array", "items": STR}, "call_back": BOOL,
        "merged_into": OPT_INT}),
    "IssueListItem": _obj({
        "issue": ref("Issue"),
        "call_disposition": _nullable({"type": "string", "enum": list(DISPOSITION_LABELS)}),
        "sla_state": _nullable({"type": "string", "enum": list(SLA_LABELS)})}),
    "IssueList": _obj({"issues": {"type": "array", "items": ref("IssueListItem")},
                       "next_before": OPT_INT}),
    "IssueEvent": _obj({"id": INT, "at": TIME, "actor": STR, "kind": STR, "before": ANY_OBJ,
                        "after": ANY_OBJ, "note": STR}),
    "IssueDetail": _obj({"issue": ref("Issue"), "events": {"type": "array", "items": ref("IssueEvent")}}),
    "IssueResult": _obj({"issue": ref("Issue")}),
    "NoteList": _obj({"notes": {"type": "array", "items": ref("IssueEvent")}}),
    "NewIssue": _obj({
        "source": {"type": "string", "enum": list(CREATE_SOURCES)},
        "description": {"type": "string", "minLength": 1, "maxLength": 4000},
        "category": STR, "priority": {"type": "string", "enum": list(PRIORITIES)},
        "employee_id": STR, "caller_name": {"type": "string", "maxLength": 100},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 10},
        "dispatch": BOOL}, ["source", "description"]),
    "Transition": {
        "type": "object",
        "description": "An action of the record page, with that action's fields: complete (category, "
                       "priority, description), dispatch (mode auto|manual; manual: person, reason), "
                       "reassign (person, reason), resolve (resolution), callback (efficiency, result, "
                       "attitude 1-5, fixed, comment), reopen (reason), close (reason unless the callback "
                       "is done). expect_status: refuse with 409 if the issue is no longer in it.",
        "properties": {"action": {"type": "string", "enum": list(TRANSITIONS)}, "expect_status": STR},
        "required": ["action"],
        "additionalProperties": {"type": ["string", "integer", "boolean"]},
    },
    "NewNote": _obj({"text": {"type": "string", "minLength": 1, "maxLength": 4000}}),
    "Call": _obj({
        "id": INT, "direction": {"type": "string", "enum": ["in", "out"]}, "caller": STR,
        "caller_key": OPT_STR, "employee_id": OPT_STR, "started_at": TIME, "answered_at": OPT_TIME,
        "ended_at": OPT_TIME, "disposition": OPT_STR, "route": OPT_STR, "answered_by": OPT_STR,
        "digits": STR, "flow": OPT_STR, "language": OPT_STR, "ring_seconds": _nullable({"type": "number"}),
        "menu": {"type": "array", "items": {"type": "object"}},
        "attempts": {"type": "array", "items": {"type": "object"}},
        "issue": _nullable(_obj({"id": INT, "number": STR, "status": STR}))}),
    "CallList": _obj({"calls": {"type": "array", "items": ref("Call")}}),
    "Employee": _obj({
        "employee_id": STR, "name": STR, "department": STR, "location": STR, "email": OPT_STR,
        "extension": OPT_STR, "mobile": OPT_STR, "desk_numbers": {"type": "array", "items": STR}}),
    "EmployeeList": _obj({"employees": {"type": "array", "items": ref("Employee")}}),
    "OnCall": _obj({
        "rota": STR,
        "chain": {"type": "array", "items": _obj({"id": STR, "name": STR})},
        "shift_start": TIME, "shift_end": TIME,
        "source": STR, "note": STR, "next_handover": TIME}),
    "RotaNow": _obj({"at": TIME, "business_hours": BOOL, "rotas": {"type": "array", "items": ref("OnCall")}}),
    "Incident": _obj({
        "id": INT, "title": STR, "categories": {"type": "array", "items": STR}, "announcement": STR,
        "issue_id": INT, "issue_number": STR, "active": BOOL, "declared_at": TIME, "declared_by": STR,
        "cleared_at": OPT_TIME, "cleared_by": OPT_STR, "callers": INT}),
    "IncidentList": _obj({"incidents": {"type": "array", "items": ref("Incident")}}),
    "NewIncident": _obj({"title": STR, "say": STR, "categories": {"type": "array", "items": STR}},
                        ["title", "say"]),
    "ClearIncident": _obj({"notify": BOOL}, []),
    "WebhookDelivery": _obj({
        "delivery": INT, "type": STR, "event_id": INT, "occurred_at": TIME, "actor": STR,
        "issue": ref("Issue"), "before": ANY_OBJ, "after": ANY_OBJ, "note": STR}),
}
# A cleared incident also says who was told.
SCHEMAS["ClearedIncident"] = _obj({**SCHEMAS["Incident"]["properties"],
                                   "notified": {"type": "array", "items": STR}})
