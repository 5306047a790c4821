"""SIP requests and responses: parse from bytes, serialise to bytes, build new ones.

Theory of operation
-------------------
:func:`parse_message` takes one whole UDP datagram (or one frame cut by
:class:`StreamFramer` on TCP/TLS) and returns a :class:`Request` or
:class:`Response`.  Header lines are unfolded and decoded as UTF-8 with
``surrogateescape``, so a GBK display name from an old PBX does not crash the
parser and is written back byte for byte.  Headers live in :class:`Headers`, a
multimap that keeps every line in order (repeated Via and Record-Route matter)
and is looked up case-insensitively with compact forms expanded.

The parser validates what the transaction and dialog layers depend on -- the
start line, Via, From, To, Call-ID, CSeq, Max-Forwards and Content-Length --
and raises :class:`RemoteProtocolError` with the status to answer (400, 413,
505...) when they are broken.  Other headers are parsed on access (e.g.
:attr:`Message.contacts`), which raises the same error type.

Deliberate leniencies: Max-Forwards may be missing (RFC 2543 peers and old
Cisco phones omit it; a UAS does not need it); Content-Length may be missing on
a datagram (body = rest of the datagram, RFC 3261 §18.3).  Deliberate
strictness: extra spaces in the request line and a Request-URI carrying ``?``
headers or ``<>`` are rejected with 400 (RFC 4475 §3.1.2.7-11 allow this).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.headers import (
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    is_token,
    split_header_list,
)
from hotline.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "DEFAULT_MAX_SIZE",
    "KNOWN_METHODS",
    "Headers",
    "Message",
    "Request",
    "Response",
    "StreamFramer",
    "build_request",
    "build_response",
    "is_keepalive",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "reason_phrase",
    "response_destination",
    "stamp_received",
]

#: Largest message accepted by default (a full UDP datagram).
DEFAULT_MAX_SIZE = 65535

KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)

_REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete",
    485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}

# Headers that may appear once only; more is a 400 (RFC 4475 §3.3.8, §3.3.9).
_REQUIRED = tuple((name, name.lower()) for name in ("Via", "From", "To", "Call-ID", "CSeq"))
_SINGLE = tuple((name, name.lower()) for name in ("From", "To", "Call-ID", "CSeq", "Max-Forwards",
                                                   "Content-Length"))
_LINE_BREAK = re.compile(r"\r?\n")
_REQUEST_LINE_RE = re.compile(r"([^ \t]+) ([^ \t]+) ([^ \t]+)")
_VERSION_RE = re.compile(r"SIP/(\d+)\.(\d+)", re.IGNORECASE)
_STATUS_LINE_RE = re.compile(r"(SIP/\d+\.\d+) (\d+)(?: (.*))?", re.IGNORECASE | re.DOTALL)
_HEADER_END = b"\r\n\r\n"


def reason_phrase(status: int) -> str:
    """The usual reason phrase for ``status`` (empty if unknown)."""
    return _REASONS.get(status, "")


def new_branch() -> str:
    """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag (64 random bits)."""
    return secrets.token_hex(8)


def new_call_id(host: str | None = None) -> str:
    """A fresh Call-ID, optionally ``@host``."""
    word = secrets.token_hex(12)
    return f"{word}@{host}" if host else word


# Header name as written -> (canonical spelling, lookup key).  Bounded: names come from
# the network, and an attacker must not grow it; past the bound names are just not cached.
_NAMES: dict[str, tuple[str, str]] = {}
_KEYS: dict[str, str] = {}
_NAMES_MAX = 2048


def _names(name: str) -> tuple[str, str]:
    names = _NAMES.get(name)
    if names is None:
        canonical = canonical_name(name)
        names = (canonical, canonical.lower())
        if len(_NAMES) < _NAMES_MAX:
            _NAMES[name] = names
            _KEYS[name] = names[1]
    return names


def _key(name: str) -> str:
    key = _KEYS.get(name)
    return key if key is not None else _names(name)[1]


class Headers:
    """Ordered SIP header multimap.

    Keeps every header line (name, value) in order.  Names are normalised with
    :func:`~hotline.sip.headers.canonical_name` on insertion (compact forms
    expanded, known names spelt canonically); lookups ignore case and accept
    compact forms.  One line may itself hold a comma-separated list; use the
    typed properties of :class:`Message` to get individual values.

    Lookups go through an index built on first use, and the typed views of
    :class:`Message` (From, To, Via...) are parsed once and kept here until a
    line of that name changes: a message is read many times on its way up.
    """

    __slots__ = ("_index", "_items", "_parsed")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] | None = None
        self._parsed: dict[str, Any] = {}
        for name, value in items:
            self.add(name, value)

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._items:
                key = _key(name)
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
            self._index = index
        return index

    def _changed(self, key: str) -> None:
        self._index = None
        if self._parsed:
            self._parsed.pop(key, None)

    def _take(self, items: list[tuple[str, str]]) -> None:
        """Append lines whose names are canonical already, in one go (the parser's way)."""
        self._items.extend(items)
        self._index = None
        if self._parsed:
            self._parsed = {}

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        canonical, key = _names(name)
        self._items.append((canonical, value))
        self._changed(key)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first line called ``name``, or ``default``."""
        values = self._lookup().get(_key(name))
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Values of every line called ``name``, in order."""
        values = self._lookup().get(_key(name))
        return list(values) if values else []

    def set(self, name: str, value: str) -> None:
        """Replace all lines called ``name`` with one line, at the first one's position."""
        canonical, key = _names(name)
        out: list[tuple[str, str]] = []
        done = False
        for n, v in self._items:
            if _key(n) == key:
                if not done:
                    out.append((canonical, value))
                    done = True
            else:
                out.append((n, v))
        if not done:
            out.append((canonical, value))
        self._items = out
        self._changed(key)

    def replace_first(self, name: str, value: str) -> None:
        """Replace the value of the first line called ``name`` (which must exist), in place."""
        key = _key(name)
        for i, (n, _) in enumerate(self._items):
            if _key(n) == key:
                self._items[i] = (n, value)
                self._changed(key)
                return
        raise LocalProtocolError(f"no {name} header to replace")

    def remove(self, name: str) -> None:
        """Remove every line called ``name``."""
        key = _key(name)
        self._items = [(n, v) for n, v in self._items if _key(n) != key]
        self._changed(key)

    def compact(self) -> None:
        """Forget the lookup index and parsed views (rebuilt when next needed).

        For messages kept long after they were handled (a transaction's last
        response, a lingering INVITE): thousands of them with their parsed
        views would be that many more objects for every full garbage collection.
        """
        self._index = None
        if self._parsed:
            self._parsed = {}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        """A shallow copy (parsed views are shared: they are never changed in place)."""
        new = Headers()
        new._items = list(self._items)
        new._parsed = dict(self._parsed)
        return new

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class Message:
    """Common part of :class:`Request` and :class:`Response`."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # -- typed views of the headers ------------------------------------------------
    #
    # Parsed once per header (cached in ``headers``, dropped when that header
    # changes).  The objects returned are shared: read them, never change them
    # in place (``NameAddr.with_tag`` and friends make copies).

    def required_header(self, name: str) -> str:
        """The first ``name`` header's value as received; a 400 :class:`RemoteProtocolError` if absent."""
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(400, f"missing {name} header")
        return value

    def _list(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.headers.get_all(name):
            out.extend(split_header_list(value))
        return out

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.required_header("Call-ID")

    @property
    def cseq(self) -> CSeq:
        """The parsed CSeq."""
        parsed = self.headers._parsed
        value = parsed.get("cseq")
        if value is None:
            value = parsed["cseq"] = CSeq.parse(self.required_header("CSeq"))
        return value

    @property
    def from_(self) -> NameAddr:
        """The parsed From header."""
        parsed = self.headers._parsed
        value = parsed.get("from")
        if value is None:
            value = parsed["from"] = NameAddr.parse(self.required_header("From"))
        return value

    @property
    def to(self) -> NameAddr:
        """The parsed To header."""
        parsed = self.headers._parsed
        value = parsed.get("to")
        if value is None:
            value = parsed["to"] = NameAddr.parse(self.required_header("To"))
        return value

    @property
    def from_tag(self) -> str | None:
        """The From tag (``None`` for RFC 2543 peers)."""
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        """The To tag, ``None`` outside a dialog."""
        return self.to.tag

    def _vias(self) -> list[Via]:
        parsed = self.headers._parsed
        value = parsed.get("via")
        if value is None:
            value = parsed["via"] = [Via.parse(v) for v in self._list("Via")]
        return value

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first (comma-joined lines are split)."""
        return list(self._vias())

    @property
    def top_via(self) -> Via:
        """The topmost Via."""
        parsed = self.headers._parsed.get("via")
        if parsed:
            return parsed[0]
        values = self.headers.get_all("Via")
        if not values:
            raise RemoteProtocolError(400, "missing Via header")
        return Via.parse(split_header_list(values[0])[0])

    def replace_top_via(self, via: Via) -> None:
        """Rewrite the topmost Via value; the other values of its line are kept as written."""
        values = self.headers.get_all("Via")
        if not values:
            raise RemoteProtocolError(400, "missing Via header")
        rest = split_header_list(values[0])[1:]
        parsed = self.headers._parsed.get("via")
        self.headers.replace_first("Via", ", ".join([str(via), *rest]))
        if parsed:
            self.headers._parsed["via"] = [via, *parsed[1:]]

    @property
    def branch(self) -> str | None:
        """The branch of the topmost Via."""
        return self.top_via.branch

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, ``None`` when absent."""
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        value = value.strip()
        if not (value.isascii() and value.isdigit()) or int(value) > 255:
            raise RemoteProtocolError(400, f"bad Max-Forwards {value!r}")
        return int(value)

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values (empty for none; a ``*`` wildcard is reported as empty too)."""
        parsed = self.headers._parsed
        value = parsed.get("contact")
        if value is None:
            values = self._list("Contact")
            value = parsed["contact"] = [] if values == ["*"] else [NameAddr.parse(v) for v in values]
        return list(value)

    @property
    def contact(self) -> NameAddr | None:
        """The first Contact, or ``None``."""
        contacts = self.contacts
        return contacts[0] if contacts else None

    @property
    def record_route(self) -> list[NameAddr]:
        """Record-Route values in message order."""
        return [NameAddr.parse(v) for v in self._list("Record-Route")]

    @property
    def route(self) -> list[NameAddr]:
        """Route values in message order."""
        return [NameAddr.parse(v) for v in self._list("Route")]

    @property
    def content_type(self) -> str | None:
        """Content-Type as written (``None`` when absent)."""
        value = self.headers.get("Content-Type")
        return value.strip() if value is not None else None

    @property
    def media_type(self) -> str | None:
        """Content-Type without parameters, lower-cased (``application/sdp``)."""
        value = self.content_type
        return value.split(";", 1)[0].strip().lower() if value else None

    def _start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """Wire form, with a Content-Length that always matches the body."""
        lines = [self._start_line()]
        wrote_length = False
        for name, value in self.headers:
            if name == "Content-Length":
                if wrote_length:
                    continue
                value = str(len(self.body))
                wrote_length = True
            lines.append(f"{name}: {value}")
        if not wrote_length:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass
class Request(Message):
    """A SIP request.  ``uri`` is the Request-URI."""

    method: str = "OPTIONS"
    uri: Uri = field(default_factory=lambda: SipUri(host="invalid"))

    @classmethod
    def parse(cls, data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Request:
        """Parse a datagram that must hold a request (see :func:`parse_message`)."""
        msg = parse_message(data, max_size=max_size)
        if not isinstance(msg, Request):
            raise RemoteProtocolError(400, "expected a request, got a response")
        return msg

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} call-id={self.headers.get('Call-ID')!r}>"


@dataclass
class Response(Message):
    """A SIP response."""

    status: int = 200
    reason: str = "OK"

    @classmethod
    def parse(cls, data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Response:
        """Parse a datagram that must hold a response (see :func:`parse_message`)."""
        msg = parse_message(data, max_size=max_size)
        if not isinstance(msg, Response):
            raise RemoteProtocolError(400, "expected a response, got a request")
        return msg

    def _start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        """1xx."""
        return self.status < 200

    @property
    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason!r} cseq={self.headers.get('CSeq')!r}>"


# -- parsing -------------------------------------------------------------------------


def _split_head(data: bytes) -> tuple[bytes, bytes | None]:
    """Split a datagram into (head, rest after the blank line or None if none)."""
    end = data.find(_HEADER_END)
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    return data.rstrip(b"\r\n"), None


def _header_lines(head: bytes) -> list[str]:
    text = head.decode("utf-8", "surrogateescape")
    # Nearly every message ends its lines with CRLF: a plain split is four times the regex's speed.
    crlf_only = text.count("\n") == text.count("\r\n")
    raw_lines = text.split("\r\n") if crlf_only else _LINE_BREAK.split(text)
    lines: list[str] = []
    for line in raw_lines:
        if line[:1] in (" ", "\t") and lines:
            # obsolete line folding: the continuation joins with one space
            lines[-1] = lines[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            lines.append(line)
    return lines


def _parse_start_line(line: str) -> Request | Response:
    if line[:4].upper() == "SIP/":
        m = _STATUS_LINE_RE.fullmatch(line)
        if not m:
            raise RemoteProtocolError(400, "malformed status line")
        version, code, reason = m.groups()
        if version.upper() != "SIP/2.0":
            raise RemoteProtocolError(505, f"version {version} not supported")
        if len(code) != 3 or not ("100" <= code <= "699"):
            raise RemoteProtocolError(400, f"status code {code[:12]} out of range")
        return Response(status=int(code), reason=reason or "")
    m = _REQUEST_LINE_RE.fullmatch(line)
    if not m:
        raise RemoteProtocolError(400, "malformed request line")
    method, uri_text, version = m.groups()
    if not _VERSION_RE.fullmatch(version):
        raise RemoteProtocolError(400, "malformed SIP version in request line")
    if version.upper() != "SIP/2.0":
        raise RemoteProtocolError(505, f"version {version} not supported")
    if not is_token(method):
        raise RemoteProtocolError(400, f"bad method {method!r}")
    if uri_text.startswith("<"):
        raise RemoteProtocolError(400, "Request-URI must not be enclosed in <>")
    uri = parse_uri(uri_text)
    if isinstance(uri, SipUri) and uri.headers:
        raise RemoteProtocolError(400, "Request-URI must not carry headers")
    return Request(method=method, uri=uri)


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all("Content-Length")
    if not values:
        return None
    if len(values) > 1:
        raise RemoteProtocolError(400, "more than one Content-Length", close_connection=True)
    value = values[0].strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        raise RemoteProtocolError(400, f"bad Content-Length {value!r}", close_connection=True)
    return int(value)


def _validate(msg: Request | Response) -> None:
    headers = msg.headers
    index = headers._lookup()  # one look at the index for all eleven checks (every message)
    for name, key in _REQUIRED:
        if key not in index:
            raise RemoteProtocolError(400, f"missing {name} header")
    for name, key in _SINGLE:
        values = index.get(key)
        if values is not None and len(values) > 1:
            raise RemoteProtocolError(400, f"more than one {name} header")
    call_id = msg.call_id
    stripped = call_id.strip()
    if not stripped:
        raise RemoteProtocolError(400, "empty Call-ID")
    if stripped != call_id:
        headers.set("Call-ID", stripped)
    cseq = msg.cseq
    msg._vias()  # parse every Via now so later layers can rely on them
    msg.from_  # noqa: B018
    msg.to  # noqa: B018
    msg.max_forwards  # noqa: B018
    if isinstance(msg, Request) and cseq.method != msg.method:
        status = 400 if msg.method in KNOWN_METHODS else 501
        raise RemoteProtocolError(status, "CSeq method does not match the request method")


def _parse_head(head: bytes) -> Request | Response:
    lines = _header_lines(head)
    msg = _parse_start_line(lines[0])
    items = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise RemoteProtocolError(400, f"malformed header line {line[:40]!r}")
        items.append((_names(name)[0], value.strip(" \t")))
    msg.headers._take(items)
    return msg


def parse_message(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Request | Response:
    """Parse one SIP message from a whole datagram (or a frame cut by :class:`StreamFramer`).

    Octets after the Content-Length are ignored (RFC 3261 §18.3, RFC 4475
    §3.1.1.8); without a Content-Length the body is the rest of the datagram.
    Raises :class:`RemoteProtocolError` for anything malformed, never another
    exception.
    """
    if len(data) > max_size:
        raise RemoteProtocolError(413, "message too large")
    data = data.lstrip(b"\r\n")
    if not data:
        raise RemoteProtocolError(400, "empty message")
    head, rest = _split_head(data)
    msg = _parse_head(head)
    length = _content_length(msg.headers)
    body = rest or b""
    if length is not None:
        if length > len(body):
            raise RemoteProtocolError(400, "Content-Length larger than the message")
        body = body[:length]
    msg.body = body
    _validate(msg)
    return msg


def is_keepalive(data: bytes) -> bool:
    """Whether a datagram is only a CRLF keep-alive (RFC 5626 §4.4.1): drop it silently."""
    return bool(data) and not data.strip(b"\r\n")


def stamp_received(request: Request, source: tuple[str, int]) -> None:
    """Apply RFC 3261 §18.2.1 and RFC 3581 to the top Via of a received request.

    Adds ``received`` when the sent-by host is not the packet's source address,
    and fills a valueless ``rport`` with the source port (setting ``received``
    too, as RFC 3581 requires).
    """
    top = request.top_via
    via = replace(top, params=dict(top.params))  # the parsed one is shared: change a copy
    host, port = source
    changed = False
    if via.host.strip("[]").lower() != host.strip("[]").lower():
        via.set_param("received", host)
        changed = True
    if via.has_rport and via.rport is None:
        via.set_param("rport", str(port))
        via.set_param("received", host)
        changed = True
    if not changed:
        return
    request.replace_top_via(via)


def response_destination(
    response: Response, source: tuple[str, int] | None, *, reliable: bool
) -> tuple[str, int]:
    """Where to send a response (RFC 3261 §18.2.2, RFC 3581 §4).

    On a reliable transport: back where the request came from (``source``).
    Otherwise ``maddr``, then ``received`` with ``rport``, then ``received``
    with the sent-by port, then the sent-by itself; default port 5060.
    """
    via = response.top_via
    if reliable and source is not None:
        return source
    port = via.port or 5060
    if via.maddr:
        return via.maddr, port
    if via.received:
        return via.received, via.rport or port
    if via.rport and source is not None:
        return source[0], via.rport
    return via.host.strip("[]"), port


class StreamFramer:
    """Cut SIP messages out of a TCP/TLS byte stream (RFC 3261 §18.3).

    Content-Length is mandatory on streams.  CRLF keep-alives (RFC 5626 §3.5.1)
    between messages are skipped.  After :meth:`feed` raised, framing is lost:
    the error has ``close_connection=True`` and the connection must be closed.
    """

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._broken = False

    def feed(self, data: bytes) -> list[Request | Response]:
        """Add received bytes; return every message now complete."""
        if self._broken:
            raise RemoteProtocolError(400, "stream framing already lost", close_connection=True)
        self._buffer += data
        out: list[Request | Response] = []
        try:
            while True:
                msg = self._next()
                if msg is None:
                    return out
                out.append(msg)
        except RemoteProtocolError as exc:
            self._broken = True
            raise RemoteProtocolError(exc.status, exc.reason, close_connection=True) from exc

    @property
    def buffered(self) -> int:
        """Number of bytes waiting for the rest of a message."""
        return len(self._buffer)

    def _next(self) -> Request | Response | None:
        buf = self._buffer
        while buf[:2] == b"\r\n":
            del buf[:2]
        if buf[:1] == b"\n":
            del buf[:1]
        end = buf.find(_HEADER_END)
        if end < 0:
            if len(buf) > self.max_size:
                raise RemoteProtocolError(413, "header block too large")
            return None
        head = bytes(buf[:end])
        msg = _parse_head(head)
        length = _content_length(msg.headers)
        if length is None:
            raise RemoteProtocolError(400, "missing Content-Length on a stream transport")
        total = end + 4 + length
        if total > self.max_size:
            raise RemoteProtocolError(413, "message too large")
        if len(buf) < total:
            return None
        msg.body = bytes(buf[end + 4 : total])
        del buf[:total]
        _validate(msg)
        return msg


# -- factory -------------------------------------------------------------------------


def _as_name_addr(value: NameAddr | str) -> NameAddr:
    return value if isinstance(value, NameAddr) else NameAddr.parse(value)


def build_request(
    method: str,
    uri: Uri | str,
    *,
    from_: NameAddr | str,
    to: NameAddr | str,
    call_id: str,
    cseq: int,
    via: Via | Iterable[Via],
    max_forwards: int = 70,
    contact: NameAddr | str | None = None,
    route: Iterable[NameAddr | str] = (),
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """Build a request with the mandatory headers of RFC 3261 §8.1.1 in the usual order."""
    if isinstance(uri, str):
        uri = parse_uri(uri)
    vias = [via] if isinstance(via, Via) else list(via)
    h = Headers()
    for v in vias:
        h.add("Via", str(v))
    h.add("Max-Forwards", str(max_forwards))
    for r in route:
        h.add("Route", str(_as_name_addr(r)))
    h.add("From", str(_as_name_addr(from_)))
    h.add("To", str(_as_name_addr(to)))
    h.add("Call-ID", call_id)
    h.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        h.add("Contact", str(_as_name_addr(contact)))
    for name, value in headers:
        h.add(name, value)
    if content_type is not None:
        h.set("Content-Type", content_type)
    return Request(method=method, uri=uri, headers=h, body=body)


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response to ``request`` per RFC 3261 §8.2.6.

    Via (all values, in order), From, To, Call-ID and CSeq are copied;
    ``to_tag`` is added to To unless the request's To already has a tag (an
    in-dialog request) or the status is 100 (a 100 Trying carries no tag).
    """
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"status {status} out of range")
    h = Headers()
    for value in request.headers.get_all("Via"):
        h.add("Via", value)
    h.add("From", request.required_header("From"))
    to = request.to
    if to_tag is not None and to.tag is None and status != 100:
        to = to.with_tag(to_tag)
        h.add("To", str(to))
    else:
        h.add("To", request.required_header("To"))
    h.add("Call-ID", request.call_id)
    h.add("CSeq", request.required_header("CSeq"))
    # The copied lines mean what they meant in the request: share its parsed views.
    parsed = h._parsed
    parsed["to"] = to
    for key in ("via", "from", "cseq"):
        view = request.headers._parsed.get(key)
        if view is not None:
            parsed[key] = view
    for name, value in headers:
        h.add(name, value)
    if content_type is not None:
        h.set("Content-Type", content_type)
    return Response(
        status=status,
        reason=reason if reason is not None else reason_phrase(status),
        headers=h,
        body=body,
    )
