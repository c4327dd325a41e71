"""The issue's acceptance, end to end: a parent applies in the emulator chat for two children
together (two wishes, both or neither), the municipality allocates and confirms the round, and
the parent hears 内定 with the reason, then sees it in 申込状況."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select

from integrations.daycare.models import Application, IntakeRound
from integrations.daycare.points import save_rules, shipped_documents
from integrations.daycare.rounds import allocate_round, confirm_round
from registry import families
from registry.db import transaction
from tests.bot.conftest import NOW, LineWorld
from tests.bot.parent import Parent, texts_of
from tests.bot.test_daycare_door import HACHIOJI, add_facilities, tours_clock, user
from tests.bot.test_daycare_line_apply import add_round, family_of

__all__ = ["tours_clock"]


async def _send_due(world: LineWorld) -> Any:
    from hagukumi.app import NOTICES
    from notifier.sending import send_due

    notices = world.app[NOTICES]
    return await send_due(
        world.sessions,
        notices.channels,
        now=NOW,
        zone=notices.settings.zone,
        quiet_hours="20:00-08:00",
        digest_at="off",
    )


async def test_two_children_apply_in_line_and_hear_the_offer_with_its_reason(
    line_world: LineWorld,
) -> None:
    ids = await add_facilities(line_world)
    (hachioji,) = [d for d in shipped_documents() if d.municipality == HACHIOJI]
    fy2027 = hachioji.model_copy(update={"valid_from": date(2027, 4, 1), "valid_to": None})
    async with transaction(line_world.sessions) as session:
        await save_rules(session, fy2027, "test")
    round_id = await add_round(line_world)
    parent = Parent(line_world, user("apply-accept"))
    # 0-year class (born 2026-04-02) and 1-year class (born 2025-06-10) in April 2027.
    await parent.onboard("八王子市", births=("2025-06-10", "2026-04-02"))
    family = await family_of(line_world, parent)
    assert family.id is not None
    async with line_world.sessions() as session:
        _older, younger = await families.children_of(session, family.id)
    for pk in (ids["ひかり保育園"], ids["みどり保育園"]):
        await parent.postback(f"a=ap.add&f={pk}&c={younger.id}")
    await parent.tap("申し込みへ進む")
    await parent.tap("きょうだいも一緒に申し込む")
    await parent.tap("同じ園を希望する")
    await parent.tap("きょうだい全員入所でなければ入所しない")
    await parent.tap("いいえ")
    for label in ("就労", "40時間以上", "いいえ", "就労", "40時間以上", "いいえ", "なし"):
        await parent.tap(label)
    answer = await parent.tap("申し込む")
    assert "申し込みました" in texts_of(answer)

    async with transaction(line_world.sessions) as session:
        round_ = await session.get(IntakeRound, round_id)
        assert round_ is not None
        round_.status = "closed"  # the deadline came
        await allocate_round(session, round_, now=NOW)
        await confirm_round(
            session, round_, input_hash=round_.input_hash, now=NOW, actor="staff:test"
        )
    async with line_world.sessions() as session:
        found = await session.exec(
            select(Application)
            .where(Application.family_id == family.id)
            .order_by(col(Application.class_age))
        )
        rows = list(found.all())
    assert [(r.status, r.placed_facility_pk) for r in rows] == [
        ("offered", ids["ひかり保育園"]),
        ("offered", ids["みどり保育園"]),
    ]
    assert all(r.result.get("explanation_ja") for r in rows)

    await _send_due(line_world)
    pushed = texts_of(await line_world.messages(parent.user_id))
    # Placed at wish 1: the headline says it; placed at wish 2: the reason is shown too.
    assert "（第1希望）に内定しました" in pushed and "（第2希望）に内定しました" in pushed
    placed_second = [r for r in rows if r.result["wish_rank"] == 2]
    assert placed_second and placed_second[0].result["explanation_ja"] in pushed

    answer = await parent.say("申込状況")
    said = texts_of(answer)
    assert said.count("状況: 内定") == 2
    assert rows[0].result["explanation_ja"] in said and rows[1].result["explanation_ja"] in said
