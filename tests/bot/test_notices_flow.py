"""The main job end to end: a parent registers in LINE, a program is published, the notice
is pushed through LINE once, and neither a second sweep nor the chat repeats it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from tests.bot.conftest import NOW, LineWorld
from tests.bot.parent import Parent, texts_of
from tests.factories import program_body

PARENT = "U" + "a" * 32


async def _notices(world: LineWorld) -> list[Any]:
    from notifier.models import Notice

    async with world.sessions() as session:
        return list((await session.exec(select(Notice).order_by(Notice.id))).all())


async def _send_due(world: LineWorld, now: datetime) -> Any:
    from hagukumi.app import NOTICES
    from notifier.sending import send_due

    notices = world.app[NOTICES]
    return await send_due(
        world.sessions,
        notices.channels,
        now=now,
        zone=notices.settings.zone,
        quiet_hours="20:00-08:00",
        digest_at="off",
    )


async def test_registered_parent_is_told_of_a_new_program_once(line_world: LineWorld) -> None:
    from hagukumi.app import NOTICES
    from notifier.sweep import sweep
    from registry.http import BACKGROUND

    parent = Parent(line_world, PARENT)
    await parent.onboard("渋谷区", ("2025-06-10",))
    await line_world.idle()

    # What the parent just read in the chat counts as told: nothing of it waits to be pushed.
    told = await _notices(line_world)
    assert told, "onboarding recorded the programs the family can get"
    assert {(n.status, n.reason) for n in told if n.kind == "eligible"} == {
        ("sent", "shown in chat")
    }
    pushed_before = [r for r in await line_world.requests() if r["path"].endswith("/push")]

    # Shibuya publishes a new program; the trigger finds this family.
    client_headers = await _operator(line_world)
    body = program_body(name={"ja": "渋谷区おむつ応援", "en": "Shibuya diaper support"})
    async with line_world.http.post(
        f"{_base(line_world)}/api/v1/programs", json=body, headers=client_headers
    ) as response:
        assert response.status == 201, await response.text()
        program = await response.json()
    async with line_world.http.post(
        f"{_base(line_world)}/api/v1/programs/{program['id']}/publish", headers=client_headers
    ) as response:
        assert response.status == 200
    await line_world.app[BACKGROUND].drain()
    pending = [n for n in await _notices(line_world) if n.status == "pending"]
    assert [n.program_id for n in pending] == [program["id"]]

    # 12:00 in Tokyo: no quiet hours, no digest; the notice goes out as one push.
    counts = await _send_due(line_world, NOW)
    assert counts["sent"] == 1
    pushes = [r for r in await line_world.requests() if r["path"].endswith("/push")]
    assert len(pushes) == len(pushed_before) + 1
    assert pushes[-1]["headers"].get("X-Line-Retry-Key") or pushes[-1]["headers"].get(
        "x-line-retry-key"
    )
    delivered = await line_world.messages(PARENT)
    assert "渋谷区おむつ応援" in texts_of(delivered[-1:])
    assert "2025年6月" in texts_of(delivered[-1:])  # the bubble names the child

    # The daily sweep and another delivery run tell nobody anything twice.
    notices = line_world.app[NOTICES]
    tomorrow = datetime(NOW.year, NOW.month, NOW.day + 1, 0, 0, tzinfo=UTC)
    report = await sweep(line_world.sessions, now=NOW, zone=notices.settings.zone)
    assert report.new == 0
    again = await _send_due(line_world, tomorrow)
    assert again.get("sent", 0) == 0
    assert len([r for r in await line_world.requests() if r["path"].endswith("/push")]) == len(
        pushes
    )


def _base(world: LineWorld) -> str:
    return world.webhook_url.rsplit("/line/webhook", 1)[0]


async def _operator(world: LineWorld) -> dict[str, str]:
    from registry.auth import create_key
    from registry.db import transaction

    async with transaction(world.sessions) as session:
        _, text = await create_key(session, issuer="131130", role="municipality")
    return {"Authorization": f"Bearer {text}"}
