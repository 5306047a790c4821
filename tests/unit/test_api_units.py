"""The API's pure parts and its store: the rate limit, webhook drafts and signatures, the ``[api]``
configuration, tokens against a real SQLite file, the route table behind the OpenAPI document."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.api.errors import CODES, ApiError
from hotline.api.ratelimit import RateLimiter
from hotline.api.routes import ROUTES, openapi
from hotline.api.schemas import SCHEMAS
from hotline.api.settings import WebhookSettings
from hotline.api.tokens import TokenAuth, hash_token, new_token
from hotline.api.webhooks import sign, webhook_drafts
from hotline.config import ConfigError, load_config
from hotline.store import Store
from hotline.store.records import IssueEvent, IssueRecord, Person
from hotline.store.webhook_relay import RelayedEvent
from tests.system.api_schema import check_openapi

MINIMAL = """\
[site]
name = "IT"

[sip]
allowed_peers = ["10.0.0.0/8"]

[web]
secret = "0123456789abcdef0123456789abcdef"
"""
T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def test_rate_limiter_allows_a_burst_then_the_rate_per_key() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.take(1, 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(1, 0.0) == pytest.approx(0.5)
    assert limiter.take(2, 0.0) == 0.0  # another token has its own bucket
    assert limiter.take(1, 0.5) == 0.0  # one regained after half a second
    assert limiter.take(1, 0.5) > 0.0
    assert [limiter.take(1, 100.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # never more than the burst


def test_rate_limiter_forgets_full_buckets_when_it_holds_too_many() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=2)
    limiter.take(1, 0.0)
    limiter.take(2, 0.0)
    assert limiter.take(3, 10.0) == 0.0
    assert len(limiter._buckets) <= 2


def _issue(issue_id: int = 7) -> IssueRecord:
    return IssueRecord(id=issue_id, number="HL-2026-000007", source="monitoring", call_id=None, caller_key=None,
                       caller_name=None, employee_id=None, status="recorded", category="email", priority="P2",
                       description="d", resolution="", owner=None, planned_at=None, created_at=T0, updated_at=T0,
                       call_ended_at=None, recorded_at=T0, recording_overdue=False, tags=(), call_back=False)


def test_webhook_drafts_follow_each_hooks_events() -> None:
    everything = WebhookSettings("all", "http://127.0.0.1:1/a", "s" * 16)
    created_only = WebhookSettings("new", "http://127.0.0.1:1/b", "s" * 16, frozenset({"issue.created"}))
    events = [RelayedEvent(IssueEvent(1, 7, T0, "chenjing", "created", None, {"status": "new"}), _issue()),
              RelayedEvent(IssueEvent(2, 7, T0, "chenjing", "status", {"status": "new"}, {"status": "recorded"}),
                           _issue())]
    drafts = webhook_drafts([everything, created_only], events)
    assert [(d.channel, d.event) for d in drafts] == [
        ("api:all", "issue.created"), ("api:new", "issue.created"), ("api:all", "issue.status")]
    assert drafts[0].issue_id == 7 and drafts[0].payload["issue"]["number"] == "HL-2026-000007"
    assert drafts[2].payload["before"] == {"status": "new"} and drafts[2].payload["event_id"] == 2


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"delivery": 1}'
    assert sign("k" * 16, body) == "sha256=" + hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, body) != sign("k" * 16, body + b" ")


def test_api_section_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "hotline.toml"
    path.write_text(MINIMAL + '[api]\nburst = 5\n[[api.webhook]]\nurl = "http://127.0.0.1:9/h"\n'
                    'secret = "0123456789abcdef"\nevents = ["issue.created"]\n', encoding="utf-8")
    config = load_config(path)
    assert config.api.burst == 5
    assert [(w.name, w.events) for w in config.api.webhooks] == [("webhook-1", frozenset({"issue.created"}))]
    path.write_text(MINIMAL + '[api]\nburst = 0\n[[api.webhook]]\nurl = "ftp://x"\nsecret = "short"\n'
                    'events = ["created"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(str(p) for p in info.value.problems)
    for key in ("api.burst", "api.webhook[0].url", "api.webhook[0].secret", "api.webhook[0].events"):
        assert key in text, text


def test_api_errors_have_known_codes() -> None:
    error = ApiError(400, "invalid_field", "priority: one of P1-P4", field="priority")
    assert error.response().status == 400
    with pytest.raises(AssertionError):
        ApiError(400, "no_such_code", "x")
    assert set(SCHEMAS["Error"]["properties"]["error"]["properties"]["code"]["enum"]) == set(CODES)


def test_the_openapi_document_covers_every_route() -> None:
    doc = openapi()
    assert check_openapi(doc) == []
    for route in ROUTES:
        assert route.method.lower() in doc["paths"][route.path]
        assert route.roles and all(name in SCHEMAS for name in route.responses.values())


async def test_tokens_are_stored_hashed_and_refused_once_revoked_or_expired(tmp_path: Path) -> None:
    now = [T0]
    async with Store(tmp_path / "db.sqlite3") as store:
        await store.people.upsert_people([Person("chenjing", "陈静", roles=("operator", "manager"))])
        auth = TokenAuth(store, lambda: now[0])
        secret = new_token()
        row = await store.tokens.create(token_hash=hash_token(secret), person_id="chenjing", name="t",
                                        roles=("operator",), at=T0, by="test", expires_at=T0 + timedelta(days=1))
        stored = await store.db.fetch_all("SELECT token_hash FROM api_tokens")
        assert [r[0] for r in stored] == [hashlib.sha256(secret.encode()).hexdigest()]
        principal = await auth.resolve(f"Bearer {secret}")
        assert principal.user.id == "chenjing" and principal.user.roles == {"operator"}  # narrowed
        assert (await store.tokens.get(row.id)).last_used_at == T0  # type: ignore[union-attr]
        for header in ("Bearer", f"Basic {secret}", "Bearer hl_short", f"Bearer {new_token()}"):
            with pytest.raises(ApiError) as info:
                await auth.resolve(header)
            assert (info.value.status, info.value.code) == (401, "unauthorized")
        now[0] = T0 + timedelta(days=1)
        with pytest.raises(ApiError, match="expired"):
            await auth.resolve(f"Bearer {secret}")
        now[0] = T0
        await store.tokens.revoke(row.id, at=T0, by="test")
        with pytest.raises(ApiError, match="revoked"):
            await auth.resolve(f"Bearer {secret}")
        actions = [r[0] for r in await store.db.fetch_all("SELECT action FROM console_audit ORDER BY id")]
        assert actions == ["add_token", "revoke_token"]
