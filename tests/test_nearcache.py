"""The near cache: process-local copies, dropped by invalidation messages from any process."""

import itertools

import pytest
from django.test import override_settings

from config import nearcache
from config.nearcache import channel, near_cached, near_clear_local, near_forget
from config.redis import get_redis
from tests.processes import wait_for


class Source:
    """A `build` that counts its calls and returns a new value each time."""

    def __init__(self):
        self.calls = itertools.count(1)
        self.last = 0

    def __call__(self):
        self.last = next(self.calls)
        return f"v{self.last}".encode()


@pytest.fixture
def subscribed():
    """This process's listener is subscribed, so local copies are kept."""
    near_cached("tw:test:warmup", lambda: b"x", ttl=5)
    wait_for(lambda: nearcache._local.subscribed, timeout=10, what="near cache listener")


def test_it_serves_a_repeated_read_from_this_process_without_asking_redis(subscribed):
    source = Source()
    assert near_cached("tw:test:a", source, ttl=30) == b"v1"
    get_redis().delete("tw:test:a")  # behind the cache's back: only the local copy is left
    assert near_cached("tw:test:a", source, ttl=30) == b"v1"
    assert source.last == 1


def test_it_drops_a_local_copy_when_another_process_invalidates_it(subscribed):
    source = Source()
    near_cached("tw:test:b", source, ttl=30)
    get_redis().delete("tw:test:b")
    get_redis().publish(channel(), "tw:test:other\ntw:test:b")  # what near_forget sends
    wait_for(lambda: near_cached("tw:test:b", source, ttl=30) == b"v2", timeout=5, what="invalidation")


def test_forget_drops_the_entry_here_and_in_redis(subscribed):
    source = Source()
    near_cached("tw:test:c", source, ttl=30)
    near_forget(["tw:test:c"])
    assert get_redis().get("tw:test:c") is None
    assert near_cached("tw:test:c", source, ttl=30) == b"v2"


def test_a_read_that_raced_an_invalidation_is_not_kept(subscribed):
    source = Source()

    def build_while_invalidated():
        value = source()
        nearcache._local.drop(["tw:test:d"])  # an invalidation lands while we read the database
        return value

    near_cached("tw:test:d", build_while_invalidated, ttl=30)
    assert get_redis().get("tw:test:d") is None
    assert near_cached("tw:test:d", source, ttl=30) == b"v2"


def test_local_copies_expire_with_their_ttl(subscribed, monkeypatch):
    source = Source()
    near_cached("tw:test:e", source, ttl=30)
    get_redis().delete("tw:test:e")
    clock = nearcache.time.monotonic() + 31
    monkeypatch.setattr(nearcache.time, "monotonic", lambda: clock)
    assert near_cached("tw:test:e", source, ttl=30) == b"v2"


def test_without_redis_every_read_builds_and_nothing_fails():
    near_clear_local()
    source = Source()
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0", REDIS_SOCKET_TIMEOUT=0.2):
        get_redis.cache_clear()
        try:
            assert near_cached("tw:test:f", source, ttl=30) == b"v1"
            assert near_cached("tw:test:f", source, ttl=30) == b"v2"
            near_forget(["tw:test:f"])  # logged, not raised
        finally:
            get_redis.cache_clear()
