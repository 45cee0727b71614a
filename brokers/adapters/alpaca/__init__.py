"""Alpaca through alpaca-py: `adapter.AlpacaAdapter` (a connection's account) and
`marketdata.AlpacaMarketData` (the watchlist's equity quotes). Nothing is imported here, so the
SDK loads only when the registry or the market-data setting names one of them."""
