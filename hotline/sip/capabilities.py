"""What our user agent supports, as it tells peers: Allow, Accept and Supported.

Shared by the endpoint (OPTIONS answers, 405 and 501 responses) and the calls
(the Allow of our INVITEs and of a 405 inside a dialog), so that both say the
same thing and neither imports the other for it.
"""

from __future__ import annotations

__all__ = ["ACCEPT", "ALLOW", "ALLOW_TEXT", "SUPPORTED", "capability_headers"]

#: Methods we handle (the Allow header of OPTIONS, 405 and our dialog requests).
ALLOW: tuple[str, ...] = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REFER", "NOTIFY")
#: :data:`ALLOW` as a header value.
ALLOW_TEXT = ", ".join(ALLOW)
#: Option tags we implement (none needs a Require); anything required beyond them gets 420.
SUPPORTED: frozenset[str] = frozenset()
#: Bodies we accept in requests (the Accept of OPTIONS answers).
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, message/sipfrag"


def capability_headers() -> list[tuple[str, str]]:
    """Allow, Accept and Supported headers (OPTIONS answers, 405s)."""
    return [("Allow", ALLOW_TEXT), ("Accept", ACCEPT), ("Supported", ", ".join(sorted(SUPPORTED)))]
