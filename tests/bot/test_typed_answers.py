"""Onboarding answers typed or shared instead of tapped: dates, misspelled municipalities and
locations, through the real webhook and the LINE emulator."""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, texts_of
from tests.bot.test_onboarding import children_rows, family_row

PARENT = "U" + "c3" * 16

# Near Shibuya ward office (Jinnan), and a point in Hachioji; Osaka's Umeda.
NEAR_SHIBUYA_OFFICE = {"latitude": 35.6625, "longitude": 139.6990}
HACHIOJI = {"latitude": 35.6550, "longitude": 139.3390}
UMEDA = {"latitude": 34.7025, "longitude": 135.4959}


async def share_location(parent: Parent, **location: Any) -> list[dict[str, Any]]:
    await parent.world.send(parent.user_id, {"type": "location", **location})
    return await parent._answer()


def labels(answer: list[dict[str, Any]]) -> list[str]:
    return [a.get("label", "") for a in actions_in(answer)]


async def started(world: LineWorld, municipality: str | None = "渋谷区") -> Parent:
    parent = Parent(world, PARENT)
    await parent.follow()
    await parent.tap("同意して始める")
    if municipality:
        await parent.say(municipality)
    return parent


async def test_typed_dates_are_understood_during_onboarding(line_world: LineWorld) -> None:
    parent = await started(line_world)
    answer = await parent.say("2024年4月1日")
    assert "2024年4月生まれのお子さまを登録しました" in texts_of(answer)
    answer = await parent.say("R5.10.2")
    assert "2023年10月生まれ" in texts_of(answer)
    answer = await parent.say("令和7年1月15日生まれです")
    assert "2025年1月生まれ" in texts_of(answer)
    answer = await parent.say("２０１９／９／１")  # full-width
    assert "2019年9月生まれ" in texts_of(answer)
    # No year, after today (2026-11-26): the nearest such day, a due date.
    answer = await parent.say("4/1")
    assert "出産予定日 2027年4月1日" in texts_of(answer)
    answer = await parent.tap("これで全部")
    assert "ひとり親" in texts_of(answer)
    await parent.tap("答えない")
    await parent.tap("答えない")
    await parent.tap("登録する")
    row = await family_row(line_world, PARENT)
    births = [c.birth_date.isoformat() for c in await children_rows(line_world, row.id)]
    assert births == ["2019-09-01", "2023-10-02", "2024-04-01", "2025-01-15"]
    assert row.pregnant and row.due_date.isoformat() == "2027-04-01"
    assert await line_world.rejected() == []


async def test_an_unreadable_date_is_asked_again_with_the_pickers(line_world: LineWorld) -> None:
    parent = await started(line_world)
    answer = await parent.say("先月うまれました")
    said = texts_of(answer)
    assert "日付として読み取れませんでした" in said and "R6.4.1" in said
    assert {"生年月日を選ぶ", "出産予定日を選ぶ"} <= set(labels(answer))
    assert all(
        a["type"] == "datetimepicker" for a in actions_in(answer) if a["label"] != "これで全部"
    )
    answer = await share_location(parent, **NEAR_SHIBUYA_OFFICE)  # not a date: asked again
    assert "生年月日" in texts_of(answer) and "出産予定日を選ぶ" in labels(answer)
    answer = await parent.say("2025/2/30")  # no such day
    assert "読み取れませんでした" in texts_of(answer)
    answer = await parent.say("2027/12/1")  # too far ahead for a due date
    assert "300日" in texts_of(answer)
    assert "出産予定日を選ぶ" in labels(answer)
    answer = await parent.say("1990/1/1")
    assert "18歳" in texts_of(answer)
    # Still in onboarding: the picker and a typed date both still work.
    answer = await parent.say("2025-06-10")
    assert "2025年6月生まれ" in texts_of(answer)
    assert "これで全部" in labels(answer)
    answer = await parent.tap("これで全部")
    assert "ひとり親" in texts_of(answer)
    # A keyword intent typed at the date step is still honoured (help).
    other = Parent(line_world, "U" + "c4" * 16)
    await other.follow()
    await other.tap("同意して始める")
    await other.say("渋谷区")
    answer = await other.say("ヘルプ")
    assert "使い方" in texts_of(answer)
    assert await line_world.rejected() == []


async def test_typed_dates_in_english(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.say("English")
    await parent.tap("I agree")
    await parent.say("Shibuya")
    answer = await parent.say("1 April 2024")
    assert "born Apr 2024" in texts_of(answer)
    answer = await parent.say("sometime last spring")
    assert "could not read" in texts_of(answer)
    assert "Add another child" in labels(answer)
    assert await line_world.rejected() == []


async def test_a_misspelled_municipality_is_asked_about(line_world: LineWorld) -> None:
    parent = await started(line_world, None)
    answer = await parent.say("渋屋区")
    assert "「渋屋区」は渋谷区のことですか？" in texts_of(answer)
    assert labels(answer) == ["はい", "いいえ"]
    answer = await parent.tap("いいえ")
    assert "入力してください" in texts_of(answer)
    answer = await parent.say("八王寺")
    assert "八王子市のことですか" in texts_of(answer)
    answer = await parent.tap("はい")
    assert "お住まい: 八王子市" in texts_of(answer)
    assert "生年月日を選ぶ" in labels(answer)
    await parent.tap("生年月日を選ぶ", date="2025-06-10")
    await parent.tap("これで全部")
    await parent.tap("答えない")
    await parent.tap("答えない")
    await parent.tap("登録する")
    row = await family_row(line_world, PARENT)
    assert row.municipality == "132012"
    assert await line_world.rejected() == []


async def test_a_shared_location_picks_the_municipality(line_world: LineWorld) -> None:
    parent = await started(line_world, None)
    assert "位置情報を送る" in labels(parent.last)
    assert any(a["type"] == "location" for a in actions_in(parent.last))
    # No address: the municipalities of the nearest offices, nearest first.
    answer = await share_location(parent, **NEAR_SHIBUYA_OFFICE)
    said = texts_of(answer)
    assert "いちばん近い役所は渋谷区役所です" in said
    assert labels(answer)[0] == "渋谷区" and labels(answer)[-1] == "ほかの市区町村"
    # A place outside Tokyo (its address names another prefecture) is said to be outside.
    answer = await share_location(parent, address="大阪府大阪市北区梅田3丁目1-1", **UMEDA)
    assert "62市区町村の外" in texts_of(answer)
    # LINE's address names the municipality: taken at once.
    answer = await share_location(
        parent, address="〒192-8501 東京都八王子市元本郷町３丁目２４−１", **HACHIOJI
    )
    assert "お住まい: 八王子市" in texts_of(answer)
    assert "生年月日を選ぶ" in labels(answer)
    await parent.tap("生年月日を選ぶ", date="2025-06-10")
    await parent.tap("これで全部")
    await parent.tap("答えない")
    await parent.tap("答えない")
    await parent.tap("登録する")
    row = await family_row(line_world, PARENT)
    assert row.municipality == "132012"
    # Moving: 家族の情報 → change the municipality by sharing the new place.
    await parent.postback("a=menu.family")
    await parent.tap("市区町村")
    answer = await share_location(parent, **NEAR_SHIBUYA_OFFICE)
    assert "渋谷区役所" in texts_of(answer)
    answer = await parent.tap("渋谷区")
    row = await family_row(line_world, PARENT)
    assert row.municipality == "131130"
    assert await line_world.rejected() == []
