"""Kraken spot through ccxt's `kraken`: the adapter (adapter.py), Kraken ⇄ ours (payloads.py), the
ccxt client and its error translation (client.py), shared nonces (auth.py), and the public market
data source (marketdata.py). Nothing is imported here: ccxt loads only when an adapter is used.
"""
