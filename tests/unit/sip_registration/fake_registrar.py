"""An in-memory registrar for the registration tests: real digest checks, fake clock.

It challenges with :class:`hotline.sip.auth.DigestServer`, so every Authorization
header the client sends is verified by code that shares nothing with the client
side except the hash definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hotline.sip.auth import AuthResult, DigestServer
from hotline.sip.message import Request, Response, build_response
from hotline.sip.registration import (
    RegisterRequest,
    Registration,
    RegistrationOutput,
)

USER = "8001"
PASSWORD = "s3cret-8001"
REALM = "pbx.corp.example"
SECRET = b"registrar-test-secret-0123456789"


@dataclass
class FakeRegistrar:
    """Answers REGISTERs like a PBX: 401 without (good) credentials, 200 with them."""

    password: str = PASSWORD
    algorithms: Sequence[str] = ("SHA-256", "MD5")
    nonce_ttl: float = 300.0
    grant: int | None = None
    """Seconds granted; None grants what was asked."""
    status_407: bool = False
    """Challenge as a proxy (407 / Proxy-Authenticate) instead of 401."""
    secret: bytes = SECRET
    verdicts: list[AuthResult] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    bindings: dict[str, float] = field(default_factory=dict)
    """Contact -> absolute expiry."""

    def __post_init__(self) -> None:
        self.server = DigestServer(
            REALM,
            lambda user: self.password if user == USER else None,
            self.secret,
            algorithms=self.algorithms,
            nonce_ttl=self.nonce_ttl,
        )

    def restart(self, *, secret: bytes) -> None:
        """A PBX reboot: new nonce secret, no bindings, no nonce memory."""
        self.secret = secret
        self.bindings.clear()
        self.__post_init__()

    def answer(self, request: Request, now: float) -> Response:
        self.requests.append(request)
        header_name = "Proxy-Authorization" if self.status_407 else "Authorization"
        credentials = request.headers.get(header_name)
        if credentials is None:
            return self._challenge(request, now, stale=False)
        verdict = self.server.verify(credentials, "REGISTER", now, request_uri=str(request.uri))
        self.verdicts.append(verdict)
        if not verdict.ok:
            return self._challenge(request, now, stale=verdict.stale)
        asked = int(request.headers.get("Expires") or "3600")
        contact = str(request.contacts[0].uri)
        if asked == 0:
            self.bindings.pop(contact, None)
            return build_response(request, 200, to_tag="reg")
        granted = asked if self.grant is None else min(asked, self.grant)
        self.bindings[contact] = now + granted
        return build_response(
            request,
            200,
            to_tag="reg",
            headers=[("Contact", f"<{c}>;expires={round(t - now)}") for c, t in self.bindings.items()],
        )

    def _challenge(self, request: Request, now: float, *, stale: bool) -> Response:
        status, name = (407, "Proxy-Authenticate") if self.status_407 else (401, "WWW-Authenticate")
        headers = [(name, c.serialize()) for c in self.server.challenges(now, stale=stale)]
        return build_response(request, status, to_tag="reg", headers=headers)


def requests_of(outputs: Sequence[RegistrationOutput]) -> list[RegisterRequest]:
    return [o for o in outputs if isinstance(o, RegisterRequest)]


def events_of(outputs: Sequence[RegistrationOutput]) -> list[RegistrationOutput]:
    return [o for o in outputs if not isinstance(o, RegisterRequest)]


def exchange(
    registration: Registration,
    registrar: FakeRegistrar,
    outputs: Sequence[RegistrationOutput],
    now: float,
    *,
    limit: int = 10,
) -> list[RegistrationOutput]:
    """Let the registrar answer every request at once, until the client stops sending.

    Returns every event (not the requests) produced on the way.
    """
    events = list(events_of(outputs))
    pending = requests_of(outputs)
    for _ in range(limit):
        if not pending:
            return events
        (send,) = pending
        out = registration.handle_response(registrar.answer(send.request, now), now)
        events.extend(events_of(out))
        pending = requests_of(out)
    raise AssertionError(f"client still sending after {limit} round trips")
