from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import config.schema  # noqa: F401 - registers the token scheme with drf-spectacular
        from accounts.token_cache import connect_signals

        connect_signals()
