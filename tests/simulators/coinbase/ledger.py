"""The simulated Coinbase portfolio: one wallet per currency (available + hold) and its cost basis.

Bodies as documented:
- accounts:   https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/accounts/list-accounts
- portfolios: https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/portfolios/list-portfolios
- breakdown:  https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/portfolios/get-portfolio-breakdown
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.simulators.coinbase.clock import iso
from tests.simulators.coinbase.market import FIAT, Product, plain, usd_value

CREATED = 1_700_000_000.0


@dataclass
class Wallet:
    currency: str
    uuid: str
    available: Decimal = Decimal(0)
    hold: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)  # what the holding cost, in USD (average-cost method)

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


class Ledger:
    """Balances move only through hold/release/settle, so available + hold is always the holding."""

    def __init__(self, currencies: tuple[str, ...]) -> None:
        self.portfolio_uuid = str(uuid.uuid4())
        self.currency = "USD"  # the user's native currency, as the breakdown reports it
        self.wallets = {code: Wallet(code, str(uuid.uuid4())) for code in currencies}

    def wallet(self, currency: str) -> Wallet:
        return self.wallets.setdefault(currency, Wallet(currency, str(uuid.uuid4())))

    def fund(self, currency: str, amount: Decimal, *, cost: Decimal | None = None) -> None:
        """Set what is available (holds stay as they are)."""
        wallet = self.wallet(currency)
        wallet.available = amount
        if cost is not None:
            wallet.cost = cost

    def hold(self, currency: str, amount: Decimal) -> bool:
        wallet = self.wallet(currency)
        if amount > wallet.available:
            return False
        wallet.available -= amount
        wallet.hold += amount
        return True

    def release(self, currency: str, amount: Decimal) -> None:
        wallet = self.wallet(currency)
        amount = min(amount, wallet.hold)
        wallet.hold -= amount
        wallet.available += amount

    def settle(self, *, pay: str, pay_amount: Decimal, get: str, get_amount: Decimal, usd_cost: Decimal) -> None:
        """Exchange `pay_amount` of `pay` (already released to available) for `get_amount` of `get`."""
        paying, getting = self.wallet(pay), self.wallet(get)
        if paying.total > 0 and pay not in FIAT:
            paying.cost -= paying.cost * pay_amount / paying.total
        paying.available -= pay_amount
        getting.available += get_amount
        if get not in FIAT:
            getting.cost += usd_cost

    # -- bodies ----------------------------------------------------------------------------

    def account_json(self, wallet: Wallet) -> dict[str, Any]:
        kind = "ACCOUNT_TYPE_FIAT" if wallet.currency in FIAT else "ACCOUNT_TYPE_CRYPTO"
        return {
            "uuid": wallet.uuid,
            "name": f"{wallet.currency} Wallet",
            "currency": wallet.currency,
            "available_balance": {"value": plain(wallet.available), "currency": wallet.currency},
            "default": True,
            "active": True,
            "created_at": iso(CREATED),
            "updated_at": iso(CREATED),
            "deleted_at": None,
            "type": kind,
            "ready": True,
            "hold": {"value": plain(wallet.hold), "currency": wallet.currency},
            "retail_portfolio_id": self.portfolio_uuid,
            "platform": "ACCOUNT_PLATFORM_CONSUMER",
        }

    def accounts_json(self, *, cursor: str, limit: int) -> dict[str, Any]:
        wallets = list(self.wallets.values())
        start = int(cursor or 0)
        page = wallets[start : start + limit]
        more = start + limit < len(wallets)
        return {
            "accounts": [self.account_json(w) for w in page],
            "has_next": more,
            "cursor": str(start + limit) if more else "",
            "size": len(page),
        }

    def portfolio_json(self) -> dict[str, Any]:
        return {"name": "Default", "uuid": self.portfolio_uuid, "type": "DEFAULT", "deleted": False}

    def _position(self, wallet: Wallet, products: dict[str, Product]) -> dict[str, Any]:
        price = usd_value(products, wallet.currency) or Decimal(0)
        fiat = wallet.total * price
        is_cash = wallet.currency in FIAT
        cost = fiat if is_cash else wallet.cost
        average = price if is_cash else (cost / wallet.total if wallet.total else Decimal(0))
        return {
            "asset": wallet.currency,
            "account_uuid": wallet.uuid,
            "total_balance_fiat": float(fiat),
            "total_balance_crypto": float(wallet.total),
            "available_to_trade_fiat": float(wallet.available * price),
            "allocation": 0.0,
            "cost_basis": {"value": plain(cost.quantize(Decimal("0.01"))), "currency": "USD"},
            "asset_img_url": "",
            "is_cash": is_cash,
            "average_entry_price": {"value": plain(average.quantize(Decimal("0.01"))), "currency": "USD"},
            "asset_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-asset:{wallet.currency}")),
            "available_to_trade_crypto": float(wallet.available),
            "unrealized_pnl": float(fiat - cost),
            "available_to_transfer_fiat": float(wallet.available * price),
            "available_to_transfer_crypto": float(wallet.available),
            "asset_color": "",
            "account_type": "ACCOUNT_TYPE_FIAT" if is_cash else "ACCOUNT_TYPE_CRYPTO",
        }

    def breakdown_json(self, products: dict[str, Product]) -> dict[str, Any]:
        positions = [self._position(w, products) for w in self.wallets.values() if w.total > 0]
        total = sum((Decimal(str(p["total_balance_fiat"])) for p in positions), Decimal(0))
        cash = sum((Decimal(str(p["total_balance_fiat"])) for p in positions if p["is_cash"]), Decimal(0))

        def money(value: Decimal) -> dict[str, str]:
            return {"value": plain(value.quantize(Decimal("0.01"))), "currency": self.currency}

        balances = {
            "total_balance": money(total),
            "total_futures_balance": money(Decimal(0)),
            "total_cash_equivalent_balance": money(cash),
            "total_crypto_balance": money(total - cash),
            "futures_unrealized_pnl": money(Decimal(0)),
            "perp_unrealized_pnl": money(Decimal(0)),
        }
        return {
            "breakdown": {
                "portfolio": self.portfolio_json(),
                "portfolio_balances": balances,
                "spot_positions": positions,
                "perp_positions": [],
                "futures_positions": [],
            }
        }
