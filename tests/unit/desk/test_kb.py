"""Knowledge base and full-text search: Chinese and English, short-query fallback, safe snippets."""

from __future__ import annotations

import pytest
from deskkit import new_issue

from hotline.desk.kb import MARK_END, MARK_START, parse_query, segments
from hotline.desk.service import Desk
from hotline.issues import IssueError

M0, M1 = MARK_START, MARK_END

TEXTS = [
    ("打印机无法连接网络，显示脱机", "重新配置打印机 IP 地址"),
    ("VPN client cannot connect from home", "Reinstalled the VPN client, reset the token"),
    ("Outlook 邮箱无法收发邮件", "清理邮箱配额"),
    ("网络很慢，打开网页超时", "更换交换机端口"),
    ('Printer says "paper jam" 100% of the time', "Removed a torn sheet"),
]


@pytest.fixture
async def issues(desk: Desk) -> list[int]:
    ids = []
    for description, resolution in TEXTS:
        issue_id = await new_issue(desk, description=description)
        await desk.dispatch(issue_id)
        await desk.resolve(issue_id, by="zhang", resolution=resolution)
        ids.append(issue_id)
    return ids


def test_parse_query_quotes_terms_and_separates_short_ones() -> None:
    q = parse_query('打印机 "paper jam" OR 网 -x')
    assert q.match == '"打印机" AND """paper" AND "jam"""'
    assert q.short == ("OR", "网", "-x")
    assert parse_query("  ").terms == ()


def test_segments_split_marked_snippets() -> None:
    assert segments(f"a {M0}<b>{M1} c{M0}d{M1}") == [("a ", False), ("<b>", True), (" c", False), ("d", True)]


async def test_chinese_and_english_queries(desk: Desk, issues: list[int]) -> None:
    hits = await desk.search("打印机")
    assert [h.id for h in hits] == [issues[0]]
    assert hits[0].snippet == f"{M0}打印机{M1}无法连接网络，显示脱机 — 重新配置{M0}打印机{M1} IP 地址"
    assert hits[0].status == "resolved"
    # Case-insensitive, in the resolution too; all terms must occur.
    assert [h.id for h in await desk.search("vpn TOKEN")] == [issues[1]]
    assert await desk.search("vpn 打印机") == []
    # Query syntax typed by a user is just text.
    hits = await desk.search('"paper jam" 100%')
    assert [h.id for h in hits] == [issues[4]]
    assert hits[0].snippet == f'Printer says {M0}"paper{M1} {M0}jam"{M1} {M0}100%{M1} of the time — Removed a torn sh…'
    assert await desk.search("NEAR(打印机") == []


async def test_one_and_two_character_queries_fall_back_to_like(desk: Desk, issues: list[int]) -> None:
    # "网络" (2 characters) is below the trigram size: LIKE scan, newest first.
    hits = await desk.search("网络")
    assert [h.id for h in hits] == [issues[3], issues[0]]
    assert f"{M0}网络{M1}" in hits[0].snippet and hits[0].score == 0.0
    assert [h.id for h in await desk.search("网")] == [issues[3], issues[0]]
    # A short term next to a long one filters the FTS hits and is marked too.
    hits = await desk.search("打印机 脱机")
    assert [h.id for h in hits] == [issues[0]]
    assert hits[0].snippet == f"{M0}打印机{M1}无法连接网络，显示{M0}脱机{M1} — 重新配置{M0}打印机{M1} IP 地址"
    assert [h.id for h in await desk.search("打印机 IP")] == [issues[0]]  # in the resolution
    assert await desk.search("打印机 邮") == []
    # LIKE wildcards typed by the user are literal.
    [hit] = await desk.search("%")
    assert hit.id == issues[4] and f"100{M0}%{M1}" in hit.snippet
    assert [h.id for h in await desk.search("_")] == []


async def test_article_from_resolved_issue_ranks_first(desk: Desk, issues: list[int]) -> None:
    article = await desk.article_from_issue(issues[0], by="zhang", title="打印机脱机的处理")
    assert (article.symptoms, article.fix, article.category) == (TEXTS[0][0], TEXTS[0][1], "network")
    hits = await desk.search("打印机")
    assert [(h.kind, h.id) for h in hits] == [("article", article.id), ("issue", issues[0])]
    assert hits[0].title == "打印机脱机的处理"
    assert [e.kind for e in await desk.ctx.store.issues.events(issues[0])][-1] == "kb_article"
    open_issue = await new_issue(desk)
    with pytest.raises(IssueError, match="only resolved issues become articles"):
        await desk.article_from_issue(open_issue, by="zhang")
    # Edits of an issue's text are re-indexed by the triggers.
    await desk.workflow.change(open_issue, None, actor="op", changes={"description": "扫描仪驱动丢失"})
    assert [h.id for h in await desk.search("扫描仪", kinds=("issue",))] == [open_issue]
