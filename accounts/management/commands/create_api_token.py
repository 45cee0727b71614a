from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import AccountError, api_token_create, user_get_by_email


class Command(BaseCommand):
    help = "Create a personal API token for EMAIL; the key is printed alone on the last line, once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args: Any, email: str, name: str, expires_in_days: int | None, **options: Any) -> None:
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        try:
            user = user_get_by_email(email=email)
        except AccountError as exc:
            raise CommandError(str(exc)) from None
        issued = api_token_create(user=user, name=name, expires_in_days=expires_in_days)
        self.stdout.write(f"Token {issued.token.prefix}… created for {user.email}. It is shown only once:")
        self.stdout.write(issued.key)
