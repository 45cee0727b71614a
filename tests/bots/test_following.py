"""Following: a published bot's accepted signals reach every follower, each trading by its own rules,
seeing the signal and nothing else of the leader's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Signal
from bots.services import following
from bots.services.following import followers_signal
from brokers.models import Order
from tests.bots.conftest import signal_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def leader(trader, make_bot):
    return make_bot(trader, name="Leader", published=True)


@pytest.fixture
def follow(make_trader, make_bot):
    def make(leader, **fields):
        client = make_trader()
        return client, make_bot(client, name="Follower", source={"follow": leader.id}, **fields)

    return make


def _copy(follower) -> Signal:
    return Signal.objects.get(bot_id=follower.id)


def test_an_accepted_signal_reaches_every_follower_with_its_own_sizing(trader, leader, follow, hook):
    (one, first), (two, second) = follow(leader), follow(leader, sizing={"mode": "fixed", "value": "5"})
    response = hook(leader.token, {"action": "buy", "symbol": "AAPL", "id": "L-1", "passphrase": "leader-only"})
    assert signal_of(response).status == "executed"
    for client, bot, qty in ((one, first, 2), (two, second, 5)):
        copy = _copy(bot)
        assert copy.status == "executed" and copy.leader_signal_id == signal_of(response).pk
        assert copy.payload == {"id": "L-1", "action": "buy", "symbol": "AAPL"}  # the leader's extra keys stay home
        (order,) = Order.objects.filter(bot_link__signal=copy)
        assert (order.user_id, order.qty, order.status) == (client.user.pk, Decimal(qty), "filled")


def test_a_follower_sees_the_signal_never_the_leaders_orders_or_bot(trader, leader, follow, hook):
    client, bot = follow(leader)
    leader_signal = signal_of(hook(leader.token, {"action": "buy", "symbol": "AAPL"}))
    records = client.get(f"/api/bots/{bot.id}/signals").json()
    assert len(records) == 1
    leader_orders = {str(pk) for pk in Order.objects.filter(user=trader.user).values_list("pk", flat=True)}
    assert not leader_orders & {o["order_id"] for o in records[0]["orders"]}
    for path in (f"/api/bots/{leader.id}", f"/api/bots/{leader.id}/signals"):
        assert client.get(path).status_code == 404
    assert client.post(f"/api/bots/{leader.id}/signals/{leader_signal.pk}/replay").status_code == 404
    assert client.get(f"/api/orders/{next(iter(leader_orders))}").status_code == 404


def test_a_rejected_leader_signal_reaches_no_follower(trader, make_bot, follow, hook):
    leader = make_bot(trader, name="Leader", published=True, symbols={"allowed": ["MSFT"], "map": {}})
    _, bot = follow(leader)
    assert signal_of(hook(leader.token, {"action": "buy", "symbol": "AAPL"})).status == "rejected"
    assert not Signal.objects.filter(bot_id=bot.id).exists()


def test_an_unpublished_leader_reaches_no_follower(trader, leader, follow, hook, run_on_commit):
    _, bot = follow(leader)
    run_on_commit(lambda: trader.patch(f"/api/bots/{leader.id}", {"published": False}, format="json"))
    hook(leader.token, {"action": "buy", "symbol": "AAPL"})
    assert not Signal.objects.filter(bot_id=bot.id).exists()


def test_a_paused_follower_records_the_signal_as_refused(leader, follow, hook):
    _, bot = follow(leader, state="paused")
    hook(leader.token, {"action": "buy", "symbol": "AAPL"})
    assert (_copy(bot).status, _copy(bot).reason_code) == ("rejected", "bot_not_running")


def test_a_followers_own_limits_apply(leader, follow, hook):
    _, bot = follow(leader, limits={"max_order_notional": "1"})
    hook(leader.token, {"action": "buy", "symbol": "AAPL"})
    assert _copy(bot).reason_code == "max_order_notional"


def test_followers_are_signalled_in_chunks_and_a_chunk_run_twice_records_nothing_twice(
    leader, follow, hook, monkeypatch, run_on_commit
):
    monkeypatch.setattr(following, "FOLLOWERS_PER_TASK", 2)
    bots = [follow(leader)[1] for _ in range(5)]
    leader_signal = signal_of(hook(leader.token, {"action": "buy", "symbol": "AAPL"}))
    chunks = list(following.follower_chunks(leader_signal_id=str(leader_signal.pk)))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert Signal.objects.filter(leader_signal=leader_signal, status="executed").count() == 5
    run_on_commit(lambda: followers_signal(leader_signal_id=str(leader_signal.pk), follower_ids=chunks[0]))
    assert Signal.objects.filter(leader_signal=leader_signal).count() == 5
    assert Order.objects.filter(bot_link__signal__leader_signal=leader_signal).count() == len(bots)


def test_a_replayed_leader_signal_does_not_reach_followers(trader, leader, follow, hook, run_on_commit):
    _, bot = follow(leader)
    first = signal_of(hook(leader.token, {"action": "buy", "symbol": "AAPL"}))
    response = run_on_commit(lambda: trader.post(f"/api/bots/{leader.id}/signals/{first.pk}/replay"))
    assert response.status_code == 202
    assert Signal.objects.filter(bot_id=bot.id).count() == 1


@pytest.mark.parametrize("case", ["own bot", "unpublished", "unknown", "a follower"])
def test_only_another_users_published_webhook_bot_can_be_followed(trader, make_trader, make_bot, case):
    stranger = make_trader()
    targets = {
        "own bot": lambda: make_bot(trader, published=True).id,
        "unpublished": lambda: make_bot(stranger).id,
        "unknown": lambda: "00000000-0000-0000-0000-000000000000",
        "a follower": lambda: make_bot(stranger, source={"follow": make_bot(make_trader(), published=True).id}).id,
    }
    response = trader.post("/api/bots", {"name": "f", "source": {"follow": str(targets[case]())}}, format="json")
    assert response.status_code == 400 and "source" in response.json()["error"]["fields"]


def test_a_follower_has_no_webhook(leader, follow):
    client, bot = follow(leader)
    assert bot.token is None
    response = client.post(f"/api/bots/{bot.id}/webhook")
    assert response.status_code == 409
