"""Operator views. Sealed credentials are never shown: only which fields exist and their KEK."""

from django.contrib import admin

from brokers.models import BalanceSnapshot, BrokerConnection, Credential, Order, PositionSnapshot


class CredentialInline(admin.TabularInline):
    model = Credential
    fields = ["field", "kek_id", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(BrokerConnection)
class BrokerConnectionAdmin(admin.ModelAdmin):
    list_display = ["user", "broker", "paper", "status", "last_checked_at", "credential_hint"]
    list_filter = ["broker", "status", "paper"]
    search_fields = ["user__email", "label", "account_id"]
    readonly_fields = ["credential_hint", "account_id", "last_checked_at", "last_error", "created_at", "updated_at"]
    inlines = [CredentialInline]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "broker", "symbol", "side", "type", "qty", "status", "created_at"]
    list_filter = ["broker", "status", "type", "side"]
    search_fields = ["user__email", "symbol", "client_order_id", "broker_order_id"]
    readonly_fields = [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # orders are placed through the API so they pass validation and the submit task


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(admin.ModelAdmin):
    list_display = ["connection", "currency", "cash", "equity", "buying_power", "as_of"]
    list_filter = ["connection__broker"]
    date_hierarchy = "as_of"


@admin.register(PositionSnapshot)
class PositionSnapshotAdmin(admin.ModelAdmin):
    list_display = ["connection", "symbol", "qty", "avg_price", "market_price", "unrealized_pnl", "as_of"]
    search_fields = ["symbol"]
