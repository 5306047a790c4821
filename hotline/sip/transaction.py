"""SIP transactions (RFC 3261 §17) as pure state machines with time as an argument.

Theory of operation
-------------------
Each transaction is a table ``(state, input) -> (action, next state)``.  An
input is a message from the peer (a retransmitted request, an ACK, a 1xx, a
2xx, a 300-699), a response from the transaction user (``TU_*``), a timer
firing or a transport error.  A pair missing from the table is a
:class:`LocalProtocolError`: only our own code can cause it (e.g. answering
twice with a final response), because every input from the network is listed
for every state, if only to be absorbed.  Nothing ever leaves Terminated.

Time is never read here: callers pass ``now`` (seconds, any monotonic origin)
and ask :meth:`Transaction.next_deadline` when to call
:meth:`Transaction.handle_timer` again.  A timer of zero seconds (D, I, J, K
on reliable transports) fires within the same call that arms it.

The four machines are :class:`InviteClientTransaction` (Figure 5),
:class:`NonInviteClientTransaction` (Figure 6), :class:`InviteServerTransaction`
(Figure 7) and :class:`NonInviteServerTransaction` (Figure 8).  The 2xx to an
INVITE terminates both INVITE machines, as RFC 3261 says; its retransmission
and ACK belong to the UA core (:mod:`hotline.sip.ack_wait`), and the
:class:`TransactionLayer` keeps an INVITE server transaction answered with 2xx
for 64*T1 so that a late CANCEL or INVITE retransmission still matches it.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from typing import ClassVar, Literal

from hotline.sip.ack_wait import AckWait
from hotline.sip.errors import LocalProtocolError
from hotline.sip.events import (
    AckReceived,
    Action,
    Address,
    CancelReceived,
    DeliverRequest,
    DeliverResponse,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransmitFailed,
    TransportFailed,
)
from hotline.sip.headers import split_header_list
from hotline.sip.message import Headers, Request, Response, build_response, new_tag
from hotline.sip.timers import TimerConfig

__all__ = [
    "ClientState",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "ServerState",
    "Transaction",
    "TransactionInput",
    "TransactionLayer",
    "build_ack_for_non2xx",
    "build_cancel",
    "client_key",
    "server_key",
]


class ClientState(enum.Enum):
    """States of both client transactions (Trying only non-INVITE, Calling only INVITE)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ServerState(enum.Enum):
    """States of both server transactions (Trying only non-INVITE, Confirmed only INVITE)."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class TransactionInput(enum.Enum):
    """Everything that can happen to a transaction."""

    REQUEST = "request retransmission"
    ACK = "ACK"
    RESP_1XX = "1xx received"
    RESP_2XX = "2xx received"
    RESP_FINAL = "300-699 received"
    TU_1XX = "TU sends 1xx"
    TU_2XX = "TU sends 2xx"
    TU_FINAL = "TU sends 300-699"
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_C = "C"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_K = "K"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TRANSPORT_ERROR = "transport error"


_TIMER_INPUT = {i.value: i for i in TransactionInput if len(i.value) == 1}

State = ClientState | ServerState
Table = dict[tuple[State, TransactionInput], tuple[str, State]]


_RESPONSE_INPUTS = {
    prefix: (
        TransactionInput[f"{prefix}_1XX"],
        TransactionInput[f"{prefix}_2XX"],
        TransactionInput[f"{prefix}_FINAL"],
    )
    for prefix in ("RESP", "TU")
}


def _response_input(status: int, prefix: str) -> TransactionInput:
    provisional, success, final = _RESPONSE_INPUTS[prefix]
    if status < 200:
        return provisional
    return success if status < 300 else final


class Transaction:
    """Common machinery: the table walk, timers and termination.

    ``handle_message``, ``handle_timer``, ``handle_transport_error`` and
    (server side) ``send_response`` return the actions to carry out.
    """

    TABLE: ClassVar[Table]
    INITIAL: ClassVar[State]
    TERMINATED: ClassVar[State]

    def __init__(
        self,
        key: TransactionKey,
        request: Request,
        peer: Address | None,
        *,
        reliable: bool = False,
        timers: TimerConfig | None = None,
    ) -> None:
        self.key = key
        self.request = request
        self.peer = peer
        self.reliable = reliable
        self.timers = timers or TimerConfig()
        self.state: State = self.INITIAL
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._immediate: list[str] = []
        self._message: Request | Response | None = None
        self._error: TransmitFailed | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key.method} {self.state.value}>"

    @property
    def terminated(self) -> bool:
        """Whether the transaction is over."""
        return self.state is self.TERMINATED

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None``."""
        return min(self._deadlines.values(), default=None)

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``, earliest first."""
        out: list[Action] = []
        while True:
            due = [(t, name) for name, t in self._deadlines.items() if t <= now]
            if not due:
                return out
            _, name = min(due)
            del self._deadlines[name]
            out += self._fire(_TIMER_INPUT[name], now)

    compacted = False
    """Whether :meth:`compact` ran or is due."""

    def compact(self) -> None:
        """Drop the parsed views of the messages kept (see :meth:`Headers.compact`)."""
        self.compacted = True
        for message in (self.request, getattr(self, "last_response", None), getattr(self, "ack", None)):
            if message is not None:
                message.headers.compact()

    def handle_transport_error(self, error: TransmitFailed, now: float) -> list[Action]:
        """The transport failed to send one of our messages."""
        self._error = error
        return self._fire(TransactionInput.TRANSPORT_ERROR, now)

    # -- the table walk --------------------------------------------------------------

    def _fire(
        self, inp: TransactionInput, now: float, message: Request | Response | None = None
    ) -> list[Action]:
        try:
            action, next_state = self.TABLE[(self.state, inp)]
        except KeyError:
            raise LocalProtocolError(
                f"{type(self).__name__}: {inp.value} is not allowed in state {self.state.value}"
            ) from None
        previous = self.state
        self.state = next_state
        self._message = message
        out: list[Action] = list(getattr(self, action)(now))
        if next_state is self.TERMINATED and previous is not self.TERMINATED:
            self._deadlines.clear()
            self._immediate.clear()
            out.append(TransactionTerminated(self.key))
        while self._immediate:
            out += self._fire(_TIMER_INPUT[self._immediate.pop(0)], now)
        return out

    def _arm(self, name: str, delay: float, now: float) -> None:
        self._intervals[name] = delay
        if delay <= 0:
            self._immediate.append(name)
        else:
            self._deadlines[name] = now + delay

    def _disarm(self, *names: str) -> None:
        for name in names:
            self._deadlines.pop(name, None)

    def _transmit(self, message: Request | Response) -> Transmit:
        return Transmit(message, self.peer, self.key)

    # Actions shared by several tables.
    def _ignore(self, now: float) -> list[Action]:
        return []

    def _terminate(self, now: float) -> list[Action]:
        return []

    def _transport_failed(self, now: float) -> list[Action]:
        return [TransportFailed(self.key, self._error.reason if self._error else "")]


# -- client transactions ------------------------------------------------------------------


def build_ack_for_non2xx(request: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 300-699 (RFC 3261 §17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via (so the same
    branch) as the INVITE, the To of the response (with its tag), the INVITE's
    Route headers.
    """
    return _same_transaction_request(request, "ACK", to=response.required_header("To"))


def build_cancel(request: Request) -> Request:
    """The CANCEL of a pending INVITE (RFC 3261 §9.1).

    Request-URI, Call-ID, To, From, CSeq number and Route as the INVITE, a
    single Via equal to the INVITE's top Via (same branch), method CANCEL.
    """
    return _same_transaction_request(request, "CANCEL", to=request.required_header("To"))


def _same_transaction_request(request: Request, method: str, *, to: str) -> Request:
    """A request that must match the INVITE's transaction: its top Via, From, Call-ID, CSeq number."""
    h = Headers()
    h.add("Via", split_header_list(request.headers.get_all("Via")[0])[0])
    h.add("Max-Forwards", "70")
    for route in request.headers.get_all("Route"):
        h.add("Route", route)
    h.add("From", request.required_header("From"))
    h.add("To", to)
    h.add("Call-ID", request.call_id)
    h.add("CSeq", f"{request.cseq.seq} {method}")
    return Request(method=method, uri=request.uri, headers=h)


class _ClientTransaction(Transaction):
    def start(self, now: float) -> list[Action]:
        """Send the request and arm the first timers; call exactly once."""
        if self._started:
            raise LocalProtocolError("client transaction started twice")
        self._started = True
        return self._begin(now)

    def _begin(self, now: float) -> list[Action]:
        raise NotImplementedError

    def handle_message(self, message: Response | Request, now: float) -> list[Action]:
        """Feed a response that matched this transaction."""
        if not isinstance(message, Response):
            raise LocalProtocolError("a client transaction only takes responses")
        return self._fire(_response_input(message.status, "RESP"), now, message)

    def _deliver(self, now: float) -> list[Action]:
        assert isinstance(self._message, Response)
        return [DeliverResponse(self._message, self.key)]

    def _timed_out(self, now: float) -> list[Action]:
        return [TransactionTimedOut(self.key, "B" if self.key.method == "INVITE" else "F")]


_C = ClientState


class InviteClientTransaction(_ClientTransaction):
    """INVITE client transaction (RFC 3261 §17.1.1, Figure 5).

    Timer A retransmits the INVITE (T1, doubling; unreliable transports only),
    B gives up after 64*T1, D absorbs response retransmissions after a non-2xx
    (32 s, zero on reliable transports).  The ACK for a non-2xx is made here.
    Timer C (RFC 3261 §16.6, for a UA too) bounds Proceeding: ``timer_c`` after
    the last provisional, 64*T1 after our CANCEL (§9.1), then it terminates
    reporting :class:`TransactionTimedOut` ``"C"``.
    """

    INITIAL = _C.CALLING
    TERMINATED = _C.TERMINATED
    TABLE: ClassVar[Table] = {
        (_C.CALLING, TransactionInput.TIMER_A): ("_retransmit", _C.CALLING),
        (_C.CALLING, TransactionInput.TIMER_B): ("_timed_out", _C.TERMINATED),
        (_C.CALLING, TransactionInput.RESP_1XX): ("_first_provisional", _C.PROCEEDING),
        (_C.CALLING, TransactionInput.RESP_2XX): ("_deliver", _C.TERMINATED),
        (_C.CALLING, TransactionInput.RESP_FINAL): ("_ack_and_deliver", _C.COMPLETED),
        (_C.CALLING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _C.TERMINATED),
        (_C.PROCEEDING, TransactionInput.RESP_1XX): ("_provisional", _C.PROCEEDING),
        (_C.PROCEEDING, TransactionInput.RESP_2XX): ("_deliver", _C.TERMINATED),
        (_C.PROCEEDING, TransactionInput.RESP_FINAL): ("_ack_and_deliver", _C.COMPLETED),
        (_C.PROCEEDING, TransactionInput.TIMER_C): ("_timer_c", _C.TERMINATED),
        (_C.PROCEEDING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _C.TERMINATED),
        (_C.COMPLETED, TransactionInput.RESP_1XX): ("_ignore", _C.COMPLETED),
        (_C.COMPLETED, TransactionInput.RESP_2XX): ("_ignore", _C.COMPLETED),
        (_C.COMPLETED, TransactionInput.RESP_FINAL): ("_resend_ack", _C.COMPLETED),
        (_C.COMPLETED, TransactionInput.TIMER_D): ("_terminate", _C.TERMINATED),
        (_C.COMPLETED, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.RESP_1XX): ("_ignore", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.RESP_2XX): ("_ignore", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.RESP_FINAL): ("_ignore", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.TRANSPORT_ERROR): ("_ignore", _C.TERMINATED),
    }

    ack: Request | None = None
    cancel_sent = False
    """Whether the layer has sent a CANCEL for this INVITE."""

    def _begin(self, now: float) -> list[Action]:
        if not self.reliable:
            self._arm("A", self.timers.t1, now)
        self._arm("B", 64 * self.timers.t1, now)
        return [self._transmit(self.request)]

    def _retransmit(self, now: float) -> list[Action]:
        self._arm("A", 2 * self._intervals["A"], now)
        return [self._transmit(self.request)]

    def _first_provisional(self, now: float) -> list[Action]:
        # Figure 5: no retransmissions and no timer B once the peer is proceeding;
        # Timer C bounds Proceeding instead (else a far end that rings forever, or
        # ignores our CANCEL, would keep the transaction for ever).
        self._disarm("A", "B")
        return self._provisional(now)

    def _provisional(self, now: float) -> list[Action]:
        if not self.cancel_sent:
            self._arm("C", self.timers.timer_c, now)  # §16.6: reset by every provisional
        return self._deliver(now)

    def note_cancel_sent(self, now: float) -> None:
        """Our CANCEL is out: a final response is owed within 64*T1, else give up (§9.1)."""
        self.cancel_sent = True
        if self.state is _C.PROCEEDING:
            limit = now + 64 * self.timers.t1
            current = self._deadlines.get("C")
            if current is None or limit < current:
                self._arm("C", 64 * self.timers.t1, now)

    def _timer_c(self, now: float) -> list[Action]:
        return [TransactionTimedOut(self.key, "C")]

    def _ack_and_deliver(self, now: float) -> list[Action]:
        assert isinstance(self._message, Response)
        self._disarm("A", "B", "C")
        self.ack = build_ack_for_non2xx(self.request, self._message)
        self._arm("D", 0.0 if self.reliable else self.timers.timer_d, now)
        return [self._transmit(self.ack), DeliverResponse(self._message, self.key)]

    def _resend_ack(self, now: float) -> list[Action]:
        return [self._transmit(self.ack)] if self.ack is not None else []


class NonInviteClientTransaction(_ClientTransaction):
    """Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

    Timer E retransmits (T1 doubling up to T2; T2 once proceeding; unreliable
    only), F gives up after 64*T1, K absorbs retransmitted finals (T4, zero on
    reliable transports).
    """

    INITIAL = _C.TRYING
    TERMINATED = _C.TERMINATED
    TABLE: ClassVar[Table] = {
        (_C.TRYING, TransactionInput.TIMER_E): ("_retransmit", _C.TRYING),
        (_C.TRYING, TransactionInput.TIMER_F): ("_timed_out", _C.TERMINATED),
        (_C.TRYING, TransactionInput.RESP_1XX): ("_deliver", _C.PROCEEDING),
        (_C.TRYING, TransactionInput.RESP_2XX): ("_complete", _C.COMPLETED),
        (_C.TRYING, TransactionInput.RESP_FINAL): ("_complete", _C.COMPLETED),
        (_C.TRYING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _C.TERMINATED),
        (_C.PROCEEDING, TransactionInput.TIMER_E): ("_retransmit", _C.PROCEEDING),
        (_C.PROCEEDING, TransactionInput.TIMER_F): ("_timed_out", _C.TERMINATED),
        (_C.PROCEEDING, TransactionInput.RESP_1XX): ("_deliver", _C.PROCEEDING),
        (_C.PROCEEDING, TransactionInput.RESP_2XX): ("_complete", _C.COMPLETED),
        (_C.PROCEEDING, TransactionInput.RESP_FINAL): ("_complete", _C.COMPLETED),
        (_C.PROCEEDING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _C.TERMINATED),
        (_C.COMPLETED, TransactionInput.RESP_1XX): ("_ignore", _C.COMPLETED),
        (_C.COMPLETED, TransactionInput.RESP_2XX): ("_ignore", _C.COMPLETED),
        (_C.COMPLETED, TransactionInput.RESP_FINAL): ("_ignore", _C.COMPLETED),
        (_C.COMPLETED, TransactionInput.TIMER_K): ("_terminate", _C.TERMINATED),
        (_C.COMPLETED, TransactionInput.TRANSPORT_ERROR): ("_ignore", _C.COMPLETED),
        (_C.TERMINATED, TransactionInput.RESP_1XX): ("_ignore", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.RESP_2XX): ("_ignore", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.RESP_FINAL): ("_ignore", _C.TERMINATED),
        (_C.TERMINATED, TransactionInput.TRANSPORT_ERROR): ("_ignore", _C.TERMINATED),
    }

    def _begin(self, now: float) -> list[Action]:
        if not self.reliable:
            self._arm("E", self.timers.t1, now)
        self._arm("F", 64 * self.timers.t1, now)
        return [self._transmit(self.request)]

    def _retransmit(self, now: float) -> list[Action]:
        if self.state is _C.PROCEEDING:
            interval = self.timers.t2
        else:
            interval = min(2 * self._intervals["E"], self.timers.t2)
        self._arm("E", interval, now)
        return [self._transmit(self.request)]

    def _complete(self, now: float) -> list[Action]:
        self._disarm("E", "F")
        out = self._deliver(now)
        self._arm("K", 0.0 if self.reliable else self.timers.t4, now)
        return out


# -- server transactions ------------------------------------------------------------------

_S = ServerState


class _ServerTransaction(Transaction):
    last_response: Response | None = None

    def start(self, now: float) -> list[Action]:
        """Actions owed on creation (the 100 Trying of an INVITE); call exactly once."""
        if self._started:
            raise LocalProtocolError("server transaction started twice")
        self._started = True
        return self._begin(now)

    def _begin(self, now: float) -> list[Action]:
        return []

    def handle_message(self, message: Request | Response, now: float) -> list[Action]:
        """Feed a request (retransmission or ACK) that matched this transaction."""
        if not isinstance(message, Request):
            raise LocalProtocolError("a server transaction only takes requests")
        inp = TransactionInput.ACK if message.method == "ACK" else TransactionInput.REQUEST
        return self._fire(inp, now, message)

    def send_response(self, response: Response, now: float) -> list[Action]:
        """Send a response from the transaction user."""
        return self._fire(_response_input(response.status, "TU"), now, response)

    def _send(self, now: float) -> list[Action]:
        assert isinstance(self._message, Response)
        self.last_response = self._message
        return [self._transmit(self._message)]

    def _resend_last(self, now: float) -> list[Action]:
        return [self._transmit(self.last_response)] if self.last_response is not None else []


class InviteServerTransaction(_ServerTransaction):
    """INVITE server transaction (RFC 3261 §17.2.1, Figure 7).

    Sends 100 Trying at once.  A non-2xx final is retransmitted on timer G
    (T1 doubling up to T2, unreliable only) until the ACK arrives or H
    (64*T1) gives up; I (T4, zero on reliable) absorbs ACK retransmissions.
    A 2xx terminates it at once.
    """

    INITIAL = _S.PROCEEDING
    TERMINATED = _S.TERMINATED
    TABLE: ClassVar[Table] = {
        (_S.PROCEEDING, TransactionInput.REQUEST): ("_resend_last", _S.PROCEEDING),
        (_S.PROCEEDING, TransactionInput.ACK): ("_ignore", _S.PROCEEDING),
        (_S.PROCEEDING, TransactionInput.TU_1XX): ("_send", _S.PROCEEDING),
        (_S.PROCEEDING, TransactionInput.TU_2XX): ("_send_2xx", _S.TERMINATED),
        (_S.PROCEEDING, TransactionInput.TU_FINAL): ("_send_final", _S.COMPLETED),
        (_S.PROCEEDING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _S.TERMINATED),
        (_S.COMPLETED, TransactionInput.REQUEST): ("_resend_last", _S.COMPLETED),
        (_S.COMPLETED, TransactionInput.ACK): ("_confirm", _S.CONFIRMED),
        (_S.COMPLETED, TransactionInput.TIMER_G): ("_retransmit_final", _S.COMPLETED),
        (_S.COMPLETED, TransactionInput.TIMER_H): ("_no_ack", _S.TERMINATED),
        (_S.COMPLETED, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _S.TERMINATED),
        (_S.CONFIRMED, TransactionInput.REQUEST): ("_ignore", _S.CONFIRMED),
        (_S.CONFIRMED, TransactionInput.ACK): ("_ignore", _S.CONFIRMED),
        (_S.CONFIRMED, TransactionInput.TIMER_I): ("_terminate", _S.TERMINATED),
        (_S.CONFIRMED, TransactionInput.TRANSPORT_ERROR): ("_ignore", _S.CONFIRMED),
        (_S.TERMINATED, TransactionInput.REQUEST): ("_ignore", _S.TERMINATED),
        (_S.TERMINATED, TransactionInput.ACK): ("_ignore", _S.TERMINATED),
        (_S.TERMINATED, TransactionInput.TRANSPORT_ERROR): ("_ignore", _S.TERMINATED),
    }

    answered_2xx = False

    def _begin(self, now: float) -> list[Action]:
        trying = build_response(self.request, 100)
        self.last_response = trying
        return [self._transmit(trying)]

    def _send_2xx(self, now: float) -> list[Action]:
        self.answered_2xx = True
        return self._send(now)

    def _send_final(self, now: float) -> list[Action]:
        out = self._send(now)
        if not self.reliable:
            self._arm("G", self.timers.t1, now)
        self._arm("H", 64 * self.timers.t1, now)
        return out

    def _retransmit_final(self, now: float) -> list[Action]:
        self._arm("G", min(2 * self._intervals["G"], self.timers.t2), now)
        return self._resend_last(now)

    def _no_ack(self, now: float) -> list[Action]:
        return [TransactionTimedOut(self.key, "H")]

    def _confirm(self, now: float) -> list[Action]:
        self._disarm("G", "H")
        self._arm("I", 0.0 if self.reliable else self.timers.t4, now)
        return []


class NonInviteServerTransaction(_ServerTransaction):
    """Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

    Retransmitted requests get the last response again (none while Trying);
    J (64*T1, zero on reliable transports) keeps it after the final response.
    """

    INITIAL = _S.TRYING
    TERMINATED = _S.TERMINATED
    TABLE: ClassVar[Table] = {
        (_S.TRYING, TransactionInput.REQUEST): ("_ignore", _S.TRYING),
        (_S.TRYING, TransactionInput.ACK): ("_ignore", _S.TRYING),
        (_S.TRYING, TransactionInput.TU_1XX): ("_send", _S.PROCEEDING),
        (_S.TRYING, TransactionInput.TU_2XX): ("_send_final", _S.COMPLETED),
        (_S.TRYING, TransactionInput.TU_FINAL): ("_send_final", _S.COMPLETED),
        (_S.TRYING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _S.TERMINATED),
        (_S.PROCEEDING, TransactionInput.REQUEST): ("_resend_last", _S.PROCEEDING),
        (_S.PROCEEDING, TransactionInput.ACK): ("_ignore", _S.PROCEEDING),
        (_S.PROCEEDING, TransactionInput.TU_1XX): ("_send", _S.PROCEEDING),
        (_S.PROCEEDING, TransactionInput.TU_2XX): ("_send_final", _S.COMPLETED),
        (_S.PROCEEDING, TransactionInput.TU_FINAL): ("_send_final", _S.COMPLETED),
        (_S.PROCEEDING, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _S.TERMINATED),
        (_S.COMPLETED, TransactionInput.REQUEST): ("_resend_last", _S.COMPLETED),
        (_S.COMPLETED, TransactionInput.ACK): ("_ignore", _S.COMPLETED),
        (_S.COMPLETED, TransactionInput.TIMER_J): ("_terminate", _S.TERMINATED),
        (_S.COMPLETED, TransactionInput.TRANSPORT_ERROR): ("_transport_failed", _S.TERMINATED),
        (_S.TERMINATED, TransactionInput.REQUEST): ("_ignore", _S.TERMINATED),
        (_S.TERMINATED, TransactionInput.ACK): ("_ignore", _S.TERMINATED),
        (_S.TERMINATED, TransactionInput.TRANSPORT_ERROR): ("_ignore", _S.TERMINATED),
    }

    def _send_final(self, now: float) -> list[Action]:
        out = self._send(now)
        self._arm("J", 0.0 if self.reliable else 64 * self.timers.t1, now)
        return out


# -- keys -----------------------------------------------------------------------------------


def client_key(message: Request | Response) -> TransactionKey:
    """Key of the client transaction a request starts or a response belongs to (§17.1.3)."""
    return TransactionKey("client", message.cseq.method, message.top_via.branch)


def server_key(request: Request) -> TransactionKey:
    """Key of the server transaction a request belongs to (§17.2.3).

    ACK is folded into INVITE; CANCEL keeps its own key.  Without an RFC 3261
    branch the RFC 2543 rules apply (Request-URI, From tag, Call-ID, CSeq
    number, top Via; the To tag is checked separately for ACK).
    """
    method = "INVITE" if request.method == "ACK" else request.method
    via = request.top_via
    if via.rfc3261_branch:
        return TransactionKey("server", method, via.branch, via.sent_by)
    legacy = (
        str(request.uri),
        request.from_.tag or "",
        request.call_id,
        request.cseq.seq,
        str(via),
    )
    return TransactionKey("server", method, None, None, legacy)


def _response_server_key(response: Response) -> TransactionKey | None:
    via = response.top_via
    if not via.rfc3261_branch:
        return None
    return TransactionKey("server", response.cseq.method, via.branch, via.sent_by)


# -- the layer --------------------------------------------------------------------------------

ServerTransaction = InviteServerTransaction | NonInviteServerTransaction
ClientTransaction = InviteClientTransaction | NonInviteClientTransaction
_MergeIdent = tuple[str | None, str, int, str]
#: What the layer's timer heap holds: a transaction, a lingering INVITE, an AckWait.
#: (A transaction is entered by its key alone: one tuple less per transaction to keep.)
_Entry = TransactionKey | tuple[Literal["linger"], TransactionKey] | tuple[Literal["ack"], tuple[str, int]]


class TransactionLayer:
    """All transactions of one endpoint, with message routing and one merged timer.

    Pure: feed it parsed messages with :meth:`receive`, the transaction
    user's requests and responses with :meth:`send_request` /
    :meth:`send_response`, and :meth:`handle_timer` at :meth:`next_deadline`.
    It answers CANCEL itself (200, or 481 when nothing matches) and merged
    requests with 482 (§8.2.2.2), and retransmits 2xx responses to INVITE until
    their ACK (:class:`AckWait`).
    """

    def __init__(self, *, timers: TimerConfig | None = None) -> None:
        self.timers = timers or TimerConfig()
        self._clients: dict[TransactionKey, ClientTransaction] = {}
        self._servers: dict[TransactionKey, ServerTransaction] = {}
        # INVITE server transactions answered with 2xx, kept until this time.
        self._linger: dict[TransactionKey, float] = {}
        self._pending_cancel: set[TransactionKey] = set()
        self._ack_waits: dict[tuple[str, int], AckWait] = {}
        self._heap: list[tuple[float, int, _Entry]] = []
        self._scheduled: dict[_Entry, float] = {}
        self._seq = itertools.count()
        # Merged-request detection (§8.2.2.2): (From tag, Call-ID, CSeq number,
        # method) -> live server transactions without To tag, and back.
        self._merge_index: dict[_MergeIdent, TransactionKey | set[TransactionKey]] = {}
        self._merge_ident: dict[TransactionKey, _MergeIdent] = {}
        self._to_compact: list[Transaction] = []

    # -- lookups --------------------------------------------------------------------------

    def client(self, key: TransactionKey) -> ClientTransaction | None:
        """The live client transaction ``key``."""
        return self._clients.get(key)

    def server(self, key: TransactionKey) -> ServerTransaction | None:
        """The server transaction ``key`` (also while lingering after a 2xx)."""
        return self._servers.get(key)

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    # -- client side -----------------------------------------------------------------------

    def send_request(
        self, request: Request, destination: Address, now: float, *, reliable: bool = False
    ) -> tuple[TransactionKey, list[Action]]:
        """Start a client transaction for ``request`` (not ACK: that has none)."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK is sent without a transaction")
        key = client_key(request)
        if key in self._clients:
            raise LocalProtocolError(f"branch {key.branch} is already in use")
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        txn = cls(key, request, destination, reliable=reliable, timers=self.timers)
        self._clients[key] = txn
        return key, self._collect(txn, txn.start(now), now)

    def cancel(self, invite_key: TransactionKey, now: float) -> list[Action]:
        """CANCEL the INVITE client transaction ``invite_key`` (§9.1).

        Sent at once if a provisional response has arrived, else as soon as one
        does; nothing happens if the INVITE already has a final response.
        """
        txn = self._clients.get(invite_key)
        if not isinstance(txn, InviteClientTransaction):
            return []
        if txn.state is ClientState.CALLING:
            self._pending_cancel.add(invite_key)
            return []
        if txn.state is ClientState.PROCEEDING:
            return self._send_cancel(txn, now)
        return []

    def _send_cancel(self, invite: InviteClientTransaction, now: float) -> list[Action]:
        self._pending_cancel.discard(invite.key)
        if invite.cancel_sent:
            return []  # one CANCEL per INVITE: a second would reuse its branch
        invite.note_cancel_sent(now)
        self._schedule(invite.key, invite.next_deadline())
        assert invite.peer is not None
        _, actions = self.send_request(
            build_cancel(invite.request), invite.peer, now, reliable=invite.reliable
        )
        return actions

    # -- server side -----------------------------------------------------------------------

    def send_response(
        self, response: Response, now: float, *, key: TransactionKey | None = None
    ) -> list[Action]:
        """Send a response of the transaction user on its server transaction.

        ``key`` is the one from :class:`DeliverRequest`; without it the
        transaction is found from the response's top Via and CSeq.
        """
        txn = self._find_server_for_response(response) if key is None else self._servers.get(key)
        if txn is None or txn.terminated:
            raise LocalProtocolError("no live server transaction for this response")
        actions = txn.send_response(response, now)
        if isinstance(txn, InviteServerTransaction) and txn.answered_2xx:
            wait = AckWait(response, txn.peer, now, reliable=txn.reliable, timers=self.timers)
            self._ack_waits[wait.ident] = wait
            self._schedule_wait(wait)
        return self._collect(txn, actions, now)

    def _find_server_for_response(self, response: Response) -> ServerTransaction | None:
        key = _response_server_key(response)
        if key is not None:
            return self._servers.get(key)
        for txn in self._servers.values():
            legacy = txn.key.legacy
            if (
                legacy is not None
                and txn.key.method == response.cseq.method
                and legacy[1:4] == (response.from_.tag or "", response.call_id, response.cseq.seq)
                and legacy[4] == str(response.top_via)
            ):
                return txn
        return None

    def _find_server(self, request: Request) -> ServerTransaction | None:
        key = server_key(request)
        txn = self._servers.get(key)
        if txn is not None or request.method != "ACK" or key.legacy is None:
            return txn
        # RFC 2543 ACK: its To tag is the one of our response, not of the INVITE.
        for candidate in self._servers.values():
            if candidate.key.legacy is None or candidate.key.method != "INVITE":
                continue
            last = candidate.last_response
            if (
                candidate.key.legacy[1:] == key.legacy[1:]
                and last is not None
                and last.status >= 300
                and last.to.tag == request.to.tag
            ):
                return candidate
        return None

    def receive(
        self, message: Request | Response, source: Address | None, now: float, *,
        reliable: bool = False,
    ) -> list[Action]:
        """Route a message from the transport to its transaction, or up as stray."""
        self._compact_answered()
        if isinstance(message, Response):
            return self._receive_response(message, now)
        return self._receive_request(message, source, now, reliable)

    def _receive_response(self, response: Response, now: float) -> list[Action]:
        key = client_key(response)
        txn = self._clients.get(key)
        if txn is None:
            return [DeliverResponse(response, None)]
        out = txn.handle_message(response, now)
        if (
            key in self._pending_cancel
            and isinstance(txn, InviteClientTransaction)
            and txn.state is ClientState.PROCEEDING
        ):
            out += self._send_cancel(txn, now)
        return self._collect(txn, out, now)

    def _receive_request(
        self, request: Request, source: Address | None, now: float, reliable: bool
    ) -> list[Action]:
        txn = self._find_server(request)
        # An ACK never belongs to an INVITE answered with 2xx, even if a broken
        # peer reuses the INVITE's branch: it goes to the dialog layer.
        if txn is not None and not (
            request.method == "ACK"
            and isinstance(txn, InviteServerTransaction)
            and txn.answered_2xx
        ):
            return self._collect(txn, txn.handle_message(request, now), now)
        if request.method == "ACK":
            wait = self._ack_waits.pop((request.call_id, request.cseq.seq), None)
            if wait is not None:
                wait.handle_ack()
                self._schedule(("ack", wait.ident), None)
            return [AckReceived(request, source, acknowledged=wait is not None)]
        key = server_key(request)
        cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        new = cls(key, request, source, reliable=reliable, timers=self.timers)
        self._servers[key] = new
        merged = self._is_merged(request, key)
        out = new.start(now)
        if isinstance(new, NonInviteServerTransaction) and request.method == "CANCEL":
            out += self._answer_cancel(new, request, now)
        elif merged:
            # §8.2.2.2: the same request reached us twice by different paths
            # (a forking proxy); answer the copy 482 and keep it from the TU.
            out += new.send_response(build_response(request, 482, to_tag=new_tag()), now)
        else:
            out.append(DeliverRequest(request, source, key))
        return self._collect(new, out, now)

    def _is_merged(self, request: Request, key: TransactionKey) -> bool:
        """Whether ``request`` is a copy of one a live server transaction holds (§8.2.2.2).

        Index lookup by (From tag, Call-ID, CSeq): a scan of every server
        transaction, re-reading their headers, was most of the CPU at a few
        hundred calls per second.  Terminated transactions are gone from the
        index, except INVITEs answered with 2xx, which linger: a late forked copy
        of those is merged too.
        """
        if request.to_tag is not None or request.method == "CANCEL":
            return False
        cseq = request.cseq
        ident = (request.from_tag, request.call_id, cseq.seq, cseq.method)
        self._merge_ident[key] = ident
        known = self._merge_index.get(ident)
        if known is None:
            self._merge_index[ident] = key  # the usual case: one key, no set to keep
            return False
        if isinstance(known, set):
            merged = bool(known - {key})
            known.add(key)
            return merged
        if known == key:
            return False
        self._merge_index[ident] = {known, key}
        return True

    def _answer_cancel(
        self, cancel_txn: NonInviteServerTransaction, request: Request, now: float
    ) -> list[Action]:
        ckey = cancel_txn.key
        invite_key = TransactionKey("server", "INVITE", ckey.branch, ckey.sent_by, ckey.legacy)
        invite = self._servers.get(invite_key)
        if not isinstance(invite, InviteServerTransaction):
            return cancel_txn.send_response(build_response(request, 481), now)
        to_tag = invite.last_response.to.tag if invite.last_response else None
        # §9.2: the 200 to CANCEL should carry the To tag of the INVITE's response.
        to_tag = to_tag or new_tag()
        out = cancel_txn.send_response(build_response(request, 200, to_tag=to_tag), now)
        if invite.state is ServerState.PROCEEDING:
            out.append(CancelReceived(invite_key, request))
        return out

    def transport_error(self, key: TransactionKey, error: TransmitFailed, now: float) -> list[Action]:
        """The transport failed to send a message of transaction ``key``."""
        txn: Transaction | None = self._clients.get(key) or self._servers.get(key)
        if txn is None:
            return []
        return self._collect(txn, txn.handle_transport_error(error, now), now)

    # -- timers ----------------------------------------------------------------------------
    #
    # One heap of (deadline, seq, entry) for every transaction, lingering INVITE
    # and AckWait, with lazy deletion: ``_scheduled`` holds the one deadline that
    # is current for each entry, and a heap item whose deadline is not that one is
    # stale and skipped when it reaches the top.  So a tick costs O(log n) per
    # due item, whatever the number of live transactions.

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`handle_timer` must be called, or ``None``."""
        heap = self._heap
        scheduled = self._scheduled
        while heap:
            deadline, _, entry = heap[0]
            if scheduled.get(entry) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> list[Action]:
        """Fire everything due at ``now``, earliest first."""
        self._compact_answered()
        out: list[Action] = []
        heap = self._heap
        scheduled = self._scheduled
        while heap and heap[0][0] <= now:
            deadline, _, entry = heapq.heappop(heap)
            if scheduled.get(entry) != deadline:
                continue  # stale: rescheduled or gone since
            del scheduled[entry]
            if isinstance(entry, TransactionKey):
                txn: Transaction | None = self._clients.get(entry) or self._servers.get(entry)
                if txn is not None:
                    out += self._fire_timers(txn, now)
                continue
            kind, ident = entry
            if kind == "linger":
                assert isinstance(ident, TransactionKey)
                self._linger.pop(ident, None)
                self._forget_server(ident)
            else:
                wait = self._ack_waits.get(ident)  # type: ignore[arg-type]
                if wait is not None:
                    out += wait.handle_timer(now)
                    self._schedule_wait(wait)
        return out

    def _compact_answered(self) -> None:
        for txn in self._to_compact:
            txn.compact()
        self._to_compact.clear()

    def _fire_timers(self, txn: Transaction, now: float) -> list[Action]:
        """Fire the timers of ``txn`` due at ``now``."""
        fired = txn.handle_timer(now)
        if (
            isinstance(txn, InviteClientTransaction)
            and not txn.cancel_sent
            and TransactionTimedOut(txn.key, "C") in fired
        ):
            # §16.6: Timer C on a transaction that had a provisional: CANCEL it.
            fired += self._send_cancel(txn, now)
        return self._collect(txn, fired, now)

    def _schedule(self, entry: _Entry, deadline: float | None) -> None:
        """Make ``deadline`` the one current deadline of ``entry`` (``None``: none)."""
        current = self._scheduled.get(entry)
        if current == deadline:
            return
        if deadline is None:
            del self._scheduled[entry]
            return
        self._scheduled[entry] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), entry))
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._scheduled):
            # Mostly stale items: rebuild so the heap stays O(live entries).
            self._heap = [(d, next(self._seq), e) for e, d in self._scheduled.items()]
            heapq.heapify(self._heap)

    def _schedule_wait(self, wait: AckWait) -> None:
        if wait.done:
            if self._ack_waits.get(wait.ident) is wait:
                del self._ack_waits[wait.ident]
            self._schedule(("ack", wait.ident), None)
        else:
            self._schedule(("ack", wait.ident), wait.next_deadline())

    def _collect(self, txn: Transaction, actions: list[Action], now: float) -> list[Action]:
        """Reschedule ``txn``; forget it once terminated (or let an INVITE answered with 2xx linger)."""
        key = txn.key
        self._schedule(key, txn.next_deadline())
        if not txn.compacted and txn.state.value in ("Completed", "Confirmed", "Terminated"):
            # Answered: from now on it mostly waits (J, K, D, I, linger), holding its messages.
            # Compacted on the next call into the layer, once the TU is done with them.
            txn.compacted = True
            self._to_compact.append(txn)
        if txn.terminated:
            if isinstance(txn, InviteServerTransaction) and txn.answered_2xx:
                if key not in self._linger:
                    until = self._linger[key] = now + 64 * self.timers.t1
                    self._schedule(("linger", key), until)
            elif isinstance(txn, _ServerTransaction):
                self._forget_server(key)
            else:
                self._clients.pop(key, None)
                self._pending_cancel.discard(key)
        return actions

    def _forget_server(self, key: TransactionKey) -> None:
        self._servers.pop(key, None)
        ident = self._merge_ident.pop(key, None)
        if ident is not None:
            known = self._merge_index.get(ident)
            if isinstance(known, set):
                known.discard(key)
                if not known:
                    del self._merge_index[ident]
            elif known == key:
                del self._merge_index[ident]
