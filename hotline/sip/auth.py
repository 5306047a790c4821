"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

Theory of operation
-------------------
Everything here works on header *values* (the text after ``WWW-Authenticate:``
and friends), so it needs no SIP message type and does no I/O.

* ``Challenge`` and ``Credentials`` are the wire objects of the two sides, with
  ``parse`` and ``serialize``. Parsing keeps unknown parameters and accepts the
  usual liberties of real equipment (lower-case ``algorithm=md5``, no spaces
  after commas, quoted ``qop`` lists).
* ``DigestClient`` answers challenges for our outbound legs (REGISTER to the
  PBX, INVITE through a proxy). It counts ``nc`` per nonce, makes a fresh
  ``cnonce`` per answer and decides when to give up, so a wrong password costs
  one extra round trip, never a loop.
* ``DigestServer`` challenges and verifies requests from trunk peers. Its
  nonces are stateless: a timestamp and random bytes signed with HMAC, so any
  node sharing the secret can check them and expiry needs no table. Only the
  highest ``nc`` seen per nonce is remembered (bounded) to refuse replays.

Algorithms: MD5, SHA-256 and SHA-512-256, each also in ``-sess`` form. MD5
stays because most SIP equipment still speaks nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hotline.sip.errors import RemoteProtocolError

__all__ = [
    "ALGORITHMS",
    "AuthError",
    "AuthResult",
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "choose_challenge",
    "digest_response",
]


def _sha512_256(data: bytes) -> str:
    # SHA-512/256 (FIPS 180-4), not a truncated SHA-512; OpenSSL names it "sha512_256".
    return hashlib.new("sha512_256", data).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": _sha512_256,
}
# Canonical spellings, strongest first (RFC 8760 §2.4: use the strongest offered).
ALGORITHMS = (
    "SHA-512-256",
    "SHA-512-256-sess",
    "SHA-256",
    "SHA-256-sess",
    "MD5",
    "MD5-sess",
)
_CANONICAL = {name.upper(): name for name in ALGORITHMS}
# Parameters written without quotes (RFC 2617 §3.2.2, RFC 7616 §3.4); the rest are quoted.
_UNQUOTED = {"algorithm", "qop", "nc", "stale", "userhash"}
_MAX_HEADER = 8192


class AuthError(RemoteProtocolError, ValueError):
    """A malformed or unusable authentication header from the peer.

    ``status`` is the SIP response it maps to when we are the server: 400 for a
    malformed Authorization header. As a client, treat it as an auth failure.
    (Still a :class:`ValueError`, as it always was.)
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- wire syntax


def _parse_params(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``Scheme a=b, c="d"`` into the scheme and (lower-cased name, value) pairs."""
    if len(text) > _MAX_HEADER:
        raise AuthError(f"authentication header of {len(text)} characters is too long")
    text = text.strip()
    scheme, _, rest = text.partition(" ")
    if not scheme or not scheme.isascii() or "=" in scheme or "," in scheme:
        raise AuthError(f"authentication header without a scheme: {text[:60]!r}")
    params: list[tuple[str, str]] = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = rest.find("=", i)
        if eq < 0:
            raise AuthError(f"parameter without '=' in {scheme} header: {rest[i:i + 40]!r}")
        name = rest[i:eq].strip().lower()
        if not name or not all(c.isalnum() or c in "-_." for c in name) or not name.isascii():
            raise AuthError(f"bad parameter name {rest[i:eq]!r} in {scheme} header")
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            value, i = _read_quoted(rest, i)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            value = rest[i:end].strip()
            i = end
        params.append((name, value))
    return scheme, params


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[start] == '"'``; handle ``\\`` escapes."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise AuthError("unterminated quoted string in authentication header")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format(scheme: str, params: Iterable[tuple[str, str | None]]) -> str:
    parts = [
        f"{name}={value if name in _UNQUOTED else _quote(value)}"
        for name, value in params
        if value is not None
    ]
    return f"{scheme} " + ", ".join(parts)


def _canonical_algorithm(value: str | None) -> str:
    """Canonical algorithm name; unknown ones are returned as sent (and not supported)."""
    if value is None:
        return "MD5"  # RFC 2617 §3.2.1: absent means MD5
    return _CANONICAL.get(value.strip().upper(), value.strip())


# --------------------------------------------------------------------------- wire objects


@dataclass(frozen=True)
class Challenge:
    """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    """Parameters we do not interpret, in order, kept for logging and re-serialisation."""

    @classmethod
    def parse(cls, header_value: str) -> Challenge:
        """Parse one challenge; ``AuthError`` for another scheme or missing realm/nonce."""
        scheme, params = _parse_params(header_value)
        if scheme.lower() != "digest":
            raise AuthError(f"unsupported authentication scheme {scheme!r}")
        known: dict[str, str] = {}
        extra: list[tuple[str, str]] = []
        for name, value in params:
            if name in ("realm", "nonce", "algorithm", "qop", "opaque", "stale", "domain"):
                known.setdefault(name, value)
            else:
                extra.append((name, value))
        if "realm" not in known or "nonce" not in known:
            raise AuthError("Digest challenge without realm or nonce")
        qop = tuple(q.strip().lower() for q in known.get("qop", "").split(",") if q.strip())
        return cls(
            realm=known["realm"],
            nonce=known["nonce"],
            algorithm=_canonical_algorithm(known.get("algorithm")),
            qop=qop,
            opaque=known.get("opaque"),
            stale=known.get("stale", "").strip().lower() == "true",
            domain=known.get("domain"),
            extra=tuple(extra),
        )

    def serialize(self) -> str:
        """The header value, e.g. ``Digest realm="x", nonce="y", algorithm=MD5, qop="auth"``."""
        params: list[tuple[str, str | None]] = [
            ("realm", self.realm),
            ("domain", self.domain),
            ("nonce", self.nonce),
            ("opaque", self.opaque),
            ("stale", "true" if self.stale else None),
            ("algorithm", self.algorithm),
        ]
        text = _format("Digest", params)
        if self.qop:
            # qop is a quoted list in a challenge (RFC 7616 §3.3), unlike in credentials.
            text += ", qop=" + _quote(",".join(self.qop))
        if self.extra:
            text += ", " + ", ".join(f"{n}={_quote(v)}" for n, v in self.extra)
        return text

    @property
    def supported(self) -> bool:
        """True when we can answer this challenge (known algorithm and qop)."""
        qop_ok = not self.qop or "auth" in self.qop or "auth-int" in self.qop
        return self.algorithm in _CANONICAL.values() and qop_ok


@dataclass(frozen=True)
class Credentials:
    """An ``Authorization`` / ``Proxy-Authorization`` Digest credentials value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, header_value: str) -> Credentials:
        """Parse credentials; ``AuthError(400)`` when a required parameter is missing."""
        scheme, params = _parse_params(header_value)
        if scheme.lower() != "digest":
            raise AuthError(f"unsupported authentication scheme {scheme!r}")
        names = ("username", "realm", "nonce", "uri", "response")
        optional = ("algorithm", "cnonce", "opaque", "qop", "nc")
        known: dict[str, str] = {}
        extra: list[tuple[str, str]] = []
        for name, value in params:
            if name in names or name in optional:
                if name in known:
                    raise AuthError(f"repeated {name!r} in Digest credentials")
                known[name] = value
            else:
                extra.append((name, value))
        missing = [name for name in names if name not in known]
        if missing:
            raise AuthError(f"Digest credentials lack {', '.join(missing)}")
        qop = known.get("qop")
        if qop is not None and ("cnonce" not in known or "nc" not in known):
            raise AuthError("Digest credentials with qop need cnonce and nc")
        return cls(
            username=known["username"],
            realm=known["realm"],
            nonce=known["nonce"],
            uri=known["uri"],
            response=known["response"],
            algorithm=known.get("algorithm"),
            cnonce=known.get("cnonce"),
            opaque=known.get("opaque"),
            qop=qop.lower() if qop is not None else None,
            nc=known.get("nc"),
            extra=tuple(extra),
        )

    def serialize(self) -> str:
        """The header value in the parameter order most servers log."""
        params: list[tuple[str, str | None]] = [
            ("username", self.username),
            ("realm", self.realm),
            ("nonce", self.nonce),
            ("uri", self.uri),
            ("response", self.response),
            ("algorithm", self.algorithm),
            ("cnonce", self.cnonce),
            ("opaque", self.opaque),
            ("qop", self.qop),
            ("nc", self.nc),
            *self.extra,
        ]
        return _format("Digest", params)


# --------------------------------------------------------------------------- the computation


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response=`` value (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1).

    With ``qop`` None this is the RFC 2069 form ``KD(H(A1), nonce:H(A2))``.
    Raises ``AuthError`` for an algorithm we do not implement.
    """
    canonical = _canonical_algorithm(algorithm)
    base = canonical.removesuffix("-sess")
    hash_ = _HASHES.get(base) if canonical in _CANONICAL.values() else None
    if hash_ is None:
        raise AuthError(f"unsupported digest algorithm {algorithm!r}")

    def h(text: str) -> str:
        return hash_(text.encode("utf-8"))

    ha1 = h(f"{username}:{realm}:{password}")
    if canonical.endswith("-sess"):
        if cnonce is None:
            raise AuthError(f"{canonical} needs a cnonce")
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    # auth-int also covers the body (RFC 2617 §3.2.2.3).
    ha2 = h(f"{method}:{uri}:{hash_(body)}") if qop == "auth-int" else h(f"{method}:{uri}")
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge to answer among several (RFC 8760 §2.4): the strongest we support."""
    usable = [c for c in challenges if c.supported]
    if not usable:
        return None
    return min(usable, key=lambda c: ALGORITHMS.index(c.algorithm))


# --------------------------------------------------------------------------- client


def _random_cnonce() -> str:
    return secrets.token_hex(8)


class DigestClient:
    """Answers Digest challenges for one account (our outbound legs).

    Use per account (not per request): ``authorize`` for each 401/407, and
    ``reset`` once a request got past authentication (any other final response),
    so the next request may be challenged afresh. ``preemptive`` reuses the last
    nonce (with ``nc`` counted on) to save a round trip on REGISTER refreshes.
    ``cnonce_factory`` is injectable so tests can reproduce RFC examples.
    """

    _MAX_NONCES = 8

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] = _random_cnonce,
    ) -> None:
        self.username = username
        self._password = password
        self._cnonce = cnonce_factory
        self._nc: OrderedDict[str, int] = OrderedDict()
        # realm -> nonces answered for the request in progress
        self._tried: dict[str, list[str]] = {}
        self._last: Challenge | None = None
        self.failure: str | None = None
        """Why the last ``authorize`` returned None, for the log."""

    def __repr__(self) -> str:
        return f"<DigestClient {self.username!r}>"

    def authorize(
        self,
        challenge: Challenge | str,
        method: str,
        uri: str,
        body: bytes = b"",
    ) -> str | None:
        """Credentials answering ``challenge``, or None when we should give up.

        We give up when the challenge cannot be answered, when the server rejects
        the nonce we just answered without ``stale=true`` (wrong password), and
        after two answers in a row for the same realm (a fresh nonce gets one retry,
        which is what ``stale=true`` asks for).
        """
        if isinstance(challenge, str):
            try:
                challenge = Challenge.parse(challenge)
            except AuthError as exc:
                self.failure = str(exc)
                return None
        if not challenge.supported:
            self.failure = f"cannot answer {challenge.algorithm} qop={','.join(challenge.qop)}"
            return None
        tried = self._tried.setdefault(challenge.realm, [])
        if tried and challenge.nonce == tried[-1] and not challenge.stale:
            self.failure = f"realm {challenge.realm!r} rejected the password of {self.username!r}"
            return None
        if len(tried) >= 2:
            self.failure = f"realm {challenge.realm!r} keeps challenging {self.username!r}"
            return None
        tried.append(challenge.nonce)
        self.failure = None
        self._last = challenge
        return self._credentials(challenge, method, uri, body).serialize()

    def preemptive(self, method: str, uri: str, body: bytes = b"") -> str | None:
        """Credentials for a new request reusing the last challenge, or None if none yet."""
        if self._last is None:
            return None
        return self._credentials(self._last, method, uri, body).serialize()

    def reset(self) -> None:
        """The request in progress is over: forget which nonces it answered."""
        self._tried.clear()

    def _next_nc(self, nonce: str) -> int:
        count = self._nc.pop(nonce, 0) + 1
        self._nc[nonce] = count
        while len(self._nc) > self._MAX_NONCES:
            self._nc.popitem(last=False)
        return count

    def _credentials(self, challenge: Challenge, method: str, uri: str, body: bytes) -> Credentials:
        qop: str | None = None
        if "auth" in challenge.qop:
            qop = "auth"
        elif "auth-int" in challenge.qop:
            qop = "auth-int"
        needs_cnonce = qop is not None or challenge.algorithm.endswith("-sess")
        cnonce = self._cnonce() if needs_cnonce else None
        nc = f"{self._next_nc(challenge.nonce):08x}" if qop is not None else None
        response = digest_response(
            algorithm=challenge.algorithm,
            username=self.username,
            realm=challenge.realm,
            password=self._password,
            method=method,
            uri=uri,
            nonce=challenge.nonce,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        return Credentials(
            username=self.username,
            realm=challenge.realm,
            nonce=challenge.nonce,
            uri=uri,
            response=response,
            algorithm=challenge.algorithm,
            cnonce=cnonce,
            opaque=challenge.opaque,
            qop=qop,
            nc=nc,
        )


# --------------------------------------------------------------------------- server


@dataclass(frozen=True)
class AuthResult:
    """The verdict of ``DigestServer.verify``.

    ``ok`` True means authenticated as ``username``. Otherwise ``status`` is the
    response to send (401/407 with a new challenge, ``stale`` telling whether it
    should carry ``stale=true``; 400 for malformed credentials) and ``reason``
    says why, for the log (never for the peer: it would help password guessing).
    """

    ok: bool
    status: int | None = None
    reason: str = ""
    username: str | None = None
    stale: bool = False


class DigestServer:
    """Challenges and verifies Digest credentials for one realm (trunk peers).

    ``lookup(username)`` returns the peer's password, or None for unknown users.
    ``secret`` signs nonces (share it between nodes behind one dispatcher).
    Time is always an argument (``now``, seconds on a wall clock shared by nodes).
    """

    _NONCE_RANDOM = 8
    _MAC_BYTES = 12

    def __init__(
        self,
        realm: str,
        lookup: Callable[[str], str | None],
        secret: bytes,
        *,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        nonce_ttl: float = 300.0,
        allow_rfc2069: bool = False,
        max_tracked_nonces: int = 10_000,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("nonce secret must be at least 16 bytes")
        self.realm = realm
        self._lookup = lookup
        self._secret = secret
        self.algorithms = tuple(_canonical_algorithm(a) for a in algorithms)
        unknown = [a for a in self.algorithms if a not in _CANONICAL.values()]
        if unknown:
            raise ValueError(f"unsupported digest algorithms {unknown}")
        self.nonce_ttl = nonce_ttl
        self.allow_rfc2069 = allow_rfc2069
        self._max_tracked = max_tracked_nonces
        self._highest_nc: OrderedDict[str, int] = OrderedDict()

    def __repr__(self) -> str:
        return f"<DigestServer realm={self.realm!r} {'/'.join(self.algorithms)}>"

    def make_nonce(self, now: float) -> str:
        """A fresh nonce: hex(timestamp ms) ``-`` random ``-`` HMAC over both and the realm."""
        stamp = f"{int(now * 1000):x}-{secrets.token_hex(self._NONCE_RANDOM)}"
        return f"{stamp}-{self._mac(stamp)}"

    def challenges(self, now: float, *, stale: bool = False) -> list[Challenge]:
        """One challenge per configured algorithm, strongest first, sharing one nonce."""
        nonce = self.make_nonce(now)
        return [
            Challenge(realm=self.realm, nonce=nonce, algorithm=a, qop=("auth",), stale=stale)
            for a in self.algorithms
        ]

    def verify(
        self,
        credentials: Credentials | str,
        method: str,
        now: float,
        *,
        request_uri: str | None = None,
        body: bytes = b"",
    ) -> AuthResult:
        """Check credentials of a request; never raises for the peer's mistakes."""
        if isinstance(credentials, str):
            try:
                credentials = Credentials.parse(credentials)
            except AuthError as exc:
                return AuthResult(False, 400, str(exc))
        c = credentials
        if c.realm != self.realm:
            return AuthResult(False, 401, f"realm {c.realm!r} is not ours", c.username)
        algorithm = _canonical_algorithm(c.algorithm)
        if algorithm not in self.algorithms:
            return AuthResult(False, 401, f"algorithm {c.algorithm!r} not offered", c.username)
        if request_uri is not None and c.uri != request_uri:
            return AuthResult(False, 400, f"digest uri {c.uri!r} is not the request-URI")
        issued = self._nonce_time(c.nonce)
        if issued is None:
            return AuthResult(False, 401, "nonce not issued by us", c.username)
        if c.qop is None and not self.allow_rfc2069:
            return AuthResult(False, 401, "credentials without qop (RFC 2069) refused", c.username)
        if c.qop not in (None, "auth", "auth-int"):
            return AuthResult(False, 400, f"unknown qop {c.qop!r}")
        nc = self._nc_value(c.nc) if c.qop is not None else 0
        if nc is None:
            return AuthResult(False, 400, f"bad nonce count {c.nc!r}")
        password = self._lookup(c.username)
        # Compute even for unknown users so the reply time does not reveal which exist.
        expected = digest_response(
            algorithm=algorithm,
            username=c.username,
            realm=self.realm,
            password=password if password is not None else secrets.token_hex(16),
            method=method,
            uri=c.uri,
            nonce=c.nonce,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
            body=body,
        )
        if not hmac.compare_digest(expected.encode(), c.response.lower().encode()) or (
            password is None
        ):
            return AuthResult(False, 401, "wrong password or unknown user", c.username)
        # RFC 7616 §3.3: stale only when the digest itself was right.
        if now - issued > self.nonce_ttl or issued - now > 60:
            return AuthResult(False, 401, "nonce expired", c.username, stale=True)
        if c.qop is not None:
            seen = self._accept_nc(c.nonce, nc)
            if seen is None:
                # Forgotten under memory pressure (or issued by another node): a fresh
                # nonce costs the peer one round trip and keeps replays out.
                return AuthResult(False, 401, "nonce no longer tracked", c.username, stale=True)
            if not seen:
                return AuthResult(False, 401, f"nonce count {c.nc} replayed", c.username)
        return AuthResult(True, None, "ok", c.username)

    def _mac(self, stamp: str) -> str:
        data = f"{stamp}:{self.realm}".encode()
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()[: self._MAC_BYTES * 2]

    def _nonce_time(self, nonce: str) -> float | None:
        """The issue time of a nonce we signed, or None."""
        stamp, _, mac = nonce.rpartition("-")
        if not stamp or not hmac.compare_digest(self._mac(stamp).encode(), mac.encode()):
            return None
        try:
            return int(stamp.partition("-")[0], 16) / 1000
        except ValueError:
            return None

    @staticmethod
    def _nc_value(nc: str | None) -> int | None:
        if nc is None or len(nc) != 8:
            return None
        try:
            return int(nc, 16)
        except ValueError:
            return None

    def _accept_nc(self, nonce: str, nc: int) -> bool | None:
        """Whether ``nc`` is new for ``nonce`` (remembered, bounded); None if untracked.

        A nonce we do not remember is accepted only at nc=1, its first use; a higher
        count means we forgot it and cannot tell a replay from a retry.
        """
        highest = self._highest_nc.pop(nonce, None)
        if highest is None and nc != 1:
            return None
        highest = highest or 0
        self._highest_nc[nonce] = max(nc, highest)
        while len(self._highest_nc) > self._max_tracked:
            self._highest_nc.popitem(last=False)
        return nc > highest

