"""SDP for hotline's audio UA: the names of its two modules, in one place.

* :mod:`hotline.sip.sdp_wire` -- the RFC 4566 wire objects: ``SessionDescription``
  with ``parse``/``serialize``, its media descriptions and attributes, ``SdpError``.
* :mod:`hotline.sip.offer_answer` -- the RFC 3264 offer/answer model on top of them:
  ``negotiate_answer``, ``check_offer``, ``make_offer``, ``parse_answer``,
  ``NegotiatedMedia``, ``Answer``, ``LocalSdpSession``.

The wire objects cannot hold these re-exports themselves (offer/answer imports
them, so it would be a cycle); new code may import from either module directly.
"""

from __future__ import annotations

from hotline.sip.offer_answer import (
    Answer,
    LocalSdpSession,
    NegotiatedMedia,
    check_offer,
    make_offer,
    negotiate_answer,
    parse_answer,
)
from hotline.sip.sdp_wire import (
    DIRECTIONS,
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
)

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
