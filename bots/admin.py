"""Operator views of bots and their signal log. The webhook token hash is never shown."""

from django.contrib import admin

from bots.models import Bot, Signal


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "state", "halted_reason", "source", "published", "created_at"]
    list_filter = ["state", "source", "published"]
    search_fields = ["name", "user__email"]
    exclude = ["webhook_token_hash"]
    raw_id_fields = ["user", "follows"]


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ["id", "bot", "received_at", "status", "reason_code"]
    list_filter = ["status", "reason_code"]
    search_fields = ["id", "bot__name"]
    raw_id_fields = ["bot", "leader_signal", "replay_of"]
    readonly_fields = [f.name for f in Signal._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # signals arrive through the webhook, a leader or a replay
