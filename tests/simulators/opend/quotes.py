"""OpenD's quote protocols: static info (3202, `Qot_GetStaticInfo`) and snapshots (3203,
`Qot_GetSecuritySnapshot`), as https://openapi.moomoo.com/moomoo-api-doc/en/quote/get-static-info.html
and .../quote/get-market-snapshot.html describe them. One unknown code fails the whole request, as
OpenD does (a batch is one protocol packet)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.simulators.opend import messages
from tests.simulators.opend.book import Refused
from tests.simulators.opend.market import BY_QOT, Listing

if TYPE_CHECKING:
    from tests.simulators.opend.server import OpenDSimulator
    from tests.simulators.opend.trading import Call

SNAPSHOT_MAX = 400  # codes per snapshot request


class Quotes:
    """The quote handlers of `OpenDSimulator` (a mixin over its listings)."""

    def static_info(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        if c2s.securityList:
            chosen = self.listed(c2s.securityList)
        else:
            market = BY_QOT.get(c2s.market)
            chosen = [
                listing
                for listing in self.listings.values()
                if market is not None and listing.market is market and c2s.secType in (0, messages.EQUITY)
            ]
        response = messages.ok(3202)
        for listing in chosen:
            messages.static_info(response.s2c.staticInfoList.add(), listing)
        return response

    def snapshot(self: OpenDSimulator, call: Call) -> Any:
        securities = call.request.c2s.securityList
        if not securities or len(securities) > SNAPSHOT_MAX:
            raise Refused(f"securityList must hold 1 to {SNAPSHOT_MAX} codes")
        response = messages.ok(3203)
        for listing in self.listed(securities):
            messages.snapshot(response.s2c.snapshotList.add(), listing)
        return response

    def listed(self: OpenDSimulator, securities: Any) -> list[Listing]:
        chosen = []
        for security in securities:
            market = BY_QOT.get(security.market)
            listing = self.listings.get(f"{market.name}.{security.code}") if market else None
            if listing is None:
                prefix = market.name if market else str(security.market)
                raise Refused(f"Unknown stock {prefix}.{security.code}")
            chosen.append(listing)
        return chosen
