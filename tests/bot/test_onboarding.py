"""Follow, consent and onboarding, driven through the LINE emulator over real HTTP."""

from __future__ import annotations

from typing import Any

from bot.state import ConversationStore
from hagukumi.app import REDIS
from registry import families
from registry.models import Child
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, bubble_titles, carousels, texts_of

PARENT = "U" + "a1" * 16
OTHER = "U" + "b2" * 16


async def family_row(world: LineWorld, user_id: str) -> Any:
    async with world.sessions() as session:
        return await families.by_line_user(session, user_id)


async def children_rows(world: LineWorld, family_id: int) -> list[Child]:
    async with world.sessions() as session:
        return await families.children_of(session, family_id)


async def test_follow_greets_and_stores_nothing_before_consent(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    answer = await parent.follow()
    said = texts_of(answer)
    assert "はぐくみ" in said and "個人情報" in said
    assert "English: type 'English'" in said
    labels = [a["label"] for a in actions_in(answer)]
    assert labels == ["同意して始める", "今はしない"]
    # Typing before consent: the notice again, nothing stored but the ID.
    answer = await parent.say("渋谷区に住んでいます")
    assert "同意" in texts_of(answer)
    await parent.postback("a=menu.programs")
    assert "同意" in texts_of(parent.last)
    row = await family_row(line_world, PARENT)
    assert row.line_user_id == PARENT
    assert row.state == "new"
    assert row.consented_at is None and row.onboarded_at is None
    assert row.municipality is None and row.single_parent is None
    assert row.due_date is None and row.resident_tax_exempt is None and not row.pregnant
    assert row.preferences == {}
    assert row.language == "ja"  # the column default; nothing chosen was stored
    assert await children_rows(line_world, row.id) == []
    assert await line_world.rejected() == []


async def test_not_now_then_english_before_consent(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    answer = await parent.tap("今はしない")
    assert "何も保存していません" in texts_of(answer)
    answer = await parent.say("English")
    assert "privacy" in texts_of(answer).lower()
    assert [a["label"] for a in actions_in(answer)] == ["I agree", "Not now"]
    row = await family_row(line_world, PARENT)
    assert row.language == "ja" and row.consented_at is None  # the wish is not stored yet
    await parent.tap("I agree")
    row = await family_row(line_world, PARENT)
    assert row.consented_at is not None and row.language == "en"
    assert "Which municipality" in texts_of(parent.last)
    assert await line_world.rejected() == []


async def test_whole_onboarding_ends_with_the_programs(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    answer = await parent.tap("同意して始める")
    assert "市区町村" in texts_of(answer)
    assert len(actions_in(answer)) <= 13
    answer = await parent.say("Shibya")  # a typo, in English: asked about
    assert "渋谷区のことですか" in texts_of(answer)
    await parent.tap("はい")
    answer = await parent.tap("生年月日を選ぶ", date="2025-06-10")
    assert "2025年6月生まれ" in texts_of(answer)
    answer = await parent.tap("もう1人追加", date="2019-09-01")
    assert "2019年9月生まれ" in texts_of(answer)
    await parent.tap("これで全部")
    assert "ひとり親" in texts_of(parent.last)
    await parent.tap("答えない")
    assert "住民税" in texts_of(parent.last)
    answer = await parent.tap("答えない")
    summary = texts_of(answer)
    assert "渋谷区" in summary and "2025年6月生まれ・1歳" in summary
    assert "2019年9月生まれ・7歳" in summary
    answer = await parent.tap("登録する")
    assert len(answer) <= 5
    titles = bubble_titles(answer)
    assert "児童手当" in titles and "018サポート" in titles
    assert "子ども医療費助成（渋谷区）" in titles
    said = texts_of(answer)
    assert "お子さま（2025年6月生まれ）が対象年齢です" in said
    assert "東京都にお住まいです" in said
    for carousel in carousels(answer):
        assert 1 <= len(carousel["contents"]) <= 12
    row = await family_row(line_world, PARENT)
    assert row.municipality == "131130"
    assert row.onboarded_at is not None and row.single_parent is None
    assert row.resident_tax_exempt is None and not row.pregnant
    births = [c.birth_date.isoformat() for c in await children_rows(line_world, row.id)]
    assert births == ["2019-09-01", "2025-06-10"]
    # The answers in progress are gone from the conversation state.
    state = await ConversationStore(line_world.app[REDIS]).load(PARENT)
    assert "onb" not in state and "await" not in state
    assert await line_world.rejected() == []


async def test_pregnancy_kana_and_optional_answers(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.tap("同意して始める")
    answer = await parent.say("はちおうじ")
    assert "八王子市" in texts_of(answer)
    answer = await parent.tap("出産予定日を選ぶ", date="2027-03-01")
    assert "2027年3月1日" in texts_of(answer)
    await parent.tap("これで全部")
    await parent.tap("はい")
    await parent.tap("いいえ")
    answer = await parent.tap("登録する")
    assert any("妊婦" in title for title in bubble_titles(answer))
    row = await family_row(line_world, PARENT)
    assert row.municipality == "132012" and row.pregnant
    assert row.due_date.isoformat() == "2027-03-01"
    assert row.single_parent is True and row.resident_tax_exempt is False
    assert await line_world.rejected() == []


async def test_ambiguous_and_unknown_municipalities(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.tap("同意して始める")
    answer = await parent.say("中")
    labels = [a["label"] for a in actions_in(answer)]
    assert {"中央区", "中野区"} <= set(labels) and len(labels) <= 13
    answer = await parent.say("Yokohama")
    assert "見つかりませんでした" in texts_of(answer)
    # A forged code (Yokohama, not one of Tokyo's 62) is refused kindly.
    answer = await parent.postback("a=onb.muni&c=141003")
    assert "選べません" in texts_of(answer)
    answer = await parent.tap("ほかの市区町村")
    answer = await parent.say("なかの")
    assert "中野区" in texts_of(answer)
    assert await line_world.rejected() == []


async def test_a_future_or_forged_birth_date_is_refused(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.tap("同意して始める")
    await parent.say("渋谷区")
    answer = await parent.tap("生年月日を選ぶ", date="2026-12-24")  # the test date is 2026-11-26
    assert "まだ来ていない日付" in texts_of(answer)
    answer = await parent.postback("a=onb.child", {"date": "not-a-date"})
    assert "読み取れません" in texts_of(answer)
    answer = await parent.postback("a=onb.child", {"date": "1990-01-01"})
    assert "18歳" in texts_of(answer)
    answer = await parent.postback("a=onb.due", {"date": "2030-01-01"})
    assert "300日" in texts_of(answer)
    # "That's all" without any child: asked again.
    answer = await parent.postback("a=onb.done")
    assert "1つ以上" in texts_of(answer)
    row = await family_row(line_world, PARENT)
    assert await children_rows(line_world, row.id) == []
    assert await line_world.rejected() == []


async def test_stale_and_forged_postbacks_are_answered_kindly(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    # An onboarding button from an old message, after onboarding ended.
    answer = await parent.postback("a=onb.child", {"date": "2024-01-01"})
    assert "古くなった" in texts_of(answer)
    answer = await parent.postback("a=no.such.action&x=1")
    assert "古くなった" in texts_of(answer)
    answer = await parent.postback("garbage without an action")
    assert "古くなった" in texts_of(answer)
    answer = await parent.postback("a=applied&p=999999")
    assert "見つかりませんでした" in texts_of(answer)
    answer = await parent.postback("a=fam.rmc&c=abc")
    assert "見つかりませんでした" in texts_of(answer)
    answer = await parent.postback("a=set.q&v=03:00-04:00")
    assert "選べません" in texts_of(answer)
    # A consented family that has not finished onboarding taps an old "confirm".
    other = Parent(line_world, OTHER)
    await other.follow()
    await other.tap("同意して始める")
    answer = await other.postback("a=onb.ok")
    assert "市区町村" in texts_of(answer)
    assert await line_world.rejected() == []


async def test_edit_starts_over(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.tap("同意して始める")
    await parent.say("渋谷区")
    await parent.tap("生年月日を選ぶ", date="2025-06-10")
    await parent.tap("これで全部")
    await parent.tap("答えない")
    await parent.tap("答えない")
    answer = await parent.tap("やり直す")
    assert "はじめから" in texts_of(answer)
    await parent.say("世田谷")
    await parent.tap("生年月日を選ぶ", date="2024-02-29")
    await parent.tap("これで全部")
    await parent.tap("答えない")
    await parent.tap("答えない")
    await parent.tap("登録する")
    row = await family_row(line_world, PARENT)
    assert row.municipality == "131121"
    births = [c.birth_date.isoformat() for c in await children_rows(line_world, row.id)]
    assert births == ["2024-02-29"]
    assert await line_world.rejected() == []
