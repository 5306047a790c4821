"""Caller-ID normalisation: from what a trunk or PBX presents to one matchable key.

Theory of operation
-------------------
A caller arrives as a header value (``"张伟" <sip:+8613812345678@10.0.0.1;user=phone>``)
or a bare string (``0571-8765 4321``, ``tel:+86-10-8765-4321``, ``8001``). We reduce
it to a :class:`CallerId` whose ``key`` is the one string the directory is matched on:

* a number ``phonenumbers`` calls valid → its E.164 form (``+8613812345678``);
* an internal desk extension → ``ext:8001``;
* a short service number (95588, 10086, 110) → its digits;
* anything else with digits → the national significant number for home-country
  numbers (so ``14912345678``, ``+8614912345678`` and ``014912345678`` share one key
  although phonenumbers calls 149 invalid), ``+<cc><number>`` for foreign ones;
* withheld or not a number at all → ``""`` (never matches).

The directory import runs the same functions on desk phones and mobiles, so a
caller matches when the two keys are equal.

The order of the steps follows the suggested normalisation order of
``docs/cn-numbering.md`` §5, and each rule that works around a ``phonenumbers``
result names the surprise of §4 it answers:

1. withheld words (``anonymous``, ``restricted``…) and empty values → withheld;
2. ``sip:``/``sips:``/``tel:`` URIs → user part, with ``;phone-context=`` applied;
3. visual separators dropped; fullwidth digits folded (NFKC);
4. configured PBX access digits (``9``, ``90``) and IP-dial prefixes
   (17951, 17911, 17909, 12593) stripped;
5. a configured extension pattern wins; then ≤ 6 digits are a service number
   (``shortnumberinfo``) or an extension;
6. 7–8 digits starting 2–8 are a local number: the trunk's area code is added;
7. everything else goes to ``phonenumbers.parse`` with the site region, and an
   E.164 string is kept only when ``is_valid_number`` says so (surprise 1).

This module is pure: no I/O, no asyncio.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, shortnumberinfo

from hotline.sip.headers import LenientNameAddr, parse_name_addr_lenient, split_header_list

__all__ = [
    "CallerId",
    "CallerKind",
    "NumberingPlan",
    "NumberingPlanError",
    "caller_from_headers",
    "display_key",
    "extension_key",
    "normalise_number",
    "parse_name_addr",
    "split_header_values",
]


class CallerKind(StrEnum):
    """What kind of caller identity a :class:`CallerId` holds."""

    E164 = "e164"
    """A number ``phonenumbers`` calls valid; ``e164`` is set."""
    SHORT = "short"
    """A short or service number of 3–6 digits (95588, 10086, 110)."""
    EXTENSION = "extension"
    """An internal desk extension (configured lengths or pattern)."""
    LOCAL = "local"
    """A 7–8 digit subscriber number presented without area code; the trunk's
    configured area code was added (``e164`` set when the result is valid)."""
    INVALID = "invalid"
    """Digits that are not a valid number; kept and still matchable by ``key``."""
    WITHHELD = "withheld"
    """No identity: anonymous, restricted, empty, or Privacy asked to hide it."""


@dataclass(frozen=True, slots=True)
class CallerId:
    """A normalised caller identity.

    ``key`` is the string the directory is matched on; see the module docstring.
    """

    raw: str
    """What arrived: the header value or the text given, unchanged."""
    kind: CallerKind
    """Classification, see :class:`CallerKind`."""
    key: str
    """Directory match key: E.164, ``ext:NNNN``, service digits, national digits of an
    invalid number, or ``""`` when there is nothing to match on."""
    digits: str = ""
    """The presented digits without separators, access and IP-dial prefixes
    (no ``+``)."""
    e164: str | None = None
    """E.164 form, only when ``phonenumbers.is_valid_number`` holds."""
    number_type: str | None = None
    """``mobile``, ``fixed_line``, ``toll_free``, ``shared_cost``…, or ``service``,
    ``emergency``, ``extension``, ``unknown``; ``None`` when withheld."""
    national: str = ""
    """Human display form: national format for home-country numbers
    (``138 1234 5678``, ``010 8765 4321``), international format for foreign ones,
    the digits otherwise; ``""`` when withheld."""
    display_name: str | None = None
    """Decoded display name (may be Chinese); ``None`` when absent, a withheld
    word, or just the number repeated."""
    source: str | None = None
    """Header the identity was taken from (``P-Asserted-Identity``,
    ``Remote-Party-ID``, ``From``), ``None`` for a bare string."""

    @property
    def withheld(self) -> bool:
        """True when the caller's identity is withheld or unavailable."""
        return self.kind is CallerKind.WITHHELD

    @property
    def matchable(self) -> bool:
        """True when ``key`` can match a directory entry."""
        return bool(self.key)


def extension_key(digits: str) -> str:
    """The directory key of an internal extension: ``ext:`` + digits."""
    return "ext:" + digits


def display_key(key: str, region: str = "CN") -> str:
    """A stored key as people read it: ``+8657187654321`` → ``0571 8765 4321``.

    E.164 keys of ``region`` in national format, foreign ones in international
    format, ``ext:8001`` → ``8001``, anything else unchanged.
    """
    if key.startswith("ext:"):
        return key[4:]
    if not key.startswith("+"):
        return key
    try:
        number = phonenumbers.parse(key, None)
    except phonenumbers.NumberParseException:
        return key
    home = number.country_code == phonenumbers.country_code_for_region(region)
    style = PhoneNumberFormat.NATIONAL if home else PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


class NumberingPlanError(ValueError):
    """A numbering-plan setting is wrong: a configuration error, not a caller's."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name


# §4/§1: old IP long-distance carrier prefixes that may precede a dialled number.
IP_DIAL_PREFIXES: tuple[str, ...] = ("17951", "17911", "17909", "12593")

# §3 and §4 surprise 6: shortnumberinfo calls only 110/119/120 emergency numbers;
# the metadata lists these as "expandedEmergency".
_EXPANDED_EMERGENCY: dict[str, frozenset[str]] = {"CN": frozenset({"122", "12395"})}

_WITHHELD_WORDS = frozenset(
    {
        "anonymous", "restricted", "unavailable", "unknown", "private", "withheld",
        "anonymous.invalid",
    }
)
# Dots, dashes (ASCII and typographic), spaces, parentheses: visual only.
_SEPARATORS = re.compile(r"[\s\-.()\u2010-\u2015\u2212\u00a0]+")
_NUMBER_LIKE = re.compile(r"^[+\d\s\-.()]*$")

_TYPE_NAMES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}


@dataclass(frozen=True)
class NumberingPlan:
    """How this site's trunk and PBX present numbers. Validated on construction."""

    region: str = "CN"
    """ISO region whose national numbers arrive without country code."""
    trunk_area_code: str | None = None
    """Area code of the trunk, added to 7–8 digit local numbers (``0571`` or ``571``)."""
    extension_lengths: tuple[int, ...] = (3, 4, 5, 6)
    """Lengths an internal extension may have; service numbers
    (``shortnumberinfo``) of those lengths stay service numbers."""
    extension_pattern: str | None = None
    """Regular expression a whole extension matches (e.g. ``[2-8]\\d{3}``). When set
    it alone decides, before any other rule, and replaces ``extension_lengths``."""
    access_prefixes: tuple[str, ...] = ()
    """Digits the PBX puts in front of outside numbers (``9``, ``90``); stripped
    only when what remains is a longer number."""
    strip_ip_prefixes: bool = True
    """Strip 17951/17911/17909/12593 in front of a number of ≥ 10 digits."""

    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _country_code: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        region = self.region.upper()
        country_code = phonenumbers.country_code_for_region(region)
        if not country_code:
            raise NumberingPlanError(
                "region", f"expected an ISO region like 'CN', got {self.region!r}"
            )
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "_country_code", country_code)
        area = self.trunk_area_code
        if area is not None:
            area = _SEPARATORS.sub("", area)
            if not re.fullmatch(r"0?[1-9]\d{1,3}", area):
                raise NumberingPlanError(
                    "trunk_area_code",
                    f"expected 2–4 digits like '0571', got {self.trunk_area_code!r}",
                )
            object.__setattr__(self, "trunk_area_code", area.lstrip("0"))
        lengths = tuple(self.extension_lengths)
        if any(not isinstance(n, int) or not 1 <= n <= 8 for n in lengths):
            raise NumberingPlanError(
                "extension_lengths", f"expected lengths between 1 and 8, got {lengths!r}"
            )
        object.__setattr__(self, "extension_lengths", lengths)
        pattern = None
        if self.extension_pattern is not None:
            try:
                pattern = re.compile(self.extension_pattern)
            except re.error as exc:
                raise NumberingPlanError(
                    "extension_pattern",
                    f"not a regular expression ({exc}): {self.extension_pattern!r}",
                ) from None
        object.__setattr__(self, "_pattern", pattern)
        prefixes = tuple(self.access_prefixes)
        if any(not p.isdigit() for p in prefixes):
            raise NumberingPlanError("access_prefixes", f"expected digit strings, got {prefixes!r}")
        # Longest first, so "90" is tried before "9".
        object.__setattr__(self, "access_prefixes", tuple(sorted(prefixes, key=len, reverse=True)))

    # -- public -------------------------------------------------------------------

    def normalise(self, text: str | bytes) -> CallerId:
        """Normalise a number, a ``sip:``/``tel:`` URI or a name-addr string."""
        raw = _to_text(text)
        value = unicodedata.normalize("NFKC", raw).strip()
        display: str | None = None
        if "<" in value:
            addr = parse_name_addr(value)
            if addr is None:
                return _invalid(raw, "", "")
            display, value = addr.display_name, addr.uri
        if _scheme(value) in ("sip", "sips", "tel"):
            cid = self._from_uri(raw, value)
        else:
            cid = self._from_number(raw, value, None)
        if display is not None and not cid.withheld:
            cid = _with_display(cid, display)
        return cid

    def is_extension(self, digits: str) -> bool:
        """True when ``digits`` (already clean) is an internal extension here."""
        if not (digits.isascii() and digits.isdigit()):
            return False
        if self._pattern is not None:
            return self._pattern.fullmatch(digits) is not None
        return len(digits) in self.extension_lengths and not self._is_service(digits)

    # -- steps --------------------------------------------------------------------

    def _from_uri(self, raw: str, uri: str) -> CallerId:
        parts = _split_uri(uri)
        if parts.host.lower() == "anonymous.invalid" or not parts.user:
            # RFC 3323 anonymous URI, or a host-only URI: no number was given.
            return _withheld(raw)
        return self._from_number(raw, parts.user, parts.phone_context)

    def _from_number(self, raw: str, text: str, phone_context: str | None) -> CallerId:
        text = text.strip()
        if not text or text.lower() in _WITHHELD_WORDS:
            return _withheld(raw)
        compact = _SEPARATORS.sub("", text)
        plus = compact.startswith("+")
        body = compact[1:] if plus else compact
        if not (body.isascii() and body.isdigit()):
            return _invalid(raw, "", "")
        if not plus and phone_context and phone_context.startswith("+"):
            # RFC 3966 §5.1.5: a local number with a global-number-digits context.
            context = re.sub(r"\D", "", phone_context)
            body, plus = context + body.lstrip("0"), True
        if plus:
            return self._parse(raw, "+" + body, body)
        if self._pattern is not None and self._pattern.fullmatch(body):
            return self._extension(raw, body)
        for rest in self._access_candidates(body):
            cid = self._from_digits(raw, rest)
            if cid.e164 is not None:
                return cid
        return self._from_digits(raw, body)

    def _access_candidates(self, body: str) -> list[str]:
        # §5: a PBX may put "9" or "90" in front; strip only what leaves a
        # full number (never 9 + 5588 from 95588), and only if the result is valid.
        return [
            body[len(p):]
            for p in self.access_prefixes
            if body.startswith(p) and len(body) - len(p) >= 7
        ]

    def _from_digits(self, raw: str, body: str) -> CallerId:
        if self.strip_ip_prefixes:
            for prefix in IP_DIAL_PREFIXES:
                # §4 surprise 8: phonenumbers strips these for mobiles only.
                if body.startswith(prefix) and len(body) - len(prefix) >= 10:
                    body = body[len(prefix):]
                    break
        if len(body) <= 6:
            return self._short(raw, body)
        if len(body) in (7, 8) and body[0] in "2345678":
            return self._local(raw, body)
        cid = self._parse(raw, body, body)
        if cid.e164 is None and body.startswith("00") and not body.startswith("000"):
            # §4 surprise 7: "00" + mobile or "00" + area code is a stray 0, not an
            # international call; the "90" access prefix of §5 produces it too.
            alt = self._parse(raw, body[1:], body[1:])
            if alt.e164 is not None:
                return alt
        return cid

    def _short(self, raw: str, digits: str) -> CallerId:
        if len(digits) < 3:
            return _invalid(raw, digits, digits)
        if self.is_extension(digits):
            return self._extension(raw, digits)
        return self._service(raw, digits)

    def _service(self, raw: str, digits: str) -> CallerId:
        if self._is_emergency(digits):
            kind_name = "emergency"
        elif self._is_service(digits):
            kind_name = "service"
        else:
            kind_name = "unknown"
        return CallerId(
            raw=raw, kind=CallerKind.SHORT, key=digits, digits=digits,
            number_type=kind_name, national=digits,
        )

    def _extension(self, raw: str, digits: str) -> CallerId:
        return CallerId(
            raw=raw, kind=CallerKind.EXTENSION, key=extension_key(digits), digits=digits,
            number_type="extension", national=digits,
        )

    def _local(self, raw: str, digits: str) -> CallerId:
        # §4 surprise 4: phonenumbers cannot know the trunk's home area.
        if self.trunk_area_code is None:
            return CallerId(
                raw=raw, kind=CallerKind.LOCAL, key=digits, digits=digits,
                number_type="unknown", national=digits,
            )
        national = self.trunk_area_code + digits
        parsed = self._parse(raw, "0" + national, digits)
        return CallerId(
            raw=raw, kind=CallerKind.LOCAL, key=parsed.key, digits=digits, e164=parsed.e164,
            number_type=parsed.number_type, national=parsed.national,
        )

    def _parse(self, raw: str, text: str, digits: str) -> CallerId:
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            return _invalid(raw, digits, digits)
        nsn = phonenumbers.national_significant_number(number)
        home = number.country_code == self._country_code
        if phonenumbers.is_valid_number(number):
            style = PhoneNumberFormat.NATIONAL if home else PhoneNumberFormat.INTERNATIONAL
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            return CallerId(
                raw=raw, kind=CallerKind.E164, key=e164, digits=digits, e164=e164,
                number_type=_TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
                national=phonenumbers.format_number(number, style),
            )
        if home and len(nsn) <= 6 and self._is_service(nsn):
            # "+8610086": an IMS network's way of presenting a service number
            # (never an extension: it came with a country code).
            return self._service(raw, nsn)
        if home:
            # §4 surprise 5: allocated ranges (149, 1619, 1749…) are invalid in the
            # metadata; key on the national number so every presentation matches.
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            return _invalid(raw, digits, nsn, national)
        return _invalid(raw, digits, f"+{number.country_code}{nsn}")

    def _is_service(self, digits: str) -> bool:
        number = phonenumbers.PhoneNumber(
            country_code=self._country_code, national_number=int(digits)
        )
        if digits.startswith("0"):
            number.italian_leading_zero = True
            number.number_of_leading_zeros = len(digits) - len(digits.lstrip("0"))
        return bool(shortnumberinfo.is_valid_short_number_for_region(number, self.region))

    def _is_emergency(self, digits: str) -> bool:
        if shortnumberinfo.is_emergency_number(digits, self.region):
            return True
        return digits in _EXPANDED_EMERGENCY.get(self.region, frozenset())


def _invalid(raw: str, digits: str, key: str, national: str = "") -> CallerId:
    return CallerId(
        raw=raw, kind=CallerKind.INVALID, key=key, digits=digits,
        number_type="unknown", national=national or digits,
    )


def _withheld(raw: str) -> CallerId:
    return CallerId(raw=raw, kind=CallerKind.WITHHELD, key="")


def _with_display(cid: CallerId, display: str | None) -> CallerId:
    return dataclasses.replace(cid, display_name=_clean_display_name(display))


@lru_cache(maxsize=32)
def _plan(
    region: str,
    trunk_area_code: str | None,
    extension_lengths: tuple[int, ...],
    extension_pattern: str | None,
    access_prefixes: tuple[str, ...],
    strip_ip_prefixes: bool,
) -> NumberingPlan:
    return NumberingPlan(
        region=region, trunk_area_code=trunk_area_code, extension_lengths=extension_lengths,
        extension_pattern=extension_pattern, access_prefixes=access_prefixes,
        strip_ip_prefixes=strip_ip_prefixes,
    )


def normalise_number(
    text: str | bytes,
    *,
    region: str = "CN",
    trunk_area_code: str | None = None,
    extension_lengths: Sequence[int] = (3, 4, 5, 6),
    extension_pattern: str | None = None,
    access_prefixes: Sequence[str] = (),
    strip_ip_prefixes: bool = True,
) -> CallerId:
    """Normalise one presented number, URI or name-addr into a :class:`CallerId`.

    The keyword arguments are the fields of :class:`NumberingPlan`; callers that
    hold a plan use :meth:`NumberingPlan.normalise` directly.
    """
    plan = _plan(
        region, trunk_area_code, tuple(extension_lengths), extension_pattern,
        tuple(access_prefixes), strip_ip_prefixes,
    )
    return plan.normalise(text)


# --------------------------------------------------------------------------------
# Header values: name-addr (read by the SIP layer's parser) and display names


@dataclass(frozen=True, slots=True)
class _UriParts:
    user: str
    host: str
    phone_context: str | None


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition(":")
    return head.strip().lower() if sep else ""


def _split_uri(uri: str) -> _UriParts:
    scheme, _, rest = uri.partition(":")
    rest = rest.strip()
    if scheme.strip().lower() == "tel":
        number, _, params = rest.partition(";")
        return _UriParts(_pct(number), "", _param(params, "phone-context"))
    rest = rest.split("?", 1)[0]
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        return _UriParts("", userinfo.split(";", 1)[0], None)
    user, _, user_params = userinfo.partition(";")
    user = user.split(":", 1)[0]  # drop a (deprecated) password
    host = hostpart.split(";", 1)[0].split(":", 1)[0]
    return _UriParts(_pct(user), host, _param(user_params, "phone-context"))


def _param(params: str, name: str) -> str | None:
    for item in params.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == name:
            return _pct(value.strip())
    return None


def _pct(text: str) -> str:
    return urllib.parse.unquote(text, errors="surrogateescape")


def split_header_values(value: str) -> list[str]:
    """Split a header's comma-separated values, respecting quotes and ``<>``.

    The SIP layer's list grammar, leniently: empty values are dropped and an
    unterminated quote runs to the end.
    """
    return split_header_list(value, lenient=True)


def parse_name_addr(value: str | bytes) -> LenientNameAddr | None:
    """Parse ``"name" <uri>;params``, ``name <uri>`` or ``uri;params``.

    Returns ``None`` when the value holds no URI at all. Lenient by design: this
    reads caller identity, it does not validate messages (the strict
    :meth:`hotline.sip.headers.NameAddr.parse` does). The display name is decoded
    (:func:`_decode_text`).
    """
    addr = parse_name_addr_lenient(_to_text(value).strip())
    if addr is None or addr.display_name is None:
        return addr
    return dataclasses.replace(addr, display_name=_decode_text(addr.display_name))


def _to_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def _decode_text(text: str) -> str:
    """Undo transport damage in a display name.

    The SIP layer decodes with ``surrogateescape``: lone surrogates are the bytes
    that were not UTF-8, which from older Chinese PBXs and GB28181 devices means
    GBK (GB18030 is its superset). A display name written entirely as ``%XX``
    escapes of UTF-8 is decoded too; anything else keeps its ``%``.
    """
    if any("\udc80" <= c <= "\udcff" for c in text):
        data = text.encode("utf-8", "surrogateescape")
        for codec in ("utf-8", "gb18030"):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
        return data.decode("utf-8", "replace")
    if "%" in text and re.fullmatch(r"(?:%[0-9A-Fa-f]{2}|[^%])*", text):
        try:
            decoded = urllib.parse.unquote_to_bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return text
        if not decoded.isascii():
            return decoded
    return text


def _clean_display_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())
    if not name or name.lower() in _WITHHELD_WORDS or _NUMBER_LIKE.match(name):
        # A number repeated as a name (d06: "01058781234") is not a name.
        return None
    return name


# --------------------------------------------------------------------------------
# Caller identity from SIP headers

# RFC 3323 §4.2 / RFC 3325 §9.3: values that hide the caller's identity.
_PRIVACY_HIDING = frozenset({"id", "header", "user"})


def _privacy_tokens(privacy: str | bytes | None) -> set[str]:
    if privacy is None:
        return set()
    return {t.strip().lower() for t in re.split(r"[;,]", _to_text(privacy)) if t.strip()}


@dataclass(frozen=True, slots=True)
class _Candidate:
    header: str
    raw: str
    addr: LenientNameAddr


def caller_from_headers(
    *,
    p_asserted_identity: str | bytes | None,
    from_: str | bytes | None,
    remote_party_id: str | bytes | None = None,
    privacy: str | bytes | None = None,
    plan: NumberingPlan | None = None,
    **config: Any,
) -> CallerId:
    """The caller of an incoming request, from its raw identity header values.

    Preference: the first ``sip``/``sips``/``tel`` value of P-Asserted-Identity, then
    Remote-Party-ID, then From. A header with no number (``sip:alice@…``) is
    skipped; a network-asserted anonymous identity (PAI or RPID) is final, so a
    From number cannot override it.

    Withholding: ``Privacy: id``, ``header`` or ``user``, or RPID ``privacy=full``
    or ``uri``, give a :attr:`CallerKind.WITHHELD` caller with an empty key, even
    when a PAI number is present. The hotline honours the caller's request: no
    directory lookup, no number or name shown. ``raw`` keeps the asserted header
    value (PAI if present), so an audit can still trace a call — the number is
    stored, never displayed or matched. RPID ``privacy=name`` hides only the name.

    ``plan`` or the keyword arguments of :func:`normalise_number` give the
    numbering plan.
    """
    if plan is None:
        plan = _plan_from_config(config)
    elif config:
        raise TypeError("give either plan= or numbering keyword arguments, not both")
    candidates: list[_Candidate] = []
    from_display: str | None = None
    for header, value in (
        ("P-Asserted-Identity", p_asserted_identity),
        ("Remote-Party-ID", remote_party_id),
        ("From", from_),
    ):
        if value is None:
            continue
        text = _to_text(value)
        for part in split_header_values(text):
            addr = parse_name_addr(part)
            if addr is not None and _scheme(addr.uri) in ("sip", "sips", "tel"):
                candidates.append(_Candidate(header, text, addr))
                if header == "From":
                    from_display = addr.display_name
                break

    if _privacy_tokens(privacy) & _PRIVACY_HIDING:
        audit = next((c for c in candidates if c.header == "P-Asserted-Identity"), None)
        if audit is None and candidates:
            audit = candidates[0]
        return CallerId(
            raw=audit.raw if audit else "", kind=CallerKind.WITHHELD, key="",
            source=audit.header if audit else None,
        )

    chosen: tuple[_Candidate, CallerId] | None = None
    for cand in candidates:
        cid = plan.normalise(cand.addr.uri)
        rpid = cand.header == "Remote-Party-ID"
        if rpid and cand.addr.params.get("privacy", "").lower() in ("full", "uri"):
            cid = _withheld(cid.raw)
        if cid.withheld and cand.header != "From":
            chosen = (cand, cid)
            break
        if cid.digits:
            chosen = (cand, cid)
            break
        if chosen is None:
            chosen = (cand, cid)
    if chosen is None:
        return CallerId(raw="", kind=CallerKind.WITHHELD, key="")

    cand, cid = chosen
    if cid.withheld:
        return CallerId(raw=cand.raw, kind=CallerKind.WITHHELD, key="", source=cand.header)
    display = cand.addr.display_name
    if cand.header == "Remote-Party-ID" and cand.addr.params.get("privacy", "").lower() == "name":
        display = None
    elif _clean_display_name(display) is None:
        display = from_display
    return dataclasses.replace(
        cid, raw=cand.raw, display_name=_clean_display_name(display), source=cand.header
    )


def _plan_from_config(config: dict[str, Any]) -> NumberingPlan:
    # NumberingPlan validates and rejects unknown names with a TypeError.
    for name in ("extension_lengths", "access_prefixes"):
        if name in config and not isinstance(config[name], tuple):
            config = {**config, name: tuple(config[name])}
    try:
        return NumberingPlan(**config)
    except TypeError as exc:
        raise TypeError(f"unknown numbering setting: {exc}") from None
