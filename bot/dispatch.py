"""Routing LINE events to handlers: one router per topic, first match wins.

A handler is `async def handler(turn: Turn) -> None`; it reads the event, the family and the
conversation state from the turn and answers with `turn.say(...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import Family

log = logging.getLogger(__name__)

Handler = Callable[["Turn"], Awaitable[None]]
MAX_POSTBACK = 300  # LINE's limit on postback data


def postback_data(action: str, **params: Any) -> str:
    """Encode a postback (`a=ACTION&k=v`), refusing anything over LINE's 300 characters."""
    data = urlencode({"a": action, **{k: str(v) for k, v in params.items()}})
    if len(data) > MAX_POSTBACK:
        raise ValueError(f"postback data over {MAX_POSTBACK} characters: {data[:40]}...")
    return data


def parse_postback(data: str) -> dict[str, str]:
    """Decode postback data; unknown shapes give {} (a stale or forged button)."""
    try:
        return dict(parse_qsl(data, strict_parsing=True, max_num_fields=20))
    except ValueError:
        return {}


@dataclass
class Turn:
    """One event being handled: who, what, and the answer being built."""

    event: Any
    kind: str  # follow, unfollow, text, postback, location, other
    user_id: str
    family: Family
    session: AsyncSession
    state: dict[str, Any]
    deps: Any  # bot.service.BotDeps
    now: datetime
    text: str | None = None
    postback: dict[str, str] = field(default_factory=dict)
    postback_params: dict[str, Any] = field(default_factory=dict)
    replies: list[Any] = field(default_factory=list)
    told_programs: bool = False  # the family's programs were shown in this turn
    entries: dict[str, Callable[..., Any]] = field(default_factory=dict)  # see bot.navigation

    @property
    def lang(self) -> str:
        """The family's language (ja unless they chose English)."""
        return self.family.language or "ja"

    @property
    def action(self) -> str | None:
        """The postback action name, if this is a postback."""
        return self.postback.get("a")

    def say(self, *messages: Any) -> None:
        """Add messages to the reply (LINE takes 5 a reply; more are dropped with a log)."""
        self.replies.extend(messages)


@dataclass
class _Route:
    kind: str
    match: Callable[[Turn], bool]
    handler: Handler


class Router:
    """The handlers of one topic."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[_Route] = []
        self.entries: dict[str, Callable[..., Any]] = {}

    def entry(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Offer a function to other topics under a name (see `bot.navigation.go`)."""

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.entries[name] = function
            return function

        return register

    def _add(self, kind: str, match: Callable[[Turn], bool]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(_Route(kind, match, handler))
            return handler

        return register

    def when(self, kind: str, match: Callable[[Turn], bool]) -> Callable[[Handler], Handler]:
        """Handle events of a route kind (postback, awaiting, text, ...) for which match holds."""
        return self._add(kind, match)

    def follow(self) -> Callable[[Handler], Handler]:
        """Handle follow events (including re-follow after a block)."""
        return self._add("follow", lambda _turn: True)

    def unfollow(self) -> Callable[[Handler], Handler]:
        """Handle unfollow (block) events."""
        return self._add("unfollow", lambda _turn: True)

    def postback(self, *actions: str) -> Callable[[Handler], Handler]:
        """Handle postbacks whose action is one of these."""
        return self._add("postback", lambda turn: turn.action in actions)

    def awaiting(self, *steps: str) -> Callable[[Handler], Handler]:
        """Handle text (and locations) while the conversation awaits one of these steps."""
        return self._add("awaiting", lambda turn: turn.state.get("await") in steps)

    def text(self, *keywords: str) -> Callable[[Handler], Handler]:
        """Handle text containing one of these keywords (case-insensitive)."""
        lowered = [k.lower() for k in keywords]
        return self._add("text", lambda turn: any(k in (turn.text or "").lower() for k in lowered))

    def location(self) -> Callable[[Handler], Handler]:
        """Handle a shared location."""
        return self._add("location", lambda _turn: True)

    def fallback(self) -> Callable[[Handler], Handler]:
        """Handle any text nothing else took."""
        return self._add("fallback", lambda _turn: True)


# Order in which route kinds are tried for each event kind: a step the conversation awaits
# takes a typed answer before keyword intents do.
_ORDER = {
    "follow": ("follow",),
    "unfollow": ("unfollow",),
    "postback": ("postback",),
    "text": ("awaiting", "text", "fallback"),
    "location": ("awaiting", "location"),
}


class Dispatcher:
    """All routers, in order."""

    def __init__(self, routers: list[Router]) -> None:
        self.routers = routers
        self.entries = {name: f for router in routers for name, f in router.entries.items()}

    async def dispatch(self, turn: Turn) -> bool:
        """Run the first matching handler; False when none matched."""
        turn.entries = self.entries
        for kind in _ORDER.get(turn.kind, ()):
            for router in self.routers:
                for route in router.routes:
                    if route.kind == kind and route.match(turn):
                        await route.handler(turn)
                        return True
        return False
