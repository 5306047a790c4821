"""SDP (RFC 4566) wire objects and the offer/answer model (RFC 3264) for an audio UA.

Theory of operation
-------------------
``SessionDescription.parse`` turns a body into frozen dataclasses and
``serialize`` turns them back into CRLF-terminated bytes in the RFC 4566 line
order.  The parser is strict about *structure* (``v=`` first, well-formed
``o=``/``c=``/``m=``/``t=`` lines, ``<type>=<value>`` everywhere) because a body
we cannot frame is the peer's bug and maps to 400.  It is lenient about
*attribute values* (``a=rtpmap``, ``a=ptime`` …): attributes are kept verbatim,
and the typed accessors return ``None`` for a value they cannot read, since
real equipment sends odd ones (see the tests' corpus) and one odd attribute on a
video stream must not fail an audio call.  Lines of unknown type are kept
verbatim and written back after the attributes of their section.

On top of that sit three pure functions for hotline's audio-only user agent:

* ``negotiate_answer`` answers a remote offer (initial INVITE or re-INVITE),
  picking G.711 and RFC 4733 telephone-events, honouring ptime and direction,
  and rejecting every other stream with port 0 (RFC 3264 §6).
* ``make_offer`` builds our offer for outbound legs (and for late-offer INVITEs).
* ``parse_answer`` checks a peer's answer against the offer we sent.

Each returns (or carries) a ``NegotiatedMedia`` that tells the media layer what
to send where.  ``LocalSdpSession`` keeps our ``o=`` session id and version so a
dialog's successive SDPs carry an incremented version (RFC 3264 §8).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DIRECTIONS",
    "Answer",
    "Attribute",
    "Connection",
    "LocalSdpSession",
    "MediaDescription",
    "NegotiatedMedia",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "Timing",
    "check_offer",
    "make_offer",
    "negotiate_answer",
    "parse_answer",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# Static RTP payload types of RFC 3551 that an audio UA may meet without a=rtpmap.
_STATIC_AUDIO: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    18: ("G729", 8000),
}
# The codecs this module can choose; the media layer implements exactly these.
_G711 = {"PCMU": 0, "PCMA": 8}
_TELEPHONE_EVENT = "telephone-event"
_MIN_PTIME, _MAX_PTIME, _DEFAULT_PTIME = 10, 60, 20
# RFC 4733 §3.2: without fmtp, events 0-15 (the DTMF keys) are implied; we handle those.
_OUR_EVENTS = frozenset(range(16))
_MAX_BODY = 64 * 1024


class SdpError(ValueError):
    """A remote SDP problem, carrying the SIP status the request should be answered with.

    ``status`` is 400 for a body that is not valid SDP and 488 (Not Acceptable Here)
    for a well-formed description we cannot accept (no common codec, rejected audio).
    The fault is always the peer's: catch it in the session layer and answer.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"SdpError({self.status}, {self.message!r})"


# --------------------------------------------------------------------------- wire objects


@dataclass(frozen=True)
class Origin:
    """The ``o=`` line. Ids are kept as text: some stacks send non-numeric ones."""

    username: str
    session_id: str
    session_version: str
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise SdpError(400, f"o= needs 6 fields, got {len(parts)}: {value!r}")
        return cls(*parts)

    def serialize(self) -> str:
        return " ".join(
            (
                self.username,
                self.session_id,
                self.session_version,
                self.nettype,
                self.addrtype,
                self.address,
            )
        )


@dataclass(frozen=True)
class Connection:
    """A ``c=`` line: ``address`` keeps any multicast ``/ttl/count`` suffix verbatim."""

    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise SdpError(400, f"c= needs 3 fields, got {len(parts)}: {value!r}")
        return cls(*parts)

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """A ``c=IN IP4|IP6`` line for an address literal (hostnames are taken as IP4)."""
        return cls("IN", _addrtype(address), address)

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl`` suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_hold_address(self) -> bool:
        """True for RFC 2543-style hold (``c=IN IP4 0.0.0.0``, RFC 3264 §8.4)."""
        return self.host in ("0.0.0.0", "::")

    def serialize(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True)
class Attribute:
    """One ``a=`` line: ``a=name`` (flag, ``value`` None) or ``a=name:value``."""

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, sep, value = text.partition(":")
        if not name:
            raise SdpError(400, f"a= line without a name: {text!r}")
        return cls(name, value if sep else None)

    def serialize(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True)
class RtpMap:
    """A parsed ``a=rtpmap:<pt> <encoding>/<clock>[/<channels>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap | None:
        """The rtpmap, or None when the value is not readable (kept raw then)."""
        pt_text, _, rest = value.strip().partition(" ")
        pieces = rest.strip().split("/")
        if not (_is_pt(pt_text) and len(pieces) in (2, 3) and pieces[0]):
            return None
        if not all(p.isdigit() and p.isascii() for p in pieces[1:]):
            return None
        channels = int(pieces[2]) if len(pieces) == 3 else None
        return cls(int(pt_text), pieces[0], int(pieces[1]), channels)

    def serialize(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True)
class Timing:
    """A ``t=`` line with the ``r=`` lines that follow it (kept as text)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True)
class MediaDescription:
    """One ``m=`` section with its own lines; attributes stay in wire order."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    unknown_lines: tuple[str, ...] = ()

    # -- typed views on the attributes -------------------------------------------------

    def attribute_values(self, name: str) -> list[str]:
        """The values of every ``a=name:value`` line, in order."""
        return [a.value for a in self.attributes if a.name == name and a.value is not None]

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name:value`` line, or None."""
        values = self.attribute_values(name)
        return values[0] if values else None

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """Readable rtpmaps by payload type; the first wins when a PT is mapped twice."""
        result: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            rtpmap = RtpMap.parse(value)
            if rtpmap is not None and rtpmap.payload_type not in result:
                result[rtpmap.payload_type] = rtpmap
        return result

    @property
    def fmtps(self) -> dict[int, str]:
        """Format parameters by payload type (first one wins)."""
        result: dict[int, str] = {}
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = value.strip().partition(" ")
            if _is_pt(pt_text) and int(pt_text) not in result:
                result[int(pt_text)] = params.strip()
        return result

    @property
    def payload_types(self) -> list[int]:
        """The numeric formats of the m= line, duplicates removed, order kept."""
        seen: list[int] = []
        for fmt in self.formats:
            if _is_pt(fmt) and int(fmt) not in seen:
                seen.append(int(fmt))
        return seen

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in whole milliseconds (decimals are rounded), or None."""
        return _milliseconds(self.attribute("ptime"))

    @property
    def maxptime(self) -> int | None:
        """``a=maxptime`` in whole milliseconds, or None."""
        return _milliseconds(self.attribute("maxptime"))

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute, or None when absent."""
        return _direction_of(self.attributes)

    @property
    def rtcp(self) -> tuple[int, Connection | None] | None:
        """``a=rtcp`` (RFC 3605): the RTCP port and optional address, or None."""
        value = self.attribute("rtcp")
        if value is None:
            return None
        parts = value.split()
        if not parts or not _is_port(parts[0]):
            return None
        conn = Connection(*parts[1:4]) if len(parts) == 4 else None
        return int(parts[0]), conn

    # -- wire ------------------------------------------------------------------------

    def _m_line(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return " ".join((self.media, port, self.proto, *self.formats))

    def lines(self) -> Iterator[str]:
        """The section's lines, without line terminators, in RFC 4566 order."""
        yield "m=" + self._m_line()
        if self.information is not None:
            yield "i=" + self.information
        if self.connection is not None:
            yield "c=" + self.connection.serialize()
        yield from ("b=" + b for b in self.bandwidths)
        if self.key is not None:
            yield "k=" + self.key
        yield from ("a=" + a.serialize() for a in self.attributes)
        yield from self.unknown_lines


@dataclass(frozen=True)
class SessionDescription:
    """A whole SDP body. ``parse``/``serialize`` are the wire entry points."""

    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    timing: tuple[Timing, ...] = (Timing(),)
    zone: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    unknown_lines: tuple[str, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    version: int = 0

    @classmethod
    def parse(cls, body: bytes | str) -> SessionDescription:
        """Parse an SDP body; raise ``SdpError(400, ...)`` when it is not valid SDP."""
        return _Parser(body).parse()

    def serialize(self) -> bytes:
        """The body as CRLF-terminated lines (non-UTF-8 bytes survive a round trip)."""
        return "".join(line + "\r\n" for line in self.lines()).encode("utf-8", "surrogateescape")

    def __bytes__(self) -> bytes:
        return self.serialize()

    def lines(self) -> Iterator[str]:
        """All lines, without terminators, in RFC 4566 order."""
        yield f"v={self.version}"
        yield "o=" + self.origin.serialize()
        yield "s=" + self.session_name
        if self.information is not None:
            yield "i=" + self.information
        if self.uri is not None:
            yield "u=" + self.uri
        yield from ("e=" + e for e in self.emails)
        yield from ("p=" + p for p in self.phones)
        if self.connection is not None:
            yield "c=" + self.connection.serialize()
        yield from ("b=" + b for b in self.bandwidths)
        for timing in self.timing:
            yield f"t={timing.start} {timing.stop}"
            yield from ("r=" + r for r in timing.repeats)
        if self.zone is not None:
            yield "z=" + self.zone
        if self.key is not None:
            yield "k=" + self.key
        yield from ("a=" + a.serialize() for a in self.attributes)
        yield from self.unknown_lines
        for media in self.media:
            yield from media.lines()

    # -- effective values (media level overrides session level) -------------------------

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The ``c=`` that applies to a media section: its own, else the session's."""
        return media.connection if media.connection is not None else self.connection

    def direction_for(self, media: MediaDescription) -> str:
        """The direction of a media section: its own, else the session's, else sendrecv."""
        return media.direction or _direction_of(self.attributes) or "sendrecv"

    def __repr__(self) -> str:
        kinds = ",".join(f"{m.media}:{m.port}" for m in self.media)
        origin = f"{self.origin.session_id}/{self.origin.session_version}"
        return f"<SessionDescription o={origin} [{kinds}]>"


class _Parser:
    """Line-by-line SDP reader; keeps the line number for error messages."""

    def __init__(self, body: bytes | str) -> None:
        if isinstance(body, bytes):
            if len(body) > _MAX_BODY:
                raise SdpError(400, f"SDP body of {len(body)} bytes is larger than we accept")
            # surrogateescape: a GBK session name must not fail the call, and survives
            # serialize() byte for byte.
            body = body.decode("utf-8", "surrogateescape")
        elif len(body) > _MAX_BODY:
            raise SdpError(400, f"SDP body of {len(body)} characters is larger than we accept")
        # Bare LF is common from hand-written and older stacks; RFC 4566 §5 allows it.
        self.lines = [line.rstrip("\r") for line in body.split("\n")]
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()

    def _items(self) -> Iterator[tuple[int, str, str]]:
        for number, line in enumerate(self.lines, start=1):
            if len(line) < 2 or line[1] != "=" or not line[0].isalpha() or not line[0].isascii():
                raise SdpError(400, f"SDP line {number} is not <type>=<value>: {line[:40]!r}")
            yield number, line[0], line[2:]

    def parse(self) -> SessionDescription:
        items = list(self._items())
        if not items or items[0][1] != "v":
            raise SdpError(400, "SDP must start with a v= line")
        if items[0][2].strip() != "0":
            raise SdpError(400, f"unsupported SDP version v={items[0][2]!r}")
        session: dict[str, object] = {}
        lists: dict[str, list[str]] = {"e": [], "p": [], "b": []}
        timing: list[Timing] = []
        attributes: list[Attribute] = []
        unknown: list[str] = []
        media: list[MediaDescription] = []
        index = 1
        while index < len(items):
            number, kind, value = items[index]
            if kind == "m":
                section, index = self._media(items, index)
                media.append(section)
                continue
            index += 1
            try:
                if kind in ("o", "s", "i", "u", "c", "z", "k"):
                    if kind in session:
                        raise SdpError(400, f"repeated {kind}= line")
                    if kind == "o":
                        session["o"] = Origin.parse(value)
                    elif kind == "c":
                        session["c"] = Connection.parse(value)
                    else:
                        session[kind] = value
                elif kind in ("e", "p", "b"):
                    lists[kind].append(value)
                elif kind == "t":
                    timing.append(_parse_timing(value))
                elif kind == "r":
                    if not timing:
                        raise SdpError(400, "r= before any t= line")
                    last = timing[-1]
                    timing[-1] = dataclasses.replace(last, repeats=(*last.repeats, value))
                elif kind == "a":
                    attributes.append(Attribute.parse(value))
                elif kind == "v":
                    raise SdpError(400, "repeated v= line")
                else:
                    unknown.append(f"{kind}={value}")
            except SdpError as exc:
                raise SdpError(400, f"SDP line {number}: {exc.message}") from None
        origin = session.get("o")
        if not isinstance(origin, Origin):
            raise SdpError(400, "SDP has no o= line")
        if "s" not in session:
            raise SdpError(400, "SDP has no s= line")
        connection = session.get("c")
        return SessionDescription(
            origin=origin,
            session_name=str(session["s"]),
            information=_opt(session.get("i")),
            uri=_opt(session.get("u")),
            emails=tuple(lists["e"]),
            phones=tuple(lists["p"]),
            connection=connection if isinstance(connection, Connection) else None,
            bandwidths=tuple(lists["b"]),
            # A missing t= is a common omission; "t=0 0" is what every sender means.
            timing=tuple(timing) or (Timing(),),
            zone=_opt(session.get("z")),
            key=_opt(session.get("k")),
            attributes=tuple(attributes),
            unknown_lines=tuple(unknown),
            media=tuple(media),
        )

    def _media(
        self, items: Sequence[tuple[int, str, str]], index: int
    ) -> tuple[MediaDescription, int]:
        number, _, value = items[index]
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(400, f"SDP line {number}: m= needs media, port and proto: {value!r}")
        port_text, _, count_text = parts[1].partition("/")
        if not _is_port(port_text) or (count_text and not count_text.isdigit()):
            raise SdpError(400, f"SDP line {number}: bad port {parts[1]!r} in m= line")
        if not parts[3:] and port_text != "0":
            raise SdpError(400, f"SDP line {number}: m= line lists no formats")
        single: dict[str, str] = {}
        bandwidths: list[str] = []
        attributes: list[Attribute] = []
        unknown: list[str] = []
        connection: Connection | None = None
        index += 1
        while index < len(items) and items[index][1] != "m":
            line_no, kind, line_value = items[index]
            index += 1
            try:
                if kind == "c":
                    # RFC 4566 allows several c= for layered multicast; a unicast UA uses one.
                    if connection is None:
                        connection = Connection.parse(line_value)
                elif kind in ("i", "k"):
                    if kind in single:
                        raise SdpError(400, f"repeated {kind}= line in media section")
                    single[kind] = line_value
                elif kind == "b":
                    bandwidths.append(line_value)
                elif kind == "a":
                    attributes.append(Attribute.parse(line_value))
                elif kind in ("v", "o", "s", "t", "r", "z", "u", "e", "p"):
                    raise SdpError(400, f"{kind}= line inside a media section")
                else:
                    unknown.append(f"{kind}={line_value}")
            except SdpError as exc:
                raise SdpError(400, f"SDP line {line_no}: {exc.message}") from None
        section = MediaDescription(
            media=parts[0],
            port=int(port_text),
            port_count=int(count_text) if count_text else None,
            proto=parts[2],
            formats=tuple(parts[3:]),
            information=single.get("i"),
            connection=connection,
            bandwidths=tuple(bandwidths),
            key=single.get("k"),
            attributes=tuple(attributes),
            unknown_lines=tuple(unknown),
        )
        return section, index


# --------------------------------------------------------------------------- offer/answer


@dataclass(frozen=True)
class NegotiatedMedia:
    """What the media layer needs for one negotiated audio stream.

    ``direction`` is from *our* point of view: ``sendrecv`` (send and receive),
    ``sendonly`` (send, expect nothing), ``recvonly`` (do not send), ``inactive``.
    ``on_hold`` is True when the peer has put the call on hold (sendonly/inactive
    or an RFC 2543 ``c=0.0.0.0``); the media layer then stops sending RTP unless
    ``direction`` allows it (e.g. music on hold in ``sendonly``).
    """

    codec: str
    payload_type: int
    clock_rate: int
    telephone_event_pt: int | None
    ptime_ms: int
    remote_address: str
    remote_port: int
    direction: str
    on_hold: bool
    remote_rtcp_port: int | None = None
    """The peer's ``a=rtcp`` port (RFC 3605); None means RTP port + 1 (RFC 3550)."""

    @property
    def rtcp_port(self) -> int:
        """Where to send RTCP: the ``a=rtcp`` port, else the RTP port + 1."""
        return self.remote_rtcp_port if self.remote_rtcp_port is not None else self.remote_port + 1

    @property
    def sends(self) -> bool:
        """True when we should transmit RTP."""
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        """True when we should expect RTP."""
        return self.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True)
class Answer:
    """The result of ``negotiate_answer``: our SDP and the media it sets up."""

    sdp: SessionDescription
    media: NegotiatedMedia

    @property
    def body(self) -> bytes:
        """The answer as the body of a 200 OK (or reliable 183)."""
        return self.sdp.serialize()


@dataclass
class LocalSdpSession:
    """Our ``o=`` line for one dialog: a fixed session id and a version that grows.

    RFC 3264 §8: every new SDP we send in the dialog carries the version of the
    previous one plus one, unless it is identical (then the version is kept, which
    tells the peer nothing changed, e.g. for a session-timer refresh).
    """

    username: str = "hotline"
    session_id: int = field(default_factory=lambda: secrets.randbelow(2**30) + 1)
    version: int | None = None
    _last: tuple[str, ...] | None = field(default=None, repr=False)

    def stamp(self, sdp: SessionDescription) -> SessionDescription:
        """Give ``sdp`` our o= line, with the version bumped if its content changed."""
        content = tuple(line for line in sdp.lines() if not line.startswith("o="))
        if self.version is None:
            self.version = self.session_id
        elif content != self._last:
            self.version += 1
        self._last = content
        origin = Origin(
            self.username,
            str(self.session_id),
            str(self.version),
            "IN",
            sdp.origin.addrtype,
            sdp.origin.address,
        )
        return dataclasses.replace(sdp, origin=origin)


def make_offer(
    local_address: str,
    local_port: int,
    codecs: Sequence[str] = ("PCMU", "PCMA"),
    telephone_event_pt: int | None = 101,
    ptime: int = _DEFAULT_PTIME,
    direction: str = "sendrecv",
    *,
    session: LocalSdpSession | None = None,
) -> SessionDescription:
    """Our audio offer: G.711 in preference order, optional RFC 4733 events.

    ``session`` keeps the o= line across re-offers of the same dialog (a fresh
    one is made when omitted). Raises ``ValueError`` for arguments that are our
    own bug (unknown codec, bad direction/ptime).
    """
    if not codecs:
        raise ValueError("make_offer needs at least one codec")
    pts = [_g711_pt(codec) for codec in codecs]
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    if not _MIN_PTIME <= ptime <= _MAX_PTIME:
        raise ValueError(f"ptime {ptime} outside {_MIN_PTIME}-{_MAX_PTIME} ms")
    attributes = [Attribute("rtpmap", f"{pt} {_codec_name(pt)}/8000") for pt in pts]
    formats = [str(pt) for pt in pts]
    if telephone_event_pt is not None:
        if not 96 <= telephone_event_pt <= 127:
            raise ValueError(f"telephone-event PT {telephone_event_pt} is not dynamic")
        formats.append(str(telephone_event_pt))
        attributes.append(Attribute("rtpmap", f"{telephone_event_pt} {_TELEPHONE_EVENT}/8000"))
        attributes.append(Attribute("fmtp", f"{telephone_event_pt} 0-15"))
    attributes += [Attribute("ptime", str(ptime)), Attribute(direction)]
    audio = MediaDescription(
        "audio", local_port, "RTP/AVP", tuple(formats), attributes=tuple(attributes)
    )
    sdp = _our_description(local_address, (audio,), (Timing(),))
    return (session or LocalSdpSession()).stamp(sdp)


def _choose_audio(
    offer: SessionDescription, supported_codecs: Sequence[str]
) -> tuple[int, tuple[int, str], Connection]:
    """(index, (payload type, codec), connection) of the stream an answer would accept."""
    supported = [codec.upper() for codec in supported_codecs]
    for codec in supported:
        _g711_pt(codec)
    chosen_index: int | None = None
    chosen: tuple[int, str] | None = None
    for index, media in enumerate(offer.media):
        if _acceptable_audio(media):
            chosen = _first_common_codec(media, supported)
            if chosen is not None:
                chosen_index = index
                break
    if chosen_index is None or chosen is None:
        offered = "; ".join(_describe(m) for m in offer.media) or "no media"
        raise SdpError(488, f"no common audio codec: we support {supported}, offer has {offered}")
    remote = offer.media[chosen_index]
    conn = offer.connection_for(remote)
    if conn is None:
        raise SdpError(400, f"no c= line for the {remote.media} stream (session or media level)")
    return chosen_index, chosen, conn


def check_offer(offer: SessionDescription, *, supported_codecs: Sequence[str] = ("PCMU", "PCMA")) -> None:
    """Raise the ``SdpError`` :func:`negotiate_answer` would raise for ``offer``, without building an answer.

    For turning an unanswerable INVITE away (488) before anybody lets it ring.
    """
    _choose_audio(offer, supported_codecs)


def negotiate_answer(
    offer: SessionDescription | bytes | str,
    *,
    local_address: str,
    local_port: int,
    supported_codecs: Sequence[str] = ("PCMU", "PCMA"),
    telephone_event: bool = True,
    ptime: int | None = None,
    session: LocalSdpSession | None = None,
    direction: str | None = None,
) -> Answer:
    """Answer a remote offer for one audio stream (RFC 3264 §6).

    The first offered format we support wins (the offerer's preference order);
    static PT 0/8 count without rtpmap, dynamic PTs by rtpmap name at 8000 Hz.
    Every other stream (video, SRTP, a second audio) is rejected with port 0,
    keeping the m-line count and order. ``direction`` is what we would like
    (default sendrecv) and is narrowed by what the offer allows. ``session``
    must be the dialog's ``LocalSdpSession`` for re-INVITEs so our version grows.

    Raises ``SdpError(400)`` for a malformed body and ``SdpError(488)`` when
    no audio stream can be accepted.
    """
    if not isinstance(offer, SessionDescription):
        offer = SessionDescription.parse(offer)
    wanted = direction or "sendrecv"
    if wanted not in DIRECTIONS:
        raise ValueError(f"unknown direction {wanted!r}")
    chosen_index, (pt, codec), conn = _choose_audio(offer, supported_codecs)
    remote = offer.media[chosen_index]
    remote_dir = offer.direction_for(remote)
    on_hold = remote_dir in ("sendonly", "inactive") or conn.is_hold_address
    if conn.is_hold_address:
        # RFC 3264 §8.4: 0.0.0.0 means "do not send to me", whatever the attribute says.
        remote_dir = _intersect(remote_dir, "sendonly")
    ours = _intersect(_reverse(remote_dir), wanted)
    chosen_ptime = _choose_ptime(remote.ptime, remote.maxptime, ptime)
    te_pt, te_events = _telephone_event(remote) if telephone_event else (None, None)

    formats = [str(pt)]
    attributes = [Attribute("rtpmap", f"{pt} {codec}/8000")]
    if te_pt is not None and te_events is not None:
        formats.append(str(te_pt))
        attributes.append(Attribute("rtpmap", f"{te_pt} {_TELEPHONE_EVENT}/8000"))
        attributes.append(Attribute("fmtp", f"{te_pt} {te_events}"))
    attributes += [Attribute("ptime", str(chosen_ptime)), Attribute(ours)]
    sections = []
    for index, media in enumerate(offer.media):
        if index == chosen_index:
            sections.append(
                MediaDescription(
                    "audio", local_port, remote.proto, tuple(formats), attributes=tuple(attributes)
                )
            )
        else:
            sections.append(_rejected(media))
    sdp = _our_description(local_address, sections, offer.timing)
    sdp = (session or LocalSdpSession()).stamp(sdp)
    negotiated = NegotiatedMedia(
        codec=codec,
        payload_type=pt,
        clock_rate=8000,
        telephone_event_pt=te_pt,
        ptime_ms=chosen_ptime,
        remote_address=conn.host,
        remote_port=remote.port,
        direction=ours,
        on_hold=on_hold,
        remote_rtcp_port=_rtcp_port(remote),
    )
    return Answer(sdp, negotiated)


def parse_answer(
    offer: SessionDescription, answer: SessionDescription | bytes | str
) -> NegotiatedMedia:
    """Check a peer's answer against the offer we sent and say what was agreed.

    Raises ``SdpError(400)`` when the answer is malformed or breaks RFC 3264
    (m-line count, a format we did not offer) and ``SdpError(488)`` when the
    peer rejected our audio stream. After either, the caller should end the
    call (ACK then BYE for a 200 OK).
    """
    if not isinstance(answer, SessionDescription):
        answer = SessionDescription.parse(answer)
    if len(answer.media) != len(offer.media):
        raise SdpError(
            400, f"answer has {len(answer.media)} m= lines, our offer had {len(offer.media)}"
        )
    for ours, theirs in zip(offer.media, answer.media, strict=True):
        if ours.media != "audio" or ours.port == 0:
            continue
        if theirs.port == 0:
            raise SdpError(488, "peer rejected our audio stream (port 0)")
        our_codecs = {_codec_of(ours, pt): pt for pt in ours.payload_types}
        found: tuple[int, str] | None = None
        for pt in theirs.payload_types:
            name = _codec_of(theirs, pt)
            if name in _G711 and name in our_codecs:
                found = (pt, name)
                break
        if found is None:
            raise SdpError(
                400, f"answer formats {list(theirs.formats)} are not among our offered codecs"
            )
        conn = answer.connection_for(theirs)
        if conn is None:
            raise SdpError(400, "answer has no c= line for the audio stream")
        te_pt: int | None = None
        if any(_codec_of(ours, pt) == _TELEPHONE_EVENT.upper() for pt in ours.payload_types):
            te_pt, _ = _telephone_event(theirs)
        their_dir = answer.direction_for(theirs)
        if conn.is_hold_address:
            their_dir = _intersect(their_dir, "sendonly")
        our_dir = _intersect(_reverse(their_dir), offer.direction_for(ours))
        on_hold = their_dir in ("sendonly", "inactive") or conn.is_hold_address
        pt, codec = found
        return NegotiatedMedia(
            codec=codec,
            payload_type=pt,
            clock_rate=8000,
            telephone_event_pt=te_pt,
            ptime_ms=_choose_ptime(theirs.ptime, theirs.maxptime, ours.ptime),
            remote_address=conn.host,
            remote_port=theirs.port,
            direction=our_dir,
            on_hold=on_hold,
            remote_rtcp_port=_rtcp_port(theirs),
        )
    raise ValueError("our offer has no enabled audio stream")  # our bug, not the peer's


# --------------------------------------------------------------------------- helpers


def _rtcp_port(media: MediaDescription) -> int | None:
    rtcp = media.rtcp
    return rtcp[0] if rtcp is not None else None


def _is_pt(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 3 and int(text) <= 127


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _milliseconds(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not 0 < number < 10_000:
        return None
    return round(number)


def _direction_of(attributes: Iterable[Attribute]) -> str | None:
    for attribute in attributes:
        if attribute.value is None and attribute.name in DIRECTIONS:
            return attribute.name
    return None


def _parse_timing(value: str) -> Timing:
    parts = value.split()
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 20 for p in parts):
        raise SdpError(400, f"t= needs two decimal times, got {value!r}")
    return Timing(int(parts[0]), int(parts[1]))


def _addrtype(address: str) -> str:
    try:
        return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    except ValueError:
        return "IP4"


def _g711_pt(codec: str) -> int:
    try:
        return _G711[codec.upper()]
    except KeyError:
        raise ValueError(f"unsupported codec {codec!r}; hotline speaks PCMU and PCMA") from None


def _codec_name(pt: int) -> str:
    return next(name for name, number in _G711.items() if number == pt)


def _codec_of(media: MediaDescription, pt: int) -> str | None:
    """Upper-case encoding name of a PT at 8000 Hz, or None (other clock/unknown)."""
    rtpmap = media.rtpmaps.get(pt)
    if rtpmap is not None:
        if rtpmap.clock_rate != 8000 or rtpmap.channels not in (None, 1):
            return None
        return rtpmap.encoding.upper()
    static = _STATIC_AUDIO.get(pt)
    return static[0] if static is not None and static[1] == 8000 else None


def _acceptable_audio(media: MediaDescription) -> bool:
    # Plain RTP only: we do no SRTP (RTP/SAVP*) and no DTLS (UDP/TLS/RTP/SAVPF).
    return media.media == "audio" and media.port != 0 and media.proto.upper() in (
        "RTP/AVP",
        "RTP/AVPF",
    )


def _first_common_codec(
    media: MediaDescription, supported: Sequence[str]
) -> tuple[int, str] | None:
    for pt in media.payload_types:
        name = _codec_of(media, pt)
        if name is not None and name in supported:
            return pt, name
    return None


def _telephone_event(media: MediaDescription) -> tuple[int | None, str | None]:
    """The offered telephone-event PT at 8000 Hz and the event list we answer with."""
    fmtps = media.fmtps
    for pt in media.payload_types:
        if _codec_of(media, pt) != _TELEPHONE_EVENT.upper():
            continue
        offered = _event_set(fmtps.get(pt))
        common = sorted(offered & _OUR_EVENTS) if offered is not None else []
        if common:
            return pt, _event_ranges(common)
    return None, None


def _event_set(fmtp: str | None) -> set[int] | None:
    """Events of an RFC 4733 fmtp like ``0-15,66``; None when unreadable."""
    if fmtp is None or not fmtp.strip():
        return set(range(16))
    events: set[int] = set()
    for item in fmtp.replace(" ", "").split(","):
        low, dash, high = item.partition("-")
        if not _is_number(low) or (dash and not _is_number(high)):
            return None
        start, stop = int(low), int(high) if dash else int(low)
        if stop > 255 or start > stop:
            return None
        events.update(range(start, stop + 1))
    return events


def _event_ranges(events: Sequence[int]) -> str:
    ranges: list[str] = []
    start = previous = events[0]
    for event in [*events[1:], -2]:
        if event != previous + 1:
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
            start = event
        previous = event
    return ",".join(ranges)


def _choose_ptime(offered: int | None, maxptime: int | None, preferred: int | None) -> int:
    """The offerer's ptime if given, else ours, else 20, kept within 10-60 and maxptime."""
    ptime = offered or preferred or _DEFAULT_PTIME
    ptime = max(_MIN_PTIME, min(_MAX_PTIME, ptime))
    if maxptime is not None and maxptime >= _MIN_PTIME:
        ptime = min(ptime, maxptime)
    return ptime


def _reverse(direction: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)


def _intersect(allowed: str, wanted: str) -> str:
    send = allowed in ("sendrecv", "sendonly") and wanted in ("sendrecv", "sendonly")
    recv = allowed in ("sendrecv", "recvonly") and wanted in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly"}.get(
        (send, recv), "inactive"
    )


def _rejected(media: MediaDescription) -> MediaDescription:
    # RFC 3264 §6: port 0, same media type and proto, at least one of the offered formats.
    return MediaDescription(media.media, 0, media.proto, media.formats or ("0",))


def _describe(media: MediaDescription) -> str:
    names = [_codec_of(media, pt) or str(pt) for pt in media.payload_types]
    return f"{media.media} {media.proto} port {media.port} [{', '.join(names)}]"


def _our_description(
    local_address: str, media: Sequence[MediaDescription], timing: tuple[Timing, ...]
) -> SessionDescription:
    connection = Connection.for_address(local_address)
    return SessionDescription(
        origin=Origin("hotline", "0", "0", "IN", connection.addrtype, local_address),
        session_name="hotline",
        connection=connection,
        timing=timing,
        media=tuple(media),
    )
