"""Notifications: what to tell whom (here), how to deliver it (``channels``, ``worker``).

A desk action that must tell someone builds :class:`~hotline.store.desk.outbox.OutboxDraft`
rows with :func:`drafts` and commits them in its own transaction; the delivery worker
(:mod:`hotline.desk.notify.worker`) sends them later, at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hotline.desk.settings import DeskSettings
from hotline.store.desk.outbox import OutboxDraft
from hotline.store.records import IssueRecord

__all__ = ["EVENTS", "drafts", "issue_payload"]

EVENTS = {
    "dispatched": "dispatched to you",
    "unassigned": "nobody available: issue left unassigned",
    "at_risk": "SLA at risk",
    "breached": "SLA breached",
    "escalated": "escalated to you: SLA breached",
    "reopened": "reopened after callback",
    "poor_callback": "poor callback score",
    "stale_digest": "daily digest: stale and at-risk issues",
    "voicemail": "a caller left a voicemail",
    "missed_call": "a call nobody answered: call the caller back",
    "incident_cleared": "the major incident you called about is over",
}
"""Notification events and their one-line meaning (also the default message title)."""


def issue_payload(issue: IssueRecord) -> dict[str, Any]:
    """The fields of an issue a message may show (kept short: robots limit message size)."""
    return {
        "issue_id": issue.id, "number": issue.number, "priority": issue.priority,
        "category": issue.category, "status": issue.status, "owner": issue.owner,
        "description": issue.description[:200],
        "planned_at": issue.planned_at.isoformat() if issue.planned_at else None,
        "caller_name": issue.caller_name,
    }


def drafts(
    settings: DeskSettings, event: str, recipients: Iterable[str],
    contacts: Mapping[str, Mapping[str, str | None]], payload: Mapping[str, Any],
    issue_id: int | None = None,
) -> list[OutboxDraft]:
    """One outbox row per recipient and channel carrying ``event``.

    E-mail channels skip people without an address (nothing could ever deliver it).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    out = []
    for person in dict.fromkeys(recipients):  # de-duplicate, keep order
        contact = dict(contacts.get(person, {}))
        for ch in settings.channels:
            if ch.events and event not in ch.events:
                continue
            if ch.kind == "smtp" and not contact.get("email"):
                continue
            body = {**payload, "event": event, "title": EVENTS[event], "recipient": person,
                    "recipient_name": contact.get("name") or person,
                    "recipient_email": contact.get("email"),
                    "recipient_mobile": contact.get("mobile")}
            out.append(OutboxDraft(event, person, ch.name, body, issue_id))
    return out
