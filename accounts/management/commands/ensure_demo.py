import os
from typing import Any

from django.core.management.base import BaseCommand

from accounts.demo import demo_ensure


class Command(BaseCommand):
    help = "Create or refresh the demo user and print its password (DEMO_PASSWORD, else random)."

    def handle(self, *args: Any, **options: Any) -> None:
        user, password = demo_ensure(password=os.environ.get("DEMO_PASSWORD") or None)
        self.stdout.write(f"Demo login: {user.email} / {password}")
