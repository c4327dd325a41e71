"""通知設定's topics: every topic programs are filed under (imported ones too) can be switched
off in LINE, within LINE's 13 quick-reply items."""

from __future__ import annotations

from registry import families
from registry.schemas import NOTICE_TOPICS
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, texts_of

PARENT = "U" + "d4" * 16


async def test_a_parent_can_switch_off_classes_and_events(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    await parent.postback("a=menu.settings")
    answer = await parent.tap("受け取る分野")
    [message] = [m for m in answer if m.get("quickReply")]
    labels = [item["action"]["label"] for item in message["quickReply"]["items"]]
    assert len(labels) == len(NOTICE_TOPICS) + 1 == 13  # every topic and "back"
    assert "✓ 講座・イベント" in labels and labels[-1] == "設定に戻る"

    answer = await parent.tap("✓ 講座・イベント")
    assert "「講座・イベント」の通知をオフにしました。" in texts_of(answer)
    assert any(a["label"] == "✕ 講座・イベント" for a in actions_in(answer))
    async with line_world.sessions() as session:
        row = await families.by_line_user(session, PARENT)
    assert row is not None and row.preferences["categories_off"] == ["classes"]

    answer = await parent.postback("a=menu.settings")
    assert "講座・イベント" in texts_of(answer)  # listed among the topics turned off
