"""The ``[api]`` section: the per-token rate limit and the issue-event webhooks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WebhookSettings:
    """One ``[[api.webhook]]``: where issue events are POSTed, signed with ``secret``."""

    name: str
    """Names the outbox channel (``api:<name>``) and the deliveries' recipient."""
    url: str
    secret: str
    """Key of the ``X-Hotline-Signature`` HMAC-SHA256 over the body (at least 16 characters)."""
    events: frozenset[str] = frozenset()
    """Event types sent (``issue.created``, ``issue.status``…); empty: every issue event."""
    timeout: float = 10.0
    """Seconds a delivery may take before it counts as failed (and is retried)."""


@dataclass(frozen=True)
class ApiSettings:
    rate_per_second: float = 10.0
    """Requests a token may make per second, on average."""
    burst: int = 60
    """Requests a token may make at once before the rate applies."""
    webhooks: tuple[WebhookSettings, ...] = ()
    relay_seconds: float = 1.0
    """How often new issue events are looked for (when webhooks are configured)."""
