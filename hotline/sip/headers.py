"""Structured SIP header values: name-addr, Via, CSeq, parameters, header names.

Only the header values that the transaction and dialog layers read are given
structure here; everything else stays a string in :class:`~hotline.sip.message.Headers`.
Parsing is liberal where RFC 4475 says a robust element may be (spaces inside
``<...>``, a token display name glued to ``<``) and strict where a guess could
change meaning (unterminated quotes, unquoted display names with separators,
bare addr-specs carrying ``?`` headers).  Every failure is a
:class:`RemoteProtocolError` with status 400.

Identity headers (From, P-Asserted-Identity, Remote-Party-ID) are also read
by caller-ID code that must take them as PBXs write them, not judge them:
:func:`parse_name_addr_lenient` and ``split_header_list(..., lenient=True)``
walk the same grammar but skip what the strict parser would answer with 400,
and leave the URI as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hotline.sip.errors import RemoteProtocolError
from hotline.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "LenientNameAddr",
    "NameAddr",
    "Via",
    "canonical_name",
    "format_params",
    "parse_name_addr_lenient",
    "parse_params",
    "quote_string",
    "split_header_list",
]

MAGIC_COOKIE = "z9hG4bK"

#: Compact header forms (RFC 3261 §7.3.3, RFC 3515, RFC 3892, RFC 4028, RFC 3903...).
COMPACT_FORMS: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "f": "From",
    "t": "To",
    "v": "Via",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
}

_CANONICAL = {
    name.lower(): name
    for name in [
        "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info",
        "Allow", "Allow-Events", "Authentication-Info", "Authorization", "Call-ID",
        "Call-Info", "Contact", "Content-Disposition", "Content-Encoding",
        "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date",
        "Diversion", "Error-Info", "Event", "Expires", "From", "History-Info",
        "In-Reply-To", "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version",
        "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path",
        "Priority", "Privacy", "Proxy-Authenticate", "Proxy-Authorization",
        "Proxy-Require", "RAck", "Reason", "Record-Route", "Refer-To", "Referred-By",
        "Remote-Party-ID", "Replaces", "Reply-To", "Require", "Retry-After", "Route",
        "RSeq", "Server", "Session-Expires", "Subject", "Subscription-State",
        "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning",
        "WWW-Authenticate",
    ]
}

# RFC 3261 token characters.
_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_LWS = " \t"


def canonical_name(name: str) -> str:
    """Expand a compact form and give a known header its usual spelling.

    Unknown header names are returned unchanged (their case is kept on output).
    """
    lower = name.lower()
    full = COMPACT_FORMS.get(lower)
    if full is not None:
        return full
    return _CANONICAL.get(lower, name)


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty RFC 3261 token."""
    return bool(text) and _TOKEN_CHARS.issuperset(text)


def quote_string(text: str) -> str:
    """Render ``text`` as a quoted-string.

    ``"``, ``\\`` and control characters become quoted-pairs; CR and LF, which
    no quoted-pair may carry, become spaces.
    """
    out = ['"']
    for c in text:
        if c in "\r\n":
            out.append(" ")
        elif c in '"\\' or ord(c) < 0x20 or c == "\x7f":
            out.append("\\" + c)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``text[start] == '"'``; return (value, index after)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise RemoteProtocolError(400, "unterminated quoted string")


def _skip_quoted(text: str, start: int, lenient: bool = False) -> int:
    """Index after the quoted-string at ``start``; leniently, an unterminated one runs to the end."""
    try:
        return _read_quoted(text, start)[1]
    except RemoteProtocolError:
        if lenient:
            return len(text)
        raise


def _check_quotes(value: str) -> None:
    """Raise 400 for an unterminated quoted string in ``value`` (what the full scan would find)."""
    i = 0
    while True:
        i = value.find('"', i)
        if i < 0:
            return
        i = _skip_quoted(value, i)


def split_header_list(value: str, *, lenient: bool = False) -> list[str]:
    """Split a comma-separated header value, ignoring commas in quotes and ``<...>``.

    Items are stripped.  An empty item (``a,,b``) is a 400; ``lenient`` drops
    empty items instead and lets an unterminated quoted string run to the end.
    """
    if "," not in value:  # the usual case: one item, nothing to scan for
        item = value.strip()
        if not item:
            if lenient:
                return []
            raise RemoteProtocolError(400, "empty element in header list")
        if '"' in item and not lenient:
            _check_quotes(item)
        return [item]
    items: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(value):
        c = value[i]
        if c == '"':
            i = _skip_quoted(value, i, lenient)
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            items.append(value[start:i].strip())
            start = i + 1
        i += 1
    items.append(value[start:].strip())
    if any(not item for item in items):
        if lenient:
            return [item for item in items if item]
        raise RemoteProtocolError(400, "empty element in header list")
    return items


def parse_params(text: str, *, lenient: bool = False) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` header parameters (LWS around ``;`` and ``=`` allowed).

    Values are kept as written, quoted-strings with their quotes, so that a
    parameter such as ``+sip.instance="<urn:uuid:...>"`` serialises unchanged.
    ``text`` must be empty or start with ``;``.  ``lenient`` skips what the strict
    reading rejects (junk up to the next ``;``, nameless parameters), reads
    ``name=`` as an empty value and an unterminated quoted value to the end.
    """
    params: dict[str, str | None] = {}
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in _LWS:
            i += 1
        if i >= n:
            return params
        if text[i] != ";":
            if not lenient:
                raise RemoteProtocolError(400, f"junk in parameters: {text[i:]!r}")
            i = _next_semicolon(text, i)
            continue
        i += 1
        while i < n and text[i] in _LWS:
            i += 1
        start = i
        while i < n and text[i] in _TOKEN_CHARS:
            i += 1
        name = text[start:i]
        if not name:
            if not lenient:
                raise RemoteProtocolError(400, "empty parameter")
            i = _next_semicolon(text, i)
            continue
        while i < n and text[i] in _LWS:
            i += 1
        value: str | None = None
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in _LWS:
                i += 1
            if i < n and text[i] == '"':
                end = _skip_quoted(text, i, lenient)
                value = text[i:end]
                i = end
            else:
                start = i
                # token / host / IPv6 reference
                while i < n and text[i] not in ";, \t\"<>":
                    i += 1
                value = text[start:i]
                if not value and not lenient:
                    raise RemoteProtocolError(400, f"parameter {name} has an empty value")
        params[name] = value


def _next_semicolon(text: str, i: int) -> int:
    semi = text.find(";", i)
    return len(text) if semi < 0 else semi


def format_params(params: dict[str, str | None]) -> str:
    """Serialise header parameters (values already in wire form)."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _get_param(params: dict[str, str | None], name: str) -> str | None:
    lname = name.lower()
    for key, value in params.items():
        if key.lower() == lname:
            return value
    return None


def _has_param(params: dict[str, str | None], name: str) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key in params)


def _set_param(params: dict[str, str | None], name: str, value: str | None) -> None:
    lname = name.lower()
    for key in list(params):
        if key.lower() == lname:
            params[key] = value
            return
    params[name] = value


@dataclass
class NameAddr:
    """``"Display" <uri>;param=value`` as in From, To, Contact, Route, Record-Route...

    ``display_name`` is the decoded display name (quotes and escapes removed)
    or ``None``.  ``params`` are the header parameters outside ``<...>``;
    ``tag`` is one of them.  Parameters written after a bare addr-spec (no
    ``<>``) are header parameters too, as RFC 3261 §20 says.
    """

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The ``tag`` header parameter, or ``None``."""
        return _get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        """Value of header parameter ``name`` (case-insensitive)."""
        return _get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether header parameter ``name`` is present (case-insensitive)."""
        return _has_param(self.params, name)

    def with_tag(self, tag: str) -> NameAddr:
        """A copy with the ``tag`` parameter set."""
        params = dict(self.params)
        _set_param(params, "tag", tag)
        return NameAddr(uri=self.uri, display_name=self.display_name, params=params)

    @property
    def sip_uri(self) -> SipUri:
        """The URI as a :class:`SipUri`; 416 if it is of another scheme."""
        if not isinstance(self.uri, SipUri):
            raise RemoteProtocolError(416, f"not a SIP URI: {self.uri}")
        return self.uri

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse one name-addr or addr-spec with its parameters."""
        display, uri_text, params_text = _split_name_addr(text, lenient=False)
        return cls(uri=parse_uri(uri_text), display_name=display, params=parse_params(params_text))

    def __str__(self) -> str:
        head = f"<{self.uri}>"
        if self.display_name is not None:
            head = f"{quote_string(self.display_name)} {head}"
        return head + format_params(self.params)


def _split_name_addr(text: str, *, lenient: bool) -> tuple[str | None, str, str]:
    """Cut a name-addr or addr-spec into (display name, URI text, header parameter text).

    Strict, a quoted display name must be followed by ``<``, an unquoted one must
    be tokens, and a bare addr-spec may not hold ``?`` or ``,``.  Lenient, text
    between a quoted name and ``<`` is ignored (with no ``<`` at all the rest is
    an addr-spec), any words before ``<`` are a name and ``?``/``,`` are kept.
    Both raise 400 for an empty value, an unterminated quote or a missing ``>``.
    """
    text = text.strip(_LWS)
    if not text:
        raise RemoteProtocolError(400, "empty address")
    display: str | None = None
    rest = text
    quoted = text.startswith('"')
    if quoted:
        display, i = _read_quoted(text, 0)
        rest = text[i:].lstrip(_LWS)
        if not rest.startswith("<") and not lenient:
            raise RemoteProtocolError(400, "quoted display name not followed by <")
    lt = rest.find("<")
    if lt >= 0:
        raw = rest[:lt].strip(_LWS)
        if raw and not quoted:
            # Unquoted display name: tokens separated by LWS.  Non-ASCII is
            # tolerated (real PBXs send raw UTF-8/GBK names); separators are not.
            for word in raw.split():
                if not lenient and not all(c in _TOKEN_CHARS or ord(c) > 0x7F for c in word):
                    raise RemoteProtocolError(400, f"non-token display name {raw!r}")
            display = " ".join(raw.split())
        gt = rest.find(">", lt)
        if gt < 0:
            raise RemoteProtocolError(400, "missing > in address")
        # RFC 4475 §3.1.2.14: a robust element may ignore spaces inside <...>.
        return display, rest[lt + 1 : gt].strip(_LWS), rest[gt + 1 :]
    # addr-spec without <>: parameters after it belong to the header.
    uri_text, semi, params_text = rest.partition(";")
    uri_text = uri_text.strip(_LWS)
    if not lenient and ("?" in uri_text or "," in uri_text):
        raise RemoteProtocolError(400, "addr-spec with ',' or '?' must be enclosed in <>")
    scheme, colon, after = uri_text.partition(":")
    if colon and after[:1] in (" ", "\t"):
        # Seen from a real dispatch system: "sip: 172.17.2.2:5060".
        uri_text = scheme + ":" + after.lstrip(_LWS)
    return display, uri_text, semi + params_text


@dataclass(frozen=True, slots=True)
class LenientNameAddr:
    """A name-addr as :func:`parse_name_addr_lenient` reads it: the URI kept as text."""

    display_name: str | None
    """Display name without its quotes and quoted-pairs, ``None`` when absent."""
    uri: str
    """The URI between ``<>`` (or the bare addr-spec) as written, not validated."""
    params: dict[str, str]
    """Header parameters after the address: names lower-cased, values without
    their quotes, ``""`` for a parameter without a value."""


def parse_name_addr_lenient(text: str) -> LenientNameAddr | None:
    """Read ``"name" <uri>;params``, ``name <uri>`` or ``uri;params`` as PBXs write them.

    For values that are read rather than answered (who is calling): the grammar
    of :meth:`NameAddr.parse` without its verdicts (see :func:`_split_name_addr`
    and ``parse_params(lenient=True)``); the URI only needs a scheme.  ``None``
    when no URI can be found.
    """
    try:
        display, uri, params_text = _split_name_addr(text, lenient=True)
    except RemoteProtocolError:
        return None
    if ":" not in uri:
        return None
    params = parse_params(params_text, lenient=True)
    return LenientNameAddr(
        display_name=display,
        uri=uri,
        params={name.lower(): (value or "").strip('"') for name, value in params.items()},
    )


_VIA_RE = re.compile(
    r"([^/ \t]+)[ \t]*/[ \t]*([^/ \t]+)[ \t]*/[ \t]*([^ \t;]+)[ \t]+([^;]+?)[ \t]*(;.*)?",
    re.DOTALL,
)
_SENT_BY_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+)(?::(\d{1,5}))?")


@dataclass
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter, or ``None``."""
        return _get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter, or ``None``."""
        return _get_param(self.params, "received")

    @property
    def has_rport(self) -> bool:
        """Whether ``rport`` is present (with or without a value, RFC 3581)."""
        return _has_param(self.params, "rport")

    @property
    def rport(self) -> int | None:
        """The numeric ``rport`` value, ``None`` if absent or valueless."""
        value = _get_param(self.params, "rport")
        return int(value) if value is not None and value.isascii() and value.isdigit() else None

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter, or ``None``."""
        return _get_param(self.params, "maddr")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter as an integer, or ``None``."""
        value = _get_param(self.params, "ttl")
        return int(value) if value is not None and value.isascii() and value.isdigit() else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """``(host lower-cased, port or None)`` for transaction matching."""
        return self.host.lower(), self.port

    @property
    def rfc3261_branch(self) -> bool:
        """Whether the branch carries the RFC 3261 magic cookie and something after it."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7

    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` (case-insensitive)."""
        return _get_param(self.params, name)

    def set_param(self, name: str, value: str | None) -> None:
        """Set (or add) parameter ``name``."""
        _set_param(self.params, name, value)

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one Via value (not a comma-separated list)."""
        m = _VIA_RE.fullmatch(text.strip(_LWS))
        if not m:
            raise RemoteProtocolError(400, f"malformed Via: {text!r}")
        name, version, transport, sent_by, params = m.groups()
        if name.upper() != "SIP":
            raise RemoteProtocolError(400, f"Via protocol is not SIP: {name!r}")
        if version != "2.0":
            raise RemoteProtocolError(505, f"Via version {version} not supported")
        if not is_token(transport):
            raise RemoteProtocolError(400, f"bad Via transport {transport!r}")
        sb = _SENT_BY_RE.fullmatch(sent_by.replace(" ", "").replace("\t", ""))
        if not sb:
            raise RemoteProtocolError(400, f"bad Via sent-by {sent_by!r}")
        port = int(sb.group(2)) if sb.group(2) else None
        if port is not None and port > 65535:
            raise RemoteProtocolError(400, f"bad Via port {port}")
        return cls(
            protocol=f"{name.upper()}/{version}",
            transport=transport.upper(),
            host=sb.group(1),
            port=port,
            params=parse_params(params or ""),
        )

    def __str__(self) -> str:
        host = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"{self.protocol}/{self.transport} {host}{format_params(self.params)}"


MAX_CSEQ = 2**32 - 1


@dataclass(frozen=True)
class CSeq:
    """``CSeq: 4711 INVITE`` -- sequence number (< 2**32) and method."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse a CSeq value; 400 if the number is not 0..2**32-1 or the method not a token."""
        parts = text.split()
        if len(parts) != 2:
            raise RemoteProtocolError(400, f"malformed CSeq: {text!r}")
        number, method = parts
        if not (number.isascii() and number.isdigit()) or len(number.lstrip("0")) > 10:
            raise RemoteProtocolError(400, f"bad CSeq number {number!r}")
        seq = int(number)
        if seq > MAX_CSEQ:
            raise RemoteProtocolError(400, f"CSeq number {number} too large")
        if not is_token(method):
            raise RemoteProtocolError(400, f"bad CSeq method {method!r}")
        return cls(seq, method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"
