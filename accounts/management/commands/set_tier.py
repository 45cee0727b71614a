from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import AccountError, user_get_by_email, user_set_tier


class Command(BaseCommand):
    help = "Set a user's tier: set_tier EMAIL premium|free"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("tier")

    def handle(self, *args: Any, email: str, tier: str, **options: Any) -> None:
        try:
            user = user_set_tier(user=user_get_by_email(email=email), tier=tier)
        except AccountError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{user.email} is now {user.tier}.")
