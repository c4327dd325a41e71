"""Review: a family that changes its municipality in the middle of applying cannot submit the
old summary into its former municipality's round (the button is stale)."""

from __future__ import annotations

from sqlmodel import select

from integrations.daycare.models import Application
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, texts_of
from tests.bot.test_daycare_door import add_facilities, tours_clock, user
from tests.bot.test_daycare_line_apply import add_round

__all__ = ["tours_clock"]


async def test_moving_mid_application_makes_the_old_submit_stale(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    await add_round(line_world)
    parent = Parent(line_world, user("apply-moved"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.postback(f"a=ap.add&f={ids['みどり保育園']}")
    await parent.tap("申し込みへ進む")
    await parent.tap("いいえ")
    for label in ("就労", "40時間以上", "いいえ", "就労", "40時間以上", "いいえ"):
        await parent.tap(label)
    summary = await parent.tap("なし")
    submit = next(a for a in actions_in(summary) if a.get("label") == "申し込む")

    await parent.postback("a=menu.family")
    await parent.tap("市区町村を変更")
    assert "港区に変更しました" in texts_of(await parent.say("みなと"))

    answer = await parent.postback(submit["data"])
    assert "このボタンは古くなったようです" in texts_of(answer)
    async with line_world.sessions() as session:
        assert (await session.exec(select(Application))).all() == []
