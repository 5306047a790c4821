"""The rows the store hands out and takes in: plain frozen dataclasses, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "CallRecord",
    "Category",
    "Employee",
    "IssueEvent",
    "IssueRecord",
    "NewCall",
    "Person",
    "Post",
    "PostAssignment",
    "RotaChange",
]


@dataclass(frozen=True)
class Person:
    """A member of IT staff (operator, engineer, manager)."""

    id: str
    name: str
    mobile: str | None = None
    extension: str | None = None
    email: str | None = None
    roles: tuple[str, ...] = ()
    active: bool = True


@dataclass(frozen=True)
class Post:
    """A post (岗位) that owns one or more issue categories."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Category:
    """An issue category; each belongs to one post."""

    id: str
    name: str
    post_id: str
    dtmf: str | None = None
    """The IVR menu digit that chooses it, if the menu offers it."""
    name_en: str | None = None
    """The English name the IVR speaks (None: the Chinese name is used)."""


@dataclass(frozen=True)
class PostAssignment:
    """A person's role on a post: "A" (owner) or "B" (backup, ordered by rank)."""

    post_id: str
    person_id: str
    role: str
    rank: int = 0


@dataclass(frozen=True)
class Employee:
    """One entry of the employee directory (the callers)."""

    employee_id: str
    name: str
    department: str = ""
    location: str = ""
    email: str | None = None
    extension: str | None = None
    mobile: str | None = None
    """Lookup key of the mobile number (see ``hotline.callerid``)."""
    desk_numbers: tuple[str, ...] = ()
    """Lookup keys of desk phones."""


@dataclass(frozen=True)
class NewCall:
    """What is known of a call when it arrives, before anyone answers."""

    sip_call_id: str
    started_at: datetime
    from_uri: str = ""
    from_display: str | None = None
    caller_raw: str = ""
    caller_key: str | None = None
    to_uri: str = ""
    direction: str = "in"


@dataclass(frozen=True)
class CallRecord:
    """A call detail record."""

    id: int
    sip_call_id: str
    direction: str
    from_uri: str
    from_display: str | None
    caller_raw: str
    caller_key: str | None
    employee_id: str | None
    to_uri: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition: str | None
    route: str | None
    answered_by: str | None
    digits: str
    recording: str | None
    media_stats: dict[str, Any] | None
    flow: str | None = None
    """The IVR flow that handled the call."""
    language: str | None = None
    """The language the caller heard ("zh", "en")."""
    menu: tuple[dict[str, Any], ...] = ()
    """IVR choices in order: {"node", "digit", "choice"}."""
    attempts: tuple[dict[str, Any], ...] = ()
    """Each attempt to reach someone: {"route", "target", "person", "at", "outcome", "seconds"}."""
    ring_seconds: float | None = None
    """From arrival until a person answered (or the call ended unanswered)."""
    talk_seconds: float | None = None
    """Time bridged to a person."""
    voicemail: str | None = None
    """The voicemail WAV the caller left."""


@dataclass(frozen=True)
class IssueRecord:
    """An issue (工单) as stored."""

    id: int
    number: str
    source: str
    call_id: int | None
    caller_key: str | None
    caller_name: str | None
    employee_id: str | None
    status: str
    category: str | None
    priority: str | None
    description: str
    resolution: str
    owner: str | None
    planned_at: datetime | None
    created_at: datetime
    updated_at: datetime
    call_ended_at: datetime | None
    recorded_at: datetime | None
    recording_overdue: bool
    tags: tuple[str, ...] = ()
    """Short labels set by the IVR or the operator."""
    call_back: bool = False
    """The caller must be called back (nobody answered and no message was left, or overload)."""
    merged_into: int | None = None
    """The issue this one was merged into (its caller called about that one); it is then closed."""


@dataclass(frozen=True)
class IssueEvent:
    """One entry of an issue's append-only audit trail."""

    id: int
    issue_id: int
    at: datetime
    actor: str
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str = ""


@dataclass(frozen=True)
class RotaChange:
    """An override or swap of the on-call rota made at run time."""

    rota: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    person: str
    other: str | None
    made_by: str
    reason: str
    made_at: datetime
    level: str = "primary"
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class WithdrawnRotaChange:
    """An override or swap taken back: the change as it was, and who withdrew it, when and why."""

    change: RotaChange
    withdrawn_at: datetime
    withdrawn_by: str
    reason: str
