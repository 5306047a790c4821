"""Issue-event webhooks (``[[api.webhook]]``): signed POSTs through the desk's outbox.

Theory of operation. The :class:`WebhookRelay` looks for new issue events every
``relay_seconds`` and, in one transaction with the move of its cursor, enqueues one outbox row
per event and interested webhook (:func:`webhook_drafts`; :mod:`hotline.store.webhook_relay`).
The desk's delivery worker sends the rows through :class:`SignedWebhookChannel` with its
retries and backoff, so a receiver that fails gets the event again: at least once.

Each delivery is a JSON body (``delivery``: the outbox row id, the same on every retry;
``type``: ``issue.<kind>``; the event's id, time, actor, before/after and note; the issue as
it is when relayed) with the headers ``X-Hotline-Delivery`` (the row id),
``X-Hotline-Event`` (the type) and ``X-Hotline-Signature: sha256=<hex>`` — HMAC-SHA256 of the
exact body bytes with the webhook's secret. A receiver recomputes it over the body it read,
compares in constant time, and drops a delivery id it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import aiohttp

from hotline.api.settings import WebhookSettings
from hotline.api.shapes import issue_json, when
from hotline.desk.notify.channels import Channel, DeliveryError
from hotline.store import Store
from hotline.store.desk.outbox import OutboxDraft, OutboxRow
from hotline.store.webhook_relay import RelayedEvent

__all__ = ["SignedWebhookChannel", "WebhookRelay", "channel_name", "sign", "webhook_channels",
           "webhook_drafts"]

log = logging.getLogger(__name__)


def channel_name(hook: WebhookSettings) -> str:
    return f"api:{hook.name}"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_drafts(hooks: Sequence[WebhookSettings], events: Sequence[RelayedEvent]) -> list[OutboxDraft]:
    """One outbox draft per event and webhook that wants it (pure)."""
    out = []
    for relayed in events:
        e = relayed.event
        kind = f"issue.{e.kind}"
        payload = {"type": kind, "event_id": e.id, "occurred_at": when(e.at), "actor": e.actor,
                   "issue": issue_json(relayed.issue), "before": e.before, "after": e.after, "note": e.note}
        for hook in hooks:
            if not hook.events or kind in hook.events:
                out.append(OutboxDraft(kind, hook.name, channel_name(hook), payload, e.issue_id))
    return out


class SignedWebhookChannel:
    """POST an outbox row's payload as JSON, signed (see the module doc)."""

    def __init__(self, hook: WebhookSettings, session: aiohttp.ClientSession) -> None:
        self.name = channel_name(hook)
        self.hook = hook
        self.session = session

    def body(self, row: OutboxRow) -> bytes:
        return json.dumps({"delivery": row.id, **row.payload}, ensure_ascii=False, sort_keys=True).encode()

    async def send(self, row: OutboxRow) -> None:
        body = self.body(row)
        headers = {"Content-Type": "application/json", "X-Hotline-Delivery": str(row.id),
                   "X-Hotline-Event": row.event, "X-Hotline-Signature": sign(self.hook.secret, body),
                   "Idempotency-Key": f"hotline-outbox-{row.id}"}
        timeout = aiohttp.ClientTimeout(total=self.hook.timeout)
        async with self.session.post(self.hook.url, data=body, headers=headers, timeout=timeout) as resp:
            if not 200 <= resp.status < 300:
                raise DeliveryError(f"{self.hook.url} answered {resp.status}: {(await resp.text())[:200]}")


def webhook_channels(hooks: Sequence[WebhookSettings],
                     session: aiohttp.ClientSession) -> Mapping[str, Channel]:
    return {channel_name(h): SignedWebhookChannel(h, session) for h in hooks}


class WebhookRelay:
    """Moves new issue events into the outbox (see the module doc); whoever starts it stops it."""

    def __init__(self, store: Store, hooks: Sequence[WebhookSettings], *, clock: Callable[[], datetime],
                 wake: Callable[[], None], every: float = 1.0) -> None:
        self.store = store
        self.hooks = tuple(hooks)
        self.clock = clock
        self.wake = wake
        self.every = every
        self._task: asyncio.Task[None] | None = None
        self._seen = -1

    def start(self) -> None:
        if self.hooks and self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """Relay what is new; returns the number of events read."""
        latest = await self.store.webhook_relay.latest_event()
        if latest == self._seen:
            return 0
        total = 0
        while True:
            done = await self.store.webhook_relay.relay(lambda events: webhook_drafts(self.hooks, events),
                                                        at=self.clock())
            total += done
            if done == 0:
                break
        self._seen = latest
        if total:
            self.wake()
        return total

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database hiccuped: log, try again at the next tick
                log.exception("webhook relay failed")
            await asyncio.sleep(self.every)
