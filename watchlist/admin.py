from django.contrib import admin

from watchlist.models import WatchlistItem


@admin.register(WatchlistItem)
class WatchlistItemAdmin(admin.ModelAdmin):
    list_display = ["user", "symbol", "added_at"]
    list_filter = ["symbol"]
    search_fields = ["user__email", "symbol"]
    list_select_related = ["user"]
    readonly_fields = ["user", "symbol", "added_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # symbols are added through the API, which validates them against the market-data source
