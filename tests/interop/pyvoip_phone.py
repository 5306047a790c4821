"""pyVoIP 1.6.8 as an independent SIP phone for the interop tests.

pyVoIP is a threaded SIP/RTP library nobody on this project wrote, which makes
it a useful far end: it registers at kamailio's open port, answers every call
(after its built-in 1 s delay) and records what happened -- Call-ID, caller,
and the RFC 2833 digits it decoded.  Its quirks (see the SIP issue): it sends
every reply to the registrar address, so it only works behind a proxy; it
answers calls 1 s late; it needs a registrar to start at all.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.interop.peers import LOOPBACK, PeerError, PortAllocator

log = logging.getLogger(__name__)


@dataclass
class AnsweredCall:
    """What the phone saw of one call."""

    call_id: str
    caller: str
    answered_at: float
    dtmf: list[str] = field(default_factory=list)
    ended_at: float | None = None


class PyVoipPhone:
    """A registered pyVoIP ``VoIPPhone`` that answers every call until stopped."""

    def __init__(self, phone: Any, username: str, sip_port: int, max_call_seconds: float) -> None:
        self.phone = phone
        self.username = username
        self.sip_port = sip_port
        self.max_call_seconds = max_call_seconds
        self.calls: list[AnsweredCall] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()

    @classmethod
    def start(
        cls,
        registrar_port: int,
        ports: PortAllocator,
        *,
        username: str = "pyvoip",
        password: str = "unused-on-the-open-port",
        max_call_seconds: float = 20.0,
    ) -> PyVoipPhone:
        """Create the phone, register it at 127.0.0.1:``registrar_port`` and return once registered."""
        from pyVoIP.VoIP import PhoneStatus, VoIPPhone

        sip_port = ports.one()
        rtp_low = ports.block(20)
        holder: dict[str, PyVoipPhone] = {}

        def on_call(call: Any) -> None:
            holder["phone"]._answer(call)

        phone = VoIPPhone(
            LOOPBACK,
            registrar_port,
            username,
            password,
            myIP=LOOPBACK,
            callCallback=on_call,
            sipPort=sip_port,
            rtpPortLow=rtp_low,
            rtpPortHigh=rtp_low + 19,
        )
        self = cls(phone, username, sip_port, max_call_seconds)
        holder["phone"] = self
        phone.start()  # registers synchronously; raises if the registrar refuses
        if phone.get_status() != PhoneStatus.REGISTERED:
            self.stop()
            raise PeerError(f"pyVoIP did not register at 127.0.0.1:{registrar_port}: {phone.get_status()}")
        return self

    @property
    def uri(self) -> str:
        """The AoR callers dial through kamailio's port (user part only matters there)."""
        return f"sip:{self.username}@{LOOPBACK}"

    def _answer(self, call: Any) -> None:
        # Runs in pyVoIP's per-call thread (1 s after the INVITE).
        from pyVoIP.VoIP import CallState

        record = AnsweredCall(
            call_id=str(call.call_id),
            caller=str(call.request.headers.get("From", {}).get("raw", "")),
            answered_at=time.monotonic(),
        )
        try:
            call.answer()
        except Exception as exc:  # report, never kill pyVoIP's thread silently
            with self._cond:
                self.errors.append(f"answer failed: {exc!r}")
                self._cond.notify_all()
            return
        with self._cond:
            self.calls.append(record)
            self._cond.notify_all()
        deadline = time.monotonic() + self.max_call_seconds
        while call.state == CallState.ANSWERED and time.monotonic() < deadline and not self._stopping.is_set():
            digit = call.get_dtmf()
            if digit:
                with self._cond:
                    record.dtmf.append(digit)
                    self._cond.notify_all()
            else:
                time.sleep(0.02)
        if call.state == CallState.ANSWERED:
            with contextlib.suppress(Exception):
                call.hangup()
        with self._cond:
            record.ended_at = time.monotonic()
            self._cond.notify_all()

    def wait_for_call(self, timeout: float = 10.0, *, count: int = 1) -> AnsweredCall:
        """The ``count``-th answered call, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.calls) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"pyVoIP answered {len(self.calls)} calls, not {count}; errors: {self.errors}")
                self._cond.wait(left)
            return self.calls[count - 1]

    def wait_for_end(self, call: AnsweredCall, timeout: float = 10.0) -> None:
        """Wait until ``call`` is over (hung up by either side)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while call.ended_at is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"pyVoIP call {call.call_id} still up after {timeout} s")
                self._cond.wait(left)

    def stop(self) -> None:
        """Hang up, de-register and close pyVoIP's sockets; join its call threads."""
        self._stopping.set()
        try:
            self.phone.stop()
        except Exception as exc:  # de-registration can time out if kamailio is already gone
            log.info("pyVoIP stop: %r", exc)
        for thread in list(getattr(self.phone, "threads", [])):
            thread.join(3)
