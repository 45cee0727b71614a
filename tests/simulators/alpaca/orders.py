"""`POST /v2/orders` bodies into `SimOrder`s, refused the way Alpaca refuses them.

https://docs.alpaca.markets/reference/postorder and
https://docs.alpaca.markets/docs/orders-at-alpaca (bracket/OTO legs, fractional and sub-penny rules).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.simulators.alpaca.book import CENT, Asset, Book, Refusal, SimOrder, tick

SIDES = ("buy", "sell")
TYPES = ("market", "limit", "stop", "stop_limit")
TIFS = ("day", "gtc", "opg", "cls", "ioc", "fok")
NEEDS = {"market": (), "limit": ("limit_price",), "stop": ("stop_price",), "stop_limit": ("limit_price", "stop_price")}


def invalid(message: str, code: int = 40010001) -> Refusal:
    return Refusal(422, code, message)


def decimal(body: dict[str, Any], name: str) -> Decimal | None:
    """Alpaca takes numbers as JSON strings or numbers (alpaca-py sends floats)."""
    value = body.get(name)
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"invalid {name}") from None


def order_from(book: Book, body: dict[str, Any]) -> SimOrder:
    symbol = str(body.get("symbol") or "").upper()
    if not symbol:
        raise invalid("symbol is required")
    asset = book.assets.get(symbol)
    if asset is None:
        raise Refusal(422, 40410000, f'asset "{symbol}" not found')
    if not asset.tradable or asset.status != "active":
        raise invalid(f'asset "{symbol}" is not tradable')
    order = SimOrder(
        symbol=symbol,
        asset_id=asset.id,
        side=_choice(body, "side", SIDES),
        type=_choice(body, "type", TYPES),
        qty=_qty(body),
        time_in_force=_choice(body, "time_in_force", TIFS),
        client_order_id=_client_id(body),
        limit_price=decimal(body, "limit_price"),
        stop_price=decimal(body, "stop_price"),
        order_class=str(body.get("order_class") or "simple"),
    )
    _check_prices(order, asset)
    _check_fractional(order, asset)
    order.legs = _legs(order, asset, body)
    return order


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = str(body.get(name) or "")
    if value not in allowed:
        raise invalid(f"invalid {name}" if value else f"{name} is required")
    return value


def _qty(body: dict[str, Any]) -> Decimal:
    if body.get("notional") is not None:
        raise invalid("notional orders are not supported by this simulator")
    qty = decimal(body, "qty")
    if qty is None or qty <= 0:
        raise invalid("qty must be > 0")
    if qty != qty.quantize(Decimal("1e-9")):
        raise invalid("qty must have at most 9 decimal places")
    return qty


def _client_id(body: dict[str, Any]) -> str:
    client_id = str(body.get("client_order_id") or uuid.uuid4())
    if len(client_id) > 128:
        raise invalid("client_order_id must be no more than 128 characters")
    return client_id


def _check_prices(order: SimOrder, asset: Asset) -> None:
    for name in NEEDS[order.type]:
        if getattr(order, name) is None:
            raise invalid(f"{name} is required")
    for name in ("limit_price", "stop_price"):
        price = getattr(order, name)
        if price is not None and name not in NEEDS[order.type]:
            raise invalid(f"{name} is not allowed for {order.type} orders")
        if price is not None and (price <= 0 or price % tick(price)):
            raise invalid(
                f"invalid {name} {price}. sub-penny increment does not fulfill minimum pricing criteria", 42210000
            )


def _check_fractional(order: SimOrder, asset: Asset) -> None:
    if order.qty == order.qty.to_integral_value():
        return
    if not asset.fractionable:
        raise invalid(f"asset {asset.symbol} is not fractionable")
    if order.time_in_force != "day":
        raise invalid("fractional orders must be DAY orders", 42210000)
    if order.order_class != "simple":
        raise invalid("fractional orders are not supported for advanced order classes", 42210000)


def _legs(order: SimOrder, asset: Asset, body: dict[str, Any]) -> list[SimOrder]:
    take_profit, stop_loss = body.get("take_profit"), body.get("stop_loss")
    if order.order_class == "simple":
        return []
    if order.order_class not in ("bracket", "oto"):
        raise invalid(f"order_class {order.order_class} is not supported by this simulator")
    if order.time_in_force not in ("day", "gtc"):
        raise invalid("time_in_force must be day or gtc for bracket and oto orders", 42210000)
    if order.order_class == "bracket" and not (take_profit and stop_loss):
        raise invalid("bracket orders require take_profit and stop_loss")
    if order.order_class == "oto" and bool(take_profit) == bool(stop_loss):
        raise invalid("oto orders require either take_profit or stop_loss")
    base = order.limit_price or order.stop_price or asset.price
    legs = []
    if take_profit:
        legs.append(_take_profit(order, base, take_profit))
    if stop_loss:
        legs.append(_stop_loss(order, base, stop_loss))
    return legs


def _leg(parent: SimOrder, type_: str, **prices: Decimal | None) -> SimOrder:
    return SimOrder(
        symbol=parent.symbol,
        asset_id=parent.asset_id,
        side="sell" if parent.side == "buy" else "buy",
        type=type_,
        qty=parent.qty,
        time_in_force=parent.time_in_force,
        client_order_id=str(uuid.uuid4()),
        order_class=parent.order_class,
        status="held",
        parent=parent,
        **prices,
    )


def _take_profit(parent: SimOrder, base: Decimal, body: dict[str, Any]) -> SimOrder:
    limit = decimal(body, "limit_price")
    if limit is None:
        raise invalid("take_profit.limit_price is required")
    wrong_side = limit < base + CENT if parent.side == "buy" else limit > base - CENT
    if wrong_side:
        bound = ">= base_price + 0.01" if parent.side == "buy" else "<= base_price - 0.01"
        raise invalid(f"take_profit.limit_price must be {bound}", 42210000)
    return _leg(parent, "limit", limit_price=limit)


def _stop_loss(parent: SimOrder, base: Decimal, body: dict[str, Any]) -> SimOrder:
    stop, limit = decimal(body, "stop_price"), decimal(body, "limit_price")
    if stop is None:
        raise invalid("stop_loss.stop_price is required")
    wrong_side = stop > base - CENT if parent.side == "buy" else stop < base + CENT
    if wrong_side:
        bound = "<= base_price - 0.01" if parent.side == "buy" else ">= base_price + 0.01"
        raise invalid(f"stop_loss.stop_price must be {bound}", 42210000)
    return _leg(parent, "stop" if limit is None else "stop_limit", stop_price=stop, limit_price=limit)
