"""The one event hook: "program changed" and "family changed" reach every subscriber once."""

from __future__ import annotations

import pytest

from registry.events import Event, Events, FamilyChanged, ProgramChanged
from registry.http import BackgroundTasks


async def test_publish_runs_each_subscriber_in_the_background() -> None:
    background = BackgroundTasks()
    events = Events(background)
    first: list[Event] = []
    second: list[Event] = []

    async def one(event: Event) -> None:
        first.append(event)

    async def two(event: Event) -> None:
        second.append(event)

    events.subscribe(one)
    events.subscribe(two)
    events.publish(ProgramChanged(7))
    events.publish(FamilyChanged(3, changed=False, told=True))
    assert first == [] and second == []  # nothing ran in hand
    await background.drain()
    assert first == [ProgramChanged(7), FamilyChanged(3, changed=False, told=True)]
    assert second == first


async def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    background = BackgroundTasks()
    events = Events(background)
    seen: list[Event] = []

    async def broken(event: Event) -> None:
        raise RuntimeError("boom")

    async def working(event: Event) -> None:
        seen.append(event)

    events.subscribe(broken)
    events.subscribe(working)
    events.publish(FamilyChanged(1))
    await background.drain()
    assert seen == [FamilyChanged(1)]


async def test_deliver_waits_and_unsubscribe_stops() -> None:
    events = Events()
    seen: list[Event] = []

    async def subscriber(event: Event) -> None:
        seen.append(event)

    events.subscribe(subscriber)
    await events.deliver(ProgramChanged(1))
    events.unsubscribe(subscriber)
    await events.deliver(ProgramChanged(2))
    assert seen == [ProgramChanged(1)]
    with pytest.raises(RuntimeError, match="no background runner"):
        events.publish(ProgramChanged(3))
