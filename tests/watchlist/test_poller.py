"""The quote poller: each watched or subscribed symbol fetched once per cycle, published only when changed."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from brokers.adapters.base import BrokerUnavailable, InvalidSymbol, Quote
from brokers.adapters.paper import market_quote, market_quotes
from brokers.adapters.registry import RateLimit
from config.money import money_str
from config.redis import get_redis
from realtime.quotes import quotes_channel
from realtime.stats import ConnectionTracker
from watchlist import marketdata
from watchlist.marketdata import MarketDataSource, PaperMarketData
from watchlist.services import watchlist_symbol_add
from watchlist.tasks import POLL_LOCK_KEY, quotes_poll

pytestmark = pytest.mark.django_db

FROZEN = datetime(2031, 3, 14, 15, 9, 26, tzinfo=UTC)
DECIMALS = ("price", "bid", "ask", "change", "change_pct", "volume")


class FrozenPaper(PaperMarketData):
    """The paper market stopped at `at`, so a test decides when the second changes."""

    at = FROZEN

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        return market_quotes(symbols, at=self.at)


class DeadSource:
    key: ClassVar[str] = "dead"
    rate_limit: ClassVar[RateLimit] = RateLimit(50, 1)
    batch_size: ClassVar[int] = 100

    def validate(self, symbol: str) -> str:
        raise InvalidSymbol(symbol)

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        raise BrokerUnavailable("market data feed is down")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
def source(monkeypatch, settings) -> FrozenPaper:
    settings.MARKET_DATA_SOURCE = f"{__name__}.FrozenPaper"
    return marketdata.market_data_source()


@pytest.fixture
def subscriber():
    """A real subscriber of the quotes channel, returning the messages of the frozen second(s)."""
    pubsub = get_redis().pubsub()
    pubsub.subscribe(quotes_channel())
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"  # the server has registered us

    def received(*, at: datetime = FROZEN) -> list[list[dict]]:
        # Pub/sub spans every Redis database, so keep only the messages quoting this test's second.
        messages = []
        while (message := pubsub.get_message(timeout=0.3)) is not None:
            payload = json.loads(message["data"])
            if all(quote["as_of"] == _iso(at) for quote in payload):
                messages.append(payload)
        return messages

    yield received
    pubsub.close()


def test_it_publishes_each_watched_symbol_once_per_cycle_in_one_message(source, subscriber, make_user):
    first, second = make_user(), make_user()
    for user, symbol in ((first, "AAPL"), (second, "AAPL"), (second, "btc/usd")):
        watchlist_symbol_add(user=user, symbol=symbol)
    assert quotes_poll() == 2
    [message] = subscriber()
    assert sorted(quote["symbol"] for quote in message) == ["AAPL", "BTC/USD"]
    aapl = next(quote for quote in message if quote["symbol"] == "AAPL")
    expected = market_quote("AAPL", at=FROZEN)
    assert set(aapl) == {"symbol", *DECIMALS, "as_of", "source", "stale"} and aapl["stale"] is False
    assert {name: aapl[name] for name in DECIMALS} == {name: money_str(getattr(expected, name)) for name in DECIMALS}
    assert all(isinstance(aapl[name], str) and "E" not in aapl[name] for name in DECIMALS)
    assert Decimal(aapl["bid"]) < Decimal(aapl["price"]) < Decimal(aapl["ask"])
    assert aapl["as_of"] == "2031-03-14T15:09:26Z" and aapl["source"] == "paper"


def test_it_polls_symbols_with_a_live_subscriber(source, subscriber, user):
    tracker = ConnectionTracker()  # another web process's snapshot, as it publishes it
    tracker.subscribed(["ETH/USD", "AAPL"])
    tracker.publish()
    watchlist_symbol_add(user=user, symbol="AAPL")
    assert quotes_poll() == 2
    [message] = subscriber()
    assert sorted(quote["symbol"] for quote in message) == ["AAPL", "ETH/USD"]


def test_it_publishes_nothing_while_the_quote_is_unchanged_and_again_when_it_moves(
    source, subscriber, user, monkeypatch
):
    watchlist_symbol_add(user=user, symbol="MSFT")
    assert quotes_poll() == 1
    assert quotes_poll() == 0
    assert len(subscriber()) == 1
    later = FROZEN + timedelta(seconds=1)
    monkeypatch.setattr(source, "at", later)
    assert quotes_poll() == 1
    [message] = subscriber(at=later)
    assert message[0]["symbol"] == "MSFT" and message[0]["as_of"] == _iso(later)


def test_it_publishes_nothing_when_no_one_watches_anything(source, subscriber):
    assert quotes_poll() == 0
    assert subscriber() == []


def test_it_quotes_the_paper_market_now_by_default_through_celery(user):
    assert settings.CELERY_BEAT_SCHEDULE["quotes-poll"]["task"] == quotes_poll.name
    watchlist_symbol_add(user=user, symbol="AAPL")
    assert quotes_poll.apply().get() == 1
    last = json.loads(get_redis().hget("tw:quotes:last", "AAPL"))
    as_of = datetime.fromisoformat(last["as_of"])
    assert last["as_of"].endswith("Z") and abs(datetime.now(UTC) - as_of) < timedelta(seconds=5)


def test_it_takes_one_rate_limiter_slot_per_batch(source, user, monkeypatch):
    slots = []
    real = marketdata.acquire
    monkeypatch.setattr(marketdata, "acquire", lambda **kwargs: slots.append(kwargs) or real(**kwargs))
    monkeypatch.setattr(source, "batch_size", 2)
    for symbol in ("AAPL", "MSFT", "NVDA", "BTC/USD", "ETH/USD"):
        watchlist_symbol_add(user=user, symbol=symbol)
    assert quotes_poll() == 5
    assert len(slots) == 3 and {slot["broker"] for slot in slots} == {"marketdata:paper"}


def test_it_logs_and_skips_a_cycle_the_rate_limiter_refuses(source, subscriber, user, monkeypatch, caplog):
    monkeypatch.setattr(source, "rate_limit", RateLimit(1, 60))
    watchlist_symbol_add(user=user, symbol="AAPL")
    assert quotes_poll() == 1
    monkeypatch.setattr(source, "at", FROZEN + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="watchlist.tasks"):
        assert quotes_poll() == 0
    assert "rate_limited" in caplog.text


def test_it_logs_a_dead_source_instead_of_raising(monkeypatch, settings, subscriber, user, caplog):
    watchlist_symbol_add(user=user, symbol="AAPL")  # validated by the paper market
    settings.MARKET_DATA_SOURCE = f"{__name__}.DeadSource"
    with caplog.at_level(logging.WARNING, logger="watchlist.tasks"):
        assert quotes_poll() == 0
    assert "market data feed is down" in caplog.text
    assert get_redis().hget("tw:quotes:last", "AAPL") is None


def test_it_skips_a_cycle_while_another_holds_the_lock(source, subscriber, user):
    watchlist_symbol_add(user=user, symbol="AAPL")
    running = get_redis().lock(POLL_LOCK_KEY, timeout=5)
    assert running.acquire(blocking=False)
    assert quotes_poll() == 0
    running.release()
    assert quotes_poll() == 1
    assert len(subscriber()) == 1


def test_it_names_sources_by_key_or_dotted_path_and_refuses_anything_else(settings):
    assert isinstance(marketdata.market_data_source(), PaperMarketData)
    settings.MARKET_DATA_SOURCE = f"{__name__}.DeadSource"
    assert isinstance(marketdata.market_data_source(), MarketDataSource)
    for wrong in ("nope", f"{__name__}.FROZEN", "bonds=paper", "equity=nope"):
        settings.MARKET_DATA_SOURCE = wrong
        with pytest.raises(ImproperlyConfigured):
            marketdata.market_data_source()


def test_it_takes_a_source_per_asset_class_and_keeps_paper_for_the_rest(settings):
    settings.MARKET_DATA_SOURCE = f"equity={__name__}.DeadSource"
    assert isinstance(marketdata.market_data_source("equity"), DeadSource)
    assert isinstance(marketdata.market_data_source("crypto"), PaperMarketData)
    assert marketdata.symbol_validate(" btc / usd ") == "BTC/USD"  # crypto: still the paper market
    with pytest.raises(InvalidSymbol):
        marketdata.symbol_validate("AAPL")  # equities: the dead source refuses everything


def test_a_failing_source_marks_its_quotes_stale_and_the_other_class_keeps_flowing(
    source, subscriber, user, settings, caplog
):
    for symbol in ("AAPL", "BTC/USD"):
        watchlist_symbol_add(user=user, symbol=symbol)
    assert quotes_poll() == 2
    subscriber()
    settings.MARKET_DATA_SOURCE = f"equity={__name__}.DeadSource,crypto={__name__}.FrozenPaper"
    marketdata.market_data_source("crypto").at = FROZEN + timedelta(seconds=1)
    with caplog.at_level(logging.WARNING, logger="watchlist.tasks"):
        assert quotes_poll() == 1  # the crypto quote moved; the equity source is down
    assert "market-data source dead failed" in caplog.text
    last = {s: json.loads(get_redis().hget("tw:quotes:last", s)) for s in ("AAPL", "BTC/USD")}
    assert last["AAPL"]["stale"] is True and last["AAPL"]["as_of"] == _iso(FROZEN)  # the last price, marked
    assert last["BTC/USD"]["stale"] is False and last["BTC/USD"]["as_of"] == _iso(FROZEN + timedelta(seconds=1))
