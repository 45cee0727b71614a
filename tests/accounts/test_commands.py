import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Tier

pytestmark = pytest.mark.django_db


def test_it_sets_the_tier(user):
    call_command("set_tier", user.email.upper(), "premium")
    user.refresh_from_db()
    assert user.tier == Tier.PREMIUM
    call_command("set_tier", user.email, "free")
    user.refresh_from_db()
    assert user.tier == Tier.FREE


def test_it_refuses_an_unknown_tier_and_changes_nothing(user):
    with pytest.raises(CommandError, match="Unknown tier 'gold'"):
        call_command("set_tier", user.email, "gold")
    user.refresh_from_db()
    assert user.tier == Tier.FREE


def test_it_refuses_an_unknown_email():
    with pytest.raises(CommandError, match="No user with email"):
        call_command("set_tier", "ghost@example.com", "premium")


def test_it_prints_the_token_key_alone_on_the_last_line(user, capsys):
    from accounts.services import api_token_user

    call_command("create_api_token", user.email)
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("tw_") and " " not in key
    assert api_token_user(key=key) == user


def test_create_api_token_refuses_an_unknown_email():
    with pytest.raises(CommandError, match="No user with email"):
        call_command("create_api_token", "ghost@example.com")


def test_the_cli_exits_1_with_the_message_on_stderr(cli):
    result = cli("set_tier", "ghost@example.com", "premium")
    assert result.returncode == 1
    assert "No user with email" in result.stderr
    assert result.stdout == ""
    result = cli("create_api_token", "ghost@example.com")
    assert result.returncode == 1 and "No user with email" in result.stderr
