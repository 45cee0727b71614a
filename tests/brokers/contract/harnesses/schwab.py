"""The contract suite's Schwab: `tests/simulators/schwab` driven by the real adapter through schwab-py.

How the suite gets a connected connection: Schwab authorises with the OAuth code flow, so
`start()` completes that flow against the simulator before the suite runs. It follows the
simulator's `/v1/oauth/authorize` redirect (the user's approval, without a browser) to our
callback URL, exchanges the code with the adapter's own `token_exchange` (HTTP Basic app
key:secret) and puts the resulting token in `credentials["token"]`. A connection whose
credentials are stored from `credentials` through the vault is therefore already authorised.

A suite that configures through the API instead (which keeps only the wizard's `app_key` and
`app_secret` and answers `pending_authorization`) calls `authorize(connection)`: it runs the web
app's own flow (`oauth_authorize_url`, the simulator's redirect, `oauth_complete`) and leaves the
connection `connected` with its token in the vault.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings

from brokers.models import BrokerConnection
from tests.simulators.base import running
from tests.simulators.schwab import SchwabSimulator

CALLBACK_URL = "https://127.0.0.1:8182/brokers/oauth/callback"  # what the app registered with Schwab


def follow_authorize(url: str) -> dict[str, str]:
    """Open the authorise URL as the user's browser would; the callback's query (`code`, `state`)."""
    answer = httpx.get(url, follow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def authorised_token(sim: SchwabSimulator, *, callback_url: str = CALLBACK_URL) -> str:
    """A `token` credential for the simulator's app, obtained through the real authorise + exchange."""
    from brokers.adapters.schwab.auth import authorize_url, token_exchange

    params = follow_authorize(authorize_url(app_key=sim.app_key, redirect_uri=callback_url, state="harness"))
    return token_exchange(
        app_key=sim.app_key, app_secret=sim.app_secret, code=params["code"], redirect_uri=callback_url, timeout=5
    )


class SchwabHarness:
    key = "schwab"
    # Fault `match`es for the calls the suite names.
    calls = {
        "place": "^POST /trader/v1/accounts/[^/]+/orders$",
        "cancel": "^DELETE /trader/v1/accounts/[^/]+/orders/",
        "balance": "^GET /trader/v1/accounts/[^/]+$",
    }
    paper = False  # Schwab has no paper trading
    symbol = "AAPL"
    qty = Decimal(10)
    unknown_symbol = "ZZZZ"

    def __init__(self) -> None:
        self.sim = SchwabSimulator()
        self.credentials = {"app_key": self.sim.app_key, "app_secret": self.sim.app_secret}
        # The right app key with a wrong secret and tokens Schwab never issued: refused as Schwab refuses.
        bogus = '{"creation_timestamp": 1700000000, "token": {"access_token": "x", "refresh_token": "y"}}'
        self.bad_credentials = {"app_key": self.sim.app_key, "app_secret": "wrong-secret", "token": bogus}

    def start(self) -> Iterator[None]:
        with running(self.sim), override_settings(SCHWAB_API_URL=self.sim.url):
            self.credentials["token"] = authorised_token(self.sim)
            yield

    def authorize(self, connection: BrokerConnection) -> None:
        """Authorise a stored connection through the web app's OAuth services (see the module docstring)."""
        from brokers.services.oauth import oauth_authorize_url, oauth_complete

        session = SessionStore()
        url = oauth_authorize_url(session=session, connection=connection, callback_url=CALLBACK_URL)
        params = follow_authorize(url)
        oauth_complete(
            session=session, user=connection.user, state=params["state"], code=params["code"], callback_url=CALLBACK_URL
        )

    def price(self, symbol: str) -> Decimal:
        return self.sim.price(symbol)

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.sim.set_price(symbol, price)

    def fill(self, broker_order_id: str) -> None:
        self.sim.fill(broker_order_id)

    def fault(self, kind: str, *, match: str = "", times: int = 1) -> None:
        self.sim.faults.add(kind, match=match, times=times)

    def fund(self, cash: Decimal) -> None:
        self.sim.fund(cash)
