"""Opening the shared resources: database engine and Redis client."""

from __future__ import annotations

from typing import Any


def make_redis(url: str) -> Any:
    """A Redis client: `memory://` is an in-process fakeredis, `redis://...` a real server."""
    if url.startswith("memory://"):
        import fakeredis

        return fakeredis.FakeAsyncRedis(decode_responses=True)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"HAGUKUMI_REDIS_URL must be memory:// or redis://HOST:PORT/DB, not {url!r}"
        )
    import redis.asyncio as aioredis

    return aioredis.from_url(url, decode_responses=True, socket_connect_timeout=5)
