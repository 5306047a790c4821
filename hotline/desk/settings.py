"""Typed settings of the service desk, with documented defaults.

The defaults follow common enterprise IT practice for a desk open 08:00–17:30
on working days (8 business hours a day):

=====  ==========  ==================  ==================  =========
prio   clock       response            resolution          points
=====  ==========  ==================  ==================  =========
P1     24×7        1 hour              4 hours             8
P2     24×7        2 hours             1 business day*     5
P3     business    4 business hours    3 business days     3
P4     business    1 business day      5 business days     2
=====  ==========  ==================  ==================  =========

\\* P2 counts its response around the clock (someone is on call) but its
resolution in business time: :class:`SlaTarget` carries the clock per target.
A "business day" is :attr:`DeskSettings.business_day_minutes` business minutes
(480 with the default hours), so "1 business day" from 17:29 lands at 17:29 of
the next working day, whatever holidays lie between.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_SLA",
    "ChannelSettings",
    "DeskSettings",
    "SlaPolicy",
    "SlaTarget",
]


@dataclass(frozen=True)
class SlaTarget:
    """One target: so many minutes, counted in business time or around the clock."""

    minutes: float
    """Length of the target in minutes of its clock."""
    business: bool
    """True: only business minutes of the site calendar count; False: 24×7."""


@dataclass(frozen=True)
class SlaPolicy:
    """Response and resolution targets of one priority."""

    response: SlaTarget
    """From creation to the first response (in progress, a progress note, or resolution)."""
    resolution: SlaTarget
    """From creation to resolution; this sets the planned completion date."""


HOUR = 60.0
BUSINESS_DAY = 8 * HOUR
DEFAULT_SLA: Mapping[str, SlaPolicy] = {
    "P1": SlaPolicy(SlaTarget(1 * HOUR, False), SlaTarget(4 * HOUR, False)),
    "P2": SlaPolicy(SlaTarget(2 * HOUR, False), SlaTarget(1 * BUSINESS_DAY, True)),
    "P3": SlaPolicy(SlaTarget(4 * HOUR, True), SlaTarget(3 * BUSINESS_DAY, True)),
    "P4": SlaPolicy(SlaTarget(1 * BUSINESS_DAY, True), SlaTarget(5 * BUSINESS_DAY, True)),
}


@dataclass(frozen=True)
class ChannelSettings:
    """A notification channel: an HTTP webhook or an SMTP server."""

    name: str
    """Channel name, stored on each outbox row (e.g. "wecom", "mail")."""
    kind: str
    """"webhook" or "smtp"."""
    url: str = ""
    """Webhook: the URL to POST to."""
    template: str = "generic_sms.json.j2"
    """Webhook: the jinja2 template (under ``hotline/desk/notify/templates``) of the JSON body."""
    host: str = "127.0.0.1"
    """SMTP: server host."""
    port: int = 25
    """SMTP: server port."""
    sender: str = "hotline@localhost"
    """SMTP: the From address."""
    starttls: bool = False
    """SMTP: upgrade with STARTTLS before sending."""
    username: str = ""
    """SMTP: login name, if the server needs one."""
    password: str = ""
    """SMTP: password for ``username``."""
    events: frozenset[str] = frozenset()
    """Events this channel carries; empty means all."""
    timeout: float = 10.0
    """Seconds before a delivery attempt is abandoned and retried later."""


@dataclass(frozen=True)
class DeskSettings:
    """Everything the desk can be tuned with; the defaults are a working desk."""

    sla: Mapping[str, SlaPolicy] = field(default_factory=lambda: dict(DEFAULT_SLA))
    """SLA policy per priority P1–P4."""
    default_priority: str = "P3"
    """Priority used for SLA when an issue has none."""
    at_risk_fraction: float = 0.8
    """Share of a target used after which an issue is "at risk"."""
    business_day_minutes: float = BUSINESS_DAY
    """Business minutes in one business day (overdue deductions, digests)."""
    points: Mapping[str, float] = field(
        default_factory=lambda: {"P1": 8.0, "P2": 5.0, "P3": 3.0, "P4": 2.0})
    """Points an issue earns its owner, by priority."""
    category_points: Mapping[str, float] = field(default_factory=dict)
    """Per-category override of ``points`` (category id → points)."""
    on_time_bonus: float = 1.0
    """Extra points when resolved before the planned date with a normal callback."""
    overdue_penalty_per_day: float = 1.0
    """Points lost per business day an issue stays unresolved past its planned date."""
    poor_score: int = 2
    """A callback score at or below this reopens the issue."""
    channels: tuple[ChannelSettings, ...] = ()
    """Notification channels; each notification is sent on every channel that carries it."""
    max_attempts: int = 8
    """Delivery attempts before an outbox row is given up ("dead") and shown as failed."""
    backoff_base: float = 5.0
    """Seconds before the first retry; doubles each attempt."""
    backoff_cap: float = 900.0
    """Longest wait between attempts, in seconds."""
    lease_seconds: float = 60.0
    """How long a worker owns a claimed row; after it, another worker may retry it."""
    urgent_priorities: tuple[str, ...] = ("P1", "P2")
    """Priorities that, dispatched outside business time, go to the person on call (see
    ``hotline.desk.oncall``); others wait for the A/B roles of the post."""
    search_short_scan: int = 50_000
    """1–2 character queries cannot use the trigram index: scan at most this many recent rows."""
    search_candidates: int = 500
    """Issue search ranks the newest this-many matches (see ``hotline.desk.kb``)."""

    def policy(self, priority: str | None) -> SlaPolicy:
        """The SLA policy of ``priority`` (the default priority's if unset or unknown)."""
        return self.sla.get(priority or self.default_priority) or self.sla[self.default_priority]

    def points_for(self, category: str | None, priority: str | None) -> float:
        """Points an issue of this category and priority is worth."""
        if category and category in self.category_points:
            return self.category_points[category]
        return self.points.get(priority or self.default_priority, 0.0)
