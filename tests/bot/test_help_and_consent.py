"""Before consent (English, help, rating), the app channel without an app, and the ward office
in help: through the real webhook and the LINE emulator."""

from __future__ import annotations

from sqlmodel import select

from bot.models import Review
from registry.models import AppSubscription
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, texts_of
from tests.bot.test_onboarding import family_row

PARENT = "U" + "d5" * 16
NOTICE_HEADING = "【個人情報の取り扱い】"


def labels(answer: list[dict]) -> list[str]:
    return [a.get("label", "") for a in actions_in(answer)]


async def reviews(world: LineWorld) -> list[Review]:
    async with world.sessions() as session:
        return list((await session.exec(select(Review))).all())


async def test_english_before_consent_gives_the_english_introduction(
    line_world: LineWorld,
) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    answer = await parent.say("English")
    said = texts_of(answer)
    assert "Hello! This is Hagukumi" in said and "[Privacy notice]" in said
    assert "はぐくみ" not in said.replace("「日本語」と送ってください", "")
    assert labels(answer) == ["I agree", "Not now"]
    answer = await parent.say("日本語")
    assert "はじめまして" in texts_of(answer) and NOTICE_HEADING in texts_of(answer)
    assert await line_world.rejected() == []


async def test_help_before_consent_is_short_and_leads_on(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    for ask in (parent.say("ヘルプ"), parent.postback("a=menu.help")):
        answer = await ask
        said = texts_of(answer)
        assert "はぐくみでできること" in said
        assert NOTICE_HEADING not in said  # not the whole notice again
        assert {"同意して始める", "個人情報の扱い", "評価する"} <= set(labels(answer))
    answer = await parent.tap("個人情報の扱い")
    assert NOTICE_HEADING in texts_of(answer)
    answer = await parent.say("help")
    assert "はぐくみでできること" in texts_of(answer)
    answer = await parent.tap("同意して始める")
    assert "市区町村" in texts_of(answer)
    row = await family_row(line_world, PARENT)
    assert row.consented_at is not None
    assert await line_world.rejected() == []


async def test_rating_before_consent_is_kept_without_the_parent(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.follow()
    answer = await parent.postback("a=menu.rate")  # the rich menu's 評価する
    assert "5 ★★★★★" in labels(answer)
    assert NOTICE_HEADING not in texts_of(answer)
    answer = await parent.tap("4 ★★★★")
    # The bot's first item-specific question; a typed text is kept as the comment.
    assert "使いやすさ" in texts_of(answer) and "ご意見" in texts_of(answer)
    assert "スキップ" in labels(answer)
    answer = await parent.say("通知が便利そうです")
    said = texts_of(answer)
    assert "ありがとう" in said and NOTICE_HEADING not in said
    assert "同意して始める" in labels(answer)
    stored = await reviews(line_world)
    assert [(r.rating, r.comment, r.family_id) for r in stored] == [
        (4, "通知が便利そうです", None)
    ]
    row = await family_row(line_world, PARENT)
    assert row.consented_at is None and row.municipality is None
    # Typing "評価" works too.
    answer = await parent.say("評価")
    assert "5 ★★★★★" in labels(answer)
    assert await line_world.rejected() == []


async def test_app_channel_without_an_app_stays_on_line(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard()
    await parent.postback("a=menu.settings")
    await parent.tap("受け取り先")
    answer = await parent.tap("自治体アプリ")
    said = texts_of(answer)
    assert "自治体アプリが登録されていない" in said and "LINEに届きます" in said
    assert "・通知の受け取り先: LINE" in said
    row = await family_row(line_world, PARENT)
    assert row.preferences.get("channel") == "line"
    # With an app registered for the family, the app is chosen.
    async with line_world.sessions() as session:
        session.add(
            AppSubscription(family_id=row.id, issuer="131130", token_hash="x" * 64, secret="s")
        )
        await session.commit()
    await parent.tap("受け取り先")
    answer = await parent.tap("自治体アプリ")
    assert "受け取り先を「自治体アプリ」にしました" in texts_of(answer)
    row = await family_row(line_world, PARENT)
    assert row.preferences.get("channel") == "app"
    assert await line_world.rejected() == []


async def test_help_tells_how_to_reach_the_ward_office(line_world: LineWorld) -> None:
    parent = Parent(line_world, PARENT)
    await parent.onboard("八王子市")
    answer = await parent.say("ヘルプ")
    said = texts_of(answer)
    assert "【八王子市役所】" in said and "https://www.city.hachioji.tokyo.jp/" in said
    await parent.say("English")
    answer = await parent.postback("a=menu.help")
    said = texts_of(answer)
    assert "[Hachioji City office]" in said and "https://www.city.hachioji.tokyo.jp/" in said
    assert await line_world.rejected() == []
