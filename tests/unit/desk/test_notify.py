"""Notification templates (valid JSON for every robot, escaping) and the backoff schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from deskkit import Clock, new_issue

from hotline.desk.notify import drafts
from hotline.desk.notify.channels import SmtpChannel, WebhookChannel, template_env
from hotline.desk.notify.worker import backoff
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.store.desk.outbox import OutboxRow


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def row_for(payload: dict[str, object]) -> OutboxRow:
    t = datetime(2026, 11, 23, tzinfo=UTC)
    return OutboxRow(42, t, 7, str(payload["event"]), "zhang", "x", payload, "pending", 0, t,
                     None, None, None, None)


PAYLOAD = {"event": "dispatched", "title": "dispatched to you", "number": "HL-2026-000007",
           "priority": "P2", "category": "network", "owner": "zhang",
           "description": 'VPN 连不上 "urgent" </script> \\ 换行\n第二行', "planned_at": None,
           "caller_name": "王芳", "recipient": "zhang", "recipient_name": "张伟",
           "recipient_email": "zhang@example.com", "recipient_mobile": "+8613812345678"}


@pytest.mark.parametrize(("template", "text_of"), [
    ("generic_sms.json.j2", lambda b: b["text"]),
    ("wecom.json.j2", lambda b: b["text"]["content"]),
    ("dingtalk.json.j2", lambda b: b["text"]["content"]),
    ("feishu.json.j2", lambda b: b["content"]["text"]),
])
def test_webhook_templates_make_valid_json(template: str, text_of: object) -> None:
    ch = WebhookChannel(ChannelSettings("x", "webhook", url="http://127.0.0.1/", template=template),
                        None, template_env())  # type: ignore[arg-type]
    body = ch.body(row_for(PAYLOAD))
    text = text_of(body)  # type: ignore[operator]
    assert text.startswith("【IT 服务台】dispatched to you\nHL-2026-000007 P2 network：VPN 连不上")
    assert 'VPN 连不上 "urgent" </script> \\ 换行\n第二行' in text  # survived JSON escaping intact
    assert "报修人 / caller: 王芳" in text
    if template == "wecom.json.j2":
        assert body["text"]["mentioned_mobile_list"] == ["+8613812345678"]
    if template == "dingtalk.json.j2":
        assert body["at"] == {"atMobiles": ["+8613812345678"], "isAtAll": False}
    if template == "generic_sms.json.j2":
        assert (body["id"], body["to"]) == ("hotline-outbox-42", "+8613812345678")
    json.dumps(body)


def test_email_message() -> None:
    msg = SmtpChannel(ChannelSettings("mail", "smtp", sender="desk@example.com"), template_env()) \
        .message(row_for(PAYLOAD))
    assert msg["To"] == "zhang@example.com" and msg["Message-ID"] == "<hotline-outbox-42@hotline>"
    assert msg["Subject"] == "[IT 服务台] dispatched to you: HL-2026-000007"
    assert "计划完成" not in msg.get_content() and "notification 42" in msg.get_content()


def test_drafts_fan_out_per_channel_and_skip_mail_without_address() -> None:
    settings = DeskSettings(channels=(
        ChannelSettings("mail", "smtp"), ChannelSettings("robot", "webhook", url="http://x/",
                                                         events=frozenset({"breached"}))))
    contacts = {"zhang": {"name": "张伟", "email": "z@example.com"}, "wang": {"name": "王强"}}
    rows = drafts(settings, "breached", ["zhang", "wang", "zhang"], contacts, {"number": "N"}, 1)
    assert [(r.recipient, r.channel) for r in rows] == [("zhang", "mail"), ("zhang", "robot"),
                                                        ("wang", "robot")]
    assert [r.channel for r in drafts(settings, "dispatched", ["zhang"], contacts, {}, 1)] == ["mail"]
    with pytest.raises(ValueError, match="unknown notification event"):
        drafts(settings, "nonsense", ["zhang"], contacts, {})


async def test_outbox_rows_commit_with_the_dispatch(desk: Desk, clock: Clock) -> None:
    desk.ctx.settings = DeskSettings(channels=(ChannelSettings("mail", "smtp"),))
    issue_id = await new_issue(desk)
    await desk.dispatch(issue_id)
    [row] = await desk.notifications(issue_id)
    assert (row.event, row.recipient, row.state, row.attempts) == ("dispatched", "zhang", "pending", 0)
    assert row.payload["planned_at"] is not None and row.created_at == clock.t
