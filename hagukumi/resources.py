"""Opening the shared resources: database engine and Redis client."""

from __future__ import annotations

from typing import Any

# Callers wait for a free connection rather than fail under a burst of concurrent work.
REDIS_MAX_CONNECTIONS = 64


def make_redis(url: str) -> Any:
    """A Redis client: `memory://` is an in-process fakeredis, `redis://...` a real server."""
    import redis.asyncio as aioredis

    if url.startswith("memory://"):
        import fakeredis

        return fakeredis.FakeAsyncRedis(
            decode_responses=True,
            connection_pool_class=aioredis.BlockingConnectionPool,
            max_connections=REDIS_MAX_CONNECTIONS,
        )
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"HAGUKUMI_REDIS_URL must be memory:// or redis://HOST:PORT/DB, not {url!r}"
        )
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=20,
    )
    return aioredis.Redis(connection_pool=pool)
