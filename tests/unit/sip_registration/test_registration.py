"""REGISTER client: headers, refresh timing, digest, failures and back-off, unregister."""

from __future__ import annotations

import itertools

import pytest

from hotline.sip.auth import Credentials
from hotline.sip.errors import LocalProtocolError
from hotline.sip.message import Response, build_response
from hotline.sip.registration import (
    Registered,
    RegisterRequest,
    Registration,
    RegistrationFailed,
    RegistrationInput,
    RegistrationState,
    RegistrationTimers,
    Unregistered,
)
from hotline.sip.settings import RegisterSettings
from hotline.sip.uri import SipUri
from tests.unit.sip_registration.fake_registrar import (
    PASSWORD,
    REALM,
    USER,
    FakeRegistrar,
    exchange,
    requests_of,
)

REGISTRAR = "sip:pbx.corp.example:5080"
CONTACT = "sip:8001@192.0.2.10:5070"
EXACT = RegistrationTimers(jitter=0.0)
S = RegistrationState


def make(
    *, password: str = PASSWORD, expires: int = 3600, timers: RegistrationTimers = EXACT
) -> Registration:
    counter = itertools.count(1)
    return Registration(
        REGISTRAR,
        CONTACT,
        USER,
        password,
        expires=expires,
        timers=timers,
        call_id_factory=lambda: "reg-call-1",
        tag_factory=lambda: "fromtag1",
        branch_factory=lambda: f"z9hG4bKtest{next(counter)}",
        cnonce_factory=lambda: f"cn{next(counter)}",
    )


def only_request(outputs: list) -> RegisterRequest:
    sends = requests_of(outputs)
    assert len(sends) == 1, outputs
    return sends[0]


def reply(send: RegisterRequest, status: int, *headers: tuple[str, str]) -> Response:
    return build_response(send.request, status, to_tag="reg", headers=list(headers))


def registered(registration: Registration, registrar: FakeRegistrar, now: float = 0.0) -> Registered:
    events = exchange(registration, registrar, registration.start(now), now)
    assert [type(e) for e in events] == [Registered]
    assert registration.state is S.REGISTERED
    event = events[0]
    assert isinstance(event, Registered)
    return event


# --------------------------------------------------------------------------- the request


def test_first_register_has_the_rfc3261_10_2_shape() -> None:
    reg = make()
    send = only_request(reg.start(100.0))
    req = send.request
    assert send.destination == ("pbx.corp.example", 5080)
    assert send.cseq == 1
    assert req.method == "REGISTER"
    assert str(req.uri) == "sip:pbx.corp.example:5080"  # no userinfo in the Request-URI
    assert str(req.from_.uri) == str(req.to.uri) == "sip:8001@pbx.corp.example"
    assert req.from_tag == "fromtag1" and req.to_tag is None
    assert req.call_id == "reg-call-1"
    assert str(req.cseq) == "1 REGISTER"
    assert req.contact is not None and str(req.contact.uri) == CONTACT
    assert req.headers.get("Expires") == "3600"
    assert req.headers.get("Authorization") is None
    via = req.top_via
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.10", 5070)
    assert via.rfc3261_branch and via.has_rport
    assert reg.state is S.REGISTERING
    assert reg.next_deadline() == 100.0 + EXACT.request_timeout


def test_registrar_user_part_is_dropped_and_sips_defaults_to_5061() -> None:
    reg = Registration("sips:someone@pbx.example", "sips:8001@192.0.2.10", USER, PASSWORD)
    send = only_request(reg.start(0.0))
    assert str(send.request.uri) == "sips:pbx.example"
    assert send.destination == ("pbx.example", 5061)
    assert str(send.request.to.uri) == "sips:8001@pbx.example"


def test_from_config_reads_the_register_section() -> None:
    config = RegisterSettings(registrar="sip:10.1.1.1", username="7000", password="pw", expires=600)
    reg = Registration.from_config(config, "sip:7000@10.1.1.2:5062")
    req = only_request(reg.start(0.0)).request
    assert req.headers.get("Expires") == "600"
    assert str(req.to.uri) == "sip:7000@10.1.1.1"
    assert reg.destination == ("10.1.1.1", 5060)


def test_call_id_and_tag_stay_cseq_grows_and_branch_changes_across_refreshes() -> None:
    reg = make(expires=120)
    registrar = FakeRegistrar()
    now = 0.0
    registered(reg, registrar, now)
    for _ in range(3):
        deadline = reg.next_deadline()
        assert deadline is not None
        now = deadline
        exchange(reg, registrar, reg.handle_timer(now), now)
        assert reg.state is S.REGISTERED
    reqs = registrar.requests
    assert len(reqs) == 5  # 401 + authorized, then three refreshes answered at once
    assert {r.call_id for r in reqs} == {"reg-call-1"}
    assert {r.from_tag for r in reqs} == {"fromtag1"}
    assert [r.cseq.seq for r in reqs] == [1, 2, 3, 4, 5]
    assert len({r.branch for r in reqs}) == 5


# --------------------------------------------------------------------------- granted expiry


def test_shorter_grant_sets_the_refresh_time_from_our_contact() -> None:
    reg = make(expires=3600)
    registrar = FakeRegistrar(grant=300)
    registrar.bindings["sip:8001@192.0.2.99:5060"] = 3000.0  # another phone of the same AOR
    event = registered(reg, registrar, now=10.0)
    assert event.expires == 300
    assert len(event.contacts) == 2
    assert event.refresh_at == 10.0 + 150
    assert reg.next_deadline() == 160.0
    assert reg.binding_expires_at == 310.0


@pytest.mark.parametrize(
    ("granted", "delay"),
    [(3600, 1800), (120, 60), (20, 10), (16, 6), (12, 5), (8, 4), (1, 0.5)],
)
def test_refresh_delay_is_half_or_margin_with_a_floor(granted: int, delay: float) -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    out = reg.handle_response(reply(send, 200, ("Contact", f"<{CONTACT}>;expires={granted}")), 1.0)
    assert out == [Registered(granted, (f"<{CONTACT}>;expires={granted}",), 1.0 + delay)]


def test_grant_from_expires_header_when_contact_has_no_param() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    out = reg.handle_response(reply(send, 200, ("Contact", f"<{CONTACT}>"), ("Expires", "600")), 0.0)
    assert isinstance(out[0], Registered) and out[0].expires == 600


def test_our_contact_is_matched_despite_added_params_and_host_case() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    contacts = "<sip:8001@192.0.2.99>;expires=3600, <sip:8001@192.0.2.10:5070;ob>;expires=90"
    out = reg.handle_response(reply(send, 200, ("Contact", contacts)), 0.0)
    assert isinstance(out[0], Registered) and out[0].expires == 90


def test_200_listing_other_contacts_only_is_a_failure() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    out = reg.handle_response(reply(send, 200, ("Contact", "<sip:8001@192.0.2.99>;expires=60")), 0.0)
    assert out == [RegistrationFailed(200, "registrar kept no binding for our Contact", 2.0)]
    assert reg.state is S.BACKOFF


# --------------------------------------------------------------------------- digest


@pytest.mark.parametrize("algorithms", [("MD5",), ("SHA-256",), ("SHA-256", "MD5")])
def test_401_is_answered_with_a_digest_the_server_accepts(algorithms: tuple[str, ...]) -> None:
    reg = make()
    registrar = FakeRegistrar(algorithms=algorithms)
    registered(reg, registrar)
    assert [v.ok for v in registrar.verdicts] == [True]
    credentials = Credentials.parse(registrar.requests[1].headers.get("Authorization") or "")
    assert credentials.algorithm == algorithms[0]  # the strongest offered
    assert (credentials.username, credentials.realm, credentials.qop) == (USER, REALM, "auth")
    assert credentials.uri == REGISTRAR and credentials.nc == "00000001"


def test_407_is_answered_with_proxy_authorization() -> None:
    reg = make()
    registrar = FakeRegistrar(status_407=True)
    registered(reg, registrar)
    second = registrar.requests[1]
    assert second.headers.get("Proxy-Authorization") is not None
    assert second.headers.get("Authorization") is None


def test_refresh_reuses_the_nonce_with_the_next_nc() -> None:
    reg = make(expires=600)
    registrar = FakeRegistrar()
    registered(reg, registrar)
    refresh_at = reg.next_deadline()
    assert refresh_at == 300.0
    send = only_request(reg.handle_timer(refresh_at))
    first = Credentials.parse(registrar.requests[1].headers.get("Authorization") or "")
    again = Credentials.parse(send.request.headers.get("Authorization") or "")
    assert again.nonce == first.nonce and again.nc == "00000002"
    assert again.cnonce != first.cnonce
    response = registrar.answer(send.request, refresh_at)
    assert response.status == 200 and registrar.verdicts[-1].ok  # no round trip lost
    assert isinstance(reg.handle_response(response, refresh_at)[0], Registered)


def test_stale_nonce_is_answered_at_once_without_failure() -> None:
    reg = make(expires=3600)
    registrar = FakeRegistrar(nonce_ttl=60.0)
    registered(reg, registrar)
    now = reg.next_deadline() or 0.0  # 1800 s later: the nonce has expired
    events = exchange(reg, registrar, reg.handle_timer(now), now)
    assert [type(e) for e in events] == [Registered]
    assert [v.stale for v in registrar.verdicts] == [False, True, False]
    stale_answer = Credentials.parse(registrar.requests[-1].headers.get("Authorization") or "")
    assert stale_answer.nc == "00000001"  # a new nonce counts from 1


def test_wrong_password_fails_after_the_registrar_refuses_and_backs_off_long() -> None:
    reg = make(password="wrong")
    registrar = FakeRegistrar()
    events = exchange(reg, registrar, reg.start(0.0), 0.0)
    # DigestServer issues a fresh nonce per challenge, so the client tries twice, not more.
    assert len(registrar.requests) == 3
    assert [v.ok for v in registrar.verdicts] == [False, False]
    assert len(events) == 1 and isinstance(events[0], RegistrationFailed)
    assert events[0].status == 401 and events[0].retry_at == 300.0
    assert "rejected the password" in events[0].reason or "keeps challenging" in events[0].reason
    assert reg.state is S.AUTH_FAILED and reg.next_deadline() == 300.0
    # The retry starts clean: no credentials computed from the refused password.
    retry = only_request(reg.handle_timer(300.0))
    assert retry.request.headers.get("Authorization") is None


def test_same_nonce_challenged_again_is_a_wrong_password() -> None:
    reg = make()
    first = only_request(reg.start(0.0))
    challenge = ("WWW-Authenticate", f'Digest realm="{REALM}", nonce="n1", qop="auth"')
    second = only_request(reg.handle_response(reply(first, 401, challenge), 0.1))
    assert second.request.headers.get("Authorization") is not None
    out = reg.handle_response(reply(second, 401, challenge), 0.2)
    assert len(out) == 1 and isinstance(out[0], RegistrationFailed)
    assert out[0].retry_at == pytest.approx(300.2)
    assert reg.state is S.AUTH_FAILED


def test_auth_failure_without_retry_waits_for_start() -> None:
    reg = make(password="wrong", timers=RegistrationTimers(jitter=0.0, auth_failure_retry=None))
    events = exchange(reg, FakeRegistrar(), reg.start(0.0), 0.0)
    assert isinstance(events[0], RegistrationFailed) and events[0].retry_at is None
    assert reg.state is S.AUTH_FAILED and reg.next_deadline() is None
    assert reg.handle_timer(10_000.0) == []
    assert len(requests_of(reg.start(10_000.0))) == 1  # the operator's retry


def test_challenge_we_cannot_answer_is_an_auth_failure() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    out = reg.handle_response(reply(send, 401, ("WWW-Authenticate", 'Basic realm="x"')), 0.0)
    assert len(out) == 1 and isinstance(out[0], RegistrationFailed)
    assert "without a Digest challenge" in out[0].reason
    assert reg.state is S.AUTH_FAILED


# --------------------------------------------------------------------------- failures


def test_registrar_restart_backs_off_exactly_then_reauthenticates() -> None:
    reg = make(expires=600)
    registrar = FakeRegistrar()
    registered(reg, registrar)
    now = reg.next_deadline() or 0.0
    assert now == 300.0
    registrar.restart(secret=b"after-reboot-secret-0123456789ab")
    send = only_request(reg.handle_timer(now))  # refresh into a dead registrar
    retries = []
    for _ in range(3):
        out = reg.handle_timeout(now + 32, cseq=send.cseq)
        assert len(out) == 1 and isinstance(out[0], RegistrationFailed)
        assert out[0].status == 408 and reg.state is S.BACKOFF and out[0].retry_at is not None
        retries.append(out[0].retry_at - (now + 32))
        now = out[0].retry_at
        send = only_request(reg.handle_timer(now))
    out = reg.handle_response(reply(send, 503), now)  # up, still loading
    assert isinstance(out[0], RegistrationFailed) and out[0].status == 503
    assert out[0].retry_at is not None
    retries.append(out[0].retry_at - now)
    assert retries == [2.0, 4.0, 8.0, 16.0]
    now = out[0].retry_at
    # Back: our credentials carry a nonce the new process never issued; it challenges
    # and the client answers without reporting a failure.
    events = exchange(reg, registrar, reg.handle_timer(now), now)
    assert [type(e) for e in events] == [Registered]
    assert [v.reason for v in registrar.verdicts[-2:]] == ["nonce not issued by us", "ok"]
    # The failure count was reset by the 200: the next failure waits base seconds again.
    now = reg.next_deadline() or 0.0
    send = only_request(reg.handle_timer(now))
    out = reg.handle_response(reply(send, 500), now)
    assert isinstance(out[0], RegistrationFailed) and out[0].retry_at == now + 2.0


def test_backoff_is_capped() -> None:
    reg = make()
    now = 0.0
    outputs = reg.start(now)
    delays = []
    for _ in range(12):
        send = only_request(outputs)
        (failed,) = reg.handle_response(reply(send, 504), now)
        assert isinstance(failed, RegistrationFailed) and failed.retry_at is not None
        delays.append(failed.retry_at - now)
        now = failed.retry_at
        outputs = reg.handle_timer(now)
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]


def test_jitter_only_shortens_the_delay() -> None:
    reg = Registration(REGISTRAR, CONTACT, USER, PASSWORD, rng=lambda: 1.0)
    send = only_request(reg.start(0.0))
    (failed,) = reg.handle_response(reply(send, 503), 0.0)
    assert isinstance(failed, RegistrationFailed)
    assert failed.retry_at == pytest.approx(2.0 * (1 - RegistrationTimers().jitter))


def test_retry_after_delays_the_retry_and_is_capped() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    (failed,) = reg.handle_response(reply(send, 503, ("Retry-After", "120 (maintenance)")), 0.0)
    assert isinstance(failed, RegistrationFailed) and failed.retry_at == 120.0
    send = only_request(reg.handle_timer(120.0))
    (failed,) = reg.handle_response(reply(send, 503, ("Retry-After", "999999")), 120.0)
    assert isinstance(failed, RegistrationFailed) and failed.retry_at == 120.0 + 3600.0


def test_guard_deadline_covers_a_lost_transaction_report() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    assert reg.handle_timer(39.9) == []
    (failed,) = reg.handle_timer(40.0)
    assert isinstance(failed, RegistrationFailed) and failed.status == 408
    assert reg.state is S.BACKOFF and reg.next_deadline() == 42.0
    # The late answer to the abandoned request changes nothing.
    assert reg.handle_response(reply(send, 200, ("Contact", f"<{CONTACT}>")), 41.0) == []
    assert reg.state is S.BACKOFF


def test_423_retries_at_once_with_min_expires() -> None:
    reg = make(expires=60)
    send = only_request(reg.start(0.0))
    retry = only_request(reg.handle_response(reply(send, 423, ("Min-Expires", "1800")), 0.0))
    assert retry.request.headers.get("Expires") == "1800"
    assert retry.cseq == send.cseq + 1 and retry.request.call_id == send.request.call_id
    out = reg.handle_response(reply(retry, 200, ("Contact", f"<{CONTACT}>;expires=1800")), 0.0)
    assert isinstance(out[0], Registered) and out[0].refresh_at == 900.0
    assert reg.expires == 1800  # refreshes keep asking for the minimum


def test_423_after_authentication_keeps_the_credentials() -> None:
    reg = make(expires=60)
    registrar = FakeRegistrar()
    first = only_request(reg.start(0.0))
    authed = only_request(reg.handle_response(registrar.answer(first.request, 0.0), 0.0))
    assert registrar.answer(authed.request, 0.0).status == 200  # a PBX that checks auth first
    retry = only_request(reg.handle_response(reply(authed, 423, ("Min-Expires", "300")), 0.0))
    assert registrar.answer(retry.request, 0.0).status == 200
    assert registrar.verdicts[-1].ok


@pytest.mark.parametrize("min_expires", [None, "60", "30", "soon"])
def test_423_without_a_larger_min_expires_backs_off(min_expires: str | None) -> None:
    reg = make(expires=60)
    send = only_request(reg.start(0.0))
    headers = [("Min-Expires", min_expires)] if min_expires else []
    (failed,) = reg.handle_response(reply(send, 423, *headers), 0.0)
    assert isinstance(failed, RegistrationFailed) and failed.retry_at == 300.0
    assert reg.state is S.BACKOFF


@pytest.mark.parametrize(
    ("status", "state"),
    [(403, S.AUTH_FAILED), (404, S.BACKOFF), (400, S.BACKOFF), (302, S.BACKOFF), (603, S.BACKOFF),
     (501, S.BACKOFF)],
)
def test_rejections_back_off_long(status: int, state: RegistrationState) -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    (failed,) = reg.handle_response(reply(send, status), 5.0)
    assert isinstance(failed, RegistrationFailed)
    assert failed.status == status and failed.retry_at == 305.0
    assert reg.state is state


@pytest.mark.parametrize("status", [408, 480, 500, 502, 503, 504])
def test_transient_failures_back_off_short(status: int) -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    (failed,) = reg.handle_response(reply(send, status), 0.0)
    assert isinstance(failed, RegistrationFailed) and failed.retry_at == 2.0


def test_provisional_and_foreign_responses_are_ignored() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    assert reg.handle_response(reply(send, 100), 0.0) == []
    other = reply(send, 200, ("Contact", f"<{CONTACT}>"))
    other.headers.set("Call-ID", "someone-else")
    assert reg.handle_response(other, 0.0) == []
    old = reply(send, 200, ("Contact", f"<{CONTACT}>"))
    old.headers.set("CSeq", "0 REGISTER")
    assert reg.handle_response(old, 0.0) == []
    assert reg.handle_timeout(1.0, cseq=send.cseq + 7) == []
    assert reg.state is S.REGISTERING


# --------------------------------------------------------------------------- unregister


def test_unregister_sends_expires_zero_with_credentials() -> None:
    reg = make()
    registrar = FakeRegistrar()
    registered(reg, registrar)
    assert registrar.bindings
    send = only_request(reg.unregister(50.0))
    assert send.request.headers.get("Expires") == "0"
    assert send.request.headers.get("Authorization") is not None
    assert reg.state is S.UNREGISTERING
    out = reg.handle_response(registrar.answer(send.request, 50.0), 50.0)
    assert out == [Unregistered(clean=True)]
    assert registrar.bindings == {}
    assert reg.state is S.UNREGISTERED and reg.next_deadline() is None
    assert reg.unregister(51.0) == []


def test_unregister_during_a_register_waits_for_its_answer() -> None:
    reg = make()
    registrar = FakeRegistrar()
    first = only_request(reg.start(0.0))
    assert reg.unregister(0.1) == []  # §10.2: one REGISTER at a time
    assert reg.state is S.UNREGISTERING
    # The challenge to the REGISTER in flight is answered by the REGISTER Expires: 0.
    second = only_request(reg.handle_response(registrar.answer(first.request, 0.2), 0.2))
    assert second.request.headers.get("Expires") == "0"
    out = reg.handle_response(registrar.answer(second.request, 0.3), 0.3)
    assert out == [Unregistered(clean=True)]


def test_unregister_after_the_inflight_register_succeeded_removes_it() -> None:
    reg = make()
    first = only_request(reg.start(0.0))
    reg.unregister(0.1)
    second = only_request(reg.handle_response(reply(first, 200, ("Contact", f"<{CONTACT}>")), 0.2))
    assert second.request.headers.get("Expires") == "0"
    assert reg.handle_response(reply(second, 200), 0.3) == [Unregistered(clean=True)]


def test_unregister_without_a_binding_finishes_at_once() -> None:
    reg = make()
    send = only_request(reg.start(0.0))
    reg.handle_response(reply(send, 503), 0.0)
    assert reg.unregister(1.0) == [Unregistered(clean=True)]
    assert reg.state is S.UNREGISTERED and reg.next_deadline() is None


def test_unregister_that_times_out_is_reported_unclean() -> None:
    reg = make()
    registered(reg, FakeRegistrar())
    send = only_request(reg.unregister(10.0))
    out = reg.handle_timeout(42.0, cseq=send.cseq)
    assert out == [Unregistered(clean=False, reason="no response from registrar")]
    assert reg.state is S.UNREGISTERED


def test_start_while_unregistering_is_our_bug() -> None:
    reg = make()
    registered(reg, FakeRegistrar())
    reg.unregister(1.0)
    with pytest.raises(LocalProtocolError):
        reg.start(2.0)


def test_registering_again_after_unregister_keeps_call_id_and_cseq_order() -> None:
    reg = make()
    registrar = FakeRegistrar()
    registered(reg, registrar)
    exchange(reg, registrar, reg.unregister(5.0), 5.0)
    registered(reg, registrar, now=6.0)
    seqs = [r.cseq.seq for r in registrar.requests]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert {r.call_id for r in registrar.requests} == {"reg-call-1"}


# --------------------------------------------------------------------------- the table


def test_table_covers_every_state_and_input() -> None:
    table = Registration._TABLE
    for state in RegistrationState:
        for inp in RegistrationInput:
            handler = table[(state, inp)]
            assert callable(getattr(Registration, handler))


def test_uri_defaults_come_from_the_contact() -> None:
    reg = Registration(REGISTRAR, SipUri(host="192.0.2.7", user="8001"), USER, PASSWORD,
                       transport="tcp", via_host="hotline.corp.example", via_port=5099)
    via = only_request(reg.start(0.0)).request.top_via
    assert (via.transport, via.host, via.port) == ("TCP", "hotline.corp.example", 5099)
