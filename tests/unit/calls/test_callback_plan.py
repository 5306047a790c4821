"""Call back decisions (pure) and the outbound call record on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.calls.callback_plan import (
    CallbackPlan,
    Offer,
    Refusal,
    check_desk_phone,
    decide,
    disposition_of,
    offered_numbers,
)
from hotline.store import Store
from hotline.store.outbound import OutboundCallStore
from hotline.store.records import NewCall, Person

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def test_offers_come_from_the_directory_and_the_caller_id_each_number_once() -> None:
    offers = offered_numbers(mobile="+8613812345678", extension="8001", caller_key="ext:8001")
    assert offers == (Offer("mobile", "+8613812345678"), Offer("extension", "8001"))
    assert offered_numbers(mobile=None, extension=None, caller_key="+8613412345678") == (
        Offer("caller", "+8613412345678"),)


@pytest.mark.parametrize("caller_key", ["", None, "sip:evil@example.com", "12;user=phone", "1"])
def test_a_withheld_or_odd_caller_id_is_not_offered(caller_key: str | None) -> None:
    assert offered_numbers(mobile=None, extension=None, caller_key=caller_key) == ()


def test_only_an_offered_key_is_dialled_never_a_number() -> None:
    offers = offered_numbers(mobile="+8613812345678", extension=None, caller_key="+8613412345678")
    ok = decide(desk_phone="sip:8002@10.0.0.5", offers=offers, key="caller", running=False,
                can_dial_numbers=True)
    assert ok == CallbackPlan("sip:8002@10.0.0.5", Offer("caller", "+8613412345678"))
    for forged in ("+8613900000000", "mobile ", "", "extension"):
        assert decide(desk_phone="8002", offers=offers, key=forged, running=False,
                      can_dial_numbers=True) is Refusal.NOT_OFFERED


def test_refusals_before_anything_is_dialled() -> None:
    offers = (Offer("mobile", "+8613812345678"),)

    def verdict(**changes: object) -> object:
        args: dict[str, object] = {"desk_phone": "8002", "offers": offers, "key": "mobile",
                                   "running": False, "can_dial_numbers": True}
        args.update(changes)
        return decide(**args)  # type: ignore[arg-type]

    assert verdict(desk_phone=None) is Refusal.NO_DESK_PHONE
    assert verdict(desk_phone="") is Refusal.NO_DESK_PHONE
    assert verdict(running=True) is Refusal.ALREADY_RUNNING
    assert verdict(can_dial_numbers=False) is Refusal.NO_PROXY
    assert isinstance(verdict(), CallbackPlan)


@pytest.mark.parametrize("good", ["8001", "+8657112345678", "sip:8001@10.0.0.5", "sips:desk@pbx.example:5061"])
def test_desk_phones_that_can_be_dialled(good: str) -> None:
    assert check_desk_phone(f" {good} ") == good


@pytest.mark.parametrize("bad", ["", "abc", "sip:10.0.0.5", "sip:@x", "tel:8001", "80 01", "8001; rm -rf"])
def test_desk_phones_refused_with_a_clear_message(bad: str) -> None:
    with pytest.raises(ValueError, match="SIP URI"):
        check_desk_phone(bad)


def test_dispositions() -> None:
    assert disposition_of(operator_outcome="busy", employee_outcome=None, bridged=False) == "operator-unanswered"
    assert disposition_of(operator_outcome="answered", employee_outcome="no-answer", bridged=False) == "missed"
    assert disposition_of(operator_outcome="answered", employee_outcome="cancelled", bridged=False) == "abandoned"
    assert disposition_of(operator_outcome="answered", employee_outcome="answered", bridged=True) == "answered"
    assert disposition_of(operator_outcome="answered", employee_outcome="failed", bridged=False) == "failed"


async def test_outbound_call_rows_belong_to_their_issue(tmp_path: Path) -> None:
    async with Store(tmp_path / "h.sqlite3") as store:
        call, issue = await store.issues.create_for_call(
            NewCall(sip_call_id="in@x", started_at=T0, caller_key="+8613412345678"),
            employee_id=None, caller_name=None, local_year=2026, status="new")
        await store.people.upsert_people([Person("chenjing", "陈静", roles=("operator",))])
        outbound = OutboundCallStore(store.db)
        made = await outbound.create(
            NewCall(sip_call_id="callback-1", started_at=T0, from_uri="8002", to_uri="+8613412345678",
                    caller_key="+8613412345678", direction="out"),
            issue_id=issue.id, placed_by="chenjing", employee_id=None, note={"key": "caller"})
        assert await outbound.open_for_issue(issue.id) == [made.call.id]
        await store.calls.end(made.call.id, T0, "missed")
        await outbound.refused(issue.id, T0, actor="chenjing", reason="not-offered", note={"key": "x"})
        listed = await outbound.for_issue(issue.id)
        events = await store.issues.events(issue.id)
        reread = await store.issues.get(issue.id)
    assert [(o.call.id, o.call.direction, o.placed_by, o.call.disposition) for o in listed] == [
        (made.call.id, "out", "chenjing", "missed")]
    assert made.call.id != call.id and listed[0].call.ended_at == T0
    assert [e.kind for e in events][-2:] == ["call_back", "call_back_refused"]
    # The issue's own call is still the call that created it; its end is not the outbound one's.
    assert reread is not None and reread.call_id == call.id and reread.call_ended_at is None
