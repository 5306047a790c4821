"""Registration with the enterprise PBX (RFC 3261 §10.2): a sans-IO REGISTER client.

Theory of operation
-------------------
One :class:`Registration` keeps one binding of our Contact to an address of
record at one registrar.  It never touches a socket or a clock: the endpoint
calls :meth:`~Registration.start`, :meth:`~Registration.handle_response`,
:meth:`~Registration.handle_timeout`, :meth:`~Registration.handle_timer` and
:meth:`~Registration.unregister` with ``now`` (seconds, any monotonic origin),
sends every :class:`RegisterRequest` it gets back in a fresh non-INVITE client
transaction, and arms one timer at :meth:`~Registration.next_deadline`.

The machine is a table ``(state, input) -> handler``; the handler decides the
next state, because a 401 may lead back to REGISTERING (answer it) or to
AUTH_FAILED (wrong password).  A pair missing from the table is a bug of ours.

The rules it keeps:

* All REGISTERs of one :class:`Registration` share the Call-ID and From tag;
  CSeq grows by one per request (§10.2), each request has a fresh branch.
  Only one REGISTER is outstanding at a time: :meth:`unregister` during a
  REGISTER waits for that one's final response (§10.2, last paragraph).
* The lifetime granted is the ``expires`` of *our* Contact in the 200 (a
  registrar lists every binding of the AOR), else the 200's Expires header,
  else what we asked.  The refresh goes out at the earlier of half of it and
  ``refresh_margin`` before expiry, but not sooner than ``min_refresh`` after
  the 200 (unless half the lifetime is sooner still).
* 401/407 are answered through :class:`~hotline.sip.auth.DigestClient`, which
  counts ``nc`` per nonce and gives up when the registrar rejects the nonce
  just answered without ``stale=true``: that is AUTH_FAILED, retried only after
  ``auth_failure_retry`` (PBXs lock accounts that keep failing).  Refreshes
  carry credentials for the last nonce at once, saving a round trip; a
  registrar that restarted and forgot the nonce just challenges again.
* 423 is retried at once with the ``Min-Expires`` asked for.  403 is
  AUTH_FAILED; 404, 3xx, 6xx and other 4xx are BACKOFF for
  ``rejected_retry``.  408, 480, 5xx and timeouts are BACKOFF with exponential
  delays (``backoff_base`` doubling up to ``backoff_cap``, shortened by up to
  ``jitter`` of themselves so a fleet does not stampede a restarted PBX).
  ``Retry-After`` delays any retry further.  The failure count resets on 200.
* A REGISTER in flight also has a guard deadline (``request_timeout``), so a
  lost transaction event can never leave the machine waiting forever.

Out of scope: keep-alives to hold NAT bindings (RFC 5626 outbound, CRLF
pings), Service-Route/Path, GRUU, redirects (a 3xx is a rejection), and DNS
(``destination`` is the registrar URI's host and port, resolved by the endpoint).
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from hotline.sip.auth import AuthError, Challenge, DigestClient, choose_challenge
from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.events import Address
from hotline.sip.headers import NameAddr, Via
from hotline.sip.message import Request, Response, build_request, new_branch, new_call_id, new_tag
from hotline.sip.settings import RegisterSettings
from hotline.sip.uri import SipUri

__all__ = [
    "RegisterRequest",
    "Registered",
    "Registration",
    "RegistrationFailed",
    "RegistrationInput",
    "RegistrationOutput",
    "RegistrationState",
    "RegistrationTimers",
    "Unregistered",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class RegisterRequest:
    """Send ``request`` to ``destination`` in a new non-INVITE client transaction.

    When that transaction ends without a response (timer F, transport error),
    call :meth:`Registration.handle_timeout` with ``cseq``.
    """

    request: Request
    """The REGISTER, complete with Via branch and any Authorization header."""
    destination: Address
    """The registrar URI's host and port (5060, or 5061 for sips); the endpoint resolves names."""
    cseq: int
    """The request's CSeq number, which identifies it to :meth:`Registration.handle_timeout`."""


@dataclass(frozen=True)
class Registered:
    """The registrar accepted our binding (first registration or refresh)."""

    expires: int
    """Seconds granted by the registrar for our Contact."""
    contacts: tuple[str, ...]
    """Every binding the registrar listed for the AOR, ours included, as written."""
    refresh_at: float
    """When the refresh REGISTER will be sent (the ``now`` time base)."""


@dataclass(frozen=True)
class RegistrationFailed:
    """A REGISTER failed; we are not (or may soon not be) registered."""

    status: int
    """Final status received; 408 for no response, as RFC 3261 §8.1.3.1 says."""
    reason: str
    """Why, for the operator: the reason phrase or what the digest client concluded."""
    retry_at: float | None
    """When the next attempt goes out, or None when we wait for :meth:`Registration.start`."""


@dataclass(frozen=True)
class Unregistered:
    """The machine is back in UNREGISTERED after :meth:`Registration.unregister`."""

    clean: bool
    """True when the registrar confirmed the removal (or no binding existed)."""
    reason: str = ""
    """Why it is not clean (registrar error, no response, authentication refused)."""


RegistrationOutput = RegisterRequest | Registered | RegistrationFailed | Unregistered


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class RegistrationTimers:
    """Timing policy, in seconds."""

    refresh_margin: float = 10.0
    """Refresh at least this long before the binding expires (when half the lifetime is later)."""
    min_refresh: float = 5.0
    """Do not refresh sooner than this after a 200, unless half the lifetime is sooner still."""
    backoff_base: float = 2.0
    """First delay after a transient failure (5xx, 408, 480, no response)."""
    backoff_cap: float = 300.0
    """Longest delay after repeated transient failures."""
    jitter: float = 0.2
    """Each delay is shortened by a random part of up to this fraction of itself (0 = exact)."""
    rejected_retry: float = 300.0
    """Delay after a rejection the registrar will repeat (404, 3xx, other 4xx, 6xx)."""
    auth_failure_retry: float | None = 300.0
    """Delay after a refused password or a 403; None waits for :meth:`Registration.start`."""
    request_timeout: float = 40.0
    """Give up on a REGISTER without final response or timeout report (> 64*T1 = 32 s)."""
    max_retry_after: float = 3600.0
    """A larger Retry-After from the registrar is capped to this."""


class RegistrationState(enum.Enum):
    """Where the binding stands."""

    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    """A REGISTER (first, refresh or retry) is waiting for its final response."""
    REGISTERED = "registered"
    AUTH_FAILED = "auth failed"
    """The registrar refused our credentials; retried after ``auth_failure_retry``, if ever."""
    BACKOFF = "backoff"
    """A REGISTER failed; the next one goes out at the deadline."""
    UNREGISTERING = "unregistering"
    """A REGISTER with Expires: 0 (or one still in flight before it) awaits its answer."""


class RegistrationInput(enum.Enum):
    """Everything that can happen to a :class:`Registration`."""

    START = "start()"
    UNREGISTER = "unregister()"
    TIMER = "deadline reached"
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"
    CHALLENGE = "401/407"
    TOO_BRIEF = "423"
    REJECTED = "403/404/3xx/other 4xx/6xx"
    TRANSIENT = "408/480/5xx"
    TIMEOUT = "no response"


_S = RegistrationState
_I = RegistrationInput

# Statuses that say "try again later" rather than "this will not work".
_NOT_TRANSIENT_5XX = frozenset({501, 505, 513})


def _classify(status: int) -> RegistrationInput:
    if status < 200:
        return _I.PROVISIONAL
    if status < 300:
        return _I.SUCCESS
    if status in (401, 407):
        return _I.CHALLENGE
    if status == 423:
        return _I.TOO_BRIEF
    if status in (408, 480) or (500 <= status < 600 and status not in _NOT_TRANSIENT_5XX):
        return _I.TRANSIENT
    return _I.REJECTED


def _int_header(value: str | None) -> int | None:
    """Leading delta-seconds of Expires / Min-Expires / Retry-After (``120 (busy);duration=60``)."""
    if value is None:
        return None
    word = value.strip().split(";", 1)[0].split("(", 1)[0].strip()
    if not (word.isascii() and word.isdigit()) or len(word) > 10:
        return None
    return int(word)


def _same_contact(ours: SipUri, theirs: NameAddr) -> bool:
    """RFC 3261 §19.1.4 enough for a registrar's echo of our Contact (it may add parameters)."""
    uri = theirs.uri
    if not isinstance(uri, SipUri) or uri.scheme != ours.scheme or uri.user != ours.user:
        return False
    default = 5061 if ours.scheme == "sips" else 5060
    if uri.host.lower() != ours.host.lower() or (uri.port or default) != (ours.port or default):
        return False
    return uri.transport == ours.transport


def _build_table() -> dict[tuple[RegistrationState, RegistrationInput], str]:
    """(state, input) -> name of the :class:`Registration` method that handles it."""
    table: dict[tuple[RegistrationState, RegistrationInput], str] = {
        # UNREGISTERED: nothing in flight, nothing to refresh.
        (_S.UNREGISTERED, _I.START): "_begin",
        (_S.UNREGISTERED, _I.UNREGISTER): "_ignore",
        (_S.UNREGISTERED, _I.TIMER): "_ignore",
        # REGISTERING: one REGISTER awaits its final response.
        (_S.REGISTERING, _I.START): "_ignore",
        (_S.REGISTERING, _I.UNREGISTER): "_unregister_after_inflight",
        (_S.REGISTERING, _I.TIMER): "_on_transient",
        (_S.REGISTERING, _I.PROVISIONAL): "_ignore",
        (_S.REGISTERING, _I.SUCCESS): "_on_success",
        (_S.REGISTERING, _I.CHALLENGE): "_on_challenge",
        (_S.REGISTERING, _I.TOO_BRIEF): "_on_too_brief",
        (_S.REGISTERING, _I.REJECTED): "_on_rejected",
        (_S.REGISTERING, _I.TRANSIENT): "_on_transient",
        (_S.REGISTERING, _I.TIMEOUT): "_on_transient",
        # REGISTERED: waiting for the refresh time.
        (_S.REGISTERED, _I.START): "_ignore",
        (_S.REGISTERED, _I.UNREGISTER): "_send_unregister",
        (_S.REGISTERED, _I.TIMER): "_begin",
        # BACKOFF and AUTH_FAILED: waiting for the retry time (start() retries now).
        (_S.BACKOFF, _I.START): "_begin",
        (_S.BACKOFF, _I.UNREGISTER): "_send_unregister",
        (_S.BACKOFF, _I.TIMER): "_begin",
        (_S.AUTH_FAILED, _I.START): "_begin",
        (_S.AUTH_FAILED, _I.UNREGISTER): "_send_unregister",
        (_S.AUTH_FAILED, _I.TIMER): "_begin",
        # UNREGISTERING: a REGISTER (Expires: 0, or the one in flight before it).
        (_S.UNREGISTERING, _I.START): "_refuse_start",
        (_S.UNREGISTERING, _I.UNREGISTER): "_ignore",
        (_S.UNREGISTERING, _I.TIMER): "_on_unregister_failed",
        (_S.UNREGISTERING, _I.PROVISIONAL): "_ignore",
        (_S.UNREGISTERING, _I.SUCCESS): "_on_unregister_success",
        (_S.UNREGISTERING, _I.CHALLENGE): "_on_challenge",
        (_S.UNREGISTERING, _I.TOO_BRIEF): "_on_unregister_failed",
        (_S.UNREGISTERING, _I.REJECTED): "_on_unregister_failed",
        (_S.UNREGISTERING, _I.TRANSIENT): "_on_unregister_failed",
        (_S.UNREGISTERING, _I.TIMEOUT): "_on_unregister_failed",
    }
    # Responses and timeouts reach the table only while a REGISTER is in flight, which
    # is the case exactly in REGISTERING and UNREGISTERING; elsewhere they are stale.
    for state in (_S.UNREGISTERED, _S.REGISTERED, _S.BACKOFF, _S.AUTH_FAILED):
        for inp in (_I.PROVISIONAL, _I.SUCCESS, _I.CHALLENGE, _I.TOO_BRIEF, _I.REJECTED,
                    _I.TRANSIENT, _I.TIMEOUT):
            table[(state, inp)] = "_ignore"
    return table


@dataclass
class _InFlight:
    cseq: int
    expires: int
    authorized: bool  # carried credentials, so a retry (423) may carry them again


# --------------------------------------------------------------------------- the machine


class Registration:
    """Keeps one Contact registered at one registrar; see the module docstring.

    ``registrar`` is the registrar's SIP URI (its user part, if any, is dropped
    from the Request-URI as §10.2 requires); ``aor`` defaults to
    ``sip:username@registrar-host``.  ``contact`` is where the PBX should send
    our calls; Via's sent-by defaults to its host and port.  The factories and
    ``rng`` exist so tests can make every byte reproducible.
    """

    _TABLE = _build_table()

    def __init__(
        self,
        registrar: SipUri | str,
        contact: SipUri | str,
        username: str,
        password: str,
        *,
        aor: SipUri | str | None = None,
        expires: int = 3600,
        timers: RegistrationTimers | None = None,
        transport: str = "UDP",
        via_host: str | None = None,
        via_port: int | None = None,
        user_agent: str | None = None,
        call_id_factory: Callable[[], str] = new_call_id,
        tag_factory: Callable[[], str] = new_tag,
        branch_factory: Callable[[], str] = new_branch,
        cnonce_factory: Callable[[], str] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if expires <= 0:
            raise ValueError(f"registration expires must be positive, not {expires}")
        registrar_uri = SipUri.parse(registrar) if isinstance(registrar, str) else registrar
        self.contact = SipUri.parse(contact) if isinstance(contact, str) else contact
        # §10.2: "The userinfo and '@' components of the SIP URI MUST NOT be present."
        self.request_uri = SipUri(
            host=registrar_uri.host,
            port=registrar_uri.port,
            params=dict(registrar_uri.params),
            scheme=registrar_uri.scheme,
        )
        if aor is None:
            aor = SipUri(host=registrar_uri.host, user=username, scheme=registrar_uri.scheme)
        self.aor = SipUri.parse(aor) if isinstance(aor, str) else aor
        default_port = 5061 if registrar_uri.scheme == "sips" else 5060
        self.destination: Address = (
            registrar_uri.host.strip("[]"),
            registrar_uri.port or default_port,
        )
        self.timers = timers or RegistrationTimers()
        self.expires = expires
        """The lifetime we ask for; raised by a 423's Min-Expires."""
        self.call_id = call_id_factory()
        self.tag = tag_factory()
        self._transport = transport.upper()
        self._via_host = via_host or self.contact.host
        self._via_port = via_port if via_port is not None else self.contact.port
        self._user_agent = user_agent
        self._new_branch = branch_factory
        self._rng = rng
        if cnonce_factory is None:
            self._digest = DigestClient(username, password)
        else:
            self._digest = DigestClient(username, password, cnonce_factory=cnonce_factory)
        self._auth_header: str | None = None  # "Authorization" or "Proxy-Authorization"
        self._preemptive = False  # the last challenge was answered successfully
        self._cseq = 0
        self._state = _S.UNREGISTERED
        self._inflight: _InFlight | None = None
        self._deadline: float | None = None
        self._failures = 0  # consecutive transient failures, for the exponential back-off
        self._too_brief = 0  # 423s in the current attempt
        self.binding_expires_at: float | None = None
        """When the registrar drops our binding unless refreshed (None: no binding known)."""

    @classmethod
    def from_config(
        cls,
        config: RegisterSettings,
        contact: SipUri | str,
        *,
        timers: RegistrationTimers | None = None,
        user_agent: str | None = None,
    ) -> Registration:
        """Build from the ``[sip.register]`` settings (:class:`~hotline.sip.settings.RegisterSettings`)."""
        return cls(
            config.registrar,
            contact,
            config.username,
            config.password,
            expires=config.expires,
            timers=timers,
            user_agent=user_agent,
        )

    def __repr__(self) -> str:
        return f"<Registration {self.aor} at {self.request_uri} {self._state.value}>"

    # -- public API -------------------------------------------------------------------

    @property
    def state(self) -> RegistrationState:
        """The current state."""
        return self._state

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must be called next (None: no timer needed)."""
        return self._deadline

    def start(self, now: float) -> list[RegistrationOutput]:
        """Register now.  In BACKOFF or AUTH_FAILED this retries at once (the operator's
        "retry" button); while registering or registered it does nothing."""
        return self._dispatch(_I.START, now)

    def unregister(self, now: float) -> list[RegistrationOutput]:
        """Remove our binding (Expires: 0) for a clean shutdown.

        Ends with :class:`Unregistered`, at once when no binding can exist.
        """
        return self._dispatch(_I.UNREGISTER, now)

    def handle_response(self, response: Response, now: float) -> list[RegistrationOutput]:
        """A response from the transaction layer; ones for other requests are ignored."""
        if not self._matches(response):
            return []
        return self._dispatch(_classify(response.status), now, response)

    def handle_timeout(
        self, now: float, *, cseq: int | None = None, reason: str = "no response from registrar"
    ) -> list[RegistrationOutput]:
        """The REGISTER's transaction timed out or its transport failed.

        Pass the :attr:`RegisterRequest.cseq` to ignore the report of an older request.
        """
        if self._inflight is None or (cseq is not None and cseq != self._inflight.cseq):
            return []
        return self._dispatch(_I.TIMEOUT, now, reason=reason)

    def handle_timer(self, now: float) -> list[RegistrationOutput]:
        """Call at :meth:`next_deadline` (early calls do nothing)."""
        if self._deadline is None or now < self._deadline:
            return []
        return self._dispatch(_I.TIMER, now, reason="no final response from registrar")

    # -- dispatch ---------------------------------------------------------------------

    def _dispatch(
        self, inp: RegistrationInput, now: float, response: Response | None = None, reason: str = ""
    ) -> list[RegistrationOutput]:
        handler = self._TABLE.get((self._state, inp))
        if handler is None:
            raise LocalProtocolError(f"registration: no transition for {inp.value} in {self._state}")
        result: list[RegistrationOutput] = getattr(self, handler)(now, response, reason)
        return result

    def _matches(self, response: Response) -> bool:
        if self._inflight is None:
            return False
        try:
            cseq = response.cseq
            return (
                response.call_id == self.call_id
                and cseq.method == "REGISTER"
                and cseq.seq == self._inflight.cseq
            )
        except RemoteProtocolError:
            return False

    # -- handlers (now, response, reason) -> outputs ------------------------------------

    def _ignore(self, now: float, response: Response | None, reason: str) -> list[RegistrationOutput]:
        return []

    def _refuse_start(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        raise LocalProtocolError("registration: start() while unregistering; wait for Unregistered")

    def _begin(self, now: float, response: Response | None, reason: str) -> list[RegistrationOutput]:
        """A new attempt: first registration, refresh or retry."""
        self._digest.reset()
        self._too_brief = 0
        self._state = _S.REGISTERING
        return [self._send(now, self.expires, preemptive=self._preemptive)]

    def _on_success(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        assert response is not None
        self._digest.reset()
        self._inflight = None
        granted, contacts = self._granted(response)
        if granted <= 0:
            # Our Contact is not among the bindings: the registrar did not keep it.
            return self._on_transient(now, response, "registrar kept no binding for our Contact")
        self._failures = 0
        self._preemptive = self._auth_header is not None
        self.binding_expires_at = now + granted
        refresh_at = now + self._refresh_delay(granted)
        self._state = _S.REGISTERED
        self._deadline = refresh_at
        logger.info("registered %s at %s for %d s", self.aor, self.request_uri, granted)
        return [Registered(expires=granted, contacts=contacts, refresh_at=refresh_at)]

    def _on_challenge(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        assert response is not None and self._inflight is not None
        expires = self._inflight.expires
        header, credentials, why = self._answer(response)
        if credentials is None:
            self._preemptive = False
            if self._state is _S.UNREGISTERING:
                return self._finish_unregister(clean=False, reason=why)
            return self._fail(
                now, _S.AUTH_FAILED, response.status, why, self.timers.auth_failure_retry, response
            )
        # A deferred unregister answers the challenge to the REGISTER with Expires: 0.
        if self._state is _S.UNREGISTERING:
            expires = 0
        return [self._send(now, expires, auth=(header, credentials))]

    def _on_too_brief(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        assert response is not None and self._inflight is not None
        minimum = _int_header(response.headers.get("Min-Expires"))
        self._too_brief += 1
        # §10.2.8: retry with the registrar's minimum; twice per attempt is enough.
        if minimum is None or minimum <= self._inflight.expires or self._too_brief > 2:
            why = f"423 without a usable Min-Expires (got {response.headers.get('Min-Expires')!r})"
            return self._fail(
                now, _S.BACKOFF, response.status, why, self.timers.rejected_retry, response
            )
        logger.info("registrar %s wants Expires >= %d", self.request_uri, minimum)
        self.expires = minimum
        return [self._send(now, minimum, preemptive=self._inflight.authorized)]

    def _on_rejected(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        assert response is not None
        self._digest.reset()
        state = _S.AUTH_FAILED if response.status == 403 else _S.BACKOFF
        delay = self.timers.auth_failure_retry if state is _S.AUTH_FAILED else self.timers.rejected_retry
        if state is _S.AUTH_FAILED:
            self._preemptive = False
        why = f"{response.status} {response.reason}".strip()
        return self._fail(now, state, response.status, why, delay, response)

    def _on_transient(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        self._digest.reset()
        self._failures += 1
        delay = min(self.timers.backoff_cap, self.timers.backoff_base * 2 ** (self._failures - 1))
        status = response.status if response is not None else 408
        if not reason and response is not None:
            reason = f"{response.status} {response.reason}".strip()
        return self._fail(now, _S.BACKOFF, status, reason, delay, response)

    def _send_unregister(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        if self.binding_expires_at is None or now >= self.binding_expires_at:
            return self._finish_unregister(clean=True)
        self._digest.reset()
        self._state = _S.UNREGISTERING
        return [self._send(now, 0, preemptive=self._preemptive)]

    def _unregister_after_inflight(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        # §10.2: no new REGISTER before the previous one is answered or timed out.
        self._state = _S.UNREGISTERING
        return []

    def _on_unregister_success(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        assert response is not None and self._inflight is not None
        if self._inflight.expires > 0:
            # The REGISTER that was in flight when unregister() came succeeded.
            self._digest.reset()
            self._preemptive = self._auth_header is not None
            granted, _ = self._granted(response)
            self.binding_expires_at = now + granted if granted > 0 else self.binding_expires_at
            return self._send_unregister(now, None, "")
        return self._finish_unregister(clean=True)

    def _on_unregister_failed(
        self, now: float, response: Response | None, reason: str
    ) -> list[RegistrationOutput]:
        assert self._inflight is not None
        if response is not None and not reason:
            reason = f"{response.status} {response.reason}".strip()
        if self._inflight.expires > 0:
            # The REGISTER in flight failed; an older binding may still need removing.
            return self._send_unregister(now, None, "")
        return self._finish_unregister(clean=False, reason=reason)

    # -- helpers ----------------------------------------------------------------------

    def _finish_unregister(self, *, clean: bool, reason: str = "") -> list[RegistrationOutput]:
        self._state = _S.UNREGISTERED
        self._inflight = None
        self._deadline = None
        self._failures = 0
        self.binding_expires_at = None
        if not clean:
            logger.warning("unregistering %s at %s: %s", self.aor, self.request_uri, reason)
        return [Unregistered(clean=clean, reason=reason)]

    def _fail(
        self,
        now: float,
        state: RegistrationState,
        status: int,
        reason: str,
        delay: float | None,
        response: Response | None,
    ) -> list[RegistrationOutput]:
        self._inflight = None
        self._state = state
        retry_at: float | None = None
        if delay is not None:
            delay *= 1.0 - self.timers.jitter * self._rng()
            retry_after = _int_header(response.headers.get("Retry-After")) if response else None
            if retry_after is not None:
                delay = max(delay, min(float(retry_after), self.timers.max_retry_after))
            retry_at = now + delay
        self._deadline = retry_at
        logger.warning(
            "registration of %s at %s failed: %s (%s)",
            self.aor,
            self.request_uri,
            reason,
            "no retry" if retry_at is None else f"retry in {retry_at - now:.0f} s",
        )
        return [RegistrationFailed(status=status, reason=reason, retry_at=retry_at)]

    def _refresh_delay(self, granted: int) -> float:
        half = granted / 2
        delay = min(half, granted - self.timers.refresh_margin)
        return max(delay, min(half, self.timers.min_refresh))

    def _granted(self, response: Response) -> tuple[int, tuple[str, ...]]:
        """(seconds granted for our Contact, every Contact listed); 0 when ours is absent."""
        try:
            listed = response.contacts
        except RemoteProtocolError:
            listed = []
        header = _int_header(response.headers.get("Expires"))
        contacts = tuple(str(c) for c in listed)
        ours = [c for c in listed if _same_contact(self.contact, c)]
        if ours:
            value = _int_header(ours[0].param("expires"))
            if value is not None:
                return value, contacts
            return (header if header is not None else self.expires), contacts
        if listed:
            return 0, contacts
        # A registrar that lists no Contact at all (some do): trust Expires or our request.
        return (header if header is not None else self.expires), contacts

    def _answer(self, response: Response) -> tuple[str, str | None, str]:
        """(header name, credentials or None, why not) for a 401/407."""
        if response.status == 407:
            name, source = "Proxy-Authorization", "Proxy-Authenticate"
        else:
            name, source = "Authorization", "WWW-Authenticate"
        challenges: list[Challenge] = []
        for value in response.headers.get_all(source):
            try:
                challenges.append(Challenge.parse(value))
            except AuthError as exc:
                logger.info("ignoring %s from %s: %s", source, self.request_uri, exc)
        challenge = choose_challenge(challenges)
        if challenge is None:
            why = f"{response.status} without a Digest challenge we can answer"
            return name, None, why
        credentials = self._digest.authorize(challenge, "REGISTER", str(self.request_uri))
        if credentials is None:
            return name, None, self._digest.failure or "authentication refused"
        self._auth_header = name
        return name, credentials, ""

    def _send(
        self,
        now: float,
        expires: int,
        *,
        auth: tuple[str, str] | None = None,
        preemptive: bool = False,
    ) -> RegisterRequest:
        if auth is None and preemptive and self._auth_header is not None:
            value = self._digest.preemptive("REGISTER", str(self.request_uri))
            if value is not None:
                auth = (self._auth_header, value)
        self._cseq += 1
        headers: list[tuple[str, str]] = [("Expires", str(expires))]
        if auth is not None:
            headers.append(auth)
        if self._user_agent:
            headers.append(("User-Agent", self._user_agent))
        via = Via(
            transport=self._transport,
            host=self._via_host,
            port=self._via_port,
            params={"branch": self._new_branch(), "rport": None},
        )
        request = build_request(
            "REGISTER",
            self.request_uri,
            from_=NameAddr(uri=self.aor, params={"tag": self.tag}),
            to=NameAddr(uri=self.aor),
            call_id=self.call_id,
            cseq=self._cseq,
            via=via,
            contact=NameAddr(uri=self.contact),
            headers=headers,
        )
        self._inflight = _InFlight(cseq=self._cseq, expires=expires, authorized=auth is not None)
        self._deadline = now + self.timers.request_timeout
        return RegisterRequest(request=request, destination=self.destination, cseq=self._cseq)

