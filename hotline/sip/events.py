"""Events (inputs and outputs) of the SIP transaction layer: small frozen dataclasses.

The transaction layer is sans-IO: it is fed parsed messages, transport
failures and the current time, and answers with a list of these actions.  The
asyncio endpoint sends every :class:`Transmit`, hands the ``Deliver*`` events
and the failures to the transaction user (dialogs, call control), and re-arms
one timer at :meth:`TransactionLayer.next_deadline`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.sip.message import Request, Response

__all__ = [
    "AckReceived",
    "AckTimeout",
    "Action",
    "Address",
    "CancelReceived",
    "DeliverRequest",
    "DeliverResponse",
    "TransactionKey",
    "TransactionTerminated",
    "TransactionTimedOut",
    "Transmit",
    "TransmitFailed",
    "TransportFailed",
]

#: A transport address: (host, port).  The endpoint decides what host means.
Address = tuple[str, int]


@dataclass(frozen=True)
class TransactionKey:
    """Identity of one transaction (RFC 3261 §17.1.3 and §17.2.3).

    ``side`` is ``"client"`` or ``"server"``.  ``method`` is the CSeq method,
    with ACK folded into INVITE on the server side.  RFC 3261 transactions are
    keyed by ``branch`` (and ``sent_by`` on the server side); RFC 2543 peers,
    whose branch lacks the magic cookie, get ``branch=None`` and a ``legacy``
    tuple of (Request-URI, From tag, Call-ID, CSeq number, top Via).
    """

    side: str
    method: str
    branch: str | None
    sent_by: tuple[str, int | None] | None = None
    legacy: tuple[str, str, str, int, str] | None = None


@dataclass(frozen=True)
class Transmit:
    """Send ``message`` to ``destination``.

    For server transactions ``destination`` is the address the request came
    from; the endpoint applies RFC 3261 §18.2.2 (maddr, received, rport) when it
    prefers.  ``key`` is the transaction that sends it (``None`` for the 2xx
    retransmissions of :class:`~hotline.sip.ack_wait.AckWait`).
    """

    message: Request | Response
    destination: Address | None
    key: TransactionKey | None = None

    @property
    def data(self) -> bytes:
        """The wire form of ``message``."""
        return self.message.serialize()


@dataclass(frozen=True)
class DeliverRequest:
    """A new request for the transaction user.

    ``key`` is the server transaction to answer on (pass it to
    ``TransactionLayer.send_response``).  ``source`` is where it came from.
    """

    request: Request
    source: Address | None
    key: TransactionKey


@dataclass(frozen=True)
class AckReceived:
    """An ACK that matched no INVITE server transaction: the ACK of a 2xx (§17.2.3).

    It belongs to the dialog layer (it may carry the SDP answer).
    ``acknowledged`` is true when it stopped a running 2xx retransmission.
    """

    request: Request
    source: Address | None
    acknowledged: bool


@dataclass(frozen=True)
class DeliverResponse:
    """A response for the transaction user.

    ``key`` is the client transaction it belongs to, or ``None`` for a stray
    response (typically a retransmitted 2xx to INVITE after the transaction
    ended: the dialog layer must ACK it again).
    """

    response: Response
    key: TransactionKey | None


@dataclass(frozen=True)
class CancelReceived:
    """A CANCEL matched INVITE transaction ``invite_key`` before it was answered.

    The layer has already answered the CANCEL with 200; the transaction user
    should now answer the INVITE with 487 Request Terminated (RFC 3261 §9.2).
    """

    invite_key: TransactionKey
    request: Request


@dataclass(frozen=True)
class TransactionTimedOut:
    """Transaction ``key`` gave up: ``timer`` is "B", "F" (no response), "C" (no final
    response to an INVITE that had a provisional, RFC 3261 §16.6/§9.1) or "H" (no ACK).

    For B, C and F the transaction user treats it as a 408 Request Timeout.
    """

    key: TransactionKey
    timer: str


@dataclass(frozen=True)
class TransportFailed:
    """The transport could not send for transaction ``key`` (RFC 3261 §17.1.4, §17.2.4)."""

    key: TransactionKey
    reason: str


@dataclass(frozen=True)
class TransactionTerminated:
    """Transaction ``key`` reached the Terminated state and is gone from the layer."""

    key: TransactionKey


@dataclass(frozen=True)
class AckTimeout:
    """No ACK came for a 2xx to INVITE within 64*T1 (§13.3.1.4): tear the dialog down.

    ``call_id`` and ``cseq`` identify the INVITE; ``response`` is the 2xx.
    """

    call_id: str
    cseq: int
    response: Response


@dataclass(frozen=True)
class TransmitFailed:
    """Input: the transport failed to send a message of a transaction (a :class:`Transmit` failed)."""

    reason: str


Action = (
    Transmit
    | DeliverRequest
    | AckReceived
    | DeliverResponse
    | CancelReceived
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
    | AckTimeout
)
