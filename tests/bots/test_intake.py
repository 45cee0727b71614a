"""The webhook intake: public, small bodies, JSON or JSON text, limited per token, recorded first, idempotent."""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client

from bots.models import Signal
from bots.redact import HookTokenFilter, install, redact
from bots.services import intake
from bots.services.intake import Delivery, signal_receive
from brokers.models import Order
from tests.bots.conftest import signal_of

pytestmark = pytest.mark.django_db

BUY = {"action": "buy", "symbol": "AAPL"}


def test_it_records_a_json_signal_and_answers_202_with_its_id(trader, make_bot, hook):
    bot = make_bot(trader)
    response = hook(bot.token, {**BUY, "id": "tv-1"}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 202, response.content
    signal = signal_of(response)
    assert response.json() == {"signal_id": str(signal.pk), "status": "accepted"}
    assert signal.payload == {**BUY, "id": "tv-1"} and json.loads(signal.raw) == signal.payload
    assert signal.source_address == "203.0.113.9" and signal.received_at is not None
    assert signal.status == "executed" and Order.objects.filter(bot_link__signal=signal, status="filled").count() == 1


def test_it_takes_a_json_text_body_as_tradingview_sends_it(trader, make_bot, hook):
    bot = make_bot(trader)
    response = hook(bot.token, '{"action": "buy", "symbol": "AAPL", "qty": 1.5}', content_type="text/plain")
    assert response.status_code == 202, response.content
    assert signal_of(response).payload["qty"] == 1.5


def test_it_needs_no_session_no_api_token_and_no_csrf_token(trader, make_bot):
    bot = make_bot(trader)
    response = Client(enforce_csrf_checks=True).post(f"/hooks/bots/{bot.token}", BUY, content_type="application/json")
    assert response.status_code == 202


def test_a_body_over_8_kib_is_refused_and_recorded_as_invalid_payload(trader, make_bot, hook):
    bot = make_bot(trader)
    body = json.dumps({**BUY, "note": "x" * 9000})
    response = hook(bot.token, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    signal = signal_of(response)
    assert (signal.status, signal.reason_code) == ("rejected", "invalid_payload")
    assert len(signal.raw) <= 8192 and not Order.objects.exists()


def test_a_body_of_exactly_8_kib_is_taken(trader, make_bot, hook):
    bot = make_bot(trader)
    base = json.dumps({**BUY, "note": ""})
    body = json.dumps({**BUY, "note": "x" * (8192 - len(base))})
    assert len(body.encode()) == 8192
    assert hook(bot.token, body).status_code == 202


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ("not json", "application/json", "body"),
        ("[1, 2]", "application/json", "body"),
        ('{"action": "hold", "symbol": "AAPL"}', "application/json", "action"),
        ('{"action": "buy"}', "application/json", "symbol"),
        ('{"action": "buy", "symbol": "AAPL", "qty": "-1"}', "application/json", "qty"),
        ('{"action": "buy", "symbol": "AAPL", "qty": NaN}', "application/json", "body"),
        ('{"action": "buy", "symbol": "AAPL", "time": "yesterday"}', "application/json", "time"),
        ("action=buy&symbol=AAPL", "application/x-www-form-urlencoded", "body"),
    ],
)
def test_a_body_that_is_not_the_signal_shape_is_refused_and_recorded(trader, make_bot, hook, body, content_type, field):
    bot = make_bot(trader)
    response = hook(bot.token, body, content_type=content_type)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_payload" and field in error["fields"]
    signal = signal_of(response)
    assert (signal.status, signal.reason_code) == ("rejected", "invalid_payload")
    assert signal.raw == body and signal.decided_at is not None
    assert not Order.objects.exists()


def test_an_unknown_token_is_a_404_and_records_nothing(hook):
    response = hook("twb_not-a-token", BUY)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not Signal.objects.exists()


def test_a_rotated_token_stops_working_at_once(trader, make_bot, hook, run_on_commit):
    bot = make_bot(trader)
    assert hook(bot.token, BUY).status_code == 202  # the old token is now in this process's near cache
    rotated = run_on_commit(lambda: trader.post(f"/api/bots/{bot.id}/webhook"))
    assert rotated.status_code == 200
    new_token = rotated.json()["webhook_url"].rsplit("/", 1)[-1]
    assert hook(bot.token, BUY).status_code == 404
    assert hook(new_token, BUY).status_code == 202


def test_a_deleted_bots_token_is_a_404(trader, make_bot, hook, run_on_commit):
    bot = make_bot(trader)
    assert hook(bot.token, BUY).status_code == 202
    assert run_on_commit(lambda: trader.delete(f"/api/bots/{bot.id}")).status_code == 204
    assert hook(bot.token, BUY).status_code == 404


def test_a_repeated_signal_id_returns_the_first_signal_and_places_nothing_again(trader, make_bot, hook):
    bot = make_bot(trader)
    first = hook(bot.token, {**BUY, "id": "alert-7"})
    again = hook(bot.token, {**BUY, "id": "alert-7"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["signal_id"] == first.json()["signal_id"]
    assert Signal.objects.filter(bot_id=bot.id).count() == 1
    assert Order.objects.filter(user=trader.user).count() == 1


def test_the_same_id_for_another_bot_is_another_signal(trader, make_bot, hook):
    one, two = make_bot(trader, name="one"), make_bot(trader, name="two")
    assert hook(one.token, {**BUY, "id": "same"}).status_code == 202
    assert hook(two.token, {**BUY, "id": "same"}).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_signal_id_at_once_record_and_place_it_once(make_trader, make_bot, monkeypatch):
    """Two threads, two database connections, one unique constraint: exactly one signal is created.

    pytest-django's in-memory SQLite fails a write at once when another connection holds the
    table ("database table is locked") where the app's SQLite file waits; the threads retry
    such a write, as the file's busy timeout would. On PostgreSQL they simply race.
    """
    from bots.services import intake as intake_module
    from bots.services.inbox import inbox_drain, lane_of

    trader = make_trader()
    bot = make_bot(trader)
    monkeypatch.setattr(intake_module, "inbox_wake", lambda **kwargs: None)  # decided below, once
    barrier, results, errors = threading.Barrier(2), [], []
    body = json.dumps({**BUY, "id": "twice"}).encode()

    def deliver() -> None:
        delivery = Delivery(token=bot.token, body=body, content_type="application/json", source_address=None)
        try:
            barrier.wait(5)
            results.append(_retrying_locked(lambda: signal_receive(delivery=delivery)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(r.duplicate for r in results) == [False, True]
    assert results[0].signal.pk == results[1].signal.pk
    assert Signal.objects.filter(bot_id=bot.id).count() == 1
    inbox_drain(lane=lane_of(results[0].signal.bot_id))
    assert Order.objects.filter(user=trader.user).count() == 1


def _retrying_locked(call):
    import time

    from django.db import OperationalError

    for _ in range(500):
        try:
            return call()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.01)
    raise AssertionError("the table stayed locked")


def test_each_token_is_rate_limited_with_429_and_retry_after(trader, make_bot, hook):
    bot, other = make_bot(trader), make_bot(trader, name="other")
    burst = max(1, intake.HOOK_LIMIT.requests // 10)
    responses: list = []  # a slot refills every ~0.55 s: on a slow machine a few more than the burst pass
    while len(responses) < 3 * burst and 429 not in [r.status_code for r in responses]:
        responses.append(hook(bot.token, {**BUY, "id": f"n{len(responses)}"}))
    statuses = [r.status_code for r in responses]
    assert statuses[:burst] == [202] * burst and 429 in statuses
    limited = responses[statuses.index(429)]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    signal = signal_of(limited)
    assert (signal.status, signal.reason_code, signal.source_key) == ("rejected", "rate_limited", None)
    assert hook(other.token, BUY).status_code == 202  # another bot's bucket


def test_the_limiter_fails_closed_when_redis_is_down(trader, make_bot, hook, monkeypatch):
    import redis

    from brokers import ratelimit

    bot = make_bot(trader)

    def down(*args, **kwargs):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(ratelimit, "_run", down)
    response = hook(bot.token, BUY)
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert signal_of(response).reason_code == "rate_limited" and not Order.objects.exists()


def test_a_signal_is_recorded_even_when_the_queue_is_away(trader, make_bot, hook, monkeypatch):
    from bots.services import intake as intake_module

    bot = make_bot(trader)

    def away(**kwargs):
        raise ConnectionError("broker queue down")

    monkeypatch.setattr(intake_module, "inbox_wake", away)
    response = hook(bot.token, {**BUY, "id": "lost-1"})
    assert response.status_code == 503
    signal = signal_of(response)
    assert (signal.status, signal.reason_code, signal.source_key) == ("rejected", "queue_unavailable", None)
    monkeypatch.undo()
    assert hook(bot.token, {**BUY, "id": "lost-1"}).status_code == 202  # the id was freed for the retry


# --- the token is a secret: never in a log line ----------------------------------------------


def test_django_request_warnings_carry_no_token(trader, make_bot, hook, caplog):
    bot = make_bot(trader)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        hook(bot.token, "not json")
        hook("twb_unknown-token-123", BUY)
    text = "\n".join(HookTokenFilter().filter(r) and r.getMessage() for r in caplog.records)
    assert "/hooks/bots/[redacted]" in text
    assert bot.token not in text and "twb_unknown-token-123" not in text


def test_the_console_handler_redacts_every_record_through_settings(trader, make_bot, hook):
    root = logging.getLogger()
    stream = io.StringIO()
    handler = next(h for h in root.handlers if any(isinstance(f, HookTokenFilter) for f in h.filters))
    previous = handler.setStream(stream)
    try:
        bot = make_bot(trader)
        hook(bot.token, "not json")
        logging.getLogger("somewhere").error("failed on %s", f"https://example.com/hooks/bots/{bot.token}")
    finally:
        handler.setStream(previous)
    output = stream.getvalue()
    assert bot.token not in output and "/hooks/bots/[redacted]" in output


def test_uvicorn_access_lines_and_tracebacks_are_redacted():
    install()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/hooks/bots/twb_SECRET?x=1", "1.1", 202), None,
    )  # fmt: skip
    assert logging.getLogger("uvicorn.access").filter(record)
    assert "twb_SECRET" not in record.getMessage() and "/hooks/bots/[redacted]?x=1" in record.getMessage()
    try:
        raise ValueError("while handling /hooks/bots/twb_SECRET")
    except ValueError:
        import sys

        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    HookTokenFilter().filter(failing)
    assert "twb_SECRET" not in failing.exc_text


def test_daphnes_access_log_is_redacted():
    from daphne.access import AccessLogGenerator

    install()
    stream = io.StringIO()
    details = {"client": ["127.0.0.1", 1], "method": "POST", "path": "/hooks/bots/twb_SECRET", "status": 202, "size": 1}
    AccessLogGenerator(stream)("http", "complete", details)
    assert "twb_SECRET" not in stream.getvalue() and "/hooks/bots/[redacted]" in stream.getvalue()


def test_redact_leaves_other_paths_alone():
    assert redact("GET /api/bots/abc") == "GET /api/bots/abc"
    assert redact("POST /hooks/bots/twb_a-b_c HTTP/1.1") == "POST /hooks/bots/[redacted] HTTP/1.1"


def test_a_sweep_wakes_the_lane_of_a_signal_a_dead_drainer_left_undecided(make_trader, make_bot, monkeypatch):
    from bots.models import Signal
    from bots.services import inbox

    woken: list[int] = []
    monkeypatch.setattr(inbox, "inbox_wake", lambda *, lane: woken.append(lane))
    assert inbox.inbox_sweep() == 0
    bot_id = uuid.UUID(make_bot(make_trader()).id)
    Signal.objects.create(bot_id=bot_id, payload={"action": "buy", "symbol": "AAPL"}, lane=inbox.lane_of(bot_id))
    assert inbox.inbox_sweep() == 1 and woken == [inbox.lane_of(bot_id)]
