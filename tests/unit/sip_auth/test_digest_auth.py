"""Digest authentication: RFC worked examples, real headers, client <-> server round trips."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from hotline.sip.auth import (
    AuthError,
    Challenge,
    Credentials,
    DigestClient,
    DigestServer,
    choose_challenge,
    digest_response,
)

# Header values sent by real equipment, from public bug reports and docs (anonymised:
# addresses, users and domains replaced, so their response= values no longer verify).
VCRS_401 = (
    'Digest realm="198.51.100.204", nonce="4/Ndqug/XDoFvHX0fSBdV7V0Y0mpGi+rJBuaWekl18wA", qop="auth"'
)
FREESWITCH_401 = (
    'Digest realm="192.168.66.194", nonce="a05017e3-2e0e-45fd-853d-241c71c2d220", '
    'algorithm=MD5, qop="auth"'
)
YEALINK_AUTH = (
    'Digest username="201", realm="pbx.example.com", nonce="ab84b282-99e9-41f2-87bd-e78aff5fdf07", '
    'uri="sip:pbx.example.com:5060", response="da7aa1369e6df8128ac5263909e0f9be", algorithm=MD5, '
    'cnonce="724116085", qop=auth, nc=00000001'
)
BARESIP_SHA256_AUTH = (
    'Digest username="test", realm="sip.example.org", '
    'nonce="ZiUjNGYlIgj2oWfgNirlAvhoI3l75iN58/OfYYbWcmZpIZ4YcPY+BCgCliOA", uri="sip:sip.example.org", '
    'response="57f13b8a41a9de02c889f5ac06a8f68d5f3d4f854793a3b96bbb8656c944b345", '
    'cnonce="adb3fde0c3d55418", qop=auth, nc=00000002, algorithm=SHA-256'
)
CISCO7960_PROXY_AUTH = (
    'Digest username="alice",realm="sip.blueface.ie",uri="sip:303@home.example.org",'
    'response="638c8fb6186fe865e80f6232cc417c3f",nonce="44f121a2",algorithm=md5'
)
SECRET = b"0123456789abcdef0123456789abcdef"


def fixed_cnonces(*values: str) -> Callable[[], str]:
    iterator = iter(values)
    return lambda: next(iterator)


# --------------------------------------------------------------------------- RFC examples


def test_rfc2617_section_3_5_example() -> None:
    # RFC 2617 §3.5: Mufasa / "Circle Of Life", GET /dir/index.html, qop=auth.
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    client = DigestClient("Mufasa", "Circle Of Life", cnonce_factory=fixed_cnonces("0a4f113b"))
    header = client.authorize(challenge, "GET", "/dir/index.html")
    assert header is not None
    credentials = Credentials.parse(header)
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    assert (credentials.qop, credentials.nc, credentials.cnonce) == ("auth", "00000001", "0a4f113b")
    assert credentials.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert "qop=auth," in header and "nc=00000001" in header  # unquoted, as RFC 2617 writes them


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        # RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_example(algorithm: str, expected: str) -> None:
    challenge = Challenge.parse(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    client = DigestClient(
        "Mufasa",
        "Circle of Life",
        cnonce_factory=fixed_cnonces("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"),
    )
    header = client.authorize(challenge, "GET", "/dir/index.html")
    assert header is not None
    assert Credentials.parse(header).response == expected


def test_rfc2069_form_without_qop() -> None:
    # No qop offered: response = H(H(A1):nonce:H(A2)), no cnonce/nc sent.
    client = DigestClient("alice", "secret")
    header = client.authorize('Digest realm="r", nonce="n1"', "INVITE", "sip:303@example.org")
    assert header is not None
    credentials = Credentials.parse(header)
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    expected = digest_response(
        algorithm="MD5", username="alice", realm="r", password="secret",
        method="INVITE", uri="sip:303@example.org", nonce="n1",
    )
    assert credentials.response == expected

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    assert expected == md5(f"{md5('alice:r:secret')}:n1:{md5('INVITE:sip:303@example.org')}")


# --------------------------------------------------------------------------- parsing


def test_parse_real_challenges() -> None:
    vcrs = Challenge.parse(VCRS_401)
    assert vcrs.realm == "198.51.100.204"
    assert vcrs.nonce == "4/Ndqug/XDoFvHX0fSBdV7V0Y0mpGi+rJBuaWekl18wA"
    assert (vcrs.algorithm, vcrs.qop, vcrs.stale) == ("MD5", ("auth",), False)
    fs = Challenge.parse(FREESWITCH_401)
    assert (fs.algorithm, fs.qop) == ("MD5", ("auth",))


def test_parse_real_credentials() -> None:
    yealink = Credentials.parse(YEALINK_AUTH)
    assert (yealink.username, yealink.uri, yealink.nc, yealink.qop) == (
        "201", "sip:pbx.example.com:5060", "00000001", "auth",
    )
    baresip = Credentials.parse(BARESIP_SHA256_AUTH)
    assert (baresip.algorithm, len(baresip.response), baresip.nc) == ("SHA-256", 64, "00000002")
    cisco = Credentials.parse(CISCO7960_PROXY_AUTH)
    assert (cisco.algorithm, cisco.qop, cisco.nonce) == ("md5", None, "44f121a2")
    assert Credentials.parse(cisco.serialize()) == cisco


def test_challenge_escapes_algorithms_stale_and_unknown_params() -> None:
    challenge = Challenge.parse(
        r'DIGEST realm="say \"hi\" \\ here", nonce="abc", algorithm=sha-256-SESS, '
        'stale=TRUE, qop="auth-int", charset=UTF-8, userhash=false'
    )
    assert challenge.realm == 'say "hi" \\ here'
    assert (challenge.algorithm, challenge.stale, challenge.qop) == ("SHA-256-sess", True, ("auth-int",))
    assert challenge.extra == (("charset", "UTF-8"), ("userhash", "false"))
    assert Challenge.parse(challenge.serialize()) == challenge


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ('Basic realm="x"', "scheme"),
        ('Digest realm="x"', "nonce"),
        ('Digest realm="x, nonce=y', "unterminated"),
        ("Digest realm", "'='"),
        ("", "scheme"),
    ],
)
def test_bad_challenges(value: str, needle: str) -> None:
    with pytest.raises(AuthError, match=needle):
        Challenge.parse(value)


def test_credentials_missing_parts_are_400() -> None:
    with pytest.raises(AuthError) as caught:
        Credentials.parse('Digest username="a", realm="r", nonce="n", uri="sip:x"')
    assert caught.value.status == 400
    with pytest.raises(AuthError, match="cnonce"):
        Credentials.parse('Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth')


def test_choose_strongest_challenge() -> None:
    md5 = Challenge("r", "n")
    sha = Challenge("r", "n", algorithm="SHA-256", qop=("auth",))
    odd = Challenge("r", "n", algorithm="AKAv1-MD5")
    assert choose_challenge([md5, sha, odd]) == sha
    assert choose_challenge([odd]) is None
    assert DigestClient("a", "b").authorize(odd, "REGISTER", "sip:x") is None


# --------------------------------------------------------------------------- client behaviour


def test_nonce_count_increments_per_nonce() -> None:
    client = DigestClient("201", "pw", cnonce_factory=fixed_cnonces("c1", "c2", "c3", "c4"))
    first = Credentials.parse(client.authorize(FREESWITCH_401, "REGISTER", "sip:pbx") or "")
    client.reset()
    again = Credentials.parse(client.preemptive("REGISTER", "sip:pbx") or "")
    third = Credentials.parse(client.preemptive("REGISTER", "sip:pbx") or "")
    assert [first.nc, again.nc, third.nc] == ["00000001", "00000002", "00000003"]
    assert [first.cnonce, again.cnonce, third.cnonce] == ["c1", "c2", "c3"]
    other = Challenge.parse(FREESWITCH_401.replace("a05017e3", "b15017e3"))
    fresh = Credentials.parse(client.authorize(other, "REGISTER", "sip:pbx") or "")
    assert fresh.nc == "00000001"


def test_auth_int_when_only_offered() -> None:
    client = DigestClient("u", "p", cnonce_factory=fixed_cnonces("cn"))
    header = client.authorize('Digest realm="r", nonce="n", qop="auth-int"', "INVITE", "sip:a", b"v=0\r\n")
    credentials = Credentials.parse(header or "")
    assert credentials.qop == "auth-int"
    assert credentials.response == digest_response(
        algorithm="MD5", username="u", realm="r", password="p", method="INVITE", uri="sip:a",
        nonce="n", qop="auth-int", nc="00000001", cnonce="cn", body=b"v=0\r\n",
    )
    assert credentials.response != digest_response(
        algorithm="MD5", username="u", realm="r", password="p", method="INVITE", uri="sip:a",
        nonce="n", qop="auth-int", nc="00000001", cnonce="cn", body=b"",
    )


def test_client_gives_up_when_same_nonce_rejected() -> None:
    client = DigestClient("201", "wrong")
    assert client.authorize(FREESWITCH_401, "REGISTER", "sip:pbx") is not None
    assert client.authorize(FREESWITCH_401, "REGISTER", "sip:pbx") is None
    assert client.failure is not None and "rejected" in client.failure


def test_client_retries_once_on_stale_then_stops() -> None:
    client = DigestClient("201", "pw")
    assert client.authorize(FREESWITCH_401, "REGISTER", "sip:pbx") is not None
    stale = Challenge.parse(FREESWITCH_401.replace("a05017e3", "c0ffee00") + ", stale=true")
    assert client.authorize(stale, "REGISTER", "sip:pbx") is not None
    stale2 = Challenge.parse(FREESWITCH_401.replace("a05017e3", "deadbeef") + ", stale=true")
    assert client.authorize(stale2, "REGISTER", "sip:pbx") is None
    client.reset()  # a new request starts from scratch
    assert client.authorize(stale2, "REGISTER", "sip:pbx") is not None


# --------------------------------------------------------------------------- server


def make_server(
    *, nonce_ttl: float = 300.0, allow_rfc2069: bool = False, max_tracked_nonces: int = 10_000
) -> DigestServer:
    passwords = {"trunk1": "s3cret"}
    return DigestServer(
        "hotline.example.org",
        passwords.get,
        SECRET,
        nonce_ttl=nonce_ttl,
        allow_rfc2069=allow_rfc2069,
        max_tracked_nonces=max_tracked_nonces,
    )


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_round_trip_client_server(algorithm: str) -> None:
    server = make_server()
    challenges = server.challenges(now=1000.0)
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    challenge = next(c for c in challenges if c.algorithm == algorithm)
    client = DigestClient("trunk1", "s3cret")
    # Through the wire form on both sides.
    header = client.authorize(challenge.serialize(), "INVITE", "sip:helpdesk@192.0.2.10")
    assert header is not None
    result = server.verify(header, "INVITE", 1001.0, request_uri="sip:helpdesk@192.0.2.10")
    assert (result.ok, result.username) == (True, "trunk1")


def test_wrong_password_and_unknown_user() -> None:
    server = make_server()
    challenge = server.challenges(now=0.0)[0]
    wrong = DigestClient("trunk1", "guess").authorize(challenge, "INVITE", "sip:a")
    result = server.verify(wrong or "", "INVITE", 1.0)
    assert (result.ok, result.status, result.stale) == (False, 401, False)
    nobody = DigestClient("mallory", "s3cret").authorize(challenge, "INVITE", "sip:a")
    assert server.verify(nobody or "", "INVITE", 1.0).ok is False


def test_wrong_method_fails() -> None:
    server = make_server()
    header = DigestClient("trunk1", "s3cret").authorize(server.challenges(0.0)[0], "INVITE", "sip:a")
    assert server.verify(header or "", "BYE", 1.0).ok is False


def test_expired_nonce_is_stale_and_client_recovers() -> None:
    server = make_server(nonce_ttl=300.0)
    client = DigestClient("trunk1", "s3cret")
    header = client.authorize(server.challenges(0.0)[0], "INVITE", "sip:a")
    assert server.verify(header or "", "INVITE", 299.0).ok
    late = client.preemptive("INVITE", "sip:a")
    result = server.verify(late or "", "INVITE", 301.0)
    assert (result.ok, result.status, result.stale) == (False, 401, True)
    # The server re-challenges with stale=true; the client answers once more and gets in.
    fresh = server.challenges(301.0, stale=True)[0]
    again = client.authorize(fresh.serialize(), "INVITE", "sip:a")
    assert server.verify(again or "", "INVITE", 302.0).ok


def test_nc_replay_refused() -> None:
    server = make_server()
    client = DigestClient("trunk1", "s3cret")
    header = client.authorize(server.challenges(0.0)[0], "INVITE", "sip:a") or ""
    assert server.verify(header, "INVITE", 1.0).ok
    replay = server.verify(header, "INVITE", 2.0)
    assert (replay.ok, replay.status, replay.stale) == (False, 401, False)
    assert "replayed" in replay.reason
    assert server.verify(client.preemptive("INVITE", "sip:a") or "", "INVITE", 3.0).ok


def test_forged_or_foreign_nonce_and_tampering() -> None:
    server = make_server()
    other = DigestServer("hotline.example.org", {"trunk1": "s3cret"}.get, b"another-secret-16b")
    client = DigestClient("trunk1", "s3cret")
    foreign = client.authorize(other.challenges(0.0)[0], "INVITE", "sip:a") or ""
    assert server.verify(foreign, "INVITE", 1.0).reason == "nonce not issued by us"
    # Moving the timestamp of a real nonce breaks its MAC.
    nonce = server.make_nonce(0.0)
    stamp, rand, mac = nonce.split("-")
    forged = Challenge("hotline.example.org", f"{int(stamp, 16) + 999999:x}-{rand}-{mac}", qop=("auth",))
    header = DigestClient("trunk1", "s3cret").authorize(forged, "INVITE", "sip:a") or ""
    assert server.verify(header, "INVITE", 1.0).ok is False


def test_server_refuses_rfc2069_unless_allowed_and_checks_uri_and_realm() -> None:
    server = make_server()
    bare = Challenge("hotline.example.org", server.make_nonce(0.0))
    header = DigestClient("trunk1", "s3cret").authorize(bare, "INVITE", "sip:a") or ""
    assert server.verify(header, "INVITE", 1.0).ok is False
    assert make_server(allow_rfc2069=True).verify(header, "INVITE", 1.0).ok
    ok = DigestClient("trunk1", "s3cret").authorize(server.challenges(0.0)[1], "INVITE", "sip:a")
    assert server.verify(ok or "", "INVITE", 1.0, request_uri="sip:b").status == 400
    assert server.verify(YEALINK_AUTH, "REGISTER", 1.0).status == 401  # other realm
    assert server.verify("Digest username=", "INVITE", 1.0).status == 400


def test_forgotten_nonce_under_memory_pressure_is_stale() -> None:
    server = make_server(max_tracked_nonces=2)
    clients = [DigestClient("trunk1", "s3cret") for _ in range(3)]
    for client in clients:
        assert server.verify(
            client.authorize(server.challenges(0.0)[0], "INVITE", "sip:a") or "", "INVITE", 1.0
        ).ok
    evicted = server.verify(clients[0].preemptive("INVITE", "sip:a") or "", "INVITE", 2.0)
    assert (evicted.ok, evicted.stale) == (False, True)
    assert server.verify(clients[2].preemptive("INVITE", "sip:a") or "", "INVITE", 2.0).ok


@pytest.mark.parametrize("algorithm", ["SHA-512-256", "SHA-256-sess", "MD5-sess"])
def test_round_trip_other_algorithms(algorithm: str) -> None:
    passwords = {"trunk1": "s3cret"}
    server = DigestServer("r", passwords.get, SECRET, algorithms=(algorithm,))
    (challenge,) = server.challenges(0.0)
    header = DigestClient("trunk1", "s3cret").authorize(challenge.serialize(), "INVITE", "sip:a")
    assert server.verify(header or "", "INVITE", 1.0).ok


def test_md5_sess_written_out() -> None:
    # RFC 2617 §3.2.2.2: for MD5-sess, A1 = H(user:realm:pass):nonce:cnonce.
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{md5('u:r:p')}:n:c")
    expected = md5(f"{ha1}:n:00000001:c:auth:{md5('INVITE:sip:a')}")
    assert expected == digest_response(
        algorithm="md5-sess", username="u", realm="r", password="p", method="INVITE",
        uri="sip:a", nonce="n", qop="auth", nc="00000001", cnonce="c",
    )
