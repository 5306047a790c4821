"""Deciding a call back from the console (click-to-dial), without any I/O.

Theory of operation. The record page offers the numbers a call back may dial, each under a
key: the employee's ``mobile`` and ``extension`` as the directory holds them, and the issue's
own ``caller`` ID. The form posts only a key; the server builds the offers again from the
database and looks the key up (:func:`decide`), so a number typed or forged into the form is
never dialled: an unknown key is a refusal, not a number. The operator's own desk phone
(``accounts.desk_phone``, checked by :func:`check_desk_phone` when it is set) is rung first.

:func:`decide` also refuses a call back that cannot work (no desk phone, a number that needs
``sip.outbound.proxy`` when there is none) or that would double one already running for the
issue. :func:`disposition_of` names how a call back ended, from what happened on its two
legs, for the call row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from hotline.sip.errors import RemoteProtocolError
from hotline.sip.uri import SipUri, parse_uri

__all__ = [
    "CallbackPlan", "Offer", "Refusal", "check_desk_phone", "decide", "disposition_of",
    "offered_numbers",
]

_NUMBER = re.compile(r"\+?[0-9*#]{2,32}")


class Refusal(StrEnum):
    """Why a call back was not started (nothing was dialled)."""

    NO_DESK_PHONE = "no-desk-phone"
    """The user has no desk phone on their account."""
    NOT_OFFERED = "not-offered"
    """The posted key is not one of the numbers offered for this issue (forged or stale form)."""
    ALREADY_RUNNING = "already-running"
    """A call back for this issue is in progress."""
    NO_PROXY = "no-proxy"
    """A number (not a SIP URI) needs ``sip.outbound.proxy``, and there is none."""


@dataclass(frozen=True, slots=True)
class Offer:
    """A number a call back may dial, under the key the form posts."""

    key: str
    """"mobile", "extension" or "caller"."""
    dial: str
    """What is dialled through ``sip.outbound.proxy`` (digits, optionally with a leading +)."""


@dataclass(frozen=True, slots=True)
class CallbackPlan:
    """A call back to place: the user's desk phone first, then the chosen number."""

    operator_phone: str
    employee: Offer


def _dialable(number: str | None) -> str | None:
    if not number:
        return None
    number = number.removeprefix("ext:")  # the directory's key for an internal extension
    return number if _NUMBER.fullmatch(number) else None


def offered_numbers(*, mobile: str | None, extension: str | None, caller_key: str | None
                    ) -> tuple[Offer, ...]:
    """The numbers a call back of an issue may dial, in the order the form shows them.

    ``mobile`` and ``extension`` come from the directory entry of the issue's employee,
    ``caller_key`` is the issue's caller ID (its lookup key: E.164, a national number or
    ``ext:<digits>``; ``""`` when withheld). Values that are not plain numbers are left out, and
    a number offered twice is offered once (under its first key).
    """
    offers: list[Offer] = []
    for key, value in (("mobile", mobile), ("extension", extension), ("caller", caller_key)):
        dial = _dialable(value)
        if dial is not None and all(o.dial != dial for o in offers):
            offers.append(Offer(key, dial))
    return tuple(offers)


def check_desk_phone(text: str) -> str:
    """A desk phone as the user gave it, checked: a SIP URI, or an extension or number dialled
    through ``sip.outbound.proxy`` as the duty desk's phones are. Raises ``ValueError``."""
    value = text.strip()
    if _NUMBER.fullmatch(value):
        return value
    if value.startswith(("sip:", "sips:")):
        try:
            uri = parse_uri(value)
        except RemoteProtocolError:
            uri = None
        if isinstance(uri, SipUri) and uri.user:
            return value
    raise ValueError(f'a desk phone is a SIP URI like "sip:8001@10.0.0.5" or an extension like '
                     f'"8001", not {text!r}')


def decide(*, desk_phone: str | None, offers: tuple[Offer, ...], key: str, running: bool,
           can_dial_numbers: bool) -> CallbackPlan | Refusal:
    """Whether the call back asked for (``key``) may start, and what it dials."""
    chosen = next((o for o in offers if o.key == key), None)
    if chosen is None:
        return Refusal.NOT_OFFERED
    if not desk_phone:
        return Refusal.NO_DESK_PHONE
    if running:
        return Refusal.ALREADY_RUNNING
    if not can_dial_numbers:
        # Offers are numbers, never URIs: the employee's leg always goes through the proxy.
        return Refusal.NO_PROXY
    return CallbackPlan(desk_phone, chosen)


def disposition_of(*, operator_outcome: str, employee_outcome: str | None, bridged: bool) -> str:
    """The call row's disposition once a call back is over.

    ``operator_outcome`` and ``employee_outcome`` are the legs' attempt outcomes ("answered",
    "busy", "no-answer", "declined", "failed", "cancelled"); ``employee_outcome`` is None when
    the employee was never dialled.
    """
    if bridged:
        return "answered"
    if operator_outcome != "answered":
        return "operator-unanswered"
    if employee_outcome == "cancelled":
        return "abandoned"  # the operator hung up while the employee's phone rang
    if employee_outcome in ("busy", "no-answer", "declined"):
        return "missed"
    return "failed"
