from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from brokers.vault import VaultError, kek_current_id, kek_rotate


class Command(BaseCommand):
    help = "Re-wrap every stored credential data key under the current key-encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = kek_rotate()
            key_id = kek_current_id()
        except (VaultError, ImproperlyConfigured) as exc:
            raise CommandError(f"Key rotation failed: {exc}") from None
        self.stdout.write(f"Re-wrapped {count} data keys under {key_id}.")
