"""Review: a forged answer whose hours are a non-ASCII digit (isdigit but not a number, "²")
is a stale button, not a crash of the turn."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, texts_of
from tests.bot.test_daycare_door import add_facilities, tours_clock, user
from tests.bot.test_daycare_line_apply import add_round

__all__ = ["tours_clock"]


async def test_forged_hours_answer_is_stale(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    await add_round(line_world)
    parent = Parent(line_world, user("apply-forged-hours"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.postback(f"a=ap.add&f={ids['みどり保育園']}")
    await parent.tap("申し込みへ進む")
    await parent.tap("いいえ")
    asked = await parent.tap("就労")
    data = next(
        a["data"]
        for a in actions_in(asked)
        if a.get("type") == "postback" and "k=hours0" in a.get("data", "")
    )
    fields = dict(parse_qsl(data))
    for forged in ("²", "٣٣"):
        answer = await parent.postback(urlencode({**fields, "v": forged}))
        assert "このボタンは古くなったようです" in texts_of(answer), forged
