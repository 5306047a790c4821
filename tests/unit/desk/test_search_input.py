"""Search under hostile input: HTML in issue texts comes back as text, FTS5 syntax never raises.

The console escapes every piece :func:`segments` returns and wraps the highlighted ones in
``<mark>``; these tests render exactly that way and check that no markup of the user's
survives, and that nothing in the search path pre-renders or pre-escapes the text.
"""

from __future__ import annotations

import html
import random
import re

import pytest
from deskkit import new_issue

from hotline.desk.kb import MARK_END, MARK_START, SearchHit, segments
from hotline.desk.service import Desk

HOSTILE = [
    '<script>alert("打印机")</script> 打印机卡纸',
    '<img src=x onerror="alert(1)"> VPN 断线 &amp; &lt;b&gt;',
    "<mark>假高亮</mark> 邮箱满了 </textarea><!-- -->",
    f"伪造标记 {MARK_START}<b>粗体</b>{MARK_END} 交换机",
]
SYNTAX_TEXT = 'gcc "C++" (x86) -O2 NEAR/3 OR *.log col:value ^start {a b}: 编译失败'


def render(snippet: str) -> str:
    """What the console does: escape every piece, mark the highlighted ones."""
    return "".join(f"<mark>{html.escape(t)}</mark>" if hot else html.escape(t)
                   for t, hot in segments(snippet))


def unrender(page: str) -> str:
    return html.unescape(page.replace("<mark>", "").replace("</mark>", ""))


@pytest.fixture
async def hostile(desk: Desk) -> list[int]:
    ids = []
    for text in [*HOSTILE, SYNTAX_TEXT]:
        issue_id = await new_issue(desk, description=text)
        await desk.dispatch(issue_id)
        await desk.resolve(issue_id, by="zhang", resolution="<b>done</b> & closed")
        ids.append(issue_id)
    await desk.article_from_issue(ids[0], by="zhang", title="<i>打印机</i> 卡纸")
    return ids


def check_safe(hit: SearchHit) -> None:
    """Only our <mark> tags in the rendering; the text round-trips unchanged."""
    page = render(hit.snippet)
    assert re.findall(r"</?[a-zA-Z!][^>]*>", page) == re.findall(r"</?mark>", page)
    assert unrender(page) == hit.snippet.replace(MARK_START, "").replace(MARK_END, "")


@pytest.mark.parametrize(("query", "needle"), [
    ("打印机", '<script>alert("'),  # FTS path, issue and article
    ("script", "<script>"),
    ("onerror", 'onerror="alert(1)">'),
    ("&amp;", "&amp; &lt;b&gt;"),  # entities stay as typed, neither decoded nor re-escaped
    ("<mark>", "<mark>假高亮</mark>"),
    ("</textarea>", "</textarea><!-- -->"),
    ("粗体", "<b>粗体</b>"),
    ("<b", "<b"),  # two characters: the LIKE fallback and its own highlighter
])
async def test_html_in_texts_comes_back_as_plain_text(desk: Desk, hostile: list[int], query: str,
                                                      needle: str) -> None:
    hits = await desk.search(query)
    assert hits, query
    for hit in hits:
        check_safe(hit)
    plain = [hit.snippet.replace(MARK_START, "").replace(MARK_END, "") for hit in hits]
    assert any(needle in p for p in plain), plain


async def test_article_title_and_snippet_are_raw_text(desk: Desk, hostile: list[int]) -> None:
    hits = await desk.search("卡纸", kinds=("article",))
    assert [h.title for h in hits] == ["<i>打印机</i> 卡纸"]
    check_safe(hits[0])
    assert f"{MARK_START}卡纸{MARK_END}" in hits[0].snippet


async def test_pasted_markers_cannot_fake_a_highlight(desk: Desk, hostile: list[int]) -> None:
    [hit] = await desk.search("交换机")
    assert [t for t, hot in segments(hit.snippet) if hot] == ["交换机"]
    assert "伪造标记 &lt;b&gt;粗体&lt;/b&gt; <mark>交换机</mark>" in render(hit.snippet)
    check_safe(hit)
    # Articles too: FTS5's snippet() cannot tell a pasted marker from its own, so they are
    # dropped when the article is written.
    article = await desk.write_article(title=f"{MARK_START}假{MARK_END} 标题", by="zhang", category=None,
                                       symptoms=f"<u>{MARK_END}蓝屏{MARK_START}</u>", fix="重装驱动")
    assert (article.title, article.symptoms) == ("假 标题", "<u>蓝屏</u>")
    [hit] = await desk.search("蓝屏", kinds=("article",))
    assert [t for t, hot in segments(hit.snippet) if hot] == ["蓝屏"]
    check_safe(hit)


FTS_SYNTAX = [
    '"', '""', '"""', '"打印机', '打印机"', 'a"b"c', "*", "**", "打印*", "*打印机", "NEAR",
    "NEAR(", "NEAR(打印机 网络)", "NEAR(打印机 网络, 2)", "near/3", "-", "--", "-打印机", "打印机 -网络",
    "OR", "AND", "NOT", "打印机 OR 网络", "打印机 AND NOT 网络", "(", ")", "((打印机", "打印机))",
    "(打印机 OR (网络", "^", "^打印机", "description:打印机", "resolution : done", "{description}: x",
    "{description resolution}:打印机", "+", "+打印机", "'", "''", "\\", "\\\"", ":", ";", "%", "_%_",
    "\x00", "打\x00印机", "\ue000", "\ue001打印机\ue000", "🖨️ 卡纸", "\u200b", " \t\n ",
    "a" * 300, '"' * 99, "(" * 50 + "x", "NEAR(" * 20,
]


async def test_fts5_syntax_in_queries_never_raises(desk: Desk, hostile: list[int]) -> None:
    # One database for all the queries (a fixture per query would cost seconds).
    for query in FTS_SYNTAX:
        for kinds in (("article", "issue"), ("issue",)):
            try:
                hits = await desk.search(query, kinds=kinds)
            except Exception as exc:  # name the query that broke it
                raise AssertionError(f"search({query!r}) raised {exc!r}") from exc
            for hit in hits:
                check_safe(hit)


async def test_random_syntax_soup_never_raises(desk: Desk, hostile: list[int]) -> None:
    pieces = ['"', "*", "NEAR", "NEAR/2", "-", "OR", "AND", "NOT", "(", ")", ":", "^", "+", "{", "}",
              "打印", "机", "VPN", "%", "_", "'", "\\", " ", " ", " "]
    rng = random.Random(20261128)
    for _ in range(150):
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        for hit in await desk.search(query, limit=5):
            check_safe(hit)


async def test_syntax_typed_as_text_finds_that_text(desk: Desk, hostile: list[int]) -> None:
    for query in ['"C++"', "(x86)", "-O2", "NEAR/3", "*.log", "col:value", "^start", "{a b}:",
                  "OR *.log", "(x86) 编译"]:
        hits = await desk.search(query, kinds=("issue",))
        assert [h.id for h in hits] == [hostile[-1]], query
        check_safe(hits[0])
