"""``[[sip.accounts]]``, ``sip.auth_realm`` and ``sip.auth_secret``: defaults, values, mistakes with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import ConfigError, SipAccount, load_config
from tests.conftest import EXAMPLE_CONFIG

HEAD = """\
[site]
name = "IT"

[web]
secret = "0123456789abcdef0123456789abcdef"

[sip]
allowed_peers = ["10.0.0.0/8"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_no_accounts_by_default(tmp_path: Path) -> None:
    sip = load_config(write(tmp_path, "")).sip
    assert sip.accounts == ()
    assert sip.auth_realm == "hotline"
    assert sip.auth_secret is None
    assert sip.auth_algorithms == ("SHA-256", "MD5")


def test_example_config_still_loads_without_accounts() -> None:
    assert load_config(EXAMPLE_CONFIG).sip.accounts == ()


def test_accounts_realm_and_secret_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'auth_realm = "desk.corp.example"\n'
        'auth_secret = "0123456789abcdef-node-shared"\n'
        '\n[[sip.accounts]]\nusername = "desk-101"\npassword = "s3cret 101"\n'
        '\n[[sip.accounts]]\nusername = "trunk-b"\npassword = "tr\\"unk"\n',
    )
    sip = load_config(path).sip
    assert sip.accounts == (SipAccount("desk-101", "s3cret 101"), SipAccount("trunk-b", 'tr"unk'))
    assert sip.auth_realm == "desk.corp.example"
    assert sip.auth_secret == "0123456789abcdef-node-shared"


def test_passwords_stay_out_of_reprs() -> None:
    assert "s3cret" not in repr(SipAccount("desk-101", "s3cret"))


def test_duplicate_username_names_the_second_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '\n[[sip.accounts]]\nusername = "desk-101"\npassword = "a"\n'
        '\n[[sip.accounts]]\nusername = "desk-101"\npassword = "b"\n',
    )
    assert errors_of(path) == [f'{path}:15: sip.accounts[1].username: duplicate SIP account "desk-101"']


def test_empty_password_and_missing_username(tmp_path: Path) -> None:
    path = write(tmp_path, '\n[[sip.accounts]]\npassword = ""\n')
    assert errors_of(path) == [
        f"{path}:10: sip.accounts[0].username: is required",
        f'{path}:11: sip.accounts[0].password: expected a non-empty string, got ""',
    ]


def test_username_with_a_colon_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '\n[[sip.accounts]]\nusername = "a:b"\npassword = "x"\n')
    assert errors_of(path) == [
        f'{path}:11: sip.accounts[0].username: expected a user name without quotes, backslashes or colons, got "a:b"'
    ]


def test_unknown_key_in_an_account(tmp_path: Path) -> None:
    path = write(tmp_path, '\n[[sip.accounts]]\nusername = "a"\npassword = "x"\nrealm = "r"\n')
    assert errors_of(path) == [f"{path}:13: sip.accounts[0].realm: unknown key"]


def test_short_secret_and_quoted_realm(tmp_path: Path) -> None:
    path = write(tmp_path, 'auth_secret = "too-short"\nauth_realm = "a\\"b"\n')
    assert errors_of(path) == [
        f"{path}:9: sip.auth_secret: must be at least 16 characters, got 9",
        f'{path}:10: sip.auth_realm: expected a realm without quotes or backslashes, got "a\\"b"',
    ]


def test_algorithms_in_the_order_given(tmp_path: Path) -> None:
    path = write(tmp_path, 'auth_algorithms = ["MD5", "SHA-512-256"]\n')
    assert load_config(path).sip.auth_algorithms == ("MD5", "SHA-512-256")


def test_unknown_repeated_or_no_algorithm(tmp_path: Path) -> None:
    path = write(tmp_path, 'auth_algorithms = ["SHA-1", "MD5", "MD5"]\n')
    assert errors_of(path) == [
        f'{path}:9: sip.auth_algorithms: expected algorithms among "SHA-256", "SHA-512-256", "MD5", got "SHA-1"',
        f"{path}:9: sip.auth_algorithms: lists an algorithm twice",
    ]
    empty = write(tmp_path, "auth_algorithms = []\n")
    assert errors_of(empty) == [f"{empty}:9: sip.auth_algorithms: expected at least one entry, got an array"]
