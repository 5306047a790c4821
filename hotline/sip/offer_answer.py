"""The offer/answer model (RFC 3264) for hotline's audio-only user agent.

Theory of operation
-------------------
Pure functions over the wire objects of :mod:`hotline.sip.sdp_wire`:

* ``negotiate_answer`` answers a remote offer (initial INVITE or re-INVITE),
  picking G.711 and RFC 4733 telephone-events, honouring ptime and direction,
  and rejecting every other stream with port 0 (RFC 3264 §6); ``check_offer``
  tells beforehand whether it would fail.
* ``make_offer`` builds our offer for outbound legs (and for late-offer INVITEs).
* ``parse_answer`` checks a peer's answer against the offer we sent.

Each returns (or carries) a ``NegotiatedMedia`` that tells the media layer what
to send where.  ``LocalSdpSession`` keeps our ``o=`` session id and version so a
dialog's successive SDPs carry an incremented version (RFC 3264 §8).  What the
peer got wrong is an :class:`~hotline.sip.sdp_wire.SdpError` with the status to
answer: 400 for a malformed body, 488 for one we cannot accept.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from hotline.sip.sdp_wire import (
    DIRECTIONS,
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
    Timing,
)

__all__ = [
    "Answer",
    "LocalSdpSession",
    "NegotiatedMedia",
    "SdpError",
    "check_offer",
    "make_offer",
    "negotiate_answer",
    "parse_answer",
]

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


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


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
