"""What the SIP layer needs to be told: its own settings, independent of the configuration file.

Frozen dataclasses for the endpoint (:class:`SipSettings`), registration
(:class:`RegisterSettings`), outbound dialling (:class:`OutboundSettings`) and
the gatekeeper (:class:`RateLimits`, ``allowed_peers``, :class:`SipAccount`).
Nothing here reads a file or validates: :mod:`hotline.config` reads the
``[sip]`` table, checks it, and builds these (its ``SipConfig`` extends
:class:`SipSettings` with the call-admission knobs of the same table).  The
dependency points down: configuration imports the SIP layer, never the
reverse.  Tests and tools (``hotline call``) build a :class:`SipSettings` by
hand; every field but ``listen`` has the configuration file's default.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from hotline.sip.timers import TimerConfig

__all__ = [
    "ListenAddress",
    "Network",
    "OutboundSettings",
    "RateLimits",
    "RegisterSettings",
    "SipAccount",
    "SipSettings",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ListenAddress:
    transport: str
    """"udp" or "tcp"."""
    host: str
    """IPv4 or IPv6 address to bind (no host names: binding must not depend on DNS)."""
    port: int
    """Port 1–65535 (5060 is the SIP default; 0 takes an ephemeral port)."""


@dataclass(frozen=True)
class RegisterSettings:
    registrar: str
    """SIP URI of the enterprise PBX registrar, e.g. "sip:pbx.corp.example:5060"."""
    username: str
    """Authentication user name (often the hotline's extension)."""
    password: str
    """Digest password. Keep this file readable by the service account only."""
    expires: int
    """Requested registration lifetime in seconds; refreshed well before it runs out."""


@dataclass(frozen=True)
class OutboundSettings:
    proxy: str | None = None
    """SIP URI of the trunk or outbound proxy that on-call forwarding dials through."""
    username: str | None = None
    """Digest user for the proxy's 401/407 challenges, if it asks."""
    password: str | None = None
    """Digest password for the proxy."""
    caller_id: str = "pai"
    """How the original caller is presented to the on-call phone: "pai" or "from"."""
    diversion: bool = True
    """Add a Diversion header (RFC 5806) naming the hotline number."""


@dataclass(frozen=True)
class RateLimits:
    invite_per_second: float = 20.0
    """Sustained INVITEs per second accepted from one source address."""
    register_per_second: float = 5.0
    """Sustained REGISTERs per second from one source address."""
    options_per_second: float = 10.0
    """Sustained OPTIONS per second from one source address."""
    burst: int = 40
    """Bucket size: how many requests one source may send at once."""


@dataclass(frozen=True)
class SipAccount:
    username: str
    """Digest user name a caller outside ``allowed_peers`` authenticates with (a duty-desk
    softphone, a SIP trunk that authenticates instead of being listed by address)."""
    password: str = field(repr=False)
    """Its digest password (kept out of reprs and logs)."""


@dataclass(frozen=True, kw_only=True)
class SipSettings:
    """Everything :class:`~hotline.sip.endpoint.SipEndpoint` reads (keyword arguments only)."""

    listen: tuple[ListenAddress, ...]
    """Where the endpoint listens, e.g. ["udp:0.0.0.0:5060", "tcp:[::]:5060"]."""
    mode: str = "trunk"
    """"trunk": calls come straight from allowed peers; "register": we register to a PBX."""
    hotline_number: str = "hotline"
    """The hotline's own number or user part, used in Diversion and Contact."""
    allowed_peers: tuple[str | Network, ...] = ()
    """Addresses, networks or ``address:port`` entries (``192.0.2.10:5060``, ``[::1]:5082``)
    allowed to send calls; everyone else gets 403."""
    register: RegisterSettings | None = None
    """Registration settings, required in register mode."""
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    """How outbound legs (forwarding to on-call mobiles) leave."""
    rate_limits: RateLimits = field(default_factory=RateLimits)
    """Per-source token buckets against floods and scanners."""
    trace: bool = False
    """Log every SIP message in and out (logger "hotline.sip.trace")."""
    accept_refer: bool = False
    """Whether an incoming REFER may transfer a call (off: 403)."""
    accounts: tuple[SipAccount, ...] = ()
    """``[[sip.accounts]]``: digest users allowed to call in from outside ``allowed_peers``.
    With none, strangers get 403 as before; with some, their INVITEs get a 401 challenge."""
    auth_realm: str = "hotline"
    """Digest realm of our challenges (what softphones show when they ask for a password)."""
    auth_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    """Digest algorithms challenged, one ``WWW-Authenticate`` each, preferred first ("SHA-256",
    "SHA-512-256", "MD5"). Clients answer the first they support, but some older phones read only
    the first header and know only MD5: put "MD5" first for those."""
    auth_secret: str | None = None
    """Key (at least 16 characters) signing our digest nonces. Unset: a random key drawn at each
    start, fine for one node (a restart only costs an open challenge); set the same value on
    every node behind one dispatcher so that any of them accepts another's nonces."""
    timers: TimerConfig = field(default_factory=TimerConfig)
    """RFC 3261 timer values (T1, T2, ...); not in the configuration file, the defaults of the RFC."""
