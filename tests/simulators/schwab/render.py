"""The simulated account as Schwab's JSON: `Order`, `Account`/`SecuritiesAccount`, `PreviewOrder`, quotes.

Field names and nesting follow the Trader API and Market Data API specifications
(https://developer.schwab.com/products/trader-api--individual/details/specifications/Retail%20Trader%20API%20Production,
https://developer.schwab.com/products/trader-api--individual/details/specifications/Market%20Data%20Production).
Numbers stay Decimals here; the server sends them as JSON numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.simulators.schwab.book import Book, SimOrder, iso, money

QUOTE_FIELDS = {"quote", "fundamental", "extended", "reference", "regular"}


def order_json(book: Book, order: SimOrder) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session": order.spec.get("session", "NORMAL"),
        "duration": order.spec.get("duration", "DAY"),
        "orderStrategyType": order.strategy,
        "orderId": order.order_id,
        "cancelable": order.is_open,
        "editable": order.is_open and order.strategy != "OCO",
        "status": order.status,
        "enteredTime": iso(order.entered),
        "accountNumber": int(book.account.number),
    }
    if order.strategy != "OCO":
        body.update(_leg_fields(book, order))
    if order.description:
        body["statusDescription"] = order.description
    if order.close_time is not None:
        body["closeTime"] = iso(order.close_time)
    if order.children:
        body["childOrderStrategies"] = [order_json(book, child) for child in order.children]
    return body


def _leg_fields(book: Book, order: SimOrder) -> dict[str, Any]:
    listing = book.listings[order.symbol]
    instrument = {
        "assetType": "EQUITY",
        "cusip": listing.cusip,
        "symbol": order.symbol,
        "instrumentId": listing.instrument_id,
    }
    fields: dict[str, Any] = {
        "orderType": order.order_type,
        "complexOrderStrategyType": "NONE",
        "quantity": order.qty,
        "filledQuantity": order.filled,
        "remainingQuantity": order.qty - order.filled,
        "requestedDestination": "AUTO",
        "destinationLinkName": "AutoRoute",
        "orderLegCollection": [
            {
                "orderLegType": "EQUITY",
                "legId": 1,
                "instrument": instrument,
                "instruction": order.instruction,
                "positionEffect": "OPENING" if order.buy else "CLOSING",
                "quantity": order.qty,
            }
        ],
    }
    if order.price is not None:
        fields["price"] = order.price
    if order.stop_price is not None:
        fields["stopPrice"] = order.stop_price
    if order.activities:
        fields["orderActivityCollection"] = order.activities
    return fields


def account_json(book: Book, *, with_positions: bool) -> dict[str, Any]:
    """`GET /accounts/{hash}`: a CASH account's balances (and its positions with `fields=positions`)."""
    cash = money(book.account.cash)
    value = money(cash + book.market_value())
    current = {
        "cashAvailableForTrading": book.buying_power(),
        "cashAvailableForWithdrawal": cash,
        "cashCall": 0,
        "longNonMarginableMarketValue": money(book.market_value()),
        "totalCash": cash,
        "unsettledCash": 0,
        "cashBalance": cash,
        "liquidationValue": value,
    }
    account: dict[str, Any] = {
        "type": "CASH",
        "accountNumber": book.account.number,
        "roundTrips": 0,
        "isDayTrader": False,
        "isClosingOnlyRestricted": False,
        "pfcbFlag": False,
        "initialBalances": {"cashBalance": cash, "liquidationValue": value, "accountValue": value},
        "currentBalances": current,
        "projectedBalances": {"cashAvailableForTrading": book.buying_power(), "cashAvailableForWithdrawal": cash},
    }
    if with_positions:
        held = sorted(book.account.positions.items())
        account["positions"] = [_position(book, symbol, qty, avg) for symbol, (qty, avg) in held]
    return {"securitiesAccount": account, "aggregatedBalance": {"currentLiquidationValue": value}}


def _position(book: Book, symbol: str, qty: Decimal, avg: Decimal) -> dict[str, Any]:
    listing = book.listings[symbol]
    value = qty * listing.price
    long, short = (qty, 0) if qty > 0 else (0, -qty)
    return {
        "shortQuantity": short,
        "averagePrice": avg,
        "currentDayProfitLoss": qty * (listing.price - listing.close),
        "longQuantity": long,
        "settledLongQuantity": long,
        "settledShortQuantity": short,
        "instrument": {
            "assetType": "EQUITY",
            "cusip": listing.cusip,
            "symbol": symbol,
            "netChange": listing.price - listing.close,
        },
        "marketValue": value,
        "maintenanceRequirement": 0,
        "averageLongPrice": avg if qty > 0 else 0,
        "taxLotAverageLongPrice": avg if qty > 0 else 0,
        "longOpenProfitLoss": value - qty * avg if qty > 0 else 0,
        "shortOpenProfitLoss": value - qty * avg if qty < 0 else 0,
        "previousSessionLongQuantity": 0,
        "currentDayCost": 0,
    }


def preview_json(book: Book, spec: dict[str, Any]) -> dict[str, Any]:
    """`POST /accounts/{hash}/previewOrder`: the order's value, validation and commission and fees."""
    leg = (spec.get("orderLegCollection") or [{}])[0]
    symbol = str((leg.get("instrument") or {}).get("symbol", ""))
    listing = book.listings.get(symbol)
    qty = Decimal(str(leg.get("quantity", 0)))
    price = Decimal(str(spec.get("price") or spec.get("stopPrice") or (listing.ask if listing else 0)))
    buy = leg.get("instruction") in ("BUY", "BUY_TO_COVER")
    value, commission = money(qty * price), book.commission
    fee = book.fees(buy=buy, notional=value) - commission
    rejects = []
    if listing is None:
        rejects.append({"validationRuleName": "Symbol", "message": f"Symbol {symbol!r} is not valid."})
    elif buy and value + commission > book.buying_power():
        rejects.append({"validationRuleName": "BuyingPower", "message": "Insufficient buying power."})
    projected = book.buying_power() - (value if buy else -value)
    commissions = {"commissionLegs": [{"commissionValues": [{"value": commission, "type": "COMMISSION"}]}]}
    return {
        "orderId": 0,
        "orderStrategy": {
            "accountNumber": book.account.number,
            "orderType": spec.get("orderType"),
            "orderStrategyType": spec.get("orderStrategyType", "SINGLE"),
            "quantity": qty,
            "price": price,
            "orderBalance": {
                "orderValue": value,
                "projectedAvailableFund": projected,
                "projectedBuyingPower": projected,
                "projectedCommission": commission + fee,
            },
            "status": "REJECTED" if rejects else "ACCEPTED",
            "enteredTime": iso(datetime.now(UTC)),
        },
        "orderValidationResult": {"rejects": rejects, "accepts": [], "alerts": [], "reviews": [], "warns": []},
        "commissionAndFee": {
            "commission": commissions,
            "fee": {"feeLegs": [{"feeValues": [{"value": fee, "type": "SEC_FEE"}]}]},
            "trueCommission": commissions,
        },
    }


def quote_json(book: Book, symbol: str, wanted: set[str]) -> dict[str, Any]:
    """One `EquityResponse` of `GET /quotes`, with the requested `fields` parts."""
    listing, now_ms = book.listings[symbol], int(datetime.now(UTC).timestamp() * 1000)
    change = listing.price - listing.close
    parts: dict[str, Any] = {
        "quote": {
            "askPrice": listing.ask,
            "askSize": 400,
            "bidPrice": listing.bid,
            "bidSize": 300,
            "closePrice": listing.close,
            "lastPrice": listing.price,
            "mark": listing.price,
            "netChange": change,
            "netPercentChange": change * 100 / listing.close,
            "totalVolume": listing.volume,
            "quoteTime": now_ms,
            "tradeTime": now_ms,
            "securityStatus": "Normal",
        },
        "reference": {"cusip": listing.cusip, "description": listing.description, "exchangeName": listing.exchange},
        "regular": {"regularMarketLastPrice": listing.price, "regularMarketNetChange": change},
        "fundamental": {"avg10DaysVolume": listing.volume, "divYield": 0.5, "peRatio": 28.1},
        "extended": {"lastPrice": listing.price, "quoteTime": now_ms},
    }
    body = {"assetMainType": "EQUITY", "assetSubType": "COE", "quoteType": "NBBO", "realtime": True}
    body |= {"ssid": listing.instrument_id, "symbol": symbol}
    return body | {key: value for key, value in parts.items() if key in wanted}
