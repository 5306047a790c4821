"""hotline's configuration: typed dataclasses, loaded and validated once.

Everything the server does comes from one TOML file (``config/hotline.toml``)
plus the calendar year files it points to. :func:`load_config` returns a
frozen :class:`Config` or raises :class:`ConfigError` listing *every* problem
as ``file:line: key: what was expected, got what`` — the server never
half-starts on a bad file. Relative paths are taken from the configuration
file's folder, so the example config runs from any working directory.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from hotline.api.settings import ApiSettings, WebhookSettings
from hotline.calls.survey_plan import SurveySettings
from hotline.configreader import ConfigError, ConfigProblem, Document, Section, parse_span
from hotline.desk.settings import DEFAULT_SLA, ChannelSettings, DeskSettings, SlaPolicy, SlaTarget
from hotline.sip.protection import PeerAllowList
from hotline.sip.settings import (
    ListenAddress,
    OutboundSettings,
    RateLimits,
    RegisterSettings,
    SipAccount,
    SipSettings,
)

__all__ = [
    "CalendarConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DatabaseConfig",
    "DirectoryConfig",
    "IvrConfig",
    "ListenAddress",
    "MediaConfig",
    "OutboundConfig",
    "RateLimitConfig",
    "RegisterConfig",
    "RotaConfig",
    "RoutingConfig",
    "SipAccount",
    "SipConfig",
    "SiteConfig",
    "WebConfig",
    "load_config",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class SiteConfig:
    name: str
    """Name shown to operators and in reports, e.g. "某石化公司 信息中心"."""
    timezone: ZoneInfo
    """IANA zone all business-time arithmetic is done in (default Asia/Shanghai)."""
    region: str
    """Default phone region for numbers without a country code (ISO 3166, default CN)."""
    area_code: str | None
    """The trunk's home area code without the 0 (e.g. "571"), added to 7–8 digit local caller IDs."""
    extension_pattern: str
    """Regular expression matching internal desk extensions, e.g. "[2-8]\\d{3}"."""


# The SIP layer's settings are its own types (hotline.sip.settings); the names the
# configuration has always used stay importable from here.
RegisterConfig = RegisterSettings
OutboundConfig = OutboundSettings
RateLimitConfig = RateLimits


@dataclass(frozen=True, kw_only=True)
class SipConfig(SipSettings):
    """The ``[sip]`` table: the endpoint's :class:`~hotline.sip.settings.SipSettings`, which the
    endpoint takes as they are, plus the call-admission limits that call control applies."""

    ring_seconds: float
    """How long an incoming call rings before it is answered."""
    max_call_seconds: int
    """Hard limit on one call's duration."""
    forward_targets: tuple[str, ...]
    """Extra numbers the hotline may dial besides staff mobiles from the rota. Nothing else is dialled."""
    max_calls: int = 250
    """Calls handled at once; past it a new call is answered ``503 Service Unavailable`` with
    ``Retry-After`` (and still recorded, flagged for a call back). Default: half the RTP port
    pairs, since a forwarded call holds two legs."""
    max_calls_per_caller: int = 3
    """Calls at once from one caller number (a stuck auto-dialler, a prank) before 503."""
    retry_after: int = 30
    """Seconds a caller refused for overload is told to wait (``Retry-After``)."""


@dataclass(frozen=True)
class MediaConfig:
    rtp_port_min: int
    """First RTP port (even) of the range used for calls."""
    rtp_port_max: int
    """Last port of the range; each call takes two (RTP and RTCP)."""
    codecs: tuple[str, ...]
    """Codecs offered and accepted, in preference order: "PCMU", "PCMA"."""
    ptime: int
    """Packet time in ms for streams we originate (10–60)."""
    rtp_timeout: float
    """Seconds without RTP after which a leg is reported dead."""
    symmetric_rtp: bool
    """Latch to the source of the first packets (callers behind NAT)."""
    inband_dtmf_peers: tuple[str, ...]
    """Peers (addresses, networks, ``address:port``) whose calls carry DTMF as tones in the
    audio instead of RFC 4733; their audio goes through the in-band detector."""
    prompts_dir: Path
    """Folder of WAV prompts."""
    recordings_dir: Path
    """Folder where voicemail and call recordings are written."""
    relay_workers: int = 0
    """Processes that relay bridged calls, off the core that runs SIP, the store and the
    console (`hotline.media.relay`); 0 relays them in the server. Worth it from a few hundred
    calls at once on a machine with a core to spare."""


@dataclass(frozen=True)
class WebConfig:
    bind: str
    """Address the console listens on."""
    port: int
    """Console port."""
    secret: str
    """Key for session cookies and CSRF tokens (at least 32 characters)."""
    access_log: bool = True
    """Log every HTTP request (time, address, method, path, status, size, duration, user)."""
    access_log_file: Path | None = None
    """Where the access log goes (``access_log = "path"``); None: the server's own log."""
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    """Addresses that may read ``/metrics`` (it reveals call volumes)."""


@dataclass(frozen=True)
class DatabaseConfig:
    path: Path
    """SQLite database file (created on first start)."""
    synchronous: str
    """SQLite synchronous mode: "full" (every commit on disk) or "normal" (WAL-safe, faster)."""


@dataclass(frozen=True)
class CalendarConfig:
    folder: Path
    """Folder of per-year holiday files (cn-2026.toml …)."""
    weekly_hours: dict[int, tuple[tuple[time, time], ...]]
    """Working hours per weekday (0 = Monday), as (start, end) pairs."""
    make_up_day_as: int
    """Which weekday's hours a make-up working day (调休) uses (0 = Monday)."""


@dataclass(frozen=True)
class RotaConfig:
    name: str
    """Rota name, e.g. "it-oncall"."""
    period: str
    """"daily" or "weekly"."""
    handover: time
    """Local time of day at which the shift changes hands."""
    handover_weekday: int
    """Weekday of the handover for weekly rotas (0 = Monday)."""
    anchor: date
    """Date on which the first member's shift starts."""
    members: tuple[str, ...]
    """Person ids in rotation order."""
    manager: str | None
    """Person id at the end of the escalation chain."""


@dataclass(frozen=True)
class DirectoryConfig:
    csv: Path | None
    """Employee directory CSV imported by `hotline import-directory` when no file is named."""


@dataclass(frozen=True)
class IvrConfig:
    flows_dir: Path
    """Folder of IVR flow files."""


@dataclass(frozen=True)
class RoutingConfig:
    """Where calls go once the IVR has decided: the duty desk, the on-call chain, posts, targets."""

    desk: tuple[str, ...] = ()
    """The duty desk's phones: SIP URIs, or extensions/numbers dialled through
    ``sip.outbound.proxy``. Empty: a call routed to the desk overflows to the on-call chain."""
    desk_strategy: str = "order"
    """"order": ring the desk phones one after another; "together": ring all, first answer wins."""
    desk_ring_seconds: float = 20.0
    """How long the desk rings (each phone, in order) before the call overflows."""
    oncall_ring_seconds: float = 25.0
    """How long each engineer's mobile rings before the next in the chain is tried."""
    accept_seconds: float = 10.0
    """After answering and hearing the whisper, how long an engineer has to press 1."""
    whisper_desk: bool = False
    """Whisper (and ask for 1) to desk phones too; the desk normally sees the console instead."""
    rota: str | None = None
    """The ``[[rota]]`` whose chain (primary, secondary, manager) the on-call route rings;
    default: the first."""
    mode: str = "bridge"
    """"bridge": hotline dials and bridges (whisper, accept, escalation, full record);
    "redirect": a 302 to the first target (no whisper, no escalation, no record of who answered);
    "refer": answer, then REFER the caller's phone to the first target (same limits)."""
    record: bool = False
    """Record bridged calls (caller left, engineer right) into ``media.recordings_dir``."""
    announce_recording: bool = True
    """When recording, both sides first hear that the call is recorded."""
    voicemail_seconds: float = 120.0
    """Longest voicemail message."""
    targets: dict[str, str] = field(default_factory=dict)
    """Named route targets for flows (``route = "security"``): name → SIP URI or number."""


@dataclass(frozen=True)
class Config:
    source: Path
    """The file this configuration came from."""
    site: SiteConfig
    sip: SipConfig
    media: MediaConfig
    web: WebConfig
    database: DatabaseConfig
    calendar: CalendarConfig
    rotas: tuple[RotaConfig, ...] = field(default_factory=tuple)
    directory: DirectoryConfig = field(default_factory=lambda: DirectoryConfig(None))
    ivr: IvrConfig = field(default_factory=lambda: IvrConfig(Path("ivr_flows")))
    desk: DeskSettings = field(default_factory=DeskSettings)
    """SLA targets, points and notification channels of the service desk."""
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    """Desk phones, ring times, the on-call rota used, forwarding mode, named targets."""
    survey: SurveySettings = field(default_factory=SurveySettings)
    """``[callback.survey]``: the automated callback survey calls (off by default)."""
    api: ApiSettings = field(default_factory=ApiSettings)
    """``[api]``: the JSON API's rate limit per token and its issue-event webhooks."""


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file; raise ConfigError with every problem."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(shown, None, "-", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(shown, None, "-", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise ConfigError([ConfigProblem(shown, line, "-", f"not valid TOML: {exc}")]) from None
    doc = Document(shown, text, data)
    config = _read(doc, path.resolve().parent, path)
    if doc.problems:
        raise ConfigError(doc.problems)
    return config


def _line_from_message(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _read(doc: Document, base: Path, source: Path) -> Config:
    root = doc.root()
    site = _site(root.table("site", required=True))
    sip = _sip(root.table("sip", required=True))
    media = _media(root.table("media"), base)
    web = _web(root.table("web"), base)
    database = _database(root.table("database"), base)
    calendar = _calendar(root.table("calendar"), base)
    rotas = tuple(_rota(s) for s in root.tables("rota"))
    names = [r.name for r in rotas]
    for index, name in enumerate(names):
        if name in names[:index]:
            doc.problem(("rota", index, "name"), f'duplicate rota name "{name}"')
    dir_section = root.table("directory")
    csv = dir_section.optional_string("csv")
    dir_section.finish()
    ivr_section = root.table("ivr")
    ivr = IvrConfig(ivr_section.path("flows_dir", base, "../ivr_flows"))
    ivr_section.finish()
    desk = _desk(root.table("desk"))
    routing = _routing(root.table("routing"), [r.name for r in rotas])
    callback_section = root.table("callback")
    survey = _survey(callback_section.table("survey"))
    callback_section.finish()
    api = _api(root.table("api"))
    if survey.enabled and sip.outbound.proxy is None:
        doc.problem(("callback", "survey", "enabled"), "survey calls dial the directory's numbers"
                    " through sip.outbound.proxy: set [sip.outbound] proxy, or turn the survey off")
    if survey.enabled and not sip.hotline_number:
        doc.problem(("callback", "survey", "enabled"), "survey calls present the hotline number as"
                    " caller ID: set [sip] hotline_number")
    root.finish()
    if sip.max_calls == 0:
        # Each leg takes an RTP/RTCP port pair; a forwarded call holds two legs.
        pairs = (media.rtp_port_max - media.rtp_port_min + 1) // 2
        sip = dataclasses.replace(sip, max_calls=max(1, pairs // 2))
    return Config(
        source=source,
        site=site,
        sip=sip,
        media=media,
        web=web,
        database=database,
        calendar=calendar,
        rotas=rotas,
        directory=DirectoryConfig(base / csv if csv else None),
        ivr=ivr,
        desk=desk,
        routing=routing,
        survey=survey,
        api=api,
    )


def _site(s: Section) -> SiteConfig:
    name = s.string("name")
    tz_name = s.string("timezone", "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        s.bad("timezone", "an IANA time zone like Asia/Shanghai", tz_name)
        tz = ZoneInfo("UTC")
    region = s.string("region", "CN")
    if region not in phonenumbers.SUPPORTED_REGIONS:
        s.bad("region", "a two-letter phone region like CN", region)
    area = s.optional_string("area_code")
    if area is not None:
        area = area.lstrip("0")
        if not area.isdigit() or not 2 <= len(area) <= 3:
            s.bad("area_code", 'an area code like "571" or "0571"', area)
    pattern = s.string("extension_pattern", r"[2-8]\d{3}")
    try:
        re.compile(pattern)
    except re.error as exc:
        s.bad("extension_pattern", f"a regular expression ({exc})", pattern)
    s.finish()
    return SiteConfig(name, tz, region, area, pattern)


def _listen(s: Section) -> tuple[ListenAddress, ...]:
    out = []
    for item in s.string_list("listen", ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"], nonempty=True):
        parsed = _parse_listen(item)
        if parsed is None:
            s.bad("listen", 'entries like "udp:0.0.0.0:5060" or "tcp:[::1]:5060"', item)
        else:
            out.append(parsed)
    return tuple(out)


def _parse_listen(text: str) -> ListenAddress | None:
    transport, _, rest = text.partition(":")
    if transport not in ("udp", "tcp") or not rest:
        return None
    if rest.startswith("["):
        host, _, port_text = rest[1:].partition("]:")
    else:
        host, _, port_text = rest.rpartition(":")
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
    except ValueError:
        return None
    if not 1 <= port <= 65535:
        return None
    return ListenAddress(transport, host, port)


def _peers(s: Section, key: str) -> list[str]:
    out = []
    for entry in s.string_list(key, []):
        try:
            PeerAllowList().add(entry)
        except ValueError:
            s.bad(key, "addresses, networks or address:port entries like 192.0.2.10, "
                       "10.1.0.0/16 or [::1]:5082", entry)
        else:
            out.append(entry)
    return out


def _sip(s: Section) -> SipConfig:
    mode = s.string("mode", "trunk", choices=("trunk", "register"))
    listen = _listen(s)
    number = s.string("hotline_number", "hotline")
    peers = tuple(_peers(s, "allowed_peers"))
    reg_section = s.table("register", required=(mode == "register"))
    register = None
    if reg_section.data or mode == "register":
        register = RegisterSettings(
            registrar=reg_section.string("registrar", pattern=r"sips?:.+"),
            username=reg_section.string("username"),
            password=reg_section.string("password"),
            expires=reg_section.integer("expires", 60, 86400, 600),
        )
    reg_section.finish()
    if mode == "trunk" and not peers:
        s.problem("allowed_peers", "trunk mode needs at least one allowed peer address or network")
    out_section = s.table("outbound")
    outbound = OutboundSettings(
        proxy=out_section.optional_string("proxy"),
        username=out_section.optional_string("username"),
        password=out_section.optional_string("password"),
        caller_id=out_section.string("caller_id", "pai", choices=("pai", "from")),
        diversion=out_section.boolean("diversion", True),
    )
    if outbound.proxy is not None and not outbound.proxy.startswith(("sip:", "sips:")):
        out_section.bad("proxy", 'a SIP URI like "sip:10.0.0.5:5060"', outbound.proxy)
    out_section.finish()
    rl = s.table("rate_limits")
    default_limits = RateLimits()
    limits = RateLimits(
        invite_per_second=rl.number("invite_per_second", 0.1, 10000, default_limits.invite_per_second),
        register_per_second=rl.number("register_per_second", 0.1, 10000, default_limits.register_per_second),
        options_per_second=rl.number("options_per_second", 0.1, 10000, default_limits.options_per_second),
        burst=rl.integer("burst", 1, 100000, default_limits.burst),
    )
    rl.finish()
    config = SipConfig(
        mode=mode,
        listen=listen,
        hotline_number=number,
        allowed_peers=peers,
        register=register,
        outbound=outbound,
        rate_limits=limits,
        ring_seconds=s.number("ring_seconds", 0, 60, 1.0),
        max_call_seconds=s.integer("max_call_seconds", 10, 86400, 3600),
        trace=s.boolean("trace", False),
        accept_refer=s.boolean("accept_refer", False),
        forward_targets=tuple(s.string_list("forward_targets", [])),
        accounts=_sip_accounts(s),
        auth_realm=s.string("auth_realm", "hotline"),
        auth_algorithms=tuple(s.string_list("auth_algorithms", ["SHA-256", "MD5"], nonempty=True)),
        auth_secret=s.optional_string("auth_secret"),
        max_calls=s.integer("max_calls", 0, 100000, 0),  # 0: from the RTP range, see _read
        max_calls_per_caller=s.integer("max_calls_per_caller", 1, 1000, 3),
        retry_after=s.integer("retry_after", 1, 3600, 30),
    )
    for algorithm in config.auth_algorithms:
        if algorithm not in ("SHA-256", "SHA-512-256", "MD5"):
            s.bad("auth_algorithms", 'algorithms among "SHA-256", "SHA-512-256", "MD5"', algorithm)
    if len(set(config.auth_algorithms)) != len(config.auth_algorithms):
        s.problem("auth_algorithms", "lists an algorithm twice")
    if config.auth_secret is not None and len(config.auth_secret) < 16:
        s.problem("auth_secret", f"must be at least 16 characters, got {len(config.auth_secret)}")
    if '"' in config.auth_realm or "\\" in config.auth_realm:
        s.bad("auth_realm", "a realm without quotes or backslashes", config.auth_realm)
    s.finish()
    return config


def _sip_accounts(s: Section) -> tuple[SipAccount, ...]:
    accounts: list[SipAccount] = []
    for a in s.tables("accounts"):
        username = a.string("username")
        password = a.string("password")
        if username and any(c in username for c in '"\\:') :
            a.bad("username", "a user name without quotes, backslashes or colons", username)
        if username in (x.username for x in accounts):
            a.problem("username", f'duplicate SIP account "{username}"')
        a.finish()
        if username:
            accounts.append(SipAccount(username, password))
    return tuple(accounts)


_TARGET = re.compile(r"(sips?:\S+|\+?[0-9*#]{2,32})")
_TARGET_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_RESERVED_TARGETS = ("desk", "oncall", "voicemail")


def _routing(s: Section, rotas: list[str]) -> RoutingConfig:
    defaults = RoutingConfig()
    desk = s.string_list("desk", [])
    for phone in desk:
        if not _TARGET.fullmatch(phone):
            s.bad("desk", 'SIP URIs or numbers like "sip:desk1@10.0.0.5" or "8001"', phone)
    rota = s.optional_string("rota")
    if rota is not None and rota not in rotas:
        s.bad("rota", "the name of a [[rota]]" + (f" ({', '.join(rotas)})" if rotas else ""), rota)
    targets_section = s.table("targets")
    targets: dict[str, str] = {}
    for name, value in targets_section.data.items():
        text = targets_section.string(name)
        if not _TARGET_NAME.fullmatch(name) or name in _RESERVED_TARGETS:
            targets_section.problem(name, 'a target name is lower-case letters, digits, "-" or "_", '
                                          'and not "desk", "oncall" or "voicemail"')
        elif not _TARGET.fullmatch(text):
            targets_section.bad(name, 'a SIP URI or a number like "+8613800000000"', value)
        else:
            targets[name] = text
    targets_section.finish()
    config = RoutingConfig(
        desk=tuple(desk),
        desk_strategy=s.string("desk_strategy", defaults.desk_strategy, choices=("order", "together")),
        desk_ring_seconds=s.number("desk_ring_seconds", 1, 300, defaults.desk_ring_seconds),
        oncall_ring_seconds=s.number("oncall_ring_seconds", 1, 300, defaults.oncall_ring_seconds),
        accept_seconds=s.number("accept_seconds", 1, 120, defaults.accept_seconds),
        whisper_desk=s.boolean("whisper_desk", defaults.whisper_desk),
        rota=rota,
        mode=s.string("mode", defaults.mode, choices=("bridge", "redirect", "refer")),
        record=s.boolean("record", defaults.record),
        announce_recording=s.boolean("announce_recording", defaults.announce_recording),
        voicemail_seconds=s.number("voicemail_seconds", 5, 600, defaults.voicemail_seconds),
        targets=targets,
    )
    s.finish()
    return config


def _media(s: Section, base: Path) -> MediaConfig:
    low = s.integer("rtp_port_min", 1024, 65534, 20000)
    high = s.integer("rtp_port_max", 1025, 65535, 20999)
    if high - low < 3:
        s.problem("rtp_port_max", f"the RTP range {low}–{high} must hold at least two port pairs")
    codecs = s.string_list("codecs", ["PCMU", "PCMA"], nonempty=True)
    for codec in codecs:
        if codec not in ("PCMU", "PCMA"):
            s.bad("codecs", 'codecs among "PCMU", "PCMA"', codec)
    config = MediaConfig(
        rtp_port_min=low + (low % 2),
        rtp_port_max=high,
        codecs=tuple(codecs),
        ptime=s.integer("ptime", 10, 60, 20),
        rtp_timeout=s.number("rtp_timeout", 1, 3600, 30.0),
        symmetric_rtp=s.boolean("symmetric_rtp", True),
        inband_dtmf_peers=tuple(_peers(s, "inband_dtmf_peers")),
        prompts_dir=s.path("prompts_dir", base, "../hotline/media/prompts"),
        recordings_dir=s.path("recordings_dir", base, "../var/recordings"),
        relay_workers=s.integer("relay_workers", 0, 64, 0),
    )
    if config.ptime % 10:
        s.bad("ptime", "a multiple of 10 ms between 10 and 60", config.ptime)
    s.finish()
    return config


def _web(s: Section, base: Path) -> WebConfig:
    bind = s.string("bind", "127.0.0.1")
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        s.bad("bind", "an IP address like 127.0.0.1", bind)
    port = s.integer("port", 1, 65535, 8080)
    secret = s.string("secret")
    if secret and len(secret) < 32:
        s.problem("secret", f"must be at least 32 characters, got {len(secret)}")
    access_log, access_file = True, None
    value = s.data.get("access_log", True)
    if isinstance(value, bool):
        access_log = s.boolean("access_log", True)
    elif isinstance(value, str) and value.strip():
        access_file = s.path("access_log", base)
    else:
        s.bad("access_log", 'true, false or a file path like "../var/access.log"', value)
    allow = tuple(s.networks("metrics_allow", ["127.0.0.0/8", "::1"]))
    s.finish(also=("access_log",))
    return WebConfig(bind, port, secret, access_log=access_log, access_log_file=access_file,
                     metrics_allow=allow)


def _database(s: Section, base: Path) -> DatabaseConfig:
    config = DatabaseConfig(
        path=s.path("path", base, "../var/hotline.sqlite3"),
        synchronous=s.string("synchronous", "full", choices=("full", "normal")),
    )
    s.finish()
    return config


def _calendar(s: Section, base: Path) -> CalendarConfig:
    folder = s.path("folder", base, "calendar")
    hours_section = s.table("hours")
    weekly: dict[int, tuple[tuple[time, time], ...]] = {}
    defaults = {d: ["08:00-12:00", "13:30-17:30"] for d in WEEKDAYS[:5]}
    for index, day in enumerate(WEEKDAYS):
        spans = []
        for text in hours_section.string_list(day, defaults.get(day, [])):
            span = parse_span(text)
            if span is None:
                hours_section.bad(day, 'spans like "08:00-12:00" with start before end', text)
                continue
            spans.append(span)
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                hours_section.problem(day, "working-hour spans overlap")
        weekly[index] = tuple(spans)
    hours_section.finish()
    as_day = s.string("make_up_day_as", "monday", choices=WEEKDAYS)
    s.finish()
    return CalendarConfig(folder, weekly, WEEKDAYS.index(as_day) if as_day in WEEKDAYS else 0)


def _rota(s: Section) -> RotaConfig:
    weekday = s.string("handover_weekday", "monday", choices=WEEKDAYS)
    members = s.string_list("members", nonempty=True)
    if len(set(members)) != len(members):
        s.problem("members", "a person appears twice in the rotation")
    rota = RotaConfig(
        name=s.string("name", pattern=r"[a-z0-9][a-z0-9_-]*"),
        period=s.string("period", "weekly", choices=("daily", "weekly")),
        handover=s.clock_time("handover", "08:30"),
        handover_weekday=WEEKDAYS.index(weekday) if weekday in WEEKDAYS else 0,
        anchor=s.day("anchor"),
        members=tuple(members),
        manager=s.optional_string("manager"),
    )
    s.finish()
    return rota


PRIORITIES = ("P1", "P2", "P3", "P4")
NOTIFY_EVENTS = ("dispatched", "at_risk", "breached", "escalated", "reopened", "poor_callback",
                 "stale_digest", "unassigned", "voicemail", "missed_call")
TEMPLATES = Path(__file__).resolve().parent / "desk" / "notify" / "templates"


def _desk(s: Section) -> DeskSettings:
    defaults = DeskSettings()
    sla = dict(DEFAULT_SLA)
    sla_section = s.table("sla")
    for priority in PRIORITIES:
        p = sla_section.table(priority)
        if not p.data:
            p.finish()
            continue
        base = DEFAULT_SLA[priority]
        sla[priority] = SlaPolicy(
            response=SlaTarget(
                p.number("response_minutes", 1, 525600, base.response.minutes),
                p.string("response_clock", "business" if base.response.business else "24x7",
                         choices=("business", "24x7")) == "business"),
            resolution=SlaTarget(
                p.number("resolution_minutes", 1, 5256000, base.resolution.minutes),
                p.string("resolution_clock", "business" if base.resolution.business else "24x7",
                         choices=("business", "24x7")) == "business"),
        )
        if sla[priority].resolution.minutes < sla[priority].response.minutes:
            p.problem("resolution_minutes", "the resolution target is shorter than the response target")
        p.finish()
    sla_section.finish()
    points_section = s.table("points")
    points = {p: points_section.number(p, 0, 1000, defaults.points[p]) for p in PRIORITIES}
    points_section.finish()
    category_section = s.table("category_points")
    category_points = {
        key: category_section.number(key, 0, 1000) for key in list(category_section.data)
    }
    category_section.finish()
    channels = tuple(_channel(c) for c in s.tables("channel"))
    names = [c.name for c in channels]
    for index, name in enumerate(names):
        if name in names[:index]:
            s.doc.problem(("desk", "channel", index, "name"), f'duplicate channel name "{name}"')
    settings = DeskSettings(
        sla=sla,
        default_priority=s.string("default_priority", defaults.default_priority, choices=PRIORITIES),
        urgent_priorities=_priorities(s, "urgent_priorities", defaults.urgent_priorities),
        at_risk_fraction=s.number("at_risk_fraction", 0.1, 0.99, defaults.at_risk_fraction),
        business_day_minutes=s.number("business_day_minutes", 60, 1440, defaults.business_day_minutes),
        points=points,
        category_points=category_points,
        on_time_bonus=s.number("on_time_bonus", 0, 1000, defaults.on_time_bonus),
        overdue_penalty_per_day=s.number("overdue_penalty_per_day", 0, 1000,
                                         defaults.overdue_penalty_per_day),
        poor_score=s.integer("poor_score", 1, 4, defaults.poor_score),
        channels=channels,
        max_attempts=s.integer("max_attempts", 1, 100, defaults.max_attempts),
        backoff_base=s.number("backoff_base", 0.1, 3600, defaults.backoff_base),
        backoff_cap=s.number("backoff_cap", 1, 86400, defaults.backoff_cap),
    )
    s.finish()
    return settings


def _api(s: Section) -> ApiSettings:
    d = ApiSettings()
    hooks = []
    for index, h in enumerate(s.tables("webhook")):
        events = h.string_list("events", [])
        for event in events:
            if not re.fullmatch(r"issue\.[a-z_]+", event):
                h.bad("events", 'issue event types like "issue.created", "issue.status"', event)
        secret = h.string("secret")
        if secret and len(secret) < 16:
            h.problem("secret", f"must be at least 16 characters, got {len(secret)}")
        hooks.append(WebhookSettings(
            name=h.string("name", f"webhook-{index + 1}", pattern=r"[a-z0-9][a-z0-9_-]*"),
            url=h.string("url", pattern=r"https?://\S+"), secret=secret, events=frozenset(events),
            timeout=h.number("timeout", 1, 300, 10.0)))
        h.finish()
    names = [w.name for w in hooks]
    for index, name in enumerate(names):
        if name in names[:index]:
            s.doc.problem(("api", "webhook", index, "name"), f'duplicate webhook name "{name}"')
    settings = ApiSettings(
        rate_per_second=s.number("rate_per_second", 0.01, 10000, d.rate_per_second),
        burst=s.integer("burst", 1, 100000, d.burst),
        webhooks=tuple(hooks),
        relay_seconds=s.number("relay_seconds", 0.1, 3600, d.relay_seconds),
    )
    s.finish()
    return settings


def _survey(s: Section) -> SurveySettings:
    d = SurveySettings()
    settings = SurveySettings(
        enabled=s.boolean("enabled", d.enabled),
        max_concurrent=s.integer("max_concurrent", 1, 500, d.max_concurrent),
        attempts=s.integer("attempts", 1, 20, d.attempts),
        retry_minutes=s.number("retry_minutes", 0.01, 43200, d.retry_minutes),
        ring_seconds=s.number("ring_seconds", 5, 120, d.ring_seconds),
        answer_seconds=s.number("answer_seconds", 2, 60, d.answer_seconds),
        question_tries=s.integer("question_tries", 1, 5, d.question_tries),
        check_seconds=s.number("check_seconds", 0.5, 3600, d.check_seconds),
    )
    s.finish(hint=True)
    return settings


def _priorities(s: Section, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    values = s.string_list(key, list(default))
    for value in values:
        if value not in PRIORITIES:
            s.bad(key, "priorities among P1, P2, P3, P4", value)
    return tuple(v for v in values if v in PRIORITIES)


def _channel(s: Section) -> ChannelSettings:
    kind = s.string("kind", choices=("webhook", "smtp"))
    events = s.string_list("events", [])
    for event in events:
        if event not in NOTIFY_EVENTS:
            s.bad("events", "events among " + ", ".join(NOTIFY_EVENTS), event)
    if kind == "webhook":
        url = s.string("url", pattern=r"https?://\S+")
        template = s.string("template", "generic_sms.json.j2")
        if not (TEMPLATES / template).is_file():
            s.bad("template", "one of " + ", ".join(sorted(p.name for p in TEMPLATES.glob("*.json.j2"))),
                  template)
        channel = ChannelSettings(name=s.string("name", pattern=r"[a-z0-9][a-z0-9_-]*"), kind=kind,
                                  url=url, template=template, events=frozenset(events),
                                  timeout=s.number("timeout", 1, 300, 10.0))
    else:
        channel = ChannelSettings(
            name=s.string("name", pattern=r"[a-z0-9][a-z0-9_-]*"), kind=kind,
            host=s.string("host", "127.0.0.1"), port=s.integer("port", 1, 65535, 25),
            sender=s.string("sender", pattern=r"[^@\s]+@[^@\s]+"),
            starttls=s.boolean("starttls", False), username=s.string("username", "", nonempty=False),
            password=s.string("password", "", nonempty=False), events=frozenset(events),
            timeout=s.number("timeout", 1, 300, 10.0),
        )
    s.finish()
    return channel
