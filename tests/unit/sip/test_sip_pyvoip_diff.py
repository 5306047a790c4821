"""Differential check of our parser against pyVoIP's SIPMessage on the trace corpus.

pyVoIP is stricter and narrower than we are: it raises on compact or
lower-case header names, unknown methods and much of RFC 4475. Nothing is skipped:

* pyVoIP parses it: we must too (unless RFC 4475 calls the message invalid, §3.1.2),
  and the identifying fields must agree;
* pyVoIP raises: we must parse every message the corpus calls valid (real
  equipment, derived fixtures, RFC 4475's valid ones) -- that is the point of
  having our own parser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.sip.errors import RemoteProtocolError
from hotline.sip.message import Request, parse_message
from tests.gate import require

try:
    # pyVoIP.SIP and pyVoIP.VoIP import each other; importing VoIP first avoids the cycle.
    import pyVoIP.VoIP  # noqa: F401
    from pyVoIP.SIP import SIPMessage
except ImportError:  # pragma: no cover - the test extra installs it
    SIPMessage = None

TRACES = Path(__file__).resolve().parents[2] / "traces"
CORPUS = sorted(TRACES.glob("*/*.sip"))
assert len(CORPUS) >= 90, f"the SIP trace corpus under {TRACES} is missing"


def _rfc4475_verdicts() -> dict[str, str]:
    """File name -> the verdict column of tests/traces/INDEX.md's RFC 4475 table."""
    out = {}
    for line in (TRACES / "INDEX.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 5 and cells[1].startswith("`rfc4475/"):
            out[cells[1].strip("`").split("/", 1)[1]] = cells[4]
    return out


VERDICTS = _rfc4475_verdicts()
assert len(VERDICTS) >= 49, "tests/traces/INDEX.md lost its RFC 4475 table"


def invalid_by_rfc4475(path: Path) -> bool:
    """RFC 4475 calls it anything but valid (syntax errors, 400-worthy semantics, unspecified):
    a parser may refuse it. Real equipment's and derived messages are valid."""
    return path.parent.name == "rfc4475" and VERDICTS.get(path.name) != "valid"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fields_agree_with_pyvoip(path: Path) -> None:
    require(SIPMessage is not None, "pyVoIP is not installed (pip install -e '.[test]')")
    data = path.read_bytes()
    try:
        theirs = SIPMessage(data)
        their_call_id = theirs.headers["Call-ID"]
        their_cseq = theirs.headers["CSeq"]
        their_from_tag = theirs.headers["From"]["tag"]
        their_to_tag = theirs.headers["To"]["tag"]
    except Exception:  # pyVoIP raises assorted exception types
        if not invalid_by_rfc4475(path):
            parse_message(data)  # valid, and beyond pyVoIP: ours must read it
        return
    try:
        ours = parse_message(data)
    except RemoteProtocolError:
        assert invalid_by_rfc4475(path), "pyVoIP reads it, the corpus calls it valid, we refuse it"
        return
    assert ours.call_id == their_call_id
    assert (str(ours.cseq.seq), ours.cseq.method) == (their_cseq["check"], their_cseq["method"])
    if isinstance(ours, Request):
        assert ours.method == theirs.method
    else:
        assert ours.status == theirs.status.value
    # pyVoIP reports a missing tag as "" and takes everything after "tag=" as the
    # tag; where that is wrong, the divergence is listed and asserted exactly.
    known = PYVOIP_TAG_BUGS.get(path.name, {})
    assert known.get("From", ours.from_.tag or "") == their_from_tag
    assert known.get("To", ours.to.tag or "") == their_to_tag


# Files where pyVoIP's tag differs from ours, and why ours is right.
PYVOIP_TAG_BUGS: dict[str, dict[str, str]] = {
    # ";+sip.ice" after the tag is another To parameter, not part of the tag.
    "016-fritzbox7590-ack-to-header-param.sip": {
        "To": "L-zcs8hZZRoygcGMaSbbhW2O8hvOB95o;+sip.ice"
    },
    # "tag=" inside <...> is a URI parameter: these headers carry no dialog tag.
    "033-cn-dispatch-200-chinese-display-names.sip": {
        "From": "FLYTRWSZOS>",
        "To": "ENVNTODUZJ>",
    },
}


def test_pyvoip_handles_a_useful_share() -> None:
    """Guard against the differential test comparing almost nothing."""
    require(SIPMessage is not None, "pyVoIP is not installed (pip install -e '.[test]')")
    handled = 0
    for path in CORPUS:
        try:
            SIPMessage(path.read_bytes())
            handled += 1
        except Exception:
            continue
    assert handled >= 20
