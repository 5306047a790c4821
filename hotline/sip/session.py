"""INVITE sessions (RFC 3261 §13-15) as pure state tables, UAS and UAC side.

Theory of operation
-------------------
A session is the life of one call above its transactions and dialog: offered,
ringing, answered (a 2xx sent or received but not yet ACKed), confirmed,
being torn down, over.  The asyncio layer (:mod:`hotline.sip.call`) feeds it
one :class:`SessionInput` per thing that happens -- a response it sends or
receives, an ACK, a CANCEL, a BYE -- and gets back the next state and, when the
call is over, the end reason.  A pair missing from the table is refused:

* for an input *we* caused (``LOCAL_*``: answering twice, ringing after the
  answer) it is a :class:`LocalProtocolError`, a bug of the caller;
* for an input from the network the endpoint asks :meth:`InviteSession.allows`
  first and answers the peer (481, or ignores a late duplicate) instead.

Both sides share the states; the tables differ (a UAS sends the answer and
waits for the ACK, a UAC receives it and sends the ACK itself).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from hotline.sip.errors import LocalProtocolError

__all__ = [
    "UAC_TABLE",
    "UAS_TABLE",
    "InviteSession",
    "SessionInput",
    "SessionState",
    "Transition",
    "parse_dtmf_info",
    "parse_sipfrag",
    "unsupported_requirements",
]


class SessionState(enum.Enum):
    """Where an INVITE session is."""

    OFFERED = "offered"
    """UAS: INVITE received (100 sent).  UAC: INVITE sent, nothing back yet."""
    EARLY = "early"
    """A 1xx went out (UAS) or came in (UAC)."""
    ANSWERED = "answered"
    """UAS only: our 2xx is out, its ACK is not in yet."""
    CONFIRMED = "confirmed"
    """The call is up."""
    CANCELLING = "cancelling"
    """UAC only: we sent CANCEL and wait for the 487 (or a racing 2xx)."""
    TERMINATING = "terminating"
    """We sent BYE and wait for its response."""
    TERMINATED = "terminated"
    """Over."""


class SessionInput(enum.Enum):
    """Everything that moves a session."""

    LOCAL_PROVISIONAL = "we send 1xx"
    LOCAL_ANSWER = "we send 2xx"
    LOCAL_REJECT = "we send 3xx-6xx"
    LOCAL_CANCEL = "we send CANCEL"
    LOCAL_BYE = "we send BYE"
    REMOTE_PROVISIONAL = "1xx received"
    REMOTE_ANSWER = "2xx received"
    REMOTE_REJECT = "3xx-6xx received"
    REMOTE_CANCEL = "CANCEL received"
    REMOTE_BYE = "BYE received"
    ACK = "ACK of our 2xx received"
    ACK_TIMEOUT = "no ACK for our 2xx"
    BYE_DONE = "response (or none) to our BYE"
    TIMEOUT = "no response at all / transport failure"


_S = SessionState
_I = SessionInput

Table = dict[tuple[SessionState, SessionInput], tuple[SessionState, str | None]]

#: UAS side: (state, input) -> (next state, end reason when the call ends).
UAS_TABLE: Table = {
    (_S.OFFERED, _I.LOCAL_PROVISIONAL): (_S.EARLY, None),
    (_S.OFFERED, _I.LOCAL_ANSWER): (_S.ANSWERED, None),
    (_S.OFFERED, _I.LOCAL_REJECT): (_S.TERMINATED, "rejected"),
    (_S.OFFERED, _I.REMOTE_CANCEL): (_S.TERMINATED, "cancelled"),
    (_S.EARLY, _I.LOCAL_PROVISIONAL): (_S.EARLY, None),
    (_S.EARLY, _I.LOCAL_ANSWER): (_S.ANSWERED, None),
    (_S.EARLY, _I.LOCAL_REJECT): (_S.TERMINATED, "rejected"),
    (_S.EARLY, _I.REMOTE_CANCEL): (_S.TERMINATED, "cancelled"),
    (_S.ANSWERED, _I.ACK): (_S.CONFIRMED, None),
    (_S.ANSWERED, _I.ACK_TIMEOUT): (_S.TERMINATING, None),
    # A BYE may overtake the ACK (RFC 3261 §15): the call was up, now it is over.
    (_S.ANSWERED, _I.REMOTE_BYE): (_S.TERMINATED, "remote-bye"),
    (_S.ANSWERED, _I.LOCAL_BYE): (_S.TERMINATING, None),
    (_S.CONFIRMED, _I.ACK): (_S.CONFIRMED, None),
    (_S.CONFIRMED, _I.REMOTE_BYE): (_S.TERMINATED, "remote-bye"),
    (_S.CONFIRMED, _I.LOCAL_BYE): (_S.TERMINATING, None),
    (_S.TERMINATING, _I.REMOTE_BYE): (_S.TERMINATING, None),
    (_S.TERMINATING, _I.ACK): (_S.TERMINATING, None),
    (_S.TERMINATING, _I.BYE_DONE): (_S.TERMINATED, "local-bye"),
}

#: UAC side.
UAC_TABLE: Table = {
    (_S.OFFERED, _I.REMOTE_PROVISIONAL): (_S.EARLY, None),
    (_S.OFFERED, _I.REMOTE_ANSWER): (_S.CONFIRMED, None),
    (_S.OFFERED, _I.REMOTE_REJECT): (_S.TERMINATED, "rejected"),
    (_S.OFFERED, _I.LOCAL_CANCEL): (_S.CANCELLING, None),
    (_S.OFFERED, _I.TIMEOUT): (_S.TERMINATED, "timeout"),
    (_S.EARLY, _I.REMOTE_PROVISIONAL): (_S.EARLY, None),
    (_S.EARLY, _I.REMOTE_ANSWER): (_S.CONFIRMED, None),
    (_S.EARLY, _I.REMOTE_REJECT): (_S.TERMINATED, "rejected"),
    (_S.EARLY, _I.LOCAL_CANCEL): (_S.CANCELLING, None),
    (_S.EARLY, _I.TIMEOUT): (_S.TERMINATED, "timeout"),
    (_S.CANCELLING, _I.REMOTE_PROVISIONAL): (_S.CANCELLING, None),
    (_S.CANCELLING, _I.REMOTE_REJECT): (_S.TERMINATED, "cancelled"),
    # The 2xx won the race against our CANCEL: ACK it, then BYE (RFC 3261 §9.1).
    (_S.CANCELLING, _I.REMOTE_ANSWER): (_S.TERMINATING, None),
    (_S.CANCELLING, _I.TIMEOUT): (_S.TERMINATED, "cancelled"),
    (_S.CONFIRMED, _I.REMOTE_ANSWER): (_S.CONFIRMED, None),
    (_S.CONFIRMED, _I.REMOTE_BYE): (_S.TERMINATED, "remote-bye"),
    (_S.CONFIRMED, _I.LOCAL_BYE): (_S.TERMINATING, None),
    (_S.TERMINATING, _I.REMOTE_ANSWER): (_S.TERMINATING, None),
    (_S.TERMINATING, _I.REMOTE_BYE): (_S.TERMINATING, None),
    (_S.TERMINATING, _I.BYE_DONE): (_S.TERMINATED, "local-bye"),
}


@dataclass(frozen=True)
class Transition:
    """The result of one input: the state before and after, and the end reason if it ended."""

    before: SessionState
    after: SessionState
    ended: str | None


class InviteSession:
    """One INVITE session; ``role`` is ``"uas"`` or ``"uac"``."""

    TABLES: ClassVar[dict[str, Table]] = {"uas": UAS_TABLE, "uac": UAC_TABLE}

    def __init__(self, role: str) -> None:
        if role not in self.TABLES:
            raise LocalProtocolError(f"unknown session role {role!r}")
        self.role = role
        self.table = self.TABLES[role]
        self.state = SessionState.OFFERED
        self.end_reason: str | None = None

    def __repr__(self) -> str:
        return f"<InviteSession {self.role} {self.state.value}>"

    @property
    def over(self) -> bool:
        """Whether the session reached TERMINATED."""
        return self.state is SessionState.TERMINATED

    def allows(self, inp: SessionInput) -> bool:
        """Whether ``inp`` is legal now."""
        return (self.state, inp) in self.table

    def fire(self, inp: SessionInput, *, end_reason: str | None = None) -> Transition:
        """Apply ``inp``; ``end_reason`` overrides the table's reason when the call ends.

        Raises :class:`LocalProtocolError` when the pair is not in the table.
        """
        try:
            after, reason = self.table[(self.state, inp)]
        except KeyError:
            raise LocalProtocolError(
                f"{self.role} session: {inp.value} is not allowed when {self.state.value}"
            ) from None
        before = self.state
        self.state = after
        ended: str | None = None
        if after is SessionState.TERMINATED and before is not SessionState.TERMINATED:
            ended = end_reason or reason or "failed"
            self.end_reason = ended
        return Transition(before, after, ended)


# -- what the session layer reads out of in-dialog request bodies -------------------------

_DTMF_KEYS = "0123456789*#ABCD"
# Some gateways send the event code of RFC 4733 instead of the key.
_EVENT_CODES = {str(i): key for i, key in enumerate(_DTMF_KEYS)}


def parse_dtmf_info(media_type: str | None, body: bytes) -> tuple[str, int] | None:
    """The key and duration (ms) of an INFO DTMF body, or ``None`` if it carries none.

    ``application/dtmf-relay`` (Cisco style): lines ``Signal=5`` and
    ``Duration=160``.  ``application/dtmf``: the key alone (or its event code).
    """
    if media_type not in ("application/dtmf-relay", "application/dtmf"):
        return None
    text = body.decode("ascii", "replace").strip()
    if media_type == "application/dtmf":
        key = text.strip().upper()
        key = _EVENT_CODES.get(key, key) if len(key) > 1 else key
        return (key, 0) if len(key) == 1 and key in _DTMF_KEYS else None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    signal = fields.get("signal", "").upper()
    if len(signal) > 1:
        signal = _EVENT_CODES.get(signal, "")
    if len(signal) != 1 or signal not in _DTMF_KEYS:
        return None
    duration = fields.get("duration", "0")
    return signal, int(duration) if duration.isdigit() and len(duration) < 7 else 0


def parse_sipfrag(body: bytes) -> int | None:
    """The status code of a ``message/sipfrag`` NOTIFY body (RFC 3515 §2.4.5), or ``None``."""
    line = body.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper() == "SIP/2.0" and parts[1].isdigit() and len(parts[1]) == 3:
        return int(parts[1])
    return None


def unsupported_requirements(require_values: list[str], supported: frozenset[str]) -> list[str]:
    """The option tags of Require header values we do not support (RFC 3261 §8.2.2.3 -> 420)."""
    out: list[str] = []
    for value in require_values:
        for tag in value.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in supported and tag not in out:
                out.append(tag)
    return out
