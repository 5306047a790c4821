"""SDP (RFC 4566) wire objects: parse a body into frozen dataclasses and serialise them back.

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

What hotline's audio UA offers and answers with these objects is
:mod:`hotline.sip.offer_answer` (RFC 3264).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from hotline.sip.errors import RemoteProtocolError

__all__ = [
    "DIRECTIONS",
    "Attribute",
    "Connection",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "Timing",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
"""The direction attributes (RFC 4566 §6, RFC 3264 §5.1)."""

_MAX_BODY = 64 * 1024


class SdpError(RemoteProtocolError, ValueError):
    """A remote SDP problem, carrying the SIP status the request should be answered with.

    ``status`` is 400 for a body that is not valid SDP and 488 (Not Acceptable Here)
    for a well-formed description we cannot accept (no common codec, rejected audio).
    The fault is always the peer's: like any :class:`RemoteProtocolError` it is
    answered with its status.  (Still a :class:`ValueError`, as it always was.)
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"SdpError({self.status}, {self.message!r})"


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


# --------------------------------------------------------------------------- helpers


def _is_pt(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 3 and int(text) <= 127


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535


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
