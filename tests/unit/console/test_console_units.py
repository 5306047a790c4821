"""Console building blocks without a server: password hashes, the login limiter, the catalogs."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hotline.console.i18n import load_catalogs
from hotline.console.passwords import (
    PasswordError,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from hotline.console.sessions import LoginLimiter
from tests.conftest import ROOT

WEB = ROOT / "web"


def test_password_hash_round_trip_and_refusals() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$16384$8$1$") and not needs_rehash(stored)
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery") != stored  # salted
    for broken in ("", "scrypt$x", "bcrypt$1$2$3$abc$def", stored.replace("$8$", "$zz$")):
        assert not verify_password("correct horse battery", broken)
    assert needs_rehash("scrypt$1024$8$1$c2FsdA$a2V5")


@pytest.mark.parametrize(("password", "why"), [
    ("short1", "at least 10"), ("aaaaaaaaaaaa", "different characters"), ("xx-chenjing-xx", "user id"),
])
def test_weak_passwords_are_refused(password: str, why: str) -> None:
    with pytest.raises(PasswordError, match=why):
        check_strength(password, user="chenjing")


def test_login_limiter_doubles_the_lock_out_and_forgets_success() -> None:
    limiter = LoginLimiter(free_attempts=3, first_lock=10, max_lock=60)
    keys = ["user:chenjing", "addr:10.0.0.1"]
    for t in range(2):
        limiter.failed(keys, float(t))
        assert limiter.retry_after(keys, float(t)) == 0
    limiter.failed(keys, 2.0)
    assert limiter.retry_after(keys, 2.0) == 10
    limiter.failed(keys, 12.0)
    assert limiter.retry_after(keys, 12.0) == 20
    limiter.failed(keys, 32.0)
    limiter.failed(keys, 72.0)
    assert limiter.retry_after(keys, 72.0) == 60  # capped
    # Another address guessing the same user is held back by the user key too.
    assert limiter.retry_after(["user:chenjing", "addr:10.0.0.2"], 80.0) > 0
    limiter.succeeded(keys)
    assert limiter.retry_after(keys, 80.0) == 0


def test_every_console_string_has_its_chinese() -> None:
    """What Babel extracts from the templates and hotline/console must all be in the zh catalog."""
    found: set[str] = set()
    for folder, method in ((ROOT / "hotline" / "console", "python"),
                           (WEB / "templates", "jinja2.ext.babel_extract")):
        for _, _, message, *_ in extract_from_dir(
                folder, method_map=[("**.py", method)] if method == "python" else [("**.html", method)],
                keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "text": (2,)}):
            found.update([message] if isinstance(message, str) else [m for m in message if m])
    assert len(found) > 20
    with (WEB / "locale" / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale="zh")
    translated: set[str] = set()
    for m in catalog:
        if not m.id or "fuzzy" in m.flags:
            continue
        if isinstance(m.id, tuple):  # ngettext: both ids count once Chinese's one form is there
            if isinstance(m.string, tuple) and all(m.string):
                translated.update(m.id)
        elif m.string:
            translated.add(m.id)
    missing = sorted(found - translated)
    assert not missing, f"untranslated (run scripts/update-catalogs.sh, then translate): {missing}"


def test_template_helper_escapes_values_not_our_translation(tmp_path: Path) -> None:
    catalogs = load_catalogs(WEB / "locale", ZoneInfo("Asia/Shanghai"))
    zh = catalogs.helpers("zh")
    assert str(zh["_"]("Log in")) == "登录"
    greeting = zh["_"]("Hello, %(name)s", name="<script>alert(1)</script>")
    assert str(greeting) == "您好，&lt;script&gt;alert(1)&lt;/script&gt;"
    assert str(catalogs.helpers("en")["_"]("Log in")) == "Log in"
