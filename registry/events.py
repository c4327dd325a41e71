"""The one event hook: "a program changed" and "a family changed", announced after commit.

Code that publishes a program or registers or changes a family (registry's and the app door's
routes, the bot) announces it here; whoever must react subscribes. Today the only subscriber
is the notifier's runtime (`notifier.runtime.Notices.on_event`), wired by the composition root:
`registry` imports no notifier, so the hook runs the other way.

`publish` runs the subscribers in the background (the caller's answer never waits for them,
and a failure is logged, never lost); `deliver` runs them in hand. Announce only after the
transaction that made the change has committed (on SQLite the engine has a single connection,
so a subscriber reading inside it would wait for itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ProgramChanged:
    """A program was published or its published version changed."""

    program_id: int


@dataclass(frozen=True)
class FamilyChanged:
    """A family registered or changed (`changed`), or was just shown its programs (`told`)."""

    family_id: int
    changed: bool = True
    told: bool = False


Event = ProgramChanged | FamilyChanged
Subscriber = Callable[[Event], Awaitable[None]]


class Spawner(Protocol):
    """Runs work in the background (`registry.http.BackgroundTasks`)."""

    def spawn(self, coroutine: Awaitable[Any], what: str) -> None: ...


class Events:
    """The publisher: subscribers in the order they subscribed."""

    def __init__(self, background: Spawner | None = None) -> None:
        self._background = background
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber` with every event announced from now on."""
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop calling `subscriber` (on shutdown)."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        """Announce `event`: each subscriber runs in the background."""
        if self._background is None:
            raise RuntimeError("these events have no background runner: use deliver")
        for subscriber in list(self._subscribers):
            self._background.spawn(subscriber(event), type(event).__name__)

    async def deliver(self, event: Event) -> None:
        """Announce `event` and wait for each subscriber in turn."""
        for subscriber in list(self._subscribers):
            await subscriber(event)
