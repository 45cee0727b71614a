"""Filling OpenD's protobuf messages from the simulated books (field names of `Trd_Common.proto`
and `Qot_Common.proto`; https://openapi.moomoo.com/moomoo-api-doc/en/trade/trade.html)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.simulators.opend import book
from tests.simulators.opend.book import Account, Fill, Order
from tests.simulators.opend.market import MARKETS, Listing, convert, stamp
from tests.simulators.opend.wire import new_response

SECURITY_FIRM_FUTUINC = 2  # Trd_Common.SecurityFirm_FutuInc
ACC_TYPE_CASH = 1
SIM_ACC_TYPE_STOCK = 1
EQUITY = 3  # Qot_Common.SecurityType_Eqty


def ok(proto_id: int) -> Any:
    response = new_response(proto_id)
    response.retType = 0
    return response


def refusal(proto_id: int, message: str, ret_type: int = -1) -> Any:
    response = new_response(proto_id)
    response.retType = ret_type
    response.retMsg = message
    response.errCode = 0
    return response


def header(target: Any, account: Account) -> None:
    target.trdEnv = account.env
    target.accID = account.acc_id
    target.trdMarket = account.market.trd_market


def trd_acc(target: Any, account: Account) -> None:
    target.trdEnv = account.env
    target.accID = account.acc_id
    target.trdMarketAuthList.append(account.market.trd_market)
    target.accType = ACC_TYPE_CASH
    target.cardNum = account.card_num
    target.uniCardNum = account.card_num
    target.securityFirm = SECURITY_FIRM_FUTUINC
    target.accStatus = 0
    if account.env == book.SIMULATE:
        target.simAccType = SIM_ACC_TYPE_STOCK


def funds(target: Any, account: Account, orders: list[Order], listings: dict[str, Listing], currency: str) -> None:
    """Funds in `currency` (OpenD converts a universal account's figures to the currency asked for)."""
    own = account.market.currency
    value = sum((h.qty * listings[code].price for code, h in account.holdings.items()), Decimal(0))
    frozen = book.reserved_cash(account, orders)
    figures = {
        "cash": account.cash,
        "power": account.cash - frozen,
        "totalAssets": account.cash + value,
        "marketVal": value,
        "frozenCash": frozen,
        "debtCash": Decimal(0),
        "avlWithdrawalCash": account.cash - frozen,
        "netCashPower": account.cash - frozen,
        "longMv": value,
        "shortMv": Decimal(0),
        "securitiesAssets": account.cash + value,
    }
    for name, amount in figures.items():
        setattr(target, name, float(convert(amount, own, currency)))
    target.currency = next(m.currency_number for m in MARKETS.values() if m.currency == currency)


def position(target: Any, account: Account, listing: Listing, position_id: int) -> None:
    held = account.holdings[listing.code]
    value = held.qty * listing.price
    target.positionID = position_id
    target.positionSide = 0
    target.code = listing.short_code
    target.name = listing.name
    target.qty = float(held.qty)
    target.canSellQty = float(held.qty)
    target.price = float(listing.price)
    target.costPrice = float(held.cost)
    target.averageCostPrice = float(held.cost)
    target.dilutedCostPrice = float(held.cost)
    target.val = float(value)
    target.plVal = float(value - held.qty * held.cost)
    target.plRatio = float((listing.price / held.cost - 1) * 100) if held.cost else 0.0
    target.secMarket = listing.market.trd_market
    target.currency = listing.market.currency_number
    target.trdMarket = account.market.trd_market
    target.accID = account.acc_id


def order(target: Any, item: Order) -> None:
    market = item.listing.market
    target.trdSide = item.side
    target.orderType = item.order_type
    target.orderStatus = item.status
    target.orderID = item.order_id
    target.orderIDEx = item.order_id_ex
    target.code = item.listing.short_code
    target.name = item.listing.name
    target.qty = float(item.qty)
    target.price = float(item.price)
    target.createTime = stamp(market, item.created)
    target.updateTime = stamp(market, item.updated)
    target.createTimestamp = item.created.timestamp()
    target.updateTimestamp = item.updated.timestamp()
    target.fillQty = float(item.filled_qty)
    target.fillAvgPrice = float(item.avg_price)
    target.lastErrMsg = ""
    target.secMarket = market.trd_market
    target.remark = item.remark
    target.timeInForce = item.time_in_force
    target.fillOutsideRTH = False
    if item.aux_price is not None:
        target.auxPrice = float(item.aux_price)
    target.currency = market.currency_number
    target.trdMarket = item.account.market.trd_market


def order_fill(target: Any, item: Order, fill: Fill) -> None:
    market = item.listing.market
    target.trdSide = item.side
    target.fillID = fill.fill_id
    target.fillIDEx = fill.fill_id_ex
    target.orderID = item.order_id
    target.orderIDEx = item.order_id_ex
    target.code = item.listing.short_code
    target.name = item.listing.name
    target.qty = float(fill.qty)
    target.price = float(fill.price)
    target.createTime = stamp(market, fill.at)
    target.createTimestamp = fill.at.timestamp()
    target.updateTimestamp = fill.at.timestamp()
    target.secMarket = market.trd_market
    target.status = 0
    target.trdMarket = item.account.market.trd_market


def order_fee(target: Any, item: Order) -> None:
    target.orderIDEx = item.order_id_ex
    target.feeAmount = float(item.fee)
    for title, amount in item.fee_items.items():
        entry = target.feeList.add()
        entry.title = title
        entry.value = float(amount)


def security(target: Any, listing: Listing) -> None:
    target.market = listing.market.qot_market
    target.code = listing.short_code


def static_info(target: Any, listing: Listing) -> None:
    security(target.basic.security, listing)
    target.basic.id = listing.stock_id
    target.basic.lotSize = listing.lot_size
    target.basic.secType = EQUITY
    target.basic.name = listing.name
    target.basic.listTime = "2004-06-16"
    target.basic.delisting = False


def snapshot(target: Any, listing: Listing) -> None:
    basic = target.basic
    security(basic.security, listing)
    spread = listing.tick
    basic.type = EQUITY
    basic.isSuspend = False
    basic.listTime = "2004-06-16"
    basic.lotSize = listing.lot_size
    basic.priceSpread = float(spread)
    basic.updateTime = stamp(listing.market)[:19]
    basic.highPrice = float(max(listing.price, listing.prev_close))
    basic.openPrice = float(listing.prev_close)
    basic.lowPrice = float(min(listing.price, listing.prev_close))
    basic.lastClosePrice = float(listing.prev_close)
    basic.curPrice = float(listing.price)
    basic.volume = listing.volume
    basic.turnover = float(listing.price * listing.volume)
    basic.turnoverRate = 0.5
    basic.askPrice = float(listing.price + spread)
    basic.bidPrice = float(listing.price - spread)
    basic.askVol = 1200
    basic.bidVol = 900
