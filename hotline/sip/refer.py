"""The REFER recipient's half of RFC 3515: NOTIFYs with ``message/sipfrag`` progress.

A REFER we accept (``sip.accept_refer``) creates an implicit subscription: we
owe the referrer NOTIFYs in the dialog, each carrying the status line of the
call we make to the Refer-To target -- ``SIP/2.0 100 Trying`` at once, then
whatever progress the layer above reports, and a final status that ends the
subscription (``Subscription-State: terminated``).  Nothing here dials: the
layer above decides whether the target may be called at all and reports what
happened through :class:`~hotline.sip.refer_notifier.ReferNotifier` (reached as
:meth:`hotline.sip.call_events.Refer.progress` / ``finish``).

This module is the pure part: what a NOTIFY carries.  The asyncio helper that
sends them in order lives beside the endpoint, in
:mod:`hotline.sip.refer_notifier`.
"""

from __future__ import annotations

from hotline.sip.errors import LocalProtocolError
from hotline.sip.message import reason_phrase

__all__ = ["SUBSCRIPTION_SECONDS", "notify_headers", "sipfrag"]

#: Expiry announced in the NOTIFYs of an active subscription (RFC 3515 §2.4.4).
SUBSCRIPTION_SECONDS = 60


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """The ``message/sipfrag`` body for ``status``: ``SIP/2.0 180 Ringing\\r\\n``."""
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"sipfrag status {status} out of range")
    text = reason if reason is not None else reason_phrase(status)
    text = text.replace("\r", " ").replace("\n", " ")
    return f"SIP/2.0 {status} {text}".rstrip().encode("utf-8") + b"\r\n"


def notify_headers(refer_cseq: int, final: bool) -> list[tuple[str, str]]:
    """Event and Subscription-State of a NOTIFY for the REFER with CSeq ``refer_cseq``.

    The ``id`` parameter names the REFER, so that several REFERs in one dialog
    keep their subscriptions apart (RFC 3515 §2.4.6).
    """
    state = "terminated;reason=noresource" if final else f"active;expires={SUBSCRIPTION_SECONDS}"
    return [("Event", f"refer;id={refer_cseq}"), ("Subscription-State", state)]
