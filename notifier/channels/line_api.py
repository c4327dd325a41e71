"""The LINE Messaging API, its hosts, and the SDK client the bot answers with (line-bot-sdk v3).

The notifier's pushes go through `notifier.channels.line.LineChannel`, on the same hosts.

Clients are created inside the running loop and closed on shutdown. `LINE_API_BASE_URL`
points them at LINE or at the project's emulator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    ReplyMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException

log = logging.getLogger(__name__)

REAL_API = "https://api.line.me"
REAL_DATA_API = "https://api-data.line.me"


class LineApi:
    """Replies and rich menus, on one pair of SDK clients."""

    def __init__(self, base_url: str, access_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self._client: AsyncApiClient | None = None
        self._blob_client: AsyncApiClient | None = None
        self.messaging: AsyncMessagingApi
        self.blob: AsyncMessagingApiBlob

    async def open(self) -> None:
        """Create the SDK clients (inside the running loop, as the SDK requires)."""
        self._client = AsyncApiClient(
            Configuration(host=self.base_url, access_token=self.access_token)
        )
        # Real LINE serves blobs (rich menu images) from another host; the emulator serves both.
        blob_host = REAL_DATA_API if self.base_url == REAL_API else self.base_url
        self._blob_client = AsyncApiClient(
            Configuration(host=blob_host, access_token=self.access_token)
        )
        self.messaging = AsyncMessagingApi(self._client)
        self.blob = AsyncMessagingApiBlob(self._blob_client)

    async def close(self) -> None:
        """Close the SDK clients."""
        for client in (self._client, self._blob_client):
            if client is not None:
                await client.close()

    async def reply(self, reply_token: str, messages: Sequence[Any]) -> bool:
        """Answer an event (at most 5 messages, token valid once for a minute)."""
        try:
            await self.messaging.reply_message(
                ReplyMessageRequest(reply_token=reply_token, messages=list(messages)[:5])
            )
        except ApiException as exc:
            log.warning("LINE reply refused", extra={"status": exc.status, "body": exc.body})
            return False
        return True
