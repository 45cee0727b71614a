from __future__ import annotations

from django.conf import settings
from django.db import models


class WatchlistItem(models.Model):
    """One symbol on one user's watchlist, in the market-data source's canonical form."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist_items")
    symbol = models.CharField(max_length=32)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "symbol"], name="one_watchlist_item_per_symbol")]
        # The quote poller reads the distinct symbols of every list each cycle.
        indexes = [models.Index(fields=["symbol"], name="watchlist_symbol_idx")]
        ordering = ["added_at", "pk"]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.user_id})"
