"""Delivery channels: an HTTP webhook with a JSON body from a jinja2 template, and SMTP e-mail.

Every message carries the outbox row id (``Idempotency-Key: hotline-outbox-<id>``
on webhooks, ``Message-ID: <hotline-outbox-<id>@hotline>`` on mail), because
delivery is at least once and a receiver may want to drop a repeat.

SMTP uses the standard library's ``smtplib`` in a worker thread
(``asyncio.to_thread``): a notification is a few hundred bytes sent a few times
an hour, which does not justify another dependency, and the thread keeps the
event loop free.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import jinja2

from hotline.desk.settings import ChannelSettings
from hotline.store.desk.outbox import OutboxRow

__all__ = ["Channel", "DeliveryError", "SmtpChannel", "WebhookChannel", "build_channels", "template_env"]

TEMPLATES = Path(__file__).with_name("templates")


class DeliveryError(Exception):
    """The peer did not accept the message; the text says what it answered."""


class Channel(Protocol):
    name: str

    async def send(self, row: OutboxRow) -> None:
        """Deliver one notification, or raise (any exception means: retry later)."""


def template_env(folder: Path = TEMPLATES) -> jinja2.Environment:
    # Not HTML: JSON bodies escape through the tojson filter, mail is text/plain.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=False,
                              keep_trailing_newline=False, undefined=jinja2.ChainableUndefined)


def render(env: jinja2.Environment, template: str, row: OutboxRow) -> str:
    return env.get_template(template).render(m=row.payload, outbox_id=row.id)


class WebhookChannel:
    """POST a JSON body rendered from ``settings.template`` to ``settings.url``."""

    def __init__(self, settings: ChannelSettings, session: aiohttp.ClientSession,
                 env: jinja2.Environment) -> None:
        self.name = settings.name
        self.settings = settings
        self.session = session
        self.env = env

    def body(self, row: OutboxRow) -> Any:
        text = render(self.env, self.settings.template, row)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:  # our template's fault, not the peer's
            raise DeliveryError(f"template {self.settings.template} made invalid JSON: {exc}") from None

    async def send(self, row: OutboxRow) -> None:
        body = self.body(row)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        async with self.session.post(self.settings.url, json=body, timeout=timeout,
                                     headers={"Idempotency-Key": f"hotline-outbox-{row.id}"}) as resp:
            text = await resp.text()
            if not 200 <= resp.status < 300:
                raise DeliveryError(f"{self.settings.url} answered {resp.status}: {text[:200]}")
        # Group robots answer 200 with an error code in the body (WeCom/DingTalk errcode, Feishu code).
        try:
            answer = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            return
        if isinstance(answer, dict):
            code = answer.get("errcode", answer.get("code", 0))
            if code not in (0, None, "0"):
                raise DeliveryError(f"{self.settings.url} refused the message: {text[:200]}")


class SmtpChannel:
    """Send a text/plain mail through ``settings.host:port``."""

    def __init__(self, settings: ChannelSettings, env: jinja2.Environment) -> None:
        self.name = settings.name
        self.settings = settings
        self.env = env

    def message(self, row: OutboxRow) -> EmailMessage:
        to = row.payload.get("recipient_email")
        if not to:
            raise DeliveryError(f"{row.recipient} has no e-mail address")
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = render(self.env, "email_subject.txt.j2", row).strip()
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<hotline-outbox-{row.id}@hotline>"
        msg.set_content(render(self.env, "email_body.txt.j2", row))
        return msg

    def _send_blocking(self, msg: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            if s.starttls:
                smtp.starttls()
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(msg)

    async def send(self, row: OutboxRow) -> None:
        await asyncio.to_thread(self._send_blocking, self.message(row))


def build_channels(channels: tuple[ChannelSettings, ...], session: aiohttp.ClientSession,
                   env: jinja2.Environment | None = None) -> Mapping[str, Channel]:
    """The configured channels by name."""
    env = env or template_env()
    out: dict[str, Channel] = {}
    for ch in channels:
        if ch.kind == "webhook":
            out[ch.name] = WebhookChannel(ch, session, env)
        elif ch.kind == "smtp":
            out[ch.name] = SmtpChannel(ch, env)
        else:
            raise ValueError(f"channel {ch.name}: unknown kind {ch.kind!r} (webhook or smtp)")
    return out
