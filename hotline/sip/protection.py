"""Who may talk to our SIP port: allow-lists, per-source rate limits, scanner filtering.

Theory of operation
-------------------
A SIP port open to the internet is found by scanners within minutes; they
probe with OPTIONS, guess extensions with REGISTER and try toll fraud with
INVITE. The ``Gatekeeper`` looks at every incoming *request* before any
transaction is made for it and says accept, reject (a status code the endpoint
answers statelessly) or drop (send nothing: answering a scanner only confirms
that something is listening, and answering a flood amplifies it).

The order of checks is cheapest and most certain first:

1. A known peer (``PeerAllowList``: the trunk PBX/SBC in trunk mode, the
   registrar and outbound proxy in register mode) is trusted: no scanner check,
   and no rate limit unless ``limit_peers`` is set.
2. A stranger whose User-Agent or From display name is a known scanner's is dropped.
3. A stranger is rate limited per (source, method class) by token buckets;
   past its limit it gets 503 with Retry-After, and when it keeps going far over
   the limit it is dropped until it calms down.
4. A stranger within its limit is refused with 403 -- unless its method is one
   the endpoint authenticates (``Gatekeeper.challenge``: INVITE when digest
   accounts are configured). Then it is accepted with ``why="digest"`` and the
   endpoint must challenge it (401) before anything else sees it.

ACK never gets a response (RFC 3261 §17.2.1), so a rejected ACK is dropped.
Everything is pure: time is the ``now`` argument, in seconds on any clock.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "METHOD_CLASSES",
    "Decision",
    "GateAction",
    "Gatekeeper",
    "Mode",
    "PeerAllowList",
    "RateLimit",
    "RateLimiter",
    "TokenBucket",
    "Verdict",
    "is_scanner",
    "method_class",
]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _normalise(address: _Address) -> _Address:
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; match them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_address(ip: str | _Address) -> _Address | None:
    if not isinstance(ip, str):
        return _normalise(ip)
    text = ip.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return _normalise(ipaddress.ip_address(text))
    except ValueError:
        return None


# --------------------------------------------------------------------------- allow-list


def _split_port(entry: str) -> tuple[str, int | None]:
    """``"192.0.2.10:5060"`` -> (``"192.0.2.10"``, 5060); ``"[::1]:5082"`` -> (``"::1"``, 5082).

    An IPv6 address with a port must be bracketed: ``::1:5082`` is an address.
    """
    text = entry.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"not an IP address or network: {entry!r} (missing ])")
        host, rest = text[1:close], text[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"not an IP address or network: {entry!r} (junk after ])")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        return text, None
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"not an IP address or network: {entry!r} (bad port {port_text!r})")
    return host, int(port_text)


class PeerAllowList:
    """A set of addresses, networks and address+port pairs (IPv4 and IPv6) that are known peers.

    Entries are strings like ``192.0.2.7``, ``10.0.0.0/8``, ``2001:db8::/32`` or
    ``::ffff:192.0.2.0/120`` (IPv4-mapped, matched as IPv4), which admit any
    source port, or ``192.0.2.10:5060`` / ``[::1]:5082``, which admit that
    address from that port only: in register mode the registrar may share its
    address with anyone (loopback, a host running other SIP software), and only
    its port tells it apart.  Lookups cost one set probe per distinct prefix
    length, however long the list.
    """

    def __init__(self, entries: Iterable[str | _Address | _Network] = ()) -> None:
        self._networks: list[_Network] = []
        # (version, prefix length) -> network numbers shifted right by the host bits
        self._index: dict[tuple[int, int], set[int]] = {}
        self._endpoints: set[tuple[_Address, int]] = set()
        self._endpoint_addresses: set[_Address] = set()
        for entry in entries:
            self.add(entry)

    @classmethod
    def everyone(cls) -> PeerAllowList:
        """An allow-list matching every address (for labs and loopback tests)."""
        return cls(["0.0.0.0/0", "::/0"])

    def add(self, entry: str | _Address | _Network) -> None:
        """Add one address, network or ``address:port``; ``ValueError`` naming the entry if it is not one."""
        if isinstance(entry, str):
            host, port = _split_port(entry)
            if port is not None:
                address = _parse_address(host)
                if address is None:
                    raise ValueError(f"not an IP address or network: {entry!r} (bad address)")
                self._endpoints.add((address, port))
                self._endpoint_addresses.add(address)
                return
            entry = host
        try:
            if isinstance(entry, str):
                network = ipaddress.ip_network(entry.strip(), strict=False)
            elif isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
                network = entry
            else:
                network = ipaddress.ip_network(entry)
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {entry!r} ({exc})") from None
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:
                network = ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
        self._networks.append(network)
        host_bits = network.max_prefixlen - network.prefixlen
        key = (network.version, network.prefixlen)
        self._index.setdefault(key, set()).add(int(network.network_address) >> host_bits)

    def allows(self, ip: str | _Address, port: int | None = None) -> bool:
        """True if ``ip`` (sending from ``port``) is in the list; False for a non-address.

        ``port=None`` means the source port says nothing (a TCP connection the
        peer opened comes from an ephemeral port): ``address:port`` entries then
        match on the address alone.
        """
        address = _parse_address(ip)
        if address is None:
            return False
        number, bits = int(address), address.max_prefixlen
        for (version, prefixlen), prefixes in self._index.items():
            if version == address.version and (number >> (bits - prefixlen)) in prefixes:
                return True
        if port is None:
            return address in self._endpoint_addresses
        return (address, port) in self._endpoints

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, str | ipaddress.IPv4Address | ipaddress.IPv6Address) and self.allows(
            ip
        )

    def __len__(self) -> int:
        return len(self._networks) + len(self._endpoints)

    def __repr__(self) -> str:
        entries = [str(n) for n in self._networks] + [
            f"[{a}]:{p}" if a.version == 6 else f"{a}:{p}" for a, p in sorted(self._endpoints, key=str)
        ]
        shown = ", ".join(entries[:4])
        more = f", … {len(entries) - 4} more" if len(entries) > 4 else ""
        return f"PeerAllowList([{shown}{more}])"


# --------------------------------------------------------------------------- rate limiting

METHOD_CLASSES = ("INVITE", "REGISTER", "OPTIONS", "other")


def method_class(method: str) -> str:
    """The rate-limit class of a SIP method (methods are case-sensitive, RFC 3261 §7.1)."""
    return method if method in ("INVITE", "REGISTER", "OPTIONS") else "other"


@dataclass(frozen=True)
class RateLimit:
    """A token-bucket limit: ``rate`` requests per second sustained, ``burst`` at once."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got {self}")


# Per source address. Strangers only (peers are exempt by default), so these are
# generous for a person trying a softphone and tight for a scanner.
DEFAULT_LIMITS: Mapping[str, RateLimit] = {
    "INVITE": RateLimit(rate=1.0, burst=5),
    "REGISTER": RateLimit(rate=0.5, burst=5),
    "OPTIONS": RateLimit(rate=1.0, burst=5),
    "other": RateLimit(rate=5.0, burst=20),
}


@dataclass
class TokenBucket:
    """A token bucket that may go into debt.

    ``take`` succeeds while a whole token is available. A refused request still
    costs a token, down to ``-max_debt``, so a source that keeps sending while
    refused stays refused until it has been quiet long enough to pay its debt back.
    """

    rate: float
    burst: float
    tokens: float
    updated: float
    max_debt: float = 0.0

    @classmethod
    def full(cls, limit: RateLimit, now: float, max_debt: float = 0.0) -> TokenBucket:
        """A bucket holding ``limit.burst`` tokens at ``now``."""
        return cls(limit.rate, limit.burst, float(limit.burst), now, max_debt)

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last update (a clock going back adds none)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def take(self, now: float) -> bool:
        """Spend one token if there is one; otherwise go one token deeper into debt."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.tokens = max(-self.max_debt, self.tokens - 1.0)
        return False

    def wait_time(self) -> float:
        """Seconds until a whole token is available again."""
        return max(0.0, (1.0 - self.tokens) / self.rate)

    @property
    def debt(self) -> float:
        """How far below empty the bucket is (0 when not in debt)."""
        return max(0.0, -self.tokens)


class GateAction(enum.Enum):
    """What to do with a request."""

    ACCEPT = "accept"
    REJECT = "reject"
    DROP = "drop"


@dataclass(frozen=True)
class Verdict:
    """The rate limiter's answer: allow, reject (503 + Retry-After) or drop."""

    action: GateAction
    retry_after: int | None = None

    @property
    def allowed(self) -> bool:
        """True when the request is within its limit."""
        return self.action is GateAction.ACCEPT


_ALLOW = Verdict(GateAction.ACCEPT)


class RateLimiter:
    """Token buckets per (source, method class), in bounded memory.

    Sources are IPv4 addresses, and IPv6 addresses aggregated to their /64
    (``ipv6_prefix``) since one host owns a whole /64 and could rotate through it.
    At most ``max_entries`` buckets are kept; the least recently used goes first,
    which is always an idle one while the table is large enough for the active set
    (and a forgotten bucket is no loss: a new bucket starts full, as it would have
    refilled). A source ``drop_after`` requests in debt is dropped instead of
    rejected, until it has paid the debt back at its class's rate.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        max_entries: int = 10_000,
        drop_after: int = 10,
        ipv6_prefix: int = 64,
    ) -> None:
        merged = dict(DEFAULT_LIMITS)
        merged.update(limits or {})
        unknown = set(merged) - set(METHOD_CLASSES)
        if unknown:
            raise ValueError(f"unknown method classes {sorted(unknown)}; use {METHOD_CLASSES}")
        if max_entries < 1 or drop_after < 1 or not 0 <= ipv6_prefix <= 128:
            raise ValueError("max_entries and drop_after must be >= 1, ipv6_prefix 0-128")
        self.limits = merged
        self.max_entries = max_entries
        self.drop_after = drop_after
        self.ipv6_prefix = ipv6_prefix
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self.evictions = 0
        """Buckets forgotten to stay within ``max_entries`` (an attack-size metric)."""

    def __len__(self) -> int:
        return len(self._buckets)

    def source_key(self, ip: str) -> str:
        """The key a source address is counted under (IPv6 per prefix)."""
        if ":" not in ip:
            return ip  # IPv4 fast path: the transport hands us a canonical string
        address = _parse_address(ip)
        if address is None:
            return ip
        if isinstance(address, ipaddress.IPv4Address):
            return str(address)
        network = ipaddress.IPv6Network((int(address), 128)).supernet(new_prefix=self.ipv6_prefix)
        return str(network)

    def check(self, ip: str, method: str, now: float) -> Verdict:
        """Count one request from ``ip`` and say whether it is within its limit."""
        cls = method_class(method)
        key = (self.source_key(ip), cls)
        bucket = self._buckets.get(key)
        if bucket is None:
            limit = self.limits[cls]
            bucket = TokenBucket.full(limit, now, max_debt=2.0 * self.drop_after)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_entries:
                self._buckets.popitem(last=False)
                self.evictions += 1
        else:
            self._buckets.move_to_end(key)
        if bucket.take(now):
            return _ALLOW
        if bucket.debt >= self.drop_after:
            return Verdict(GateAction.DROP)
        return Verdict(GateAction.REJECT, retry_after=max(1, math.ceil(bucket.wait_time())))

    def sweep(self, now: float) -> int:
        """Forget buckets that have refilled completely (a no-op to forget); return count."""
        stale = []
        for key, bucket in self._buckets.items():
            bucket.refill(now)
            if bucket.tokens >= bucket.burst:
                stale.append(key)
        for key in stale:
            del self._buckets[key]
        return len(stale)


# --------------------------------------------------------------------------- scanners

# User-Agent / From display tokens of SIP scanning tools, as documented in public
# honeypot reports and the commonly shared fail2ban/Asterisk hardening advice:
# SIPVicious (svmap/svwar/svcrack: "friendly-scanner", "sipvicious"), sipcli,
# sip-scan/SIPScan, VaxSIPUserAgent, iWar (war dialer), sundayddr, smap, pplsip,
# and the "PortSIP VoIP SDK" strings of the brute-force floods seen since ~2017.
# Legitimate equipment using such a string can be allow-listed: known peers are
# never checked. "Cisco"/"Asterisk" look-alikes are not listed: real ones are common.
_SCANNER_TOKENS = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipscan",
    "vaxsipuseragent",
    "iwar",
    "sundayddr",
    "smap",
    "pplsip",
    "portsip voip sdk",
)
_SCANNER_RE = re.compile(
    r"(?<![a-z0-9])(?:" + "|".join(re.escape(t) for t in _SCANNER_TOKENS) + r")(?![a-z])"
)


def is_scanner(
    user_agent: str | None,
    from_display: str | None = None,
    to_user: str | None = None,
) -> bool:
    """True when a request carries the fingerprint of a known SIP scanner.

    Looks for scanner tool names (whole words, any case) in the User-Agent, the
    From display name and the To user part (some tools sign their probes there too).
    """
    texts = (user_agent, from_display, to_user)
    return any(_SCANNER_RE.search(text.lower()) for text in texts if text)


# --------------------------------------------------------------------------- gatekeeper


class Mode(enum.Enum):
    """How hotline is attached to the telephone network."""

    TRUNK = "trunk"
    """A PBX/SBC sends us calls directly; the allow-list holds its addresses."""
    REGISTER = "register"
    """We register as an extension; the allow-list holds registrar and outbound proxy
    (address and port) and the configured peers."""


@dataclass(frozen=True)
class Decision:
    """What the endpoint should do with a request.

    For ``REJECT``, answer statelessly with ``code`` and ``reason`` (and a
    Retry-After of ``retry_after`` seconds when set). For ``DROP``, send nothing.
    ``why`` is a short machine-readable cause for logs and counters.
    """

    action: GateAction
    code: int | None = None
    reason: str = ""
    retry_after: int | None = None
    why: str = ""

    @property
    def accepted(self) -> bool:
        """True when the request may go on to the transaction layer."""
        return self.action is GateAction.ACCEPT


_ACCEPT = Decision(GateAction.ACCEPT, why="peer")
_DIGEST = Decision(GateAction.ACCEPT, why="digest")


@dataclass
class Gatekeeper:
    """Decides, per incoming request, accept / reject / drop (see the module doc).

    ``counters`` counts decisions by (method class, action, why) for metrics.
    """

    mode: Mode
    peers: PeerAllowList
    limiter: RateLimiter = field(default_factory=RateLimiter)
    limit_peers: bool = False
    """Rate limit known peers too (off: a trunk legitimately sends bursts of calls)."""
    challenge: frozenset[str] = frozenset()
    """Methods a stranger within its limits may send to be digest-challenged by the endpoint
    instead of refused (empty: strangers always get 403). The endpoint authenticates them."""
    counters: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def inspect(
        self,
        source_ip: str,
        method: str,
        user_agent: str | None,
        now: float,
        *,
        from_display: str | None = None,
        to_user: str | None = None,
        source_port: int | None = None,
    ) -> Decision:
        """Decide what to do with one request from ``source_ip`` (port ``source_port`` if known)."""
        known = self.peers.allows(source_ip, source_port)
        decision = self._decide(known, source_ip, method, user_agent, now, from_display, to_user)
        if decision.action is GateAction.REJECT and method == "ACK":
            decision = Decision(GateAction.DROP, why=decision.why)
        self.counters[(method_class(method), decision.action.value, decision.why)] += 1
        return decision

    def _decide(
        self,
        known: bool,
        source_ip: str,
        method: str,
        user_agent: str | None,
        now: float,
        from_display: str | None,
        to_user: str | None,
    ) -> Decision:
        if not known and is_scanner(user_agent, from_display, to_user):
            return Decision(GateAction.DROP, why="scanner")
        if not known or self.limit_peers:
            verdict = self.limiter.check(source_ip, method, now)
            if verdict.action is GateAction.DROP:
                return Decision(GateAction.DROP, why="flood")
            if verdict.action is GateAction.REJECT:
                return Decision(
                    GateAction.REJECT, 503, "Service Unavailable", verdict.retry_after, "rate"
                )
        if known:
            return _ACCEPT
        if method in self.challenge:
            return _DIGEST
        if self.mode is Mode.REGISTER:
            # Only our registrar/proxy may reach us: a direct INVITE is a ghost call
            # or toll-fraud probe.
            return Decision(GateAction.REJECT, 403, "Forbidden", why="not-registrar")
        return Decision(GateAction.REJECT, 403, "Forbidden", why="unknown-peer")

    def stats(self) -> dict[str, dict[str, int]]:
        """Decision counts per method class, e.g. ``{"INVITE": {"accept": 3, "drop": 9}}``."""
        result: dict[str, dict[str, int]] = {cls: {} for cls in METHOD_CLASSES}
        for (cls, action, _why), count in self.counters.items():
            result[cls][action] = result[cls].get(action, 0) + count
        return result
