"""The paper market on its own: deterministic, lively, realistic, bounded and fast prices."""

from __future__ import annotations

import itertools
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from brokers.adapters.base import InvalidSymbol
from brokers.adapters.paper.market import DAY, market_quote, market_quotes
from brokers.adapters.paper.universe import LISTINGS, symbols, validate_symbol

T0 = datetime(2025, 3, 3, 14, 30, 7, tzinfo=UTC)
BASE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_it_gives_the_same_quote_for_the_same_second():
    assert market_quote("AAPL", T0) == market_quote("aapl", T0 + timedelta(microseconds=999_999))
    assert market_quote("BTC/USD", T0) == market_quote("BTC/USD", T0)


def test_it_gives_the_same_price_in_another_process():
    """Nothing may depend on per-process state such as Python's salted str hashes."""
    code = (
        "from datetime import datetime, UTC; from brokers.adapters.paper.market import market_quote; "
        f"print(market_quote('ETH/USD', datetime.fromtimestamp({T0.timestamp()}, tz=UTC)).price)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )
    assert Decimal(out.stdout.strip()) == market_quote("ETH/USD", T0).price


@pytest.mark.parametrize("symbol", ["AAPL", "SPY", "KO", "BTC/USD", "DOGE/USD", "LINK/USD"])
def test_it_changes_the_price_every_second(symbol):
    prices = [market_quote(symbol, at(s)).price for s in range(900)]
    assert all(a != b for a, b in itertools.pairwise(prices))


def test_it_moves_prices_by_small_steps_second_to_second():
    prices = [market_quote("AAPL", at(s)).price for s in range(600)]
    steps = [abs(b - a) / a for a, b in itertools.pairwise(prices)]
    assert max(steps) < Decimal("0.002")  # no jumps of 0.2 % in one second


@pytest.mark.parametrize(
    ("symbol", "low", "high"),
    [("AAPL", 150, 300), ("MSFT", 300, 600), ("SPY", 400, 750), ("BTC/USD", 40_000, 110_000), ("DOGE/USD", 0.08, 0.3)],
)
def test_it_quotes_realistic_levels(symbol, low, high):
    for day in range(0, 400, 37):
        price = market_quote(symbol, at(day * DAY)).price
        assert Decimal(str(low)) < price < Decimal(str(high)), (day, price)


@pytest.mark.parametrize("symbol", ["AAPL", "TSLA", "SPY", "BTC/USD", "SOL/USD"])
def test_it_stays_near_its_level_over_a_simulated_year(symbol):
    level = LISTINGS[symbol].level
    prices = [float(market_quote(symbol, at(hour * 3600)).price) for hour in range(365 * 24)]
    assert 0.6 * level < min(prices) and max(prices) < 1.6 * level


def _daily_vol(symbol: str) -> float:
    closes = [float(market_quote(symbol, at(day * DAY)).price) for day in range(366)]
    return statistics.pstdev(math.log(b / a) for a, b in itertools.pairwise(closes))


def test_it_moves_stocks_one_to_two_percent_a_day_and_crypto_more():
    stocks = [_daily_vol(s) for s in ("AAPL", "MSFT", "AMZN", "GOOGL")]
    crypto = [_daily_vol(s) for s in ("BTC/USD", "ETH/USD", "SOL/USD")]
    assert all(0.008 < vol < 0.03 for vol in stocks), stocks
    assert statistics.mean(crypto) > statistics.mean(stocks) * 1.5, (stocks, crypto)


def test_it_is_fast():
    start = time.perf_counter()
    for second in range(1_000):
        market_quote(symbols()[second % len(symbols())], at(second))
    assert time.perf_counter() - start < 0.5


def test_it_spreads_bid_and_ask_a_few_basis_points_around_the_price():
    for symbol in ("AAPL", "BTC/USD", "XRP/USD"):
        quote = market_quote(symbol, T0)
        assert quote.bid < quote.price < quote.ask
        assert (quote.ask - quote.bid) / quote.price < Decimal("0.001")


def test_it_reports_the_change_against_24_hours_earlier():
    quote, day_ago = market_quote("NVDA", T0), market_quote("NVDA", T0 - timedelta(days=1))
    assert quote.change == quote.price - day_ago.price
    assert quote.change_pct == (quote.change * 100 / day_ago.price).quantize(Decimal("0.01"))


def test_it_describes_the_quote_with_decimals_an_aware_second_and_its_source():
    quote = market_quote("ETH/USD", T0 + timedelta(milliseconds=700))
    numbers = (quote.price, quote.bid, quote.ask, quote.change, quote.change_pct, quote.volume)
    assert all(type(value) is Decimal for value in numbers)
    assert quote.volume > 0
    assert quote.as_of == T0 and quote.as_of.tzinfo is not None
    assert quote.source == "paper"


@pytest.mark.parametrize(("symbol", "places"), [("AAPL", 2), ("BTC/USD", 2), ("LINK/USD", 3), ("DOGE/USD", 5)])
def test_it_quantises_prices_to_the_tick(symbol, places):
    quote = market_quote(symbol, T0)
    assert all(-value.as_tuple().exponent == places for value in (quote.price, quote.bid, quote.ask))


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        market_quote("AAPL", datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(("raw", "canonical"), [("btc/usd", "BTC/USD"), (" aapl ", "AAPL"), ("Eth / Usd", "ETH/USD")])
def test_it_normalises_symbols(raw, canonical):
    assert validate_symbol(raw) == canonical


@pytest.mark.parametrize("raw", ["", "ZZZZ", "BTC-USD", "BTCUSD", "USD/BTC", "AAPL/USD", None, 42])
def test_it_refuses_symbols_it_does_not_list(raw):
    with pytest.raises(InvalidSymbol, match="Unknown symbol"):
        validate_symbol(raw)


def test_it_lists_a_universe_of_stocks_and_crypto_pairs():
    listed = symbols()
    assert {"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ"} <= set(listed)
    assert {"BTC/USD", "ETH/USD", "SOL/USD"} <= set(listed)
    assert len([s for s in listed if "/" in s]) >= 10 and len([s for s in listed if "/" not in s]) >= 30


def test_it_quotes_many_symbols_for_one_second_and_leaves_unknown_ones_out():
    quotes = market_quotes(["aapl", "BTC/USD", "NOPE", "AAPL"], T0)
    assert set(quotes) == {"AAPL", "BTC/USD"}
    assert quotes["AAPL"] == market_quote("AAPL", T0)
    assert {q.as_of for q in quotes.values()} == {T0}


def test_it_raises_invalid_symbol_for_a_single_unknown_quote():
    with pytest.raises(InvalidSymbol):
        market_quote("NOPE", T0)
