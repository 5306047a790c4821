"""The SIP endpoint: the asyncio owner of the sans-IO SIP core.

Theory of operation
-------------------
:class:`SipEndpoint` owns the transports (one per ``sip.listen`` entry), one
:class:`~hotline.sip.transaction.TransactionLayer`, the
:class:`~hotline.sip.protection.Gatekeeper`, every dialog and call, and ONE
timer armed with ``loop.call_at`` at the transaction layer's next deadline.
It holds no protocol rules of its own: a message from a transport goes

    gatekeeper -> transaction layer -> actions -> (send | UAS core | dialog/call)

and every action list the pure core returns is carried out by :meth:`_run`.
What a request gets as an answer is decided by the user-agent server core,
:class:`~hotline.sip.uas.UserAgentServer` (given the request, what the
endpoint knows about it as :class:`~hotline.sip.uas.RequestFacts`, and the
time), which returns a :class:`~hotline.sip.uas.Reply` to send, a call to
hand it to, or a new call to make; the requests we send are built by
:mod:`hotline.sip.uac`.
The endpoint and its calls know each other only through the two Protocols of
:mod:`hotline.sip.call_host`: a call asks its
:class:`~hotline.sip.call_host.CallHost` (this endpoint) to send and answer,
and the endpoint routes what arrives to a
:class:`~hotline.sip.call_host.DialogUser` (``on_in_dialog_request``,
``on_ack``, ``on_cancel``...).

Incoming calls are handed to the ``on_call`` coroutine given to the
constructor, one task per call, which the endpoint owns (cancelled and awaited
on :meth:`stop`).  The handler owns the call for its life: when it returns,
a call it left ringing is rejected with 480 and a call it left up is hung up.
Without a handler every INVITE gets 480.  (A callback rather than an
``async for`` queue, so that nobody has to drain a queue for calls to be
answered and every call task has one owner.)

Outbound legs are :meth:`place_call`; it dials only targets the caller's
``allowed`` check accepts, and nothing in a received message can call it.

Requests the endpoint answers itself (by the rules of :mod:`hotline.sip.uas`):
OPTIONS (200 with Allow/Accept/Supported),
CANCEL (via the transaction layer; the call then ends "cancelled"), BYE, INFO
DTMF, re-INVITE, NOTIFY for our REFER, REFER (403 unless ``accept_refer``),
requests in an unknown dialog (481), unknown methods (501), known but
unsupported ones (405 with Allow), Require with unknown option tags (420),
SDP without a common codec (488), malformed requests (their
``RemoteProtocolError.status`` when enough can be read to answer, else dropped
and counted).

Who may call (the gatekeeper decides first; rate limits and scanner drops
apply to strangers before anything below; the digest policy is the UAS core's):

* A peer on ``sip.allowed_peers`` (the trunk, the PBX, our registrar) is
  trusted by its address, as trunks and PBXs expect: never challenged.
* Anyone else, when ``[[sip.accounts]]`` are configured, must authenticate
  its INVITE with HTTP Digest (RFC 3261 §22, RFC 8760): a first INVITE gets
  ``401 Unauthorized`` with one ``WWW-Authenticate`` per algorithm of
  ``sip.auth_algorithms`` (SHA-256, then MD5 by default; qop=auth; nonces
  signed with ``sip.auth_secret`` and valid 300 s).  The 401 goes out on the
  INVITE's server transaction, which retransmits it and absorbs its ACK, so
  the retry (new branch, CSeq+1) is a new transaction.  Valid credentials (our realm, the Request-URI, a fresh
  nonce count) hand the call to ``on_call`` with
  :meth:`SipEndpoint.authenticated_user` set.  An expired nonce with the
  right password gets 401 ``stale=true``; any other failure (wrong password,
  unknown user, a nonce not ours or replayed) gets 403, never a new
  challenge, so a wrong password costs one round trip and not a loop.
  Credentials that cannot be parsed get 400; credentials for another realm
  are ignored (a fresh challenge).  Only INVITE is challenged: OPTIONS,
  REGISTER (we are no registrar) and the rest from strangers get 403 as
  before, and in-dialog requests of an authenticated call pass by their tags.
* Without accounts, strangers get 403 (silence for scanners and floods).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import secrets
import socket
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from hotline.sip import trace
from hotline.sip.auth import DigestClient, DigestServer
from hotline.sip.call import IncomingCall, OutgoingCall
from hotline.sip.call_host import DialogUser, InviteUser
from hotline.sip.capabilities import ALLOW, SUPPORTED, capability_headers
from hotline.sip.dialog import DialogId
from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.events import (
    AckReceived,
    AckTimeout,
    Action,
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
from hotline.sip.headers import Via
from hotline.sip.message import Request, Response, build_response, new_branch, new_tag
from hotline.sip.protection import GateAction, Gatekeeper, Mode, PeerAllowList, RateLimit, RateLimiter
from hotline.sip.registration import (
    Registered,
    RegisterRequest,
    Registration,
    RegistrationFailed,
    RegistrationOutput,
    Unregistered,
)
from hotline.sip.settings import SipSettings
from hotline.sip.timers import TimerConfig
from hotline.sip.transaction import TransactionLayer, server_key
from hotline.sip.transport import (
    MalformedReceived,
    MessageReceived,
    SendFailed,
    TcpTransport,
    Transport,
    TransportEvent,
    UdpTransport,
)
from hotline.sip.uac import TIMED_OUT, NoResponse
from hotline.sip.uas import (
    NewCall,
    Reply,
    RequestFacts,
    ToDialog,
    UserAgentServer,
    answer_for_malformed,
    answer_unclaimed_cancel,
    error_reply,
)
from hotline.sip.uri import SipUri, Uri, is_ip_literal, parse_uri

__all__ = ["ALLOW", "SUPPORTED", "CallHandler", "DialRefused", "SipEndpoint"]

log = logging.getLogger(__name__)

Address = tuple[str, int]
CallHandler = Callable[[IncomingCall], Awaitable[None]]
#: Timer granularity: deadlines are rounded up to this, so that thousands of
#: transactions with nearby deadlines cost one wake-up, not one each.
_TIMER_RESOLUTION = 0.1


class DialRefused(Exception):
    """``place_call`` was asked to dial a target its ``allowed`` check refuses (our bug or config)."""


def _wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def _source_route_host(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


class SipEndpoint:
    """One SIP user agent (UAS for the hotline number, UAC for outbound legs).

    ``config`` is the SIP layer's :class:`~hotline.sip.settings.SipSettings`
    (the server passes ``Config.sip``, which extends them).  ``codecs`` are the
    audio codecs offered and accepted (``MediaConfig.codecs``).  ``advertise``
    is the address written into Via and Contact when the endpoint listens on a
    wildcard address.  ``timers``, when given, replaces ``config.timers``.
    ``clock`` defaults to the running loop's ``time``; digest nonces use it
    too when given, else the wall clock (nonces carry their issue time).
    """

    def __init__(
        self,
        config: SipSettings,
        *,
        on_call: CallHandler | None = None,
        codecs: Iterable[str] = ("PCMU", "PCMA"),
        advertise: str | None = None,
        timers: TimerConfig | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.on_call = on_call
        self.codecs = tuple(codecs)
        self.advertise = advertise
        self.timers = timers or config.timers
        self._clock = clock
        self.layer = TransactionLayer(timers=self.timers)
        self.gatekeeper = self._make_gatekeeper(config)
        self.counters: Counter[str] = Counter()
        """Messages by direction and method/status (``"in INVITE"``, ``"out 200"``), plus
        ``"malformed"``, ``"malformed-dropped"``, ``"gate-drop"``, ``"gate-reject"``."""
        self.transports: list[Transport] = []
        self._digest = (
            DigestClient(config.outbound.username, config.outbound.password or "")
            if config.outbound.username
            else None
        )
        self.digest_server = self._make_digest_server(config)
        """Verifies callers outside the allow-list (``None`` without ``sip.accounts``)."""
        self.uas = UserAgentServer(codecs=self.codecs, digest=self.digest_server)
        """The rules for what arrives: every answer the endpoint sends of its own is decided there."""
        self._auth_clock: Callable[[], float] = clock or time.time
        self._authenticated: weakref.WeakKeyDictionary[IncomingCall, str] = weakref.WeakKeyDictionary()
        self._txn_transport: dict[TransactionKey, Transport] = {}
        self._pending: dict[TransactionKey, asyncio.Future[Response | NoResponse]] = {}
        self._invites: dict[TransactionKey, InviteUser] = {}
        self._dialogs: dict[DialogId, DialogUser] = {}
        self._calls: dict[str, DialogUser] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._wake_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.registration: Registration | None = None
        """Register mode: our binding at the PBX (``None`` in trunk mode)."""
        self.registration_status: Registered | RegistrationFailed | Unregistered | None = None
        """The last thing the registration reported."""
        self._registrar: tuple[Transport, Address] | None = None
        self._unregistered: asyncio.Event | None = None

    # -- life cycle --------------------------------------------------------------------------

    @staticmethod
    def _make_gatekeeper(config: SipSettings) -> Gatekeeper:
        peers = PeerAllowList()
        for net in config.allowed_peers:
            peers.add(net)
        if config.mode == "register":
            mode = Mode.REGISTER
            hosts = [config.register.registrar] if config.register else []
        else:
            mode = Mode.TRUNK
            hosts = []
        if config.outbound.proxy:
            hosts.append(config.outbound.proxy)
        for text in hosts:
            try:
                uri = parse_uri(text)
            except RemoteProtocolError:
                continue
            if isinstance(uri, SipUri) and is_ip_literal(uri.host):
                if mode is Mode.REGISTER:
                    # The registrar's address may be shared (loopback, a PBX host): its port too.
                    peers.add(f"{_source_route_host(uri.host)}:{uri.port or 5060}")
                else:
                    peers.add(uri.host.strip("[]"))
        rl = config.rate_limits
        limits = {
            "INVITE": RateLimit(rl.invite_per_second, rl.burst),
            "REGISTER": RateLimit(rl.register_per_second, rl.burst),
            "OPTIONS": RateLimit(rl.options_per_second, rl.burst),
        }
        challenge = frozenset({"INVITE"}) if config.accounts else frozenset()
        return Gatekeeper(mode, peers, RateLimiter(limits), challenge=challenge)

    @staticmethod
    def _make_digest_server(config: SipSettings) -> DigestServer | None:
        if not config.accounts:
            return None
        passwords = {a.username: a.password for a in config.accounts}
        # Without a configured key, one drawn now: nonces then live as long as this process.
        secret = config.auth_secret.encode() if config.auth_secret else secrets.token_bytes(32)
        return DigestServer(config.auth_realm, passwords.get, secret, algorithms=config.auth_algorithms)

    async def start(self) -> None:
        """Open a transport per ``listen`` entry and start serving."""
        self._loop = asyncio.get_running_loop()
        trace.set_enabled(self.config.trace)
        try:
            for listen in self.config.listen:
                holder: list[Transport] = []

                def handler(event: TransportEvent, _h: list[Transport] = holder) -> None:
                    self._on_transport_event(_h[0], event)

                transport: Transport
                if listen.transport == "tcp":
                    transport = await TcpTransport.create(handler, listen.host, listen.port)
                else:
                    transport = await UdpTransport.create(handler, listen.host, listen.port)
                holder.append(transport)
                self.transports.append(transport)
                log.info(
                    "SIP listening on %s %s",
                    transport.name,
                    trace.format_address(transport.local_address),
                )
        except BaseException:
            await self._close_transports()
            raise
        if self.config.mode == "register" and self.config.register is not None:
            await self._start_registration()

    async def stop(self) -> None:
        """Hang up every live call with BYE (or CANCEL/487), stop every task, close transports."""
        self._stopping = True
        calls = list({id(c): c for c in self._calls.values()}.values())
        if calls:
            hangups = [asyncio.ensure_future(c.shutdown()) for c in calls]
            _, late = await asyncio.wait(hangups, timeout=3.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*hangups, return_exceptions=True)
        if self.registration is not None and self._unregistered is not None:
            self._apply_registration(self.registration.unregister(self.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unregistered.wait(), 3.0)
        tasks = list(self._tasks)
        if tasks:
            # Handlers see their calls end and finish their bookkeeping (store writes):
            # give them a moment before cancelling, a cancelled write helps nobody.
            await asyncio.wait(tasks, timeout=2.0)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._close_transports()

    async def _close_transports(self) -> None:
        for transport in self.transports:
            with contextlib.suppress(Exception):
                await transport.close()
        self.transports.clear()

    def now(self) -> float:
        """The endpoint's clock (the loop's by default)."""
        if self._clock is not None:
            return self._clock()
        assert self._loop is not None, "SipEndpoint.start() was not awaited"
        return self._loop.time()

    @property
    def local_addresses(self) -> list[tuple[str, str, int]]:
        """``(transport, host, port)`` of every listening transport (ports resolved)."""
        return [(t.name, *t.local_address) for t in self.transports]

    def spawn(self, coro: Awaitable[None], name: str | None = None) -> asyncio.Task[None]:
        """Start a task the endpoint owns (cancelled and awaited on :meth:`stop`)."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- addresses ---------------------------------------------------------------------------

    def transport_for(self, name: str = "UDP", family_of: str | None = None) -> Transport:
        """A listening transport of kind ``name`` (same IP family as ``family_of`` if possible)."""
        candidates = [t for t in self.transports if t.name == name.upper()] or self.transports
        if not candidates:
            raise LocalProtocolError("the SIP endpoint has no transport (not started?)")
        if family_of is not None:
            v6 = ":" in family_of
            for t in candidates:
                if (":" in t.local_address[0]) == v6:
                    return t
        return candidates[0]

    def local_host(self, transport: Transport, toward: str | None = None) -> str:
        """The host to write in Via/Contact for ``transport`` (bracketed if IPv6)."""
        host = transport.local_address[0]
        if _wildcard(host):
            host = self.advertise or self._guess_source(toward, ":" in host)
        return _source_route_host(host)

    @staticmethod
    def _guess_source(toward: str | None, v6: bool) -> str:
        # A connected UDP socket sends nothing but makes the kernel pick the source address.
        target = toward or ("2001:db8::1" if v6 else "192.0.2.1")
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((target.strip("[]"), 9))
                return str(s.getsockname()[0])
        except OSError:
            return "::1" if v6 else "127.0.0.1"

    def via(self, transport: Transport, toward: str | None = None) -> Via:
        """A fresh Via for a request we send on ``transport``."""
        return Via(
            transport=transport.name,
            host=self.local_host(transport, toward),
            port=transport.local_address[1],
            params={"branch": new_branch(), "rport": None},
        )

    def contact_uri(self, transport: Transport, toward: str | None = None, user: str | None = None) -> str:
        """Our Contact URI on ``transport``."""
        name = user if user is not None else self.config.hotline_number
        params: dict[str, str | None] = {"transport": "tcp"} if transport.name == "TCP" else {}
        uri = SipUri(
            host=self.local_host(transport, toward),
            user=name or None,
            port=transport.local_address[1],
            params=params,
        )
        return str(uri)

    async def resolve(self, uri: Uri) -> tuple[str, Address]:
        """Transport name and address to send a request for ``uri`` to (RFC 3263 lite).

        IP literals are used as they are; names are looked up with the loop's
        resolver (A/AAAA only, no SRV), never blocking the loop.
        """
        if not isinstance(uri, SipUri):
            raise LocalProtocolError(f"cannot route to a non-SIP URI {uri}")
        name = "TCP" if uri.transport == "tcp" else "UDP"
        host = (uri.param("maddr") or uri.host).strip("[]")
        port = uri.port or 5060
        if not is_ip_literal(host):
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            if not infos:
                raise LocalProtocolError(f"cannot resolve {host}")
            host = str(infos[0][4][0])
        return name, (host, port)

    # -- sending -------------------------------------------------------------------------------

    def _transmit(self, transport: Transport, message: Request | Response, destination: Address) -> None:
        data = message.serialize()
        if isinstance(message, Response):
            self.counters[f"out {message.status}"] += 1
            transport.send_response(data, message, destination)
        else:
            self.counters[f"out {message.method}"] += 1
            transport.send(data, destination)

    def send_stateless(self, transport: Transport, message: Request, destination: Address) -> None:
        """Send a request outside any transaction (the ACK of a 2xx)."""
        self._transmit(transport, message, destination)

    def send_request(
        self, request: Request, transport: Transport, destination: Address
    ) -> asyncio.Future[Response | NoResponse]:
        """Start a non-INVITE client transaction; the future gets its final response.

        A timeout gives a :class:`~hotline.sip.uac.NoResponse` 408, a transport
        failure one with 503 (RFC 3261 §8.1.3.1).
        """
        assert self._loop is not None
        key, actions = self.layer.send_request(
            request, destination, self.now(), reliable=transport.name == "TCP"
        )
        fut: asyncio.Future[Response | NoResponse] = self._loop.create_future()
        self._pending[key] = fut
        self._txn_transport[key] = transport
        self._run(actions, transport)
        return fut

    def send_invite(
        self, request: Request, transport: Transport, destination: Address, call: InviteUser
    ) -> TransactionKey:
        """Start an INVITE client transaction whose responses go to ``call``."""
        key, actions = self.layer.send_request(
            request, destination, self.now(), reliable=transport.name == "TCP"
        )
        self._invites[key] = call
        self._txn_transport[key] = transport
        self._calls[request.call_id] = call
        self._run(actions, transport)
        return key

    def cancel_invite(self, key: TransactionKey) -> None:
        """CANCEL our INVITE ``key`` (now if it is proceeding, else on its first 1xx)."""
        transport = self._txn_transport.get(key)
        actions = self.layer.cancel(key, self.now())
        if transport is not None:
            self._run(actions, transport)

    def respond(
        self,
        key: TransactionKey,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        """Answer ``request`` on its server transaction ``key``."""
        response = build_response(
            request, status, reason, to_tag=to_tag, headers=headers, body=body,
            content_type=content_type,
        )
        transport = self._txn_transport.get(key) or self.transport_for()
        self._run(self.layer.send_response(response, self.now(), key=key), transport)
        return response

    # -- registry of calls -----------------------------------------------------------------

    def register_dialog(self, dialog_id: DialogId, call: DialogUser) -> None:
        """Route in-dialog requests for ``dialog_id`` to ``call``."""
        self._dialogs[dialog_id] = call
        self._calls[dialog_id.call_id] = call

    def forget_call(self, call: DialogUser) -> None:
        """Drop a finished call from the routing tables."""
        for dialog_id in [d for d, c in self._dialogs.items() if c is call]:
            del self._dialogs[dialog_id]
        if self._calls.get(call.call_id) is call:
            del self._calls[call.call_id]
        for key in [k for k, c in self._invites.items() if c is call]:
            del self._invites[key]

    def call_ended(self, call: DialogUser, reason: str) -> None:
        """``call`` is over: forget it and count how it ended (``"ended <reason>"``)."""
        self.forget_call(call)
        self.counters[f"ended {reason}"] += 1

    @property
    def live_calls(self) -> list[DialogUser]:
        """Calls not yet ended."""
        return list({id(c): c for c in self._calls.values()}.values())

    # -- the core loop ---------------------------------------------------------------------

    def _on_transport_event(self, transport: Transport, event: TransportEvent) -> None:
        if isinstance(event, MessageReceived):
            msg = event.message
            if isinstance(msg, Request):
                self.counters[f"in {msg.method}"] += 1
                if not self._admit(transport, msg, event.source):
                    return
            else:
                self.counters[f"in {msg.status}"] += 1
            try:
                actions = self.layer.receive(
                    msg, event.source, self.now(), reliable=transport.name == "TCP"
                )
            except RemoteProtocolError as exc:
                log.info("SIP message from %s refused: %s", event.source, exc)
                return
            self._run(actions, transport)
        elif isinstance(event, MalformedReceived):
            self._on_malformed(transport, event)
        elif isinstance(event, SendFailed):
            self._on_wire_error(transport, event)

    def _admit(self, transport: Transport, request: Request, source: Address) -> bool:
        """Gatekeeper check; requests inside a dialog we know skip it (their tags are unguessable)."""
        to_tag = request.to_tag
        if to_tag is not None and request.call_id in self._calls:
            return True
        if request.method == "CANCEL" and request.call_id in self._calls:
            return True
        if request.method == "ACK" and self.digest_server is not None and self._acks_our_response(request):
            # The ACK of a 401 we sent a stranger: its INVITE transaction absorbs it.
            return True
        from_display: str | None = None
        to_user: str | None = None
        # A TCP source port is the peer's ephemeral one: only a datagram's port identifies it.
        port = source[1] if transport.name == "UDP" else None
        if not self.gatekeeper.peers.allows(source[0], port):
            # Only a stranger's names are looked at (scanner fingerprints): skip the parsing for peers.
            try:
                from_display = request.from_.display_name
                to_uri = request.to.uri
                to_user = to_uri.user if isinstance(to_uri, SipUri) else None
            except RemoteProtocolError:
                pass
        decision = self.gatekeeper.inspect(
            source[0], request.method, request.headers.get("User-Agent"), self.now(),
            from_display=from_display, to_user=to_user, source_port=port,
        )
        if decision.action is GateAction.ACCEPT:
            return True
        if decision.action is GateAction.DROP or request.method == "ACK":
            self.counters["gate-drop"] += 1
            return False
        self.counters["gate-reject"] += 1
        headers = [("Retry-After", str(decision.retry_after))] if decision.retry_after else []
        response = build_response(
            request, decision.code or 403, decision.reason or None, to_tag=new_tag(), headers=headers
        )
        self._transmit(transport, response, source)
        return False

    def _run(self, actions: list[Action], transport: Transport) -> None:
        """Carry out the core's actions; ``transport`` is where the triggering message came from."""
        now = self.now()
        terminated: list[TransactionKey] = []
        wake: float | None = None
        for action in actions:
            key = getattr(action, "key", None)
            if isinstance(key, TransactionKey) and key not in self._txn_transport:
                self._txn_transport[key] = transport
            try:
                wake = _earliest(wake, self._do_action(action, transport, now, terminated))
            except Exception:
                # A bug above the transaction layer must not lose the actions after it.
                log.exception("SIP action %s failed", type(action).__name__)
        for key in terminated:
            self._txn_transport.pop(key, None)
            self._invites.pop(key, None)
            fut = self._pending.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(TIMED_OUT)
        # The layer's next deadline is the top of its timer heap: cheap to ask every time.
        self._want_wake(_earliest(wake, self.layer.next_deadline()))

    def _do_action(
        self, action: Action, transport: Transport, now: float, terminated: list[TransactionKey]
    ) -> float | None:
        """Carry out one action; returns a time the timer must wake up by, if any."""
        if isinstance(action, Transmit):
            self._do_transmit(action, transport)
            message = action.message
            if (
                isinstance(message, Response)
                and action.key is not None
                and message.is_success
                and message.cseq.method == "INVITE"
            ):
                return now + self.timers.t1  # its AckWait retransmits from then on
        elif isinstance(action, DeliverRequest):
            self._on_request(action.request, action.source, action.key)
        elif isinstance(action, DeliverResponse):
            self._on_response(action.response, action.key)
        elif isinstance(action, AckReceived):
            call = self._calls.get(action.request.call_id)
            if call is not None:
                call.on_ack(action.request)
        elif isinstance(action, CancelReceived):
            self._on_cancel(action)
        elif isinstance(action, TransactionTimedOut):
            self._on_txn_failure(action.key, NoResponse(408, f"timer {action.timer}"))
        elif isinstance(action, TransportFailed):
            self._on_txn_failure(action.key, NoResponse(503, action.reason))
        elif isinstance(action, AckTimeout):
            call = self._calls.get(action.call_id)
            if call is not None:
                call.on_ack_timeout()
        elif isinstance(action, TransactionTerminated):
            terminated.append(action.key)
            if action.key.side == "server" and action.key.method == "INVITE":
                return now + 64 * self.timers.t1  # it lingers that long
        return None

    def _do_transmit(self, action: Transmit, fallback: Transport) -> None:
        message = action.message
        transport = self._txn_transport.get(action.key) if action.key is not None else None
        if transport is None and action.key is None:
            call = self._calls.get(message.call_id)
            transport = call.sip_transport if call is not None else None
        transport = transport or fallback
        destination = action.destination
        if destination is None:
            log.warning("no destination for %r", message)
            return
        try:
            self._transmit(transport, message, destination)
        except LocalProtocolError as exc:
            log.warning("cannot send %r: %s", message, exc)

    # -- the one timer ---------------------------------------------------------------------

    def _want_wake(self, when: float | None) -> None:
        if when is None or self._loop is None or (self._stopping and not self.transports):
            return
        when = math.ceil(when / _TIMER_RESOLUTION) * _TIMER_RESOLUTION
        if self._wake_at is not None and self._wake_at <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._wake_at = when
        if self._clock is None:
            self._timer = self._loop.call_at(when, self._on_timer)
        else:
            self._timer = self._loop.call_later(max(0.0, when - self.now()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake_at = None
        try:
            actions = self.layer.handle_timer(self.now())
            if actions:
                self._run(actions, self.transport_for())
            if self.registration is not None:
                self._apply_registration(self.registration.handle_timer(self.now()))
        except Exception:
            log.exception("SIP timer handling failed")
        self._want_wake(self.layer.next_deadline())
        if self.registration is not None:
            self._want_wake(self.registration.next_deadline())

    # -- requests ----------------------------------------------------------------------------

    def _on_request(self, request: Request, source: Address | None, key: TransactionKey) -> None:
        try:
            self._dispatch_request(request, source, key)
        except RemoteProtocolError as exc:
            self._reply_unless_answered(key, request, error_reply(exc))
        except Exception:
            log.exception("handling %s %s failed", request.method, request.call_id)
            if request.method != "ACK":
                self._reply_unless_answered(key, request, Reply(500))

    def _reply_unless_answered(self, key: TransactionKey, request: Request, reply: Reply) -> None:
        server = self.layer.server(key)
        if server is None or server.terminated or server.state.value in ("Completed", "Confirmed"):
            return
        self._reply(key, request, reply)

    def _reply(self, key: TransactionKey, request: Request, reply: Reply) -> None:
        """Send the UAS core's ``reply`` on the server transaction ``key``."""
        if reply.counter is not None:
            self.counters[reply.counter] += 1
        self.respond(
            key, request, reply.status, reply.reason,
            to_tag=new_tag() if reply.fresh_tag else None, headers=reply.headers, body=reply.body,
            content_type=reply.content_type,
        )

    def _dispatch_request(self, request: Request, source: Address | None, key: TransactionKey) -> None:
        facts = RequestFacts(
            dialog_known=DialogId.for_incoming_request(request) in self._dialogs
            if request.to_tag is not None else False,
            # Only the digest check asks; spare the allow-list walk when there is none.
            from_peer=self.digest_server is not None and self._from_peer(key, source),
            taking_calls=not self._stopping and self.on_call is not None,
        )
        decision = self.uas.on_request(request, facts, self._auth_clock())
        if isinstance(decision, Reply):
            self._reply(key, request, decision)
        elif isinstance(decision, ToDialog):
            self._dialogs[DialogId.for_incoming_request(request)].on_in_dialog_request(request, key)
        else:
            self._new_call(request, source, key, decision)

    def capabilities(self) -> list[tuple[str, str]]:
        """Allow, Accept and Supported headers (OPTIONS answers, 405s)."""
        return capability_headers()

    def _new_call(
        self, request: Request, source: Address | None, key: TransactionKey, admitted: NewCall
    ) -> None:
        if admitted.counter is not None:
            self.counters[admitted.counter] += 1
        transport = self._txn_transport.get(key) or self.transport_for()
        call = IncomingCall(self, request, key, source or ("", 0), transport, admitted.offer)
        if admitted.user is not None:
            self._authenticated[call] = admitted.user
        self.register_dialog(call.dialog_id, call)
        self.spawn(self._run_handler(call), name=f"sip-call-{request.call_id[:16]}")

    def authenticated_user(self, call: IncomingCall) -> str | None:
        """The ``sip.accounts`` user ``call``'s INVITE authenticated as; None for allowed peers."""
        return self._authenticated.get(call)

    def _from_peer(self, key: TransactionKey, source: Address | None) -> bool:
        """Whether ``source`` is on the allow-list (the gatekeeper's test, port on UDP only)."""
        if source is None:
            return False
        transport = self._txn_transport.get(key)
        port = source[1] if transport is None or transport.name == "UDP" else None
        return self.gatekeeper.peers.allows(source[0], port)

    def _acks_our_response(self, request: Request) -> bool:
        try:
            server = self.layer.server(server_key(request))
        except RemoteProtocolError:
            return False
        return server is not None

    async def _run_handler(self, call: IncomingCall) -> None:
        assert self.on_call is not None
        try:
            await self.on_call(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call handler failed for %s", call.call_id)
        finally:
            if not call.is_over:
                with contextlib.suppress(Exception):
                    await call.handler_done()

    def _on_cancel(self, event: CancelReceived) -> None:
        call = self._calls.get(event.request.call_id)
        if call is None or not call.on_cancel(event.invite_key):
            server = self.layer.server(event.invite_key)
            reply = answer_unclaimed_cancel(server is not None and not server.terminated)
            if server is not None and reply is not None:
                self._reply(event.invite_key, server.request, reply)

    # -- responses ----------------------------------------------------------------------------

    def _on_response(self, response: Response, key: TransactionKey | None) -> None:
        if key is None:
            # A 2xx retransmission after the INVITE transaction ended: ACK it again.
            call = self._calls.get(response.call_id)
            if call is not None and response.cseq.method == "INVITE" and response.is_success:
                call.on_stray_2xx(response)
            return
        invite_call = self._invites.get(key)
        if invite_call is not None:
            invite_call.on_invite_response(response)
            return
        fut = self._pending.get(key)
        if fut is not None and response.status >= 200:
            del self._pending[key]
            if not fut.done():
                fut.set_result(response)

    def _on_txn_failure(self, key: TransactionKey, outcome: NoResponse) -> None:
        invite_call = self._invites.pop(key, None)
        if invite_call is not None:
            invite_call.on_invite_failed(outcome)
            return
        fut = self._pending.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(outcome)

    def _on_wire_error(self, transport: Transport, event: SendFailed) -> None:
        self.counters["transport-error"] += 1
        if event.destination is None:
            return
        now = self.now()
        for key, txn_transport in list(self._txn_transport.items()):
            if txn_transport is not transport:
                continue
            txn = self.layer.client(key) or self.layer.server(key)
            if txn is not None and txn.peer is not None and txn.peer[0] == event.destination[0] and (
                txn.peer[1] == event.destination[1]
            ):
                self._run(self.layer.transport_error(key, TransmitFailed(event.reason), now), transport)

    # -- malformed input ---------------------------------------------------------------------

    def _on_malformed(self, transport: Transport, event: MalformedReceived) -> None:
        self.counters["malformed"] += 1
        response = answer_for_malformed(event.raw, event.error)
        if response is None:
            self.counters["malformed-dropped"] += 1
            return
        self.counters[f"out {event.error.status}"] += 1
        try:
            transport.send(response, event.source)
        except LocalProtocolError:
            self.counters["malformed-dropped"] += 1

    # -- register mode -------------------------------------------------------------------------

    async def _start_registration(self) -> None:
        """Register at ``sip.register.registrar`` (its address and port also pass the gatekeeper)."""
        settings = self.config.register
        assert settings is not None
        transport_name, address = await self.resolve(parse_uri(settings.registrar))
        transport = self.transport_for(transport_name, address[0])
        self.gatekeeper.peers.add(f"{_source_route_host(address[0])}:{address[1]}")
        contact = self.contact_uri(transport, address[0], user=settings.username)
        self.registration = Registration.from_config(settings, contact, user_agent="hotline")
        self._registrar = (transport, address)
        self._unregistered = asyncio.Event()
        self._apply_registration(self.registration.start(self.now()))

    def _apply_registration(self, outputs: list[RegistrationOutput]) -> None:
        registration = self.registration
        assert registration is not None and self._registrar is not None
        transport, address = self._registrar
        for out in outputs:
            if isinstance(out, RegisterRequest):
                fut = self.send_request(out.request, transport, address)
                fut.add_done_callback(functools.partial(self._on_register_done, cseq=out.cseq))
            elif isinstance(out, Registered):
                log.info("registered at %s for %d s", trace.format_address(address), out.expires)
                self.registration_status = out
                self.counters["registered"] += 1
            elif isinstance(out, RegistrationFailed):
                log.warning("registration failed: %d %s (retry at %s)", out.status, out.reason, out.retry_at)
                self.registration_status = out
                self.counters["registration-failed"] += 1
            elif isinstance(out, Unregistered):
                self.registration_status = out
                if self._unregistered is not None:
                    self._unregistered.set()
        self._want_wake(registration.next_deadline())

    def _on_register_done(self, fut: asyncio.Future[Response | NoResponse], *, cseq: int) -> None:
        if fut.cancelled() or self.registration is None:
            return
        response = fut.result()
        now = self.now()
        if isinstance(response, NoResponse):
            self._apply_registration(self.registration.handle_timeout(now, cseq=cseq, reason=response.reason))
        else:
            self._apply_registration(self.registration.handle_response(response, now))

    # -- outbound legs ------------------------------------------------------------------------

    async def place_call(
        self,
        target: str,
        *,
        allowed: Callable[[str], bool],
        caller_id: str,
        display_name: str | None = None,
        sdp_offer: bytes,
        timeout: float = 30.0,
        headers: Iterable[tuple[str, str]] = (),
    ) -> OutgoingCall:
        """Dial ``target`` (a number or a SIP URI) through ``sip.outbound.proxy``.

        ``allowed(target)`` must be true or :class:`DialRefused` is raised: the
        caller proves the number came from configuration (rota, forward_targets).
        Returns as soon as the INVITE is out; follow the call with
        ``await call.answered()`` or ``call.events()``.  The leg is CANCELled
        after ``timeout`` seconds without an answer.
        """
        if not allowed(target):
            raise DialRefused(f"target {target!r} is not an allowed destination")
        if self._stopping:
            raise DialRefused("the SIP endpoint is stopping")
        return await OutgoingCall.dial(
            self,
            target,
            caller_id=caller_id,
            display_name=display_name,
            sdp_offer=sdp_offer,
            timeout=timeout,
            headers=tuple(headers),
        )

    @property
    def digest(self) -> DigestClient | None:
        """The digest client for the outbound proxy's challenges, if configured."""
        return self._digest


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
