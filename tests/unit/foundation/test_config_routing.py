"""``[routing]`` and the call limits of ``[sip]``: defaults, values, mistakes with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import ConfigError, load_config

HEAD = """\
[site]
name = "IT"

[web]
secret = "0123456789abcdef0123456789abcdef"

[sip]
allowed_peers = ["10.0.0.0/8"]
"""


def write(tmp_path: Path, text: str, head: str = HEAD) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(head + text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    r = config.routing
    assert (r.desk, r.desk_strategy, r.mode, r.accept_seconds, r.targets) == ((), "order", "bridge", 10.0, {})
    # 1,000 RTP ports = 500 pairs = 250 forwarded calls (two legs each).
    assert config.sip.max_calls == 250 and config.sip.max_calls_per_caller == 3
    assert config.sip.retry_after == 30


def test_max_calls_follows_a_smaller_rtp_range(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[media]\nrtp_port_min = 30000\nrtp_port_max = 30039\n"))
    assert config.sip.max_calls == 10
    config = load_config(write(tmp_path, "max_calls = 7\n[media]\nrtp_port_min = 30000\n"
                                         "rtp_port_max = 30039\n"))
    assert config.sip.max_calls == 7


def test_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[routing]
desk = ["sip:desk1@10.0.0.5:5060", "8001"]
desk_strategy = "together"
desk_ring_seconds = 15
accept_seconds = 8
mode = "refer"
record = true

[routing.targets]
security = "+8613800001111"
noc = "sip:noc@10.0.0.9"
"""))
    r = config.routing
    assert r.desk == ("sip:desk1@10.0.0.5:5060", "8001") and r.desk_strategy == "together"
    assert (r.desk_ring_seconds, r.accept_seconds, r.mode, r.record) == (15.0, 8.0, "refer", True)
    assert r.targets == {"security": "+8613800001111", "noc": "sip:noc@10.0.0.9"}


def test_mistakes_are_listed_with_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, """
[routing]
desk = ["desk one"]
desk_strategy = "random"
rota = "nope"
accept_seconds = 0

[routing.targets]
oncall = "+8613800001111"
boss = "call the boss"
""")
    assert errors_of(path) == [
        f'{path}:11: routing.desk: expected SIP URIs or numbers like "sip:desk1@10.0.0.5" or "8001", got "desk one"',
        f'{path}:13: routing.rota: expected the name of a [[rota]], got "nope"',
        f'{path}:17: routing.targets.oncall: a target name is lower-case letters, digits, "-" or "_", and not "desk", "oncall" or "voicemail"',
        f'{path}:18: routing.targets.boss: expected a SIP URI or a number like "+8613800000000", got "call the boss"',
        f'{path}:12: routing.desk_strategy: expected one of "order", "together", got "random"',
        f"{path}:14: routing.accept_seconds: expected a number 1–120, got 0",
    ]
