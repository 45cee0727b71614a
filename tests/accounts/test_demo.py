import pytest
from django.core.management import call_command

from accounts.models import User
from brokers.models import BrokerConnection
from watchlist.models import WatchlistItem

pytestmark = pytest.mark.django_db


def test_it_creates_a_premium_demo_user_with_the_paper_broker(monkeypatch, capsys):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    call_command("ensure_demo")
    call_command("ensure_demo")  # idempotent
    user = User.objects.get(email="demo@example.com")
    assert user.tier == "premium" and user.check_password("demo-pass-123")
    assert BrokerConnection.objects.filter(user=user, broker="paper", status="connected").count() == 1
    assert list(WatchlistItem.objects.filter(user=user).values_list("symbol", flat=True)) == ["AAPL", "MSFT", "BTC/USD"]
    assert capsys.readouterr().out.strip().endswith("demo@example.com / demo-pass-123")


def test_it_prints_a_fresh_random_password_without_demo_password(monkeypatch, capsys):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("ensure_demo")
    password = capsys.readouterr().out.strip().rsplit(" / ", 1)[1]
    assert len(password) >= 12
    assert User.objects.get(email="demo@example.com").check_password(password)
