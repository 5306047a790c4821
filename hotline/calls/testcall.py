"""``hotline call``: place one test call to the hotline and report every step.

Theory of operation. The command is a small SIP phone of its own: it never
shares anything with a running server. It builds

* its own :class:`SipEndpoint`, listening on an ephemeral UDP port (port 0)
  of the local address the kernel would use toward the target -- trunk mode,
  with the target's address as its only allowed peer, the caller's number in
  From (``outbound.caller_id = "from"``) and no proxy -- so the server sees a
  trunk call from the number given with ``--from``;
* its own :class:`MediaEngine`, on a block of RTP ports just above the
  server's ``media.rtp_port_min..max`` (below it when there is no room above),
  so that a test call on the server's own host never takes a port the server
  may hand out; a port in use elsewhere is skipped by the engine itself.

It then dials the target (``--to``, by default the hotline number at the
configuration's first UDP listen address) with an SDP offer for the
configured codecs, and prints each step on its own line with the seconds
since the start: 100 Trying, 1xx progress, the answer (or the rejection with
its reason phrase and Retry-After), the first RTP packet after the answer,
each RFC 4733 key sent, who hung up and when, what was recorded, and the RTP
figures. Keys go out ``--digit-delay`` seconds after that first packet -- the
greeting has started by then -- paced on absolute deadlines, a ``,`` in
``--digits`` adding a one-second pause.

The call ends when ``--seconds`` have passed since the answer (then we send
BYE), when the far end hangs up, or when no RTP has come for the configured
``media.rtp_timeout``; ``--seconds 0`` waits for the far end, at most
:data:`MAX_CALL_SECONDS`. Ringing is CANCELled after ``--timeout`` seconds; a
target that never answered at all (no 100 Trying, so no CANCEL can be sent)
is given up on at the same time rather than after SIP Timer B.

Exit codes: 0 the call was answered (and carried audio); 1 it was rejected,
not answered, failed or answered without usable audio; 2 the arguments are
wrong. Cancelling :func:`run_test_call` (Ctrl-C under ``asyncio.run``) hangs
up first -- BYE when answered, CANCEL while ringing -- and then re-raises;
:func:`run` turns that into exit code 130. Whatever it started (endpoint,
engine, streams, tasks) is stopped before it returns.

The default caller, :data:`TEST_CALLER` (+86 134 1234 5678), is a China Mobile
number from the 134 block, which the demo directory (``hotline.demodata``)
never hands out: a test call is an unknown caller, unless ``--from`` names
someone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from hotline.config import Config, MediaConfig
from hotline.media.codecs import codec_named
from hotline.media.engine import MediaEngine, Recording
from hotline.media.ports import PortsExhausted
from hotline.media.session import StreamConfig
from hotline.media.stream import RtpStream
from hotline.sip.call import OutgoingCall
from hotline.sip.call_events import Answered, CallProgress, Dtmf, Ended, Refer, Reinvite
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.errors import RemoteProtocolError
from hotline.sip.message import Response, reason_phrase
from hotline.sip.sdp import make_offer
from hotline.sip.settings import ListenAddress, OutboundSettings, RateLimits, SipSettings
from hotline.sip.uri import SipUri, parse_uri

__all__ = [
    "MAX_CALL_SECONDS",
    "TEST_CALLER",
    "CallPlan",
    "UsageError",
    "add_arguments",
    "plan_call",
    "run",
    "run_test_call",
]

TEST_CALLER = "+8613412345678"
"""The default ``--from``: a valid mobile number from a block the demo directory does not use."""
MAX_CALL_SECONDS = 600.0
"""How long ``--seconds 0`` waits for the far end to hang up."""
DIGIT_MS = 100
"""How long each key is held (RFC 4733 event duration)."""
DIGIT_SPACING = 0.25
"""Seconds from one key to the next: the event, its three end packets and a pause."""
PAUSE_SECONDS = 1.0
"""What a ``,`` in ``--digits`` waits."""
CANCEL_GRACE = 5.0
"""How long after ``--timeout`` a ringing far end may take to confirm our CANCEL."""
CLIENT_RTP_PORTS = 64
"""Size of the RTP port block the command uses (next to the server's range)."""
_POLL = 0.005
_KEYS = frozenset("0123456789*#,")


class UsageError(ValueError):
    """The command line cannot be used (exit code 2); the message names the option."""


@dataclass(frozen=True, slots=True)
class CallPlan:
    """A test call, checked and with every default filled in."""

    target: str
    """The SIP URI dialled."""
    uri: SipUri
    """`target`, parsed."""
    caller: str
    """The number presented in From."""
    name: str | None
    """The display name presented with it."""
    digits: str
    """RFC 4733 keys to send (``,`` = a pause)."""
    digit_delay: float
    """Seconds after the first RTP packet of the answered call before the first key."""
    record: Path | None
    """Where to save what was heard (8 kHz mono WAV)."""
    seconds: float
    """Hang up this long after the answer; 0 = wait for the far end (at most MAX_CALL_SECONDS)."""
    ring_timeout: float
    """Give up ringing after this long."""


# -- the command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``hotline call`` to `parser` (the ``--config`` option is the caller's)."""
    parser.add_argument("--to", metavar="URI", default=None,
                        help="SIP URI (or just a number) to call (default: sip:<sip.hotline_number>@"
                             "<host:port of the first UDP sip.listen address>)")
    parser.add_argument("--from", dest="caller", metavar="NUMBER", default=TEST_CALLER,
                        help="caller ID presented in From (default: %(default)s, a mobile number "
                             "the demo directory does not know)")
    parser.add_argument("--name", metavar="TEXT", default=None,
                        help="display name presented with the caller ID")
    parser.add_argument("--digits", metavar="KEYS", default="",
                        help='keys to send as RFC 4733 events once the greeting plays: 0-9 * #, '
                             '"," pauses 1 s (e.g. "9,2")')
    parser.add_argument("--digit-delay", metavar="SECONDS", type=float, default=1.0,
                        help="wait after the first audio from the far end before sending keys "
                             "(default: %(default)s)")
    parser.add_argument("--record", metavar="FILE.wav", type=Path, default=None,
                        help="save what was heard (8 kHz mono WAV)")
    parser.add_argument("--seconds", metavar="N", type=float, default=10.0,
                        help="hang up N seconds after the answer; 0 waits for the far end to hang "
                             f"up, at most {MAX_CALL_SECONDS:.0f} s (default: %(default)s)")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=30.0,
                        help="give up ringing after this long (default: %(default)s)")


def default_target(config: Config) -> str:
    """``sip:<hotline_number>@<host:port>`` of the configuration's first UDP listen address."""
    listen = next((a for a in config.sip.listen if a.transport == "udp"), config.sip.listen[0])
    host = listen.host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    params: dict[str, str | None] = {"transport": "tcp"} if listen.transport == "tcp" else {}
    bracketed = f"[{host}]" if ":" in host else host
    return str(SipUri(host=bracketed, user=config.sip.hotline_number, port=listen.port, params=params))


def plan_call(config: Config, args: argparse.Namespace) -> CallPlan:
    """Check the options of ``hotline call``; raises `UsageError` naming the option at fault."""
    to = getattr(args, "to", None)
    if to is None:
        target = default_target(config)
    elif to.strip().lstrip("+").isdigit():
        # Just a number: call it at the configured address, as a desk phone would.
        uri = parse_uri(default_target(config))
        assert isinstance(uri, SipUri)
        target = str(replace(uri, user=to.strip()))
    else:
        target = to.strip()
    try:
        uri = SipUri.parse(target)
    except RemoteProtocolError as exc:
        raise UsageError(f"--to: {exc.reason}: give a SIP URI like sip:8000@192.0.2.10:5060") from None
    if uri.scheme != "sip":
        raise UsageError(f"--to: {target}: only sip: URIs can be called (no TLS)")
    if uri.transport not in (None, "udp", "tcp"):
        raise UsageError(f"--to: {target}: transport={uri.transport} is not supported (udp or tcp)")
    caller = str(getattr(args, "caller", TEST_CALLER) or "").strip()
    if not caller.lstrip("+").isdigit():
        raise UsageError(f"--from: expected a number like {TEST_CALLER}, got {caller!r}")
    digits = str(getattr(args, "digits", "") or "")
    bad = sorted(set(digits) - _KEYS)
    if bad:
        raise UsageError(f"--digits: only 0-9 * # and , (a pause) can be sent, got {''.join(bad)!r}")
    delay = float(getattr(args, "digit_delay", 1.0))
    seconds = float(getattr(args, "seconds", 10.0))
    timeout = float(getattr(args, "timeout", 30.0))
    if delay < 0:
        raise UsageError(f"--digit-delay: expected 0 or more seconds, got {delay:g}")
    if not 0 <= seconds <= MAX_CALL_SECONDS:
        raise UsageError(f"--seconds: expected 0 to {MAX_CALL_SECONDS:.0f}, got {seconds:g}")
    if not 0 < timeout <= MAX_CALL_SECONDS:
        raise UsageError(f"--timeout: expected more than 0 and at most {MAX_CALL_SECONDS:.0f} "
                         f"seconds, got {timeout:g}")
    record: Path | None = getattr(args, "record", None)
    if record is not None:
        record = Path(record)
        if not record.parent.is_dir():
            raise UsageError(f"--record: folder {record.parent} does not exist")
    name = getattr(args, "name", None) or None
    return CallPlan(str(uri), uri, caller, name, digits, delay, record, seconds, timeout)


# -- the run -----------------------------------------------------------------------------------


def run(config: Config, args: argparse.Namespace) -> int:
    """Run ``hotline call`` to its end; a Ctrl-C hangs up and gives exit code 130."""
    try:
        return asyncio.run(run_test_call(config, args))
    except KeyboardInterrupt:
        return 130


async def run_test_call(
    config: Config,
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Place one test call as the options in `args` say; the exit code (see the module doc).

    Steps go to `out` (default: standard output), usage errors to `err`
    (default: standard error).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        plan = plan_call(config, args)
    except UsageError as exc:
        print(f"hotline call: {exc}", file=err)
        return 2
    say = _Steps(out, asyncio.get_running_loop().time)
    try:
        peer = await _resolve(plan.uri)
        local = _local_address_toward(peer[0])
    except OSError as exc:
        say(f"failed: cannot reach {plan.uri.host_port}: {exc}")
        return 1
    endpoint = SipEndpoint(_client_sip_settings(config, plan, local, peer[0]),
                                codecs=config.media.codecs)
    low, high = _client_ports(config.media)
    engine = MediaEngine(bind_host=local, port_min=low, port_max=high)
    engine.rtp_timeout = config.media.rtp_timeout
    engine.symmetric_rtp = config.media.symmetric_rtp
    try:
        try:
            await endpoint.start()
            await engine.start()
            stream = await engine.open_stream(StreamConfig(
                codec_named(config.media.codecs[0]), None, ptime_ms=config.media.ptime,
                receives=False,  # no RTP timeout while it rings
                rtp_timeout=engine.rtp_timeout, symmetric_rtp=engine.symmetric_rtp,
            ))
        except (OSError, PortsExhausted) as exc:
            say(f"failed: cannot open SIP or RTP ports on {local}: {exc}")
            return 1
        return await _TestCall(plan, endpoint, engine, stream, local, config.media, say).run()
    finally:
        # The call is over by now (run() hangs up whatever way it ends); the
        # engine closes the stream, the endpoint BYEs anything still up.
        await engine.close()
        await endpoint.stop()


class _Steps:
    """Prints one step per line with the seconds since the start."""

    def __init__(self, out: TextIO, clock: Callable[[], float]) -> None:
        self.out = out
        self.clock = clock
        self.start = clock()

    def __call__(self, text: str) -> None:
        print(f"{self.clock() - self.start:7.3f} {text}", file=self.out, flush=True)


class _TestCall:
    """One test call from dialling to the report (see the module doc)."""

    def __init__(
        self,
        plan: CallPlan,
        endpoint: SipEndpoint,
        engine: MediaEngine,
        stream: RtpStream,
        local: str,
        media: MediaConfig,
        say: _Steps,
    ) -> None:
        self.plan = plan
        self.endpoint = endpoint
        self.engine = engine
        self.stream = stream
        self.local = local
        self.media = media
        self.say = say
        self.call: OutgoingCall | None = None
        self.final: Response | None = None
        """The far end's final response to our INVITE, as received."""
        self.heard_from_far_end = False
        """Whether any response at all came back (only then can a CANCEL be sent)."""
        self.answered_at: float | None = None
        self.recording: Recording | None = None
        self.keys_left = plan.digits.replace(",", "")
        """Keys of `--digits` not sent yet."""
        loop = asyncio.get_running_loop()
        self._answered: asyncio.Future[Answered | Ended] = loop.create_future()

    async def run(self) -> int:
        offer = make_offer(self.local, self.stream.port, self.media.codecs, ptime=self.media.ptime)
        plan = self.plan
        shown = f' as "{plan.name}"' if plan.name else ""
        self.say(f"calling {plan.target} from {plan.caller}{shown}")
        follower: asyncio.Task[None] | None = None
        listener: asyncio.Task[None] | None = None
        try:
            self.call = await self.endpoint.place_call(
                plan.target, allowed=lambda t: t == plan.target, caller_id=plan.caller,
                display_name=plan.name, sdp_offer=offer.serialize(), timeout=plan.ring_timeout,
            )
            # Responses arrive from the loop, so none can come before this line runs.
            self.call.response_observer = self._on_response
            follower = asyncio.ensure_future(self._follow(self.call))
            outcome = await self._ring()
            if not isinstance(outcome, Answered):
                return 1
            if outcome.media is None:
                self.say("no audio could be agreed with the far end; hanging up")
                await self.call.hangup()
                return 1
            self.stream.reconfigure(self.engine.stream_config(outcome.media))
            if plan.record is not None:
                self.recording = self.engine.record(plan.record, [self.stream])
            listener = asyncio.ensure_future(self._listen())
            await self._hold()
            return 0
        except asyncio.CancelledError:
            self.say("interrupted")
            await self._hang_up()
            raise
        finally:
            await _cancel(follower, listener)
            await self._report()

    # -- the phases ----------------------------------------------------------------------

    async def _ring(self) -> Answered | Ended | None:
        """Until the call is answered or ends (reported), or `--timeout` passes with no reply."""
        assert self.call is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.plan.ring_timeout
        while not self._answered.done():
            # Our CANCEL goes at the deadline and needs a moment for its 487; with no
            # response at all there is nothing to cancel and nothing more to wait for.
            late = deadline + (CANCEL_GRACE if self.heard_from_far_end else 0.5)
            if loop.time() >= late:
                if self.heard_from_far_end:
                    self.say(f"no answer: the far end did not confirm our CANCEL within "
                             f"{CANCEL_GRACE:.0f} s")
                else:
                    self.say(f"no answer: no response from {self.plan.uri.host_port} "
                             f"within {self.plan.ring_timeout:g} s")
                return None
            await asyncio.wait([self._answered], timeout=late - loop.time())
        outcome = self._answered.result()
        if isinstance(outcome, Ended):
            self.say(self._failure(outcome))
        return outcome

    async def _hold(self) -> None:
        """The answered call: until --seconds pass, the far end hangs up or its RTP stops."""
        assert self.call is not None and self.answered_at is not None
        limit = self.plan.seconds or MAX_CALL_SECONDS
        ended = asyncio.ensure_future(self.call.wait_ended())
        silent = asyncio.ensure_future(self.stream.wait_timed_out())
        try:
            left = self.answered_at + limit - self.engine.now()
            await asyncio.wait([ended, silent], timeout=max(0.0, left),
                               return_when=asyncio.FIRST_COMPLETED)
            if ended.done():
                how = ended.result()
                who = "by the far end" if how.reason == "remote-bye" else f"({how.reason})"
                self.say(f"hung up {who} after {self._since_answer():.1f} s")
                return
            if silent.done():
                self.say(f"no audio from the far end for {self.media.rtp_timeout:g} s")
            elif not self.plan.seconds:
                self.say(f"the far end did not hang up within {MAX_CALL_SECONDS:.0f} s")
            await self._hang_up()
        finally:
            await _cancel(ended, silent)

    async def _hang_up(self) -> None:
        """BYE an answered call, CANCEL a ringing one; report it."""
        call = self.call
        if call is None or call.is_over:
            return
        if self.answered_at is not None:
            self.say(f"hung up by us after {self._since_answer():.1f} s")
            await call.hangup()
            return
        await call.hangup()
        # Not `asyncio.timeout`: this also runs in a task being cancelled (Ctrl-C).
        confirmed = asyncio.ensure_future(call.wait_ended())
        try:
            await asyncio.wait([confirmed], timeout=CANCEL_GRACE)
        finally:
            await _cancel(confirmed)
        ended = call.ended
        self.say("cancelled" if ended is not None and ended.reason == "cancelled"
                 else "cancelled; the far end did not confirm it")

    async def _listen(self) -> None:
        """Report the first RTP packet after the answer, then send the keys asked for."""
        assert self.answered_at is not None
        session = self.stream.session
        while session.last_rx is None:  # no event marks a first packet: look every few ms
            await asyncio.sleep(_POLL)
        first = max(session.last_rx, self.answered_at)
        self.say(f"first audio after {first - self.answered_at:.2f} s")
        when = first + self.plan.digit_delay
        for key in self.plan.digits:
            if key == ",":
                when += PAUSE_SECONDS
                continue
            await asyncio.sleep(max(0.0, when - self.engine.now()))
            try:
                self.stream.send_digits(key, DIGIT_MS)
            except ValueError:
                self.say("cannot send keys: the far end did not accept RFC 4733 telephone-events")
                self.keys_left = ""
                return
            self.keys_left = self.keys_left[1:]
            self.say(f"sent digit {key}")
            when += DIGIT_SPACING

    async def _report(self) -> None:
        """What was heard and the RTP figures (the stream itself is closed by the caller)."""
        if self.answered_at is None:
            return
        if self.keys_left:
            self.say(f"keys not sent: {self.keys_left} (the call ended first)")
        if self.recording is not None:
            self.recording.finish()
            heard = self.recording.recorder.duration
            self.say(f"heard {heard:.1f} s of audio, saved to {self.recording.path}")
        stats = self.stream.stats()
        lost = _int(stats.get("lost"))
        expected = _int(stats.get("expected"))
        share = f" ({100.0 * lost / expected:.1f} %)" if expected else ""
        self.say(f"RTP: {_int(stats.get('packets'))} packets received, {lost} lost{share}, "
                 f"jitter {stats.get('jitter_ms', 0)} ms; {_int(stats.get('sent'))} sent")

    # -- signalling ----------------------------------------------------------------------

    def _on_response(self, response: Response) -> None:
        call = self.call
        if call is not None and response.call_id != call.call_id:
            return
        self.heard_from_far_end = True
        if response.status == 100:
            self.say("trying (100)")
        elif response.status >= 200:
            self.final = response

    async def _follow(self, call: OutgoingCall) -> None:
        """Report the call's signalling in order; resolve `_answered` on the answer or end."""
        async for event in call.events():
            if isinstance(event, CallProgress):
                self._progress(event)
            elif isinstance(event, Answered):
                self.answered_at = self.engine.now()
                codec = event.media.codec if event.media is not None else "no audio"
                status = self.final.status if self.final is not None else 200
                self.say(f"answered ({status}, {codec})")
                _resolve_once(self._answered, event)
            elif isinstance(event, Ended):
                _resolve_once(self._answered, event)
            elif isinstance(event, Dtmf):
                self.say(f"the far end sent key {event.digit} (SIP INFO)")
            elif isinstance(event, Reinvite):
                media = event.media
                self.stream.set_remote((media.remote_address, media.remote_port),
                                       (media.remote_address, media.rtcp_port))
                self.say("re-INVITE: " + ("on hold" if event.on_hold else
                                          f"audio now from {media.remote_address}:{media.remote_port}"))
            elif isinstance(event, Refer):
                self.say(f"the far end asked for a transfer to {event.target}; declined")
                await event.finish(603, "Decline")

    def _progress(self, event: CallProgress) -> None:
        if event.status == 180:
            self.say("ringing (180)")
        elif event.status == 183:
            early = ", early media" if event.early_media is not None else ""
            self.say(f"session progress (183{early})")
        else:
            self.say(f"progress ({event.status} {event.reason})")
        if event.early_media is not None and self.answered_at is None:
            self.stream.reconfigure(self.engine.stream_config(event.early_media, receives=False))

    def _failure(self, ended: Ended) -> str:
        """How a call that was not answered ended, in words."""
        final = self.final if self.final is not None and self.final.status == ended.status else None
        status = ended.status
        phrase = (final.reason if final is not None else "") or reason_phrase(status or 0)
        code = f"{status} {phrase}".strip()
        if ended.reason == "rejected":
            retry = final.headers.get("Retry-After") if final is not None else None
            return f"rejected: {code}" + (f" (Retry-After: {retry})" if retry else "")
        if ended.reason == "redirected":
            return f"redirected: {code} to {', '.join(ended.contact) or 'nowhere'}"
        where = self.plan.uri.host_port
        if final is None and ended.reason == "failed":
            # A 503 made up by our transaction layer: the datagram could not be delivered.
            return f"no answer: nothing listens at {where} (transport error)"
        if final is None and ended.reason == "timeout":
            return f"no answer: no response from {where} (SIP timer B)"
        if ended.reason == "timeout":
            return f"no answer within {self.plan.ring_timeout:g} s; cancelled ({code})"
        if ended.reason == "cancelled":
            return f"cancelled ({code})"
        return f"failed: {ended.reason} {code}".rstrip()

    def _since_answer(self) -> float:
        assert self.answered_at is not None
        return self.engine.now() - self.answered_at


# -- helpers -----------------------------------------------------------------------------------


def _resolve_once(fut: asyncio.Future[Answered | Ended], value: Answered | Ended) -> None:
    if not fut.done():
        fut.set_result(value)


async def _cancel(*futures: asyncio.Future[Any] | None) -> None:
    for fut in futures:
        if fut is not None and not fut.done():
            fut.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fut


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


async def _resolve(uri: SipUri) -> tuple[str, int]:
    """The target's IP address and port (names looked up without blocking the loop)."""
    host = (uri.param("maddr") or uri.host).strip("[]")
    port = uri.port or 5060
    try:
        ipaddress.ip_address(host)
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        host = str(infos[0][4][0])
    return host, port


def _local_address_toward(ip: str) -> str:
    """The source address the kernel picks toward `ip` (a connected UDP socket sends nothing)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))
        return str(s.getsockname()[0])


def _client_sip_settings(config: Config, plan: CallPlan, local: str, peer: str) -> SipSettings:
    """A trunk-mode endpoint on an ephemeral port that presents `plan.caller` in From."""
    listen = [ListenAddress("udp", local, 0)]
    if plan.uri.transport == "tcp":
        listen.append(ListenAddress("tcp", local, 0))
    return SipSettings(
        mode="trunk",
        listen=tuple(listen),
        hotline_number=plan.caller,  # the user part of our Contact
        allowed_peers=(peer,),  # the server's BYE and re-INVITEs come from there
        outbound=OutboundSettings(caller_id="from", diversion=False),
        rate_limits=RateLimits(invite_per_second=10.0, register_per_second=1.0,
                               options_per_second=10.0, burst=20),
        trace=config.sip.trace,
    )


def _client_ports(media: MediaConfig) -> tuple[int, int]:
    """An RTP port block next to the server's range, never inside it."""
    above = media.rtp_port_max + 1 + (media.rtp_port_max + 1) % 2
    if above + CLIENT_RTP_PORTS - 1 <= 65535:
        return above, above + CLIENT_RTP_PORTS - 1
    below = media.rtp_port_min - CLIENT_RTP_PORTS
    below += below % 2
    return below, below + CLIENT_RTP_PORTS - 1


def main(argv: list[str] | None = None) -> int:
    """``python -m hotline.calls.testcall --config FILE [options]``: the command on its own."""
    import logging

    from hotline.config import ConfigError, load_config

    parser = argparse.ArgumentParser(prog="hotline call",
                                     description="place a test call to the hotline")
    parser.add_argument("--config", "-c", type=Path, default=Path("config/hotline.toml"),
                        help="configuration file (default: %(default)s)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return run(config, args)


if __name__ == "__main__":
    raise SystemExit(main())
