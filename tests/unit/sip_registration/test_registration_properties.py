"""Property: whatever the registrar answers, the REGISTER client never stalls or breaks §10.2.

Hypothesis drives a :class:`Registration` with arbitrary sequences of responses
(to the request in flight or to an older one), transaction timeouts, timer
expiries, start() and unregister(), and checks after every step that the
machine still has a deadline unless it is meant to wait for the operator.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.message import Response, build_response
from hotline.sip.registration import (
    RegisterRequest,
    Registration,
    RegistrationOutput,
    RegistrationState,
    RegistrationTimers,
)

S = RegistrationState
CONTACT = "sip:8001@192.0.2.10:5070"


def _challenge(nonce: str, stale: bool) -> tuple[str, str]:
    flag = ", stale=true" if stale else ""
    return ("WWW-Authenticate", f'Digest realm="pbx", nonce="{nonce}", qop="auth"{flag}')


responses = st.one_of(
    st.tuples(st.just(200), st.sampled_from([
        [("Contact", f"<{CONTACT}>;expires=60")],
        [("Contact", f"<{CONTACT}>;expires=1")],
        [("Contact", f"<{CONTACT}>"), ("Expires", "7")],
        [("Contact", "<sip:other@192.0.2.99>;expires=60")],
        [],
    ])),
    st.tuples(st.sampled_from([401, 407]), st.builds(
        lambda n, stale: [_challenge(n, stale), ("Proxy-Authenticate", _challenge(n, stale)[1])],
        st.sampled_from(["n1", "n2", "n3"]), st.booleans(),
    )),
    st.tuples(st.just(423), st.sampled_from([[("Min-Expires", "120")], [("Min-Expires", "x")], []])),
    st.tuples(
        st.sampled_from([100, 180, 302, 400, 403, 404, 408, 480, 500, 501, 503, 504, 603]),
        st.sampled_from([[], [("Retry-After", "0")], [("Retry-After", "30")]]),
    ),
)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("respond"), responses, st.booleans()),
        st.tuples(st.just("timeout"), st.booleans()),
        st.tuples(st.just("timer"), st.floats(min_value=-5.0, max_value=5.0)),
        st.tuples(st.just("start")),
        st.tuples(st.just("unregister")),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, auth_retry=st.sampled_from([300.0, None]), jitter=st.sampled_from([0.0, 0.2]))
def test_any_sequence_keeps_a_deadline_and_the_10_2_rules(
    steps: list[tuple], auth_retry: float | None, jitter: float
) -> None:
    timers = RegistrationTimers(jitter=jitter, auth_failure_retry=auth_retry)
    reg = Registration("sip:pbx", CONTACT, "8001", "pw", expires=60, timers=timers)
    now = 0.0
    sent: list[RegisterRequest] = []
    inflight: RegisterRequest | None = None

    def take(outputs: list[RegistrationOutput]) -> None:
        nonlocal inflight
        sends = [o for o in outputs if isinstance(o, RegisterRequest)]
        assert len(sends) <= 1
        if sends:
            sent.extend(sends)
            inflight = sends[0]
        elif reg.state not in (S.REGISTERING, S.UNREGISTERING):
            inflight = None

    for step in steps:
        kind = step[0]
        if kind == "respond" and sent:
            (status, headers), to_latest = step[1], step[2]
            target = sent[-1] if to_latest else sent[0]
            response: Response = build_response(target.request, status, to_tag="t", headers=headers)
            take(reg.handle_response(response, now))
        elif kind == "timeout" and sent:
            cseq = sent[-1].cseq if step[1] else sent[0].cseq
            take(reg.handle_timeout(now, cseq=cseq))
        elif kind == "timer":
            deadline = reg.next_deadline()
            if deadline is not None:
                now = max(now, deadline + step[1])
            take(reg.handle_timer(now))
        elif kind == "start" and reg.state is not S.UNREGISTERING:
            take(reg.start(now))
        elif kind == "unregister":
            take(reg.unregister(now))

        deadline = reg.next_deadline()
        waits_for_operator = reg.state is S.UNREGISTERED or (
            reg.state is S.AUTH_FAILED and auth_retry is None
        )
        assert (deadline is None) == waits_for_operator, (reg.state, deadline)
        if deadline is not None:
            assert deadline > now, (reg.state, deadline, now)
        # A REGISTER is outstanding exactly while (un)registering.
        assert (reg.state in (S.REGISTERING, S.UNREGISTERING)) == (inflight is not None)

    # §10.2 across everything sent: one Call-ID, one From tag, CSeq strictly growing.
    assert len({s.request.call_id for s in sent}) <= 1
    assert len({s.request.from_tag for s in sent}) <= 1
    seqs = [s.cseq for s in sent]
    assert seqs == sorted(set(seqs))
    assert all(s.request.cseq.seq == s.cseq for s in sent)
