"""Conversation state in Redis, with a time-out (the household itself lives in the database)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

STATE_TTL_SECONDS = 30 * 60


def user_key(line_user_id: str) -> str:
    """A stable pseudonym of a LINE user ID for keys and logs (never the ID in clear)."""
    return hashlib.sha256(f"hagukumi:{line_user_id}".encode()).hexdigest()[:24]


class ConversationStore:
    """Where each user is in a conversation (a small JSON object per user)."""

    def __init__(self, redis: Any, ttl: int = STATE_TTL_SECONDS) -> None:
        self.redis = redis
        self.ttl = ttl

    def _key(self, line_user_id: str) -> str:
        return f"hagukumi:conv:{user_key(line_user_id)}"

    async def load(self, line_user_id: str) -> dict[str, Any]:
        """The user's state ({} when none or expired)."""
        raw = await self.redis.get(self._key(line_user_id))
        return json.loads(raw) if raw else {}

    async def save(self, line_user_id: str, state: dict[str, Any]) -> None:
        """Store the state and restart its time-out."""
        await self.redis.set(self._key(line_user_id), json.dumps(state), ex=self.ttl)

    async def clear(self, line_user_id: str) -> None:
        """Forget the conversation."""
        await self.redis.delete(self._key(line_user_id))
