"""INVITE session tables (UAS and UAC) and the in-dialog body parsers: pure, no sockets."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.sip.errors import LocalProtocolError
from hotline.sip.session import (
    UAC_TABLE,
    UAS_TABLE,
    InviteSession,
    SessionInput,
    SessionState,
    parse_dtmf_info,
    parse_sipfrag,
    unsupported_requirements,
)

In = SessionInput
S = SessionState


@pytest.mark.parametrize("role,table", [("uas", UAS_TABLE), ("uac", UAC_TABLE)])
def test_every_pair_is_in_the_table_or_refused(role: str, table: dict) -> None:
    for state, inp in itertools.product(S, In):
        session = InviteSession(role)
        session.state = state
        if (state, inp) in table:
            assert session.allows(inp)
            transition = session.fire(inp)
            assert transition.after is table[(state, inp)][0]
        else:
            assert not session.allows(inp)
            with pytest.raises(LocalProtocolError, match=re.escape(inp.value)):
                session.fire(inp)
            assert session.state is state  # a refused input changes nothing


@pytest.mark.parametrize("table", [UAS_TABLE, UAC_TABLE])
def test_nothing_leaves_terminated(table: dict) -> None:
    assert not [pair for pair in table if pair[0] is S.TERMINATED]


@given(st.sampled_from(["uas", "uac"]), st.lists(st.sampled_from(list(In)), max_size=30))
def test_any_sequence_ends_at_most_once_with_a_reason(role: str, inputs: list[SessionInput]) -> None:
    session = InviteSession(role)
    endings = []
    for inp in inputs:
        if session.allows(inp):
            transition = session.fire(inp)
            if transition.ended:
                endings.append(transition.ended)
    assert len(endings) <= 1
    assert (len(endings) == 1) == session.over
    if session.over:
        assert session.end_reason == endings[0]


def test_uas_call_answered_then_remote_bye() -> None:
    s = InviteSession("uas")
    s.fire(In.LOCAL_PROVISIONAL)
    s.fire(In.LOCAL_ANSWER)
    assert s.state is S.ANSWERED
    assert not s.allows(In.REMOTE_CANCEL)  # a CANCEL after the 200 changes nothing
    s.fire(In.ACK)
    assert s.fire(In.REMOTE_BYE).ended == "remote-bye"


def test_uas_cancel_while_ringing() -> None:
    s = InviteSession("uas")
    s.fire(In.LOCAL_PROVISIONAL)
    assert s.fire(In.REMOTE_CANCEL).ended == "cancelled"
    with pytest.raises(LocalProtocolError):
        s.fire(In.LOCAL_ANSWER)  # answering a cancelled call is our bug


def test_uas_no_ack_goes_through_bye() -> None:
    s = InviteSession("uas")
    s.fire(In.LOCAL_ANSWER)
    assert s.fire(In.ACK_TIMEOUT).ended is None
    assert s.state is S.TERMINATING
    assert s.fire(In.BYE_DONE, end_reason="no-ack").ended == "no-ack"


def test_uac_answer_racing_cancel_is_ended_by_bye() -> None:
    s = InviteSession("uac")
    s.fire(In.REMOTE_PROVISIONAL)
    s.fire(In.LOCAL_CANCEL)
    assert s.fire(In.REMOTE_ANSWER).after is S.TERMINATING
    assert s.fire(In.BYE_DONE, end_reason="cancelled").ended == "cancelled"


def test_uac_cancelled_leg_ends_on_487() -> None:
    s = InviteSession("uac")
    s.fire(In.LOCAL_CANCEL)
    assert s.fire(In.REMOTE_REJECT).ended == "cancelled"


def test_unknown_role_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        InviteSession("b2bua")


@pytest.mark.parametrize(
    "media_type,body,expected",
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", ("5", 160)),
        ("application/dtmf-relay", b"Signal= #\nDuration= 250", ("#", 250)),
        ("application/dtmf-relay", b"signal=*\r\n", ("*", 0)),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=100", ("#", 100)),  # event code
        ("application/dtmf-relay", b"Signal=Z\r\nDuration=100", None),
        ("application/dtmf-relay", b"Duration=100", None),
        ("application/dtmf-relay", b"Signal=1\r\nDuration=99999999", ("1", 0)),
        ("application/dtmf", b"7", ("7", 0)),
        ("application/dtmf", b"10\r\n", ("*", 0)),
        ("application/dtmf", b"xyz", None),
        ("text/plain", b"Signal=5", None),
        (None, b"Signal=5", None),
    ],
)
def test_dtmf_info_bodies(media_type: str | None, body: bytes, expected: tuple[str, int] | None) -> None:
    assert parse_dtmf_info(media_type, body) == expected


def test_sipfrag_status_lines() -> None:
    assert parse_sipfrag(b"SIP/2.0 100 Trying\r\n") == 100
    assert parse_sipfrag(b"SIP/2.0 200 OK") == 200
    assert parse_sipfrag(b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n") == 486
    assert parse_sipfrag(b"INVITE sip:x SIP/2.0") is None
    assert parse_sipfrag(b"") is None


def test_unsupported_requirements() -> None:
    assert unsupported_requirements([], frozenset()) == []
    assert unsupported_requirements(["100rel, timer", "100rel"], frozenset({"timer"})) == ["100rel"]
    assert unsupported_requirements(["Foo"], frozenset({"foo"})) == []
