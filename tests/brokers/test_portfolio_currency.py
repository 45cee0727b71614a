"""The portfolio in the user's display currency: accounts in other currencies converted, unknown ones flagged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from brokers.models import BalanceSnapshot, BrokerConnection
from brokers.services.portfolio import portfolio_get

pytestmark = pytest.mark.django_db


def account(user, broker: str, currency: str, equity: str, cash: str) -> BrokerConnection:
    connection = BrokerConnection.objects.create(user=user, broker=broker, currency=currency)
    BalanceSnapshot.objects.create(
        connection=connection,
        currency=currency,
        cash=Decimal(cash),
        equity=Decimal(equity),
        buying_power=Decimal(cash),
        as_of=timezone.now(),
    )
    return connection


def test_it_converts_accounts_in_other_currencies_at_the_market_data_rate(user):
    account(user, "paper", "USD", "1000", "400")
    account(user, "kraken", "EUR", "100", "50")  # 1 EUR = 1.08 USD in the paper market
    portfolio = portfolio_get(user_id=user.pk)
    assert (portfolio["currency"], portfolio["total_value"], portfolio["cash"]) == ("USD", "1108", "454")
    kraken = next(row for row in portfolio["brokers"] if row["broker"] == "kraken")
    assert (kraken["equity"], kraken["currency"], kraken["account_currency"]) == ("108", "USD", "EUR")
    assert kraken["converted"] is True and kraken["fx_rate"] == "1.08"


def test_an_amount_with_no_rate_is_shown_unconverted_and_never_summed(user):
    account(user, "paper", "USD", "1000", "400")
    account(user, "moomoo", "XAU", "3", "3")
    portfolio = portfolio_get(user_id=user.pk)
    assert portfolio["total_value"] == "1000"
    moomoo = next(row for row in portfolio["brokers"] if row["broker"] == "moomoo")
    assert (moomoo["equity"], moomoo["currency"], moomoo["converted"], moomoo["fx_rate"]) == ("3", "XAU", False, None)


def test_it_sums_in_the_users_display_currency(user):
    user.display_currency = "EUR"
    user.save(update_fields=["display_currency"])
    account(user, "paper", "USD", "1080", "108")
    account(user, "kraken", "EUR", "100", "10")
    portfolio = portfolio_get(user_id=user.pk)
    assert (portfolio["currency"], portfolio["total_value"], portfolio["cash"]) == ("EUR", "1100", "110")
