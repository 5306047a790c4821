"""Errors of the SIP stack, split by whose fault they are.

* :class:`RemoteProtocolError` -- the peer sent something we cannot accept.  It
  carries the SIP status code a UAS should answer with (400, 413, 416, 420,
  481, 482, 483, 501, 505...).  For a malformed *response* there is nobody to
  answer: the caller just drops it.  It never takes the process down.
* :class:`LocalProtocolError` -- our own code misused the stack (a bug of
  ours), e.g. asking a transaction to do something its state machine forbids.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error raised by ``hotline.sip``."""


class RemoteProtocolError(SipError):
    """Malformed or unacceptable input from the peer.

    ``status`` is the response code to send back (when the input was a request
    we could identify), ``reason`` a short human explanation that may be used
    as (or in) the reason phrase.  ``close_connection`` is true when framing on
    a stream transport is lost and the connection must be closed.
    """

    def __init__(self, status: int, reason: str, *, close_connection: bool = False) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.close_connection = close_connection


class LocalProtocolError(SipError):
    """Our own code used the stack wrongly: a bug on this side."""
