"""Rating a service with its item-specific questions, in LINE: after a tour booking the bot
offers (never forces) to rate it; overall 1-5, then each question, then an optional comment,
each answer stored at once; the offer is not repeated soon; the rich menu's 評価する still rates
the bot and leads to the other services; English."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from bot.models import Review
from bot.reviews import SERVICES
from notifier.models import Notice
from registry import families
from registry.db import transaction
from tests.bot.conftest import LineWorld
from tests.bot.parent import Parent, actions_in, carousels, texts_of
from tests.bot.test_daycare_door import add_facilities, add_slot, tours_clock, user
from tests.bot.test_daycare_line_tours import jst, searched

__all__ = ["tours_clock"]  # bookings see the bot's clock


async def stored(world: LineWorld) -> list[Review]:
    async with world.sessions() as session:
        return list((await session.exec(select(Review).order_by(Review.id))).all())


def labels(answer: list[dict[str, Any]]) -> list[str]:
    return [str(a.get("label")) for a in actions_in(answer)]


def check_limits(answer: list[dict[str, Any]]) -> None:
    """Quick replies ≤ 13 with labels ≤ 20 characters; postback data ≤ 300 characters."""
    for message in answer:
        items = (message.get("quickReply") or {}).get("items", [])
        assert len(items) <= 13
    for action in actions_in(answer):
        assert len(str(action.get("label", ""))) <= 20, action
        assert len(str(action.get("data", ""))) <= 300, action
    assert len(answer) <= 5


async def test_a_tour_booking_is_offered_for_rating_with_its_own_questions(
    line_world: LineWorld,
) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    await add_slot(line_world, midori, jst(12, 9, 10))
    await add_slot(line_world, midori, jst(12, 10, 14))
    await add_slot(line_world, ids["そら保育室"], jst(12, 11, 10))
    parent = await searched(line_world, "rater")

    await parent.tap("見学を予約")
    answer = await parent.tap("12/9(水) 10:00 残2")
    said = texts_of(answer)
    assert "見学を予約しました" in said
    # Offered, not asked: a button beside the daycare menu, no question waiting.
    assert "見学予約はいかがでしたか" in said
    assert "この見学予約を評価する" in labels(answer) and "予約した見学" in labels(answer)
    check_limits(answer)
    assert await stored(line_world) == []

    answer = await parent.tap("この見学予約を評価する")
    assert "5段階" in texts_of(answer)
    answer = await parent.tap("4 ★★★★")
    # Stored at once, with the family's municipality.
    [review] = await stored(line_world)
    assert (review.service, review.rating, review.answers) == ("tours", 4, {})
    assert review.municipality == "132012"
    asked = [texts_of(answer)]
    check_limits(answer)
    assert "スキップ" in labels(answer) and len(labels(answer)) <= 13
    answer = await parent.tap("5 ★★★★★")
    asked.append(texts_of(answer))
    # Skipping leaves a bubble in the chat, like every other tap.
    skip = next(a for a in actions_in(answer) if a.get("label") == "スキップ")
    stop = next(a for a in actions_in(answer) if a.get("label") == "評価を終える")
    assert (skip.get("displayText"), stop.get("displayText")) == ("スキップ", "評価を終える")
    answer = await parent.tap("スキップ")
    # No reminder could have been sent yet: reminders are not asked about (2 questions).
    assert "ご意見" in texts_of(answer) and "答えない" in labels(answer)
    assert ["予約のしやすさ" in asked[0], "日時の選択肢" in asked[1]] == [True, True]
    assert "（1/2）" in asked[0] and "（2/2）" in asked[1]
    assert not any("リマインド" in said for said in asked)
    answer = await parent.tap("答えない")
    assert "ありがとう" in texts_of(answer)
    # A forged answer to the question not asked is not stored.
    await parent.postback(f"a=rate.q&r={review.id}&q=reminder&v=1")
    [review] = await stored(line_world)
    assert review.answers == {"booking_ease": 5}
    assert review.comment is None

    # A second booking soon after (another daycare): no second offer.
    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    answer = await parent.say("八王子駅")
    await parent.postback(tour_button(answer, "そら保育室")["data"])
    answer = await parent.tap("12/11(金) 10:00 残2")
    assert "見学を予約しました" in texts_of(answer)
    assert "この見学予約を評価する" not in labels(answer)
    assert "いかがでしたか" not in texts_of(answer)


def tour_button(answer: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The 見学を予約 button on the card of this daycare."""
    for bubble in carousels(answer)[0]["contents"]:
        if bubble["body"]["contents"][0]["text"] == name:
            for action in actions_in([bubble]):
                if action.get("label") == "見学を予約":
                    return action
    raise AssertionError(f"no tour button for {name}")


async def test_walking_away_midway_still_counts_and_typed_answers_work(
    line_world: LineWorld,
) -> None:
    parent = Parent(line_world, user("walker"))
    await parent.onboard()
    await parent.postback("a=menu.rate")
    answer = await parent.tap("ほかのサービスを評価")
    assert labels(answer) == [s.ja for s in SERVICES]
    answer = await parent.tap("入所申込")
    assert "入所申込はいかがでしたか" in texts_of(answer)
    answer = await parent.tap("2 ★★")
    assert "わかりやすさ" in texts_of(answer)
    answer = await parent.say("４")  # typed, full-width
    assert "入力の手間" in texts_of(answer)
    [review] = await stored(line_world)
    assert (review.service, review.rating, review.answers) == ("applications", 2, {"clarity": 4})
    assert review.municipality == "131130"
    # The parent walks away: the next message is about something else entirely.
    answer = await parent.tap("評価を終える")
    assert "ありがとう" in texts_of(answer)
    [review] = await stored(line_world)
    assert review.answers == {"clarity": 4}
    # A forged answer to someone else's review (or an unknown question) changes nothing.
    other = Parent(line_world, user("other"))
    await other.onboard()
    await other.postback(f"a=rate.q&r={review.id}&q=effort&v=1")
    await parent.postback(f"a=rate.q&r={review.id}&q=nope&v=1")
    [review] = await stored(line_world)
    assert review.answers == {"clarity": 4}


async def test_the_rich_menu_rating_still_rates_the_bot_with_its_questions(
    line_world: LineWorld,
) -> None:
    parent = Parent(line_world, user("menu"))
    await parent.onboard()
    answer = await parent.postback("a=menu.rate")
    assert "5段階" in texts_of(answer) and "5 ★★★★★" in labels(answer)
    check_limits(answer)
    await parent.tap("5 ★★★★★")
    answer = await parent.tap("4 ★★★★")
    assert "返答のわかりやすさ" in texts_of(answer)
    await parent.tap("5 ★★★★★")
    answer = await parent.say("とても助かっています")
    assert "ありがとう" in texts_of(answer)
    [review] = await stored(line_world)
    assert (review.service, review.rating) == ("bot", 5)
    assert review.answers == {"ease": 4, "answers_clarity": 5}
    assert review.comment == "とても助かっています"


async def test_in_english(line_world: LineWorld) -> None:
    parent = Parent(line_world, user("english"))
    await parent.onboard()
    await parent.say("English")
    answer = await parent.postback("a=menu.rate")
    answer = await parent.tap("Other services")
    assert labels(answer) == [s.en for s in SERVICES]
    answer = await parent.tap("Notices")
    assert "Notices: how was it?" in texts_of(answer)
    answer = await parent.tap("3 ★★★")
    said = texts_of(answer)
    assert '(1/3) How would you rate "Usefulness"?' in said
    assert "Skip" in labels(answer) and "Finish rating" in labels(answer)
    answer = await parent.tap("Skip")
    assert '"Timing"' in texts_of(answer)
    english = texts_of(answer)
    assert not any("\u3040" <= ch <= "\u30ff" for ch in english)
    [review] = await stored(line_world)
    assert (review.service, review.rating, review.answers) == ("notices", 3, {})


async def test_i_applied_offers_to_rate_the_notices_once(line_world: LineWorld) -> None:
    parent = Parent(line_world, user("applied"))
    await parent.onboard()
    async with line_world.sessions() as session:
        family = await families.by_line_user(session, parent.user_id)
        assert family is not None
    answer = await parent.postback("a=menu.programs")
    applied = parent.action("申請しました")
    answer = await parent.postback(applied["data"])
    assert "このお知らせを評価する" in labels(answer)
    check_limits(answer)
    answer = await parent.tap("このお知らせを評価する")
    assert "お知らせはいかがでしたか" in texts_of(answer)
    await parent.tap("5 ★★★★★")
    answer = await parent.tap("4 ★★★★")
    assert "タイミング" in texts_of(answer)
    [review] = await stored(line_world)
    assert (review.service, review.answers) == ("notices", {"useful": 4})


def test_every_service_and_question_fits_line_labels() -> None:
    from bot.texts import t

    ids = [s.id for s in SERVICES]
    assert ids == ["bot", "notices", "daycare_search", "tours", "applications"]
    for service in SERVICES:
        assert 2 <= len(service.questions) <= 3, service.id
        assert len({q.id for q in service.questions}) == len(service.questions)
        for lang, name in (("ja", service.ja), ("en", service.short_en)):
            assert len(t("review.offer.label", lang, name=name)) <= 20, (service.id, lang)
        assert len(service.ja) <= 20 and len(service.en) <= 20  # the service choice buttons


async def test_reminders_are_asked_about_once_a_reminder_was_sent(line_world: LineWorld) -> None:
    parent = Parent(line_world, user("reminded"))
    await parent.onboard()
    async with line_world.sessions() as session:
        family = await families.by_line_user(session, parent.user_id)
    assert family is not None and family.id is not None
    async with transaction(line_world.sessions) as session:
        session.add(
            Notice(
                family_id=family.id,
                subject="tour:1",
                kind="tour-reminder",
                cycle="2026-11-21",
                issuer="131130",
                status="sent",
                sent_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
            )
        )
    await parent.postback("a=menu.rate")
    await parent.tap("ほかのサービスを評価")
    await parent.tap("見学予約")
    answer = await parent.tap("4 ★★★★")
    assert "（1/3）" in texts_of(answer)
    await parent.tap("5 ★★★★★")
    answer = await parent.tap("スキップ")
    assert "リマインドの役立ち" in texts_of(answer) and "（3/3）" in texts_of(answer)
    answer = await parent.tap("3 ★★★")
    assert "ご意見" in texts_of(answer)
    [review] = await stored(line_world)
    assert review.answers == {"booking_ease": 5, "reminder": 3}
