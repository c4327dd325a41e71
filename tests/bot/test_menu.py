"""The rich menu and what its entries (and free-text intents) lead to."""

from __future__ import annotations

from typing import Any

from bot.richmenu import AREAS, MENU_NAME, ensure_rich_menu
from registry import families
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, bubble_titles, texts_of

PARENT = "U" + "c3" * 16


async def family_row(world: LineWorld) -> Any:
    async with world.sessions() as session:
        return await families.by_line_user(session, PARENT)


async def test_the_rich_menu_is_the_default_with_six_postback_areas(
    line_world: LineWorld,
) -> None:
    requests = await line_world.requests()
    paths = [r.get("path", "") for r in requests]
    assert any(p.endswith("/v2/bot/richmenu") for p in paths), paths
    assert any(p.endswith("/content") for p in paths), paths
    assert any("/v2/bot/user/all/richmenu/" in p for p in paths), paths
    # A second start reuses the menu: no new one is created.
    from bot.webhook import BOT

    line = line_world.app[BOT].deps.line
    first = await ensure_rich_menu(line)
    again = await ensure_rich_menu(line)
    assert first == again
    listing = await line.messaging.get_rich_menu_list()
    ours = [m for m in listing.richmenus if m.name == MENU_NAME]
    assert len(ours) == 1
    menu = ours[0]
    assert [a.action.data for a in menu.areas] == [f"a={action}" for action, _ in AREAS]
    assert menu.size.width == 2500 and menu.size.height == 1686
    image = await line.blob.get_rich_menu_image(menu.rich_menu_id)
    assert bytes(image[:8]) == b"\x89PNG\r\n\x1a\n" and len(image) < 1024 * 1024
    assert await line_world.rejected() == []


async def test_every_rich_menu_entry_answers(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    expected = {
        "menu.programs": "児童手当",
        "menu.daycare": "入園",
        "menu.settings": "通知設定",
        "menu.family": "ご家族の情報",
        "menu.rate": "5段階",
        "menu.help": "使い方",
    }
    for action, _label in AREAS:
        answer = await parent.postback(f"a={action}")
        assert expected[action] in texts_of(answer), action
        assert 1 <= len(answer) <= 5
    assert await line_world.rejected() == []


async def test_my_programs_before_onboarding_starts_onboarding(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    await parent.tap("同意して始める")
    await parent.say("渋谷区")
    answer = await parent.postback("a=menu.programs")
    said = texts_of(answer)
    assert "先にご家族のことを" in said and "生年月日" in said  # resumes where it was
    answer = await parent.postback("a=menu.family")
    assert "まだご家族の情報が登録されていません" in texts_of(answer)
    assert await line_world.rejected() == []


async def test_i_applied_stops_reminders(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    answer = await parent.onboard()
    titles = bubble_titles(answer)
    index = titles.index("児童手当")
    bubble = [b for c in answer if c["type"] == "flex" for b in c["contents"]["contents"]][index]
    buttons = actions_in([bubble])
    assert any(b["type"] == "uri" for b in buttons)
    applied = next(b for b in buttons if b["label"] == "申請しました")
    answer = await parent.postback(applied["data"])
    assert "申請済みにしました" in texts_of(answer)
    answer = await parent.postback(applied["data"])
    assert "すでに申請済み" in texts_of(answer)
    row = await family_row(line_world)
    async with line_world.sessions() as session:
        assert len(await families.applied_programs(session, row.id)) == 1
    # The list shows it applied, last, without the button.
    answer = await parent.postback("a=menu.programs")
    titles = bubble_titles(answer)
    assert titles[-1] == "児童手当"
    last_bubble = [b for c in answer if c["type"] == "flex" for b in c["contents"]["contents"]][-1]
    assert "申請済み" in texts_of([last_bubble])
    assert all(b.get("label") != "申請しました" for b in actions_in([last_bubble]))
    assert await line_world.rejected() == []


async def test_settings_are_stored(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    answer = await parent.postback("a=menu.settings")
    assert "20:00-08:00" in texts_of(answer)
    await parent.tap("受け取る分野")
    answer = await parent.tap("✓ 予防接種")
    assert "オフ" in texts_of(answer)
    assert any(a["label"] == "✕ 予防接種" for a in actions_in(answer))
    await parent.tap("設定に戻る")
    await parent.tap("通知しない時間")
    answer = await parent.tap("22:00-07:00")
    assert "22:00-07:00" in texts_of(answer)
    await parent.tap("受け取り先")
    answer = await parent.tap("自治体アプリ")  # no app registered: stays on LINE
    assert "自治体アプリが登録されていない" in texts_of(answer)
    row = await family_row(line_world)
    assert row.preferences == {
        "categories_off": ["vaccination"],
        "quiet_hours": "22:00-07:00",
        "channel": "line",
    }
    # Turn the category back on.
    await parent.tap("受け取る分野")
    await parent.tap("✕ 予防接種")
    row = await family_row(line_world)
    assert row.preferences["categories_off"] == []
    assert await line_world.rejected() == []


async def test_add_and_remove_a_child(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    await parent.postback("a=menu.family")
    answer = await parent.tap("子どもを追加", date="2023-04-02")
    assert "2023年4月生まれ" in texts_of(answer)
    answer = await parent.tap("子どもを追加", date="2027-01-01")
    assert "まだ来ていない日付" in texts_of(answer)
    row = await family_row(line_world)
    async with line_world.sessions() as session:
        births = [c.birth_date.isoformat() for c in await families.children_of(session, row.id)]
    assert births == ["2023-04-02", "2025-06-10"]
    await parent.tap("子どもを削除")
    answer = await parent.tap("2025年6月生まれ")
    assert "削除しました" in texts_of(answer)
    async with line_world.sessions() as session:
        births = [c.birth_date.isoformat() for c in await families.children_of(session, row.id)]
    assert births == ["2023-04-02"]
    # Another family's child id is refused.
    answer = await parent.postback("a=fam.rmc&c=1")
    assert "見つかりませんでした" in texts_of(answer) or "削除しました" not in texts_of(answer)
    await parent.tap("市区町村を変更")
    answer = await parent.say("みなと")
    assert "港区に変更しました" in texts_of(answer)
    row = await family_row(line_world)
    assert row.municipality == "131032"
    assert await line_world.rejected() == []


async def test_english_then_every_text_is_english(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    answer = await parent.say("English please")
    assert "English" in texts_of(answer)
    row = await family_row(line_world)
    assert row.language == "en"
    answer = await parent.postback("a=menu.programs")
    titles = bubble_titles(answer)
    assert "Child Allowance" in titles and "018 Support (Tokyo)" in titles
    said = texts_of(answer)
    assert "Why it fits" in said and "born Jun 2025" in said
    for action, _label in AREAS:
        said = texts_of(await parent.postback(f"a={action}"))
        # Only the way back to Japanese is written in Japanese.
        english = "\n".join(line for line in said.splitlines() if "日本語" not in line)
        assert not any("\u3040" <= ch <= "\u30ff" for ch in english), (action, said)
    answer = await parent.say("日本語")
    assert "日本語でご案内します" in texts_of(answer)
    assert (await family_row(line_world)).language == "ja"
    assert await line_world.rejected() == []


async def test_rating_with_a_comment_shows_in_the_summary(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    await parent.postback("a=menu.rate")
    answer = await parent.tap("4 ★★★★")
    assert "ご意見" in texts_of(answer)
    answer = await parent.say("通知がわかりやすいです")
    assert "ありがとう" in texts_of(answer)
    await parent.postback("a=menu.rate")
    await parent.tap("2 ★★")
    # The bot's item-specific questions (使いやすさ, 返答のわかりやすさ) may be skipped.
    await parent.tap("スキップ")
    await parent.tap("スキップ")
    await parent.tap("答えない")
    base = line_world.webhook_url.rsplit("/line/webhook", 1)[0]
    async with line_world.http.get(f"{base}/api/v1/reviews/summary") as response:
        assert response.status == 200
        body = await response.json()
    assert body["services"] == [{"service": "bot", "average": 3.0, "count": 2}]
    row = await family_row(line_world)
    from sqlmodel import select

    from bot.models import Review

    async with line_world.sessions() as session:
        reviews = (await session.exec(select(Review).order_by(Review.id))).all()
    assert [(r.rating, r.comment, r.family_id) for r in reviews] == [
        (4, "通知がわかりやすいです", row.id),
        (2, None, row.id),
    ]
    assert await line_world.rejected() == []


async def test_free_text_intents(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    cases = {
        "もらえる手当は？": "児童手当",
        "保育園に入りたい": "入園",
        "通知の設定": "通知設定",
        "子どもの情報": "ご家族の情報",
        "評価したい": "5段階",
        "使い方を教えて": "使い方",
        "daycare": "入園",
        "support": "児童手当",
        "退会したい": "削除しますか",
        "こんにちは": "うまく理解できませんでした",
    }
    for said, expected in cases.items():
        answer = await parent.say(said)
        assert expected in texts_of(answer), said
    assert await line_world.rejected() == []
