"""``[web]`` keys for operations: the access log and who may read ``/metrics``; the log's redaction."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from yarl import URL

from hotline.accesslog import loggable_target
from hotline.config import Config, ConfigError, load_config
from hotline.metrics import address_allowed

BASE = """\
[site]
name = "IT"

[sip]
allowed_peers = ["10.0.0.0/8"]

[web]
secret = "0123456789abcdef0123456789abcdef"
"""


def load(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "conf" / "hotline.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(BASE + extra, encoding="utf-8")
    return load_config(path)


def test_defaults_log_to_the_server_log_and_let_only_loopback_read_metrics(tmp_path: Path) -> None:
    web = load(tmp_path).web
    assert (web.access_log, web.access_log_file) == (True, None)
    assert web.metrics_allow == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_access_log_off_or_to_a_file_relative_to_the_configuration(tmp_path: Path) -> None:
    assert load(tmp_path, "access_log = false\n").web.access_log is False
    web = load(tmp_path, 'access_log = "../logs/access.log"\nmetrics_allow = ["10.1.2.0/24", "192.0.2.9"]\n').web
    assert web.access_log_file == (tmp_path / "logs" / "access.log").resolve()
    assert web.metrics_allow == (ipaddress.ip_network("10.1.2.0/24"), ipaddress.ip_network("192.0.2.9/32"))


@pytest.mark.parametrize(("extra", "message"), [
    ("access_log = 3\n", 'web.access_log: expected true, false or a file path like "../var/access.log", got 3'),
    ('access_log = ""\n', "web.access_log: expected true, false or a file path"),
    ('metrics_allow = ["prometheus.corp"]\n', "web.metrics_allow: expected IP addresses or networks"),
])
def test_bad_values_are_named_with_their_line(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, extra)
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1, problems
    assert message in problems[0] and "hotline.toml:9" in problems[0], problems


def test_metrics_allow_list_matches_addresses_of_either_family() -> None:
    allow = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
             ipaddress.ip_network("10.9.0.0/16"))
    remotes = ("127.0.0.1", "::1", "fe80::1%eth0", "10.9.3.4", "10.8.0.1", "::2", None, "", "x")
    assert [address_allowed(r, allow) for r in remotes] == [
        True, True, False, True, False, False, False, False, False]


def test_access_log_target_hides_secret_query_values() -> None:
    url = URL("/recordings/12.wav?expires=1767225600&sig=abcdef0123&Token=t")
    assert loggable_target(url) == "/recordings/12.wav?expires=1767225600&sig=***&Token=***"
    assert loggable_target(URL("/issues?q=%E5%BC%A0&status=new")) == "/issues?q=%E5%BC%A0&status=new"
    assert loggable_target(URL("/healthz")) == "/healthz"
