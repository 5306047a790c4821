"""The first call handler transfers nowhere: an accepted REFER is declined at once with 603.

Without this the referrer's subscription would stay open until it expires. sipp sends the REFER
inside an answered call; the NOTIFYs it receives and the empty outbound counter are checked.
"""

from __future__ import annotations

from hotline.store import Store
from tests.interop.endpoint_helpers import desk_config
from tests.interop.peers import Sipp
from tests.interop.test_endpoint_sipp import Desk


async def test_refer_declined_by_the_first_handler(store: Store, sipp: Sipp) -> None:
    desk = Desk(store, desk_config(accept_refer=True, ring_seconds=0.1))
    await desk.endpoint.start()
    try:
        run = sipp.start("endpoint_uac_sends_refer.xml", desk.address, calls=1, timeout_s=15, inf=None,
                         variables={"referto": "sip:+8613900000000@127.0.0.1"})
        result = await run.wait_async(25)
        assert result.ok, result.describe()
        assert result.lines("REFER-ACCEPTED")
        notifies = result.lines("NOTIFY")
        assert [line.split("frag=SIP/2.0 ", 1)[1] for line in notifies] == ["100 Trying", "603 Decline"]
        assert "state= terminated" in notifies[-1]
        assert desk.endpoint.counters["out INVITE"] == 0  # nothing was dialled
    finally:
        await desk.endpoint.stop()
