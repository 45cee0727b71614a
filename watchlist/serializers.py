"""Input and output shapes of the watchlist API (CONTRACT.md)."""

from __future__ import annotations

from rest_framework import serializers


class WatchlistAddIn(serializers.Serializer):
    symbol = serializers.CharField(max_length=32)


class QuoteOut(serializers.Serializer):
    """`watchlist:quote` data: decimals as plain strings, `as_of` when the source produced it."""

    symbol = serializers.CharField()
    price = serializers.CharField()
    bid = serializers.CharField()
    ask = serializers.CharField()
    change = serializers.CharField()
    change_pct = serializers.CharField()
    volume = serializers.CharField()
    as_of = serializers.CharField()
    source = serializers.CharField()
    stale = serializers.BooleanField(default=False)  # its source has stopped answering: the last figures


class WatchlistItemOut(serializers.Serializer):
    symbol = serializers.CharField()
    added_at = serializers.DateTimeField()
    quote = QuoteOut(allow_null=True)
