"""The address our RTP is offered at: the one the peer's packets will reach.

For a call that came in, the interface the INVITE arrived on; for a leg we place ourselves (a
console call back, a survey call), the interface toward its first hop — the outbound proxy when
there is one, else the target's host.
"""

from __future__ import annotations

from hotline.sip.endpoint import SipEndpoint
from hotline.sip.uri import SipUri, parse_uri

__all__ = ["toward_first_hop"]


async def toward_first_hop(endpoint: SipEndpoint, proxy: str | None, target: str) -> str:
    """Our address toward ``proxy`` (a SIP URI) or, without one, toward ``target``'s host."""
    hop = parse_uri(proxy) if proxy else None
    if not isinstance(hop, SipUri):
        hop = parse_uri(target)
    transport_name, destination = await endpoint.resolve(hop)
    transport = endpoint.transport_for(transport_name, destination[0])
    return endpoint.local_host(transport, destination[0]).strip("[]")
