"""Access log lines without LINE user IDs: each ID is replaced by a stable pseudonym."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from aiohttp.abc import BaseRequest, StreamResponse
from aiohttp.web_log import AccessLogger

# A LINE user, group or room ID: the letter and 32 lowercase hex digits.
LINE_ID = re.compile(r"(?<![0-9A-Za-z])[UCR][0-9a-f]{32}(?![0-9A-Za-z])")


def pseudonym(line_id: str) -> str:
    """The pseudonym the bot's own log lines use for an ID (bot.state.user_key)."""
    return hashlib.sha256(f"hagukumi:{line_id}".encode()).hexdigest()[:24]


def redact_line_ids(text: str) -> str:
    """`text` with every LINE ID replaced by `~` and its pseudonym."""
    return LINE_ID.sub(lambda match: "~" + pseudonym(match.group()), text)


class PrivateAccessLogger(AccessLogger):
    """aiohttp's access log, with LINE IDs in paths, queries and headers pseudonymised.

    The emulator's routes carry user IDs in their paths (`/_emulator/users/U.../messages`,
    `/v2/bot/profile/U...`) and its chat page in its address (`?user=U...`), which the
    Referer header repeats: a log line is kept longer and shown to more people than the data.
    """

    def _format_line(
        self, request: BaseRequest, response: StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        return [
            (key, redact_line_ids(value) if isinstance(value, str) else value)
            for key, value in super()._format_line(request, response, time)
        ]
