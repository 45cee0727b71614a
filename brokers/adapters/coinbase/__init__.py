"""Coinbase (Advanced Trade) over ccxt's `coinbase` class.

`adapter.CoinbaseAdapter` is the broker adapter and `marketdata.CoinbaseMarketData` the public
watchlist source; both are named by dotted path and imported lazily, so ccxt loads only where used.
"""
