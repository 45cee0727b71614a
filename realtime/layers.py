"""channels-redis with a blocking connection pool.

redis-py's default asyncio pool raises MaxConnectionsError the moment more operations run
than it has connections (a reconnect storm after a deploy does exactly that). A blocking pool
makes a burst wait briefly for a free connection instead, with a bounded number of sockets.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class BlockingRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args: Any, pool_timeout: float = 20.0, **kwargs: Any) -> None:
        self.pool_timeout = pool_timeout
        super().__init__(*args, **kwargs)

    def create_pool(self, index: int) -> BlockingConnectionPool:
        host = dict(self.hosts[index])
        address = host.pop("address")
        # The layer blocks up to brpop_timeout waiting for messages; redis-py's own read
        # timeout must outlast it, or an idle socket's receive loop dies and events are lost.
        host.setdefault("socket_timeout", self.brpop_timeout + 10)
        return BlockingConnectionPool.from_url(address, timeout=self.pool_timeout, **host)
