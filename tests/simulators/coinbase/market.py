"""The simulated Coinbase market: products, prices and their public JSON shapes.

Each function returns a body exactly as the Advanced Trade / Coinbase App reference documents it:
- products:  https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/list-public-products
- product:   https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-product
- ticker:    https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-market-trades
- best bid/ask: https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/products/get-best-bid-ask
- currencies / exchange rates (v2): https://docs.cdp.coinbase.com/coinbase-app/track-apis/currencies,
  https://docs.cdp.coinbase.com/coinbase-app/track-apis/exchange-rates
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.simulators.coinbase.clock import iso

FIAT = {"USD": "United States Dollar", "EUR": "Euro"}
CRYPTO = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "USDC": "USDC"}
EUR_PER_USD = Decimal("0.92")


@dataclass
class Product:
    """One spot product; `price` is the last trade, bid/ask sit one quote increment either side."""

    base: str
    quote: str
    price: Decimal
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal = Decimal(10_000)
    quote_min_size: Decimal = Decimal(1)
    open_24h: Decimal | None = None
    volume_24h: Decimal = Decimal("12345.6789")
    trade_seq: int = 0
    asset_ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.open_24h = self.open_24h or self.price

    @property
    def product_id(self) -> str:
        return f"{self.base}-{self.quote}"

    @property
    def bid(self) -> Decimal:
        return self.price - self.quote_increment

    @property
    def ask(self) -> Decimal:
        return self.price + self.quote_increment

    @property
    def change_pct(self) -> Decimal:
        assert self.open_24h is not None
        return (self.price - self.open_24h) / self.open_24h * 100


def default_products() -> dict[str, Product]:
    products = [
        Product("BTC", "USD", Decimal("60000.00"), Decimal("0.00000001"), Decimal("0.01"), Decimal("0.00000001")),
        Product("ETH", "USD", Decimal("3000.00"), Decimal("0.00000001"), Decimal("0.01"), Decimal("0.00000001")),
        Product("SOL", "USD", Decimal("150.000"), Decimal("0.0001"), Decimal("0.001"), Decimal("0.001")),
        Product("BTC", "EUR", Decimal("55200.00"), Decimal("0.00000001"), Decimal("0.01"), Decimal("0.00000001")),
        Product("USDC", "USD", Decimal("1.0000"), Decimal("0.01"), Decimal("0.0001"), Decimal("1")),
    ]
    return {p.product_id: p for p in products}


def plain(value: Decimal) -> str:
    """A decimal string in plain notation, without trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def product_json(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "price": plain(product.price),
        "price_percentage_change_24h": plain(product.change_pct.quantize(Decimal("0.00000001"))),
        "volume_24h": plain(product.volume_24h),
        "volume_percentage_change_24h": "0",
        "base_increment": plain(product.base_increment),
        "quote_increment": plain(product.quote_increment),
        "quote_min_size": plain(product.quote_min_size),
        "quote_max_size": "150000000",
        "base_min_size": plain(product.base_min_size),
        "base_max_size": plain(product.base_max_size),
        "base_name": CRYPTO.get(product.base, product.base),
        "quote_name": {**FIAT, **CRYPTO}.get(product.quote, product.quote),
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": "SPOT",
        "quote_currency_id": product.quote,
        "base_currency_id": product.base,
        "fcm_trading_session_details": None,
        "mid_market_price": "",
        "alias": "",
        "alias_to": [],
        "base_display_symbol": product.base,
        "quote_display_symbol": product.quote,
        "view_only": False,
        "price_increment": plain(product.quote_increment),
        "display_name": product.product_id,
        "product_venue": "CBE",
        "approximate_quote_24h_volume": plain((product.volume_24h * product.price).quantize(Decimal("0.01"))),
    }


def products_json(products: list[Product]) -> dict[str, Any]:
    return {"products": [product_json(p) for p in products], "num_products": len(products)}


def ticker_json(product: Product, now: float) -> dict[str, Any]:
    trade = {
        "trade_id": str(product.trade_seq),
        "product_id": product.product_id,
        "price": plain(product.price),
        "size": "0.01",
        "time": iso(now),
        "side": "BUY",
        "bid": "",
        "ask": "",
        "exchange": "CBE",
    }
    return {"trades": [trade], "best_bid": plain(product.bid), "best_ask": plain(product.ask)}


def pricebook_json(product: Product, now: float) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "bids": [{"price": plain(product.bid), "size": "1.5"}],
        "asks": [{"price": plain(product.ask), "size": "1.5"}],
        "time": iso(now),
    }


def fiat_currencies_json() -> dict[str, Any]:
    return {"data": [{"id": code, "name": name, "min_size": "0.01"} for code, name in FIAT.items()]}


def crypto_currencies_json() -> dict[str, Any]:
    rows = [
        {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-asset:{code}")),
            "code": code,
            "name": name,
            "color": "#0052FF",
            "sort_index": index,
            "exponent": 8,
            "type": "crypto",
            "address_regex": "^.+$",
        }
        for index, (code, name) in enumerate(CRYPTO.items())
    ]
    return {"data": rows}


def usd_value(products: dict[str, Product], currency: str) -> Decimal | None:
    """What one unit of `currency` is worth in USD at the current prices."""
    if currency == "USD":
        return Decimal(1)
    if currency == "EUR":
        return 1 / EUR_PER_USD
    product = products.get(f"{currency}-USD")
    return product.price if product else None


def exchange_rates_json(products: dict[str, Product], base: str) -> dict[str, Any]:
    """Units of each currency per one unit of `base` (Coinbase's `rates`)."""
    base_usd = usd_value(products, base) or Decimal(1)
    rates = {}
    for code in (*FIAT, *CRYPTO):
        value = usd_value(products, code)
        if value:
            rates[code] = plain((base_usd / value).quantize(Decimal("0.000000000001")))
    return {"data": {"currency": base, "rates": rates}}
