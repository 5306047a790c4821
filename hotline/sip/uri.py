"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), plus a verbatim fallback.

Percent-escapes in the user, password, parameters and headers of a SIP URI are
decoded exactly once when parsing (``%41`` becomes ``A``, ``%2541`` becomes
``%41`` and stays that way) and re-escaped when serialising, so ``%00`` inside
a user part survives a round trip instead of truncating the address
(RFC 4475 §3.1.1.3 and §3.1.1.4).  URIs of unknown schemes are kept verbatim in
:class:`AbsoluteUri` so that a request carrying one can be answered with 416.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from hotline.sip.errors import RemoteProtocolError

__all__ = ["AbsoluteUri", "SipUri", "TelUri", "Uri", "is_ip_literal", "parse_uri"]

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# Characters that may stand unescaped in each URI component (besides the
# alphanumerics and "_.-~" that urllib.parse.quote always leaves alone).
_MARK = "!*'()"
_USER_SAFE = _MARK + "&=+$,;?/"
_PASSWORD_SAFE = _MARK + "&=+$,"
_PARAM_SAFE = _MARK + "[]/:&+$"
_HEADER_SAFE = _MARK + "[]/?:+$"
_HOST_RE = re.compile(r"[A-Za-z0-9._\-]+")
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unescape(text: str, what: str) -> str:
    """Decode %HH escapes once; a lone ``%`` is malformed inside a URI component."""
    if "%" not in text:
        return text
    if _ESCAPE_RE.search(text):
        raise RemoteProtocolError(400, f"bad %-escape in URI {what}")
    return unquote(text, encoding="utf-8", errors="surrogateescape")


_ALWAYS_SAFE = frozenset(string.ascii_letters + string.digits + "_.-~")
_SAFE_SETS: dict[str, frozenset[str]] = {}


def _escape(text: str, safe: str) -> str:
    chars = _SAFE_SETS.get(safe)
    if chars is None:
        chars = _SAFE_SETS[safe] = _ALWAYS_SAFE | frozenset(safe)
    if chars.issuperset(text):
        return text  # nothing quote() would change: skip it (URIs are written on every message)
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")


def _find_param(params: dict[str, str | None], name: str) -> tuple[bool, str | None]:
    lname = name.lower()
    for key, value in params.items():
        if key.lower() == lname:
            return True, value
    return False, None


@dataclass
class SipUri:
    """A ``sip:`` or ``sips:`` URI with decoded components.

    ``params`` keeps URI parameters in order; a valueless parameter (``;lr``)
    maps to ``None``.  Parameter names keep their case; look them up with
    :meth:`param` / :meth:`has_param`, which ignore it.
    """

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    scheme: str = "sip"

    def param(self, name: str) -> str | None:
        """Value of URI parameter ``name`` (case-insensitive), ``None`` if absent or valueless."""
        return _find_param(self.params, name)[1]

    def has_param(self, name: str) -> bool:
        """Whether URI parameter ``name`` is present (case-insensitive)."""
        return _find_param(self.params, name)[0]

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, or ``None``."""
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def host_port(self) -> str:
        """``host`` or ``host:port`` as written in a URI."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a ``sip:``/``sips:`` URI; raise :class:`RemoteProtocolError` (400) if malformed."""
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise RemoteProtocolError(416, f"not a SIP URI: {text!r}")
        return uri

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                out.append(":" + _escape(self.password, _PASSWORD_SAFE))
            out.append("@")
        out.append(self.host_port)
        for name, value in self.params.items():
            out.append(";" + _escape(name, _PARAM_SAFE))
            if value is not None:
                out.append("=" + _escape(value, _PARAM_SAFE))
        if self.headers:
            out.append(
                "?"
                + "&".join(
                    f"{_escape(k, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}"
                    for k, v in self.headers.items()
                )
            )
        return "".join(out)


@dataclass
class TelUri:
    """A ``tel:`` URI (RFC 3966): the number as written plus ordered parameters."""

    number: str
    params: dict[str, str | None] = field(default_factory=dict)

    scheme = "tel"

    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` (case-insensitive)."""
        return _find_param(self.params, name)[1]

    def __str__(self) -> str:
        out = ["tel:", self.number]
        for name, value in self.params.items():
            out.append(f";{name}" if value is None else f";{name}={value}")
        return "".join(out)


@dataclass
class AbsoluteUri:
    """A URI of a scheme we do not interpret (``urn:``, ``http:``, ``isbn:``...), kept verbatim."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if not text:
        return params
    for item in text.split(";"):
        if not item:
            raise RemoteProtocolError(400, f"empty parameter in {what}")
        name, eq, value = item.partition("=")
        name = _unescape(name, what)
        if not name:
            raise RemoteProtocolError(400, f"parameter without name in {what}")
        params[name] = _unescape(value, what) if eq else None
    return params


def _parse_sip(scheme: str, rest: str, text: str) -> SipUri:
    if not rest or any(c in rest for c in " \t\r\n<>\""):
        raise RemoteProtocolError(400, f"malformed SIP URI: {text!r}")
    user = password = None
    # The user part may itself contain '?', ';', ',' and '/' (RFC 4475 §3.1.1.2),
    # but never an unescaped '@', so the first '@' ends it.
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_raw, colon, password_raw = userinfo.partition(":")
        if not user_raw:
            raise RemoteProtocolError(400, f"empty user part in {text!r}")
        user = _unescape(user_raw, "user")
        password = _unescape(password_raw, "password") if colon else None
    rest, qmark, headers_raw = rest.partition("?")
    hostport, _, params_raw = rest.partition(";")
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port_raw = hostport[: end + 1], hostport[end + 1 :]
        if end < 0 or not _IPV6_RE.fullmatch(host):
            raise RemoteProtocolError(400, f"bad IPv6 reference in {text!r}")
        if port_raw and not port_raw.startswith(":"):
            raise RemoteProtocolError(400, f"junk after IPv6 reference in {text!r}")
        port_raw = port_raw[1:] if port_raw else ""
        has_port = bool(port_raw) or hostport.endswith(":")
    else:
        host, colon, port_raw = hostport.partition(":")
        has_port = bool(colon)
        if not _HOST_RE.fullmatch(host):
            raise RemoteProtocolError(400, f"bad host in {text!r}")
    port = None
    if has_port:
        if not port_raw.isascii() or not port_raw.isdigit() or int(port_raw) > 65535:
            raise RemoteProtocolError(400, f"bad port in {text!r}")
        port = int(port_raw)
    headers: dict[str, str] = {}
    if qmark:
        for item in headers_raw.split("&"):
            name, eq, value = item.partition("=")
            if not name or not eq:
                raise RemoteProtocolError(400, f"bad URI header in {text!r}")
            headers[_unescape(name, "header")] = _unescape(value, "header")
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=_parse_params(params_raw, "SIP URI"),
        headers=headers,
    )


def _parse_tel(rest: str, text: str) -> TelUri:
    number, _, params_raw = rest.partition(";")
    if not number or any(c in rest for c in " \t\r\n<>\""):
        raise RemoteProtocolError(400, f"malformed tel URI: {text!r}")
    params: dict[str, str | None] = {}
    for item in params_raw.split(";") if params_raw else []:
        if not item:
            raise RemoteProtocolError(400, f"empty parameter in {text!r}")
        name, eq, value = item.partition("=")
        params[name] = value if eq else None
    return TelUri(number=number, params=params)


def parse_uri(text: str) -> Uri:
    """Parse any URI as found in a Request-URI or inside ``<...>``.

    Raises :class:`RemoteProtocolError` (400) when the text is not a URI at all
    or a SIP/tel URI is malformed.  Unknown schemes are not an error here.
    """
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.fullmatch(scheme):
        raise RemoteProtocolError(400, f"not a URI: {text!r}")
    lower = scheme.lower()
    if lower in ("sip", "sips"):
        return _parse_sip(lower, rest, text)
    if lower == "tel":
        return _parse_tel(rest, text)
    if not rest or any(c in rest for c in " \t\r\n<>"):
        raise RemoteProtocolError(400, f"malformed URI: {text!r}")
    return AbsoluteUri(scheme=scheme, rest=rest)


def is_ip_literal(host: str) -> bool:
    """Whether a URI or Via host is an IP address (IPv6 with or without its brackets), not a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
