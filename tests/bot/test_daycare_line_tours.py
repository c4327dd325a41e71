"""Tours in LINE: pick a slot, book, "already booked", full, my tours, change, cancel; the
reminder the day before (once, never for a cancelled booking); deleting the family's data
gives its seats back. The bot's clock is noon in Tokyo on 2026-11-26 (a Thursday)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update as sa_update
from sqlmodel import select

from integrations.daycare import tours
from integrations.daycare.models import Facility, SavedFacility, TourBooking, TourSlot
from integrations.daycare.notices import (
    TOUR_REMINDER,
    record_tour_reminders,
    remind_if_tomorrow,
    tour_reminder_pass,
)
from notifier.messages import notice_message
from notifier.models import Notice, SendRequest
from notifier.planning import plan
from registry.db import transaction
from registry.models import Family
from tests.bot.conftest import NOW, LineWorld
from tests.bot.parent import Parent, actions_in, texts_of
from tests.bot.test_daycare_door import (
    add_facilities,
    add_slot,
    check_line_limits,
    tours_clock,
    user,
)

__all__ = ["tours_clock"]  # the bookings' clock, used here too

TOKYO = ZoneInfo("Asia/Tokyo")


def jst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


async def searched(
    world: LineWorld, name: str, births: tuple[str, ...] = ("2026-04-01",)
) -> Parent:
    """A Hachioji parent who searched near 八王子駅 for April 2027 (the carousel is last)."""
    parent = Parent(world, user(name))
    await parent.onboard("八王子市", births=births)
    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    await parent.say("八王子駅")
    return parent


async def slot_row(world: LineWorld, slot_id: int) -> TourSlot:
    async with world.sessions() as session:
        slot = await session.get(TourSlot, slot_id)
        assert slot is not None
        return slot


async def reminders(world: LineWorld) -> list[Notice]:
    async with world.sessions() as session:
        found = await session.exec(select(Notice).where(Notice.kind == TOUR_REMINDER))
        return list(found.all())


async def test_book_again_change_and_cancel_a_tour(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    first = await add_slot(line_world, midori, jst(12, 9, 10))
    second = await add_slot(line_world, midori, jst(12, 10, 14), capacity=1)
    await add_slot(line_world, midori, jst(11, 20, 10))  # past: never offered
    parent = await searched(line_world, "tours")

    answer = await parent.tap("見学を予約")
    labels = [a["label"] for a in actions_in(answer)]
    assert labels[:2] == ["12/9(水) 10:00 残2", "12/10(木) 14:00 残1"]
    check_line_limits(answer)
    book = parent.action("12/9(水) 10:00 残2")
    answer = await parent.postback(book["data"])
    said = texts_of(answer)
    assert "見学を予約しました" in said and "みどり保育園" in said
    assert "2026年12月9日(水) 10:00–11:00" in said
    assert "東京都八王子市子安町2-1-1" in said and "上履きをお持ちください" in said
    assert (await slot_row(line_world, first)).booked == 1
    # The same button again: no second seat.
    answer = await parent.postback(book["data"])
    assert "すでに予約済み" in texts_of(answer)
    assert (await slot_row(line_world, first)).booked == 1

    answer = await parent.tap("予約した見学")
    assert "予約した見学（1件）" in texts_of(answer)
    assert answer[-1]["altText"].startswith("予約した見学: みどり保育園")
    old_cancel = parent.action("キャンセル")
    answer = await parent.tap("日時を変更")
    assert [a["label"] for a in actions_in(answer)][0] == "12/10(木) 14:00 残1"
    answer = await parent.tap("12/10(木) 14:00 残1")
    said = texts_of(answer)
    assert "見学の日時を変更しました" in said and "2026年12月10日(木) 14:00–15:00" in said
    assert (await slot_row(line_world, first)).booked == 0
    assert (await slot_row(line_world, second)).booked == 1
    # The old booking's キャンセル button: it was moved, and where to.
    answer = await parent.postback(old_cancel["data"])
    said = texts_of(answer)
    assert "変更されています" in said and "2026年12月10日(木) 14:00" in said
    await parent.tap("予約した見学")

    answer = await parent.tap("キャンセル")
    assert "キャンセルしますか" in texts_of(answer)
    answer = await parent.tap("予約を続ける")
    assert "予約はそのままです" in texts_of(answer)
    assert (await slot_row(line_world, second)).booked == 1
    await parent.tap("予約した見学")
    await parent.tap("キャンセル")
    answer = await parent.tap("キャンセルする")
    assert "キャンセルしました" in texts_of(answer)
    assert (await slot_row(line_world, second)).booked == 0
    answer = await parent.tap("予約した見学")
    assert "予約した見学はありません" in texts_of(answer)


async def test_a_full_tour_is_said_and_others_offered(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    last = await add_slot(line_world, midori, jst(12, 9, 10), capacity=1)
    await add_slot(line_world, midori, jst(12, 11, 10))
    parent = await searched(line_world, "full")
    await parent.tap("見学を予約")
    book = parent.action("12/9(水) 10:00 残1")
    async with transaction(line_world.sessions) as session:
        slot = await session.get(TourSlot, last)
        assert slot is not None
        slot.booked = 1  # someone else took the last seat meanwhile
        session.add(slot)
    answer = await parent.postback(book["data"])
    said = texts_of(answer)
    assert "満席" in said and "12/11(金) 10:00 残2" in [a["label"] for a in actions_in(answer)]


async def test_reminder_the_day_before_once_and_rendered(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    await add_slot(line_world, midori, jst(11, 28, 10))
    parent = await searched(line_world, "remind")
    await parent.tap("見学を予約")
    await parent.tap("11/28(土) 10:00 残2")
    assert await reminders(line_world) == []  # the tour is the day after tomorrow

    # The scheduler's reminder job the next morning (06:30 in Tokyo), as the app wires it,
    # then the pass again: one notice, due at 09:00.
    from hagukumi.app import NOTICES
    from notifier.jobs import JOBS

    morning = jst(11, 27, 6, 30)
    summary = await JOBS["deadline_reminders"](line_world.app[NOTICES].job_context(), morning)
    assert summary["new"] == 1 and summary["planned"] == 0
    async with transaction(line_world.sessions) as session:
        assert await record_tour_reminders(session, now=morning) == 0
    [notice] = await reminders(line_world)
    assert notice.subject.startswith("tour:") and notice.cycle == "2026-11-28"
    assert notice.status == "scheduled" and notice.due_at == jst(11, 27, 9)

    message = notice_message([notice], "ja")
    bubble = message["contents"]
    said = texts_of([message])
    assert "みどり保育園" in said and "2026年11月28日(土) 10:00–11:00" in said
    assert "東京都八王子市子安町2-1-1" in said
    kinds = [a["type"] for a in actions_in([bubble])]
    assert kinds == ["uri", "postback"]
    assert "明日は見学の日です" in message["altText"]

    # Before 09:00 it waits; at 09:00 it goes, once.
    settings = {"zone": TOKYO, "quiet_hours": "20:00-08:00", "digest_at": "09:00"}
    assert await plan(line_world.sessions, now=jst(11, 27, 8, 30), **settings) == []
    sent = await plan(line_world.sessions, now=jst(11, 27, 9, 1), **settings)
    assert len(sent) == 1
    assert await plan(line_world.sessions, now=jst(11, 27, 9, 2), **settings) == []
    async with line_world.sessions() as session:
        request = await session.get(SendRequest, sent[0])
        assert request is not None
    assert "みどり保育園" in texts_of(request.body["messages"])


async def test_a_cancelled_booking_is_not_reminded(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    await add_slot(line_world, midori, jst(11, 28, 10))
    tomorrow = await add_slot(line_world, midori, jst(11, 27, 10))
    parent = await searched(line_world, "cancelled")
    await parent.tap("見学を予約")
    await parent.tap("11/28(土) 10:00 残2")
    async with transaction(line_world.sessions) as session:
        assert await record_tour_reminders(session, now=jst(11, 27, 6, 30)) == 1
    await parent.tap("キャンセル")
    await parent.tap("キャンセルする")
    assert await reminders(line_world) == []
    async with transaction(line_world.sessions) as session:
        assert await record_tour_reminders(session, now=jst(11, 27, 6, 45)) == 0

    # Booked today for tomorrow: the reminder is recorded at once; cancelled, it goes too.
    await parent.tap("見学を予約")
    await parent.tap("11/27(金) 10:00 残2")
    [notice] = await reminders(line_world)
    assert notice.cycle == "2026-11-27"
    await parent.tap("キャンセル")
    await parent.tap("キャンセルする")
    assert await reminders(line_world) == []
    assert (await slot_row(line_world, tomorrow)).booked == 0

    # Cancelled elsewhere (an app or staff, through tours.cancel): the reminder goes with it.
    await parent.tap("見学を予約")
    await parent.tap("11/27(金) 10:00 残2")
    assert len(await reminders(line_world)) == 1
    async with transaction(line_world.sessions) as session:
        live = select(TourBooking).where(TourBooking.status == "booked")
        booking = (await session.exec(live)).one()
        await tours.cancel(session, booking)
    assert await reminders(line_world) == []

    # The facility cancels the whole slot: the next reminder pass removes the unsent reminder.
    async with transaction(line_world.sessions) as session:
        made = await tours.book(session, tomorrow, booking.family_id, now=jst(11, 26, 12))
        facility = await session.get(Facility, midori)
        assert facility is not None
        await remind_if_tomorrow(session, made.booking, made.slot, facility, now=jst(11, 26, 12))
    assert len(await reminders(line_world)) == 1
    async with transaction(line_world.sessions) as session:
        slot = await session.get(TourSlot, tomorrow)
        assert slot is not None
        slot.status = "cancelled"
        session.add(slot)
    summary = await tour_reminder_pass(line_world.sessions, now=jst(11, 26, 12, 30))
    assert summary["suppressed"] == 1 and await reminders(line_world) == []


async def test_deleting_the_family_data_frees_seats_and_saved(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    slot = await add_slot(line_world, midori, jst(12, 9, 10))
    parent = await searched(line_world, "delete")
    save = parent.action("保存")
    await parent.postback(save["data"])
    await parent.postback(f"a=dc.slots&f={midori}")
    await parent.tap("12/9(水) 10:00 残2")
    assert (await slot_row(line_world, slot)).booked == 1
    answer = await parent.say("削除")
    assert "見学はキャンセルされ、保存した園も削除されます" in texts_of(answer)
    answer = await parent.tap("削除する")
    assert "削除しました" in texts_of(answer)
    async with line_world.sessions() as session:
        assert (await session.exec(select(TourBooking))).all() == []
        assert (await session.exec(select(SavedFacility))).all() == []
        assert (await session.get(Facility, midori)) is not None
    assert (await slot_row(line_world, slot)).booked == 0


async def test_someone_elses_booking_cannot_be_cancelled(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    slot = await add_slot(line_world, ids["みどり保育園"], jst(12, 9, 10))
    owner = await searched(line_world, "owner")
    await owner.tap("見学を予約")
    await owner.tap("12/9(水) 10:00 残2")
    cancel = owner.action("キャンセル")
    other = Parent(line_world, user("other"))
    await other.onboard("八王子市", births=("2025-01-01",))
    answer = await other.postback(cancel["data"].replace("dc.cancel", "dc.cancel.ok"))
    assert "見つかりません" in texts_of(answer)
    assert (await slot_row(line_world, slot)).booked == 1


async def test_the_seat_opened_notice_buttons_lead_to_details_and_tours(
    line_world: LineWorld,
) -> None:
    from datetime import date

    from integrations.daycare.models import OpenedSeat
    from integrations.daycare.notices import seats_opened

    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    await add_slot(line_world, midori, jst(12, 9, 10))
    parent = await searched(line_world, "seat")
    await parent.postback(parent.action("保存")["data"])
    async with transaction(line_world.sessions) as session:
        opened = [OpenedSeat(midori, 1, date(2027, 4, 1))]
        assert await seats_opened(session, opened, now=NOW) == 1
    async with line_world.sessions() as session:
        [notice] = (await session.exec(select(Notice).where(Notice.kind == "seat-opened"))).all()
    pushed = notice_message([notice], "ja")
    parent.last = [pushed]  # as if pushed: press its buttons
    answer = await parent.tap("見学を予約")
    assert "12/9(水) 10:00 残2" in [a["label"] for a in actions_in(answer)]
    parent.last = [pushed]
    answer = await parent.tap("詳細")
    assert "東京都八王子市子安町2-1-1" in texts_of(answer)


async def test_a_tour_the_facility_cancels_is_told_and_another_time_offered(
    line_world: LineWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations.daycare import tours_api
    from registry.auth import create_key

    monkeypatch.setattr(tours_api, "utcnow", lambda: NOW)  # the API sees the bot's clock
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    cancelled = await add_slot(line_world, midori, jst(12, 9, 10))
    await add_slot(line_world, midori, jst(12, 10, 14))
    parent = await searched(line_world, "cancelled tour")
    await parent.tap("見学を予約")
    await parent.tap("12/9(水) 10:00 残2")

    # The facility's clerk cancels the tour through the API, with a word why.
    async with transaction(line_world.sessions) as session:
        _, key = await create_key(session, issuer="132012", role="municipality")
    api = line_world.webhook_url.removesuffix("/line/webhook")
    async with line_world.http.patch(
        f"{api}/api/v1/tours/{cancelled}",
        json={"status": "cancelled", "notes": "園内行事のため"},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        assert response.status == 200
        assert len((await response.json())["affected_bookings"]) == 1

    # The notifier's release job pushes it to the parent at once.
    settings = {"zone": TOKYO, "quiet_hours": "20:00-08:00", "digest_at": "09:00"}
    [sent] = await plan(line_world.sessions, now=NOW, **settings)
    async with line_world.sessions() as session:
        request = await session.get(SendRequest, sent)
        assert request is not None
    pushed = request.body["messages"]
    check_line_limits(pushed)
    said = texts_of(pushed)
    assert "見学が中止になりました" in said and "みどり保育園" in said
    assert "2026年12月9日(水) 10:00–11:00" in said and "園内行事のため" in said
    assert [a["label"] for a in actions_in(pushed)] == ["別の日時を選ぶ", "詳細"]
    answer = await parent.tap("予約した見学")
    assert "予約した見学はありません" in texts_of(answer)

    # Its button opens the facility's slot picker, without the cancelled tour.
    parent.last = pushed
    answer = await parent.tap("別の日時を選ぶ")
    labels = [a["label"] for a in actions_in(answer)]
    assert "12/10(木) 14:00 残2" in labels and not any(x.startswith("12/9") for x in labels)
    parent.last = pushed
    answer = await parent.tap("詳細")
    assert "東京都八王子市子安町2-1-1" in texts_of(answer)

    # In English too, within LINE's limits.
    async with line_world.sessions() as session:
        [notice] = (
            await session.exec(select(Notice).where(Notice.kind == "tour-cancelled"))
        ).all()
    english = notice_message([notice], "en")
    check_line_limits([english])
    said = texts_of([english])
    assert "Your tour was cancelled" in english["altText"]
    assert "Wed 9 Dec 2026, 10:00–11:00" in said
    assert [a["label"] for a in actions_in([english])] == ["Pick another time", "Details"]


async def test_no_reminder_that_would_come_after_an_early_tour_started(
    line_world: LineWorld,
) -> None:
    from bot.webhook import BOT

    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    early = await add_slot(line_world, midori, jst(11, 27, 7, 30))
    later = await add_slot(line_world, midori, jst(11, 27, 10))
    parent = await searched(line_world, "late booking")
    # 21:00: quiet hours (20:00-08:00) would hold a reminder until 08:00, after a 07:30 tour
    # started; the booking confirmation is the reminder.
    line_world.app[BOT].deps.clock = lambda: jst(11, 26, 21)
    await parent.tap("見学を予約")
    answer = await parent.tap("11/27(金) 07:30 残2")
    assert "見学を予約しました" in texts_of(answer)
    assert await reminders(line_world) == []
    # A 10:00 tour: the reminder can go at 08:00, two hours before.
    await parent.tap("予約した見学")
    await parent.tap("日時を変更")
    await parent.tap("11/27(金) 10:00 残2")
    [notice] = await reminders(line_world)
    assert notice.cycle == "2026-11-27"
    assert (await slot_row(line_world, early)).booked == 0
    assert (await slot_row(line_world, later)).booked == 1


async def test_the_daily_pass_keeps_the_same_rule(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    early = await add_slot(line_world, midori, jst(11, 27, 7, 30))
    later = await add_slot(line_world, midori, jst(11, 27, 10))
    await searched(line_world, "pass")
    async with line_world.sessions() as session:
        family = (await session.exec(select(Family))).one()
    async with transaction(line_world.sessions) as session:
        for slot in (early, later):
            await tours.book(session, slot, family.id, now=NOW)
    # A pass that runs late in the evening (a restart) with quiet hours: only the 10:00 tour.
    async with transaction(line_world.sessions) as session:
        assert await record_tour_reminders(session, now=jst(11, 26, 21)) == 1
    [notice] = await reminders(line_world)
    assert notice.status == "pending"
    # A family without quiet hours is reminded at once, for the early tour too.
    async with transaction(line_world.sessions) as session:
        row = await session.get(Family, family.id)
        assert row is not None
        row.preferences = {**row.preferences, "quiet_hours": "none"}
        session.add(row)
    async with transaction(line_world.sessions) as session:
        assert await record_tour_reminders(session, now=jst(11, 26, 21)) == 1
    assert len(await reminders(line_world)) == 2


async def test_a_change_racing_a_cancel_keeps_one_booking_and_the_seats(
    line_world: LineWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.handlers import daycare

    ids = await add_facilities(line_world)
    midori = ids["みどり保育園"]
    first = await add_slot(line_world, midori, jst(12, 9, 10))
    second = await add_slot(line_world, midori, jst(12, 10, 14), capacity=1)
    parent = await searched(line_world, "tours-race")
    await parent.tap("見学を予約")
    await parent.tap("12/9(水) 10:00 残2")
    await parent.tap("予約した見学")
    await parent.tap("日時を変更")

    own = daycare._own_booking

    async def cancelled_meanwhile(turn: Any) -> Any:
        found = await own(turn)
        if found is not None:
            # Another request (the API) cancels it now: what this turn then reads, while its
            # loaded booking still says "booked".
            table = TourBooking.__table__  # type: ignore[attr-defined]
            slots = TourSlot.__table__  # type: ignore[attr-defined]
            connection = await turn.session.connection()
            await connection.execute(
                sa_update(table).where(table.c.id == found[0].id).values(status="cancelled")
            )
            await connection.execute(
                sa_update(slots)
                .where(slots.c.id == found[0].slot_id)
                .values(booked=slots.c.booked - 1)
            )
        return found

    monkeypatch.setattr(daycare, "_own_booking", cancelled_meanwhile)
    answer = await parent.tap("12/10(木) 14:00 残1")
    said = texts_of(answer)
    assert "見学の日時を変更しました" not in said
    assert "キャンセル済み" in said or "見つかりません" in said
    async with line_world.sessions() as session:
        bookings = (await session.exec(select(TourBooking))).all()
    assert [(b.slot_id, b.status) for b in bookings] == [(first, "cancelled")]
    assert (await slot_row(line_world, first)).booked == 0
    assert (await slot_row(line_world, second)).booked == 0

    # Refused after its seat was taken (the same family booking twice at the same moment):
    # the seat and the booking are undone, the parent answered.
    monkeypatch.setattr(daycare, "_own_booking", own)
    real_book = tours.book

    async def twice(*args: Any, **kwargs: Any) -> Any:
        await real_book(*args, **kwargs)
        raise tours.TourError("already_booked", "booked twice at the same moment")

    monkeypatch.setattr(tours, "book", twice)
    answer = await parent.postback(f"a=dc.book&s={second}")
    assert "この見学はすでに予約済みです。" in texts_of(answer)
    assert (await slot_row(line_world, second)).booked == 0
    async with line_world.sessions() as session:
        live = (await session.exec(select(TourBooking).where(TourBooking.slot_id == second))).all()
    assert live == []


@pytest.mark.parametrize(
    "data",
    [
        "a=dc.slots&f=100000000000000000000000000000",
        "a=dc.info&f=-3",
        "a=dc.save&f=abc",
        "a=dc.book&s=100000000000000000000000000000",
        "a=dc.move&b=1&s=100000000000000000000000000000",
        "a=dc.info&f={f}&c=999999",
        "a=dc.slots&f={f}&c=<forged>",
        "a=dc.save&f={f}&c=due",
        "a=dc.book&s={s}&c=12345",
        "a=dc.month&c={c}&m=2027-04-01-01",
    ],
)
async def test_forged_or_stale_postbacks_are_answered_stale(
    line_world: LineWorld, data: str
) -> None:
    ids = await add_facilities(line_world)
    slot = await add_slot(line_world, ids["みどり保育園"], jst(12, 9, 10))
    parent = await searched(line_world, "forged")
    kid = next(
        a["data"].split("c=")[1].split("&")[0]
        for a in actions_in(parent.last)
        if a["type"] == "postback" and "c=" in a["data"]
    )
    answer = await parent.postback(data.format(f=ids["みどり保育園"], s=slot, c=kid))
    assert "このボタンは古くなったようです" in texts_of(answer)
    async with line_world.sessions() as session:
        assert (await session.exec(select(TourBooking))).all() == []
        assert (await session.exec(select(SavedFacility))).all() == []


async def test_a_cancel_in_line_is_stamped_with_the_bots_clock(
    line_world: LineWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await add_facilities(line_world)
    slot = await add_slot(line_world, ids["みどり保育園"], jst(12, 9, 10))
    parent = await searched(line_world, "tours-clock")
    await parent.postback(f"a=dc.slots&f={ids['みどり保育園']}")
    await parent.tap("12/9(水) 10:00 残2")
    monkeypatch.setattr(tours, "utcnow", lambda: datetime(2031, 1, 1, tzinfo=UTC))  # wall
    await parent.tap("キャンセル")
    answer = await parent.tap("キャンセルする")
    assert "キャンセルしました" in texts_of(answer)
    async with line_world.sessions() as session:
        booking = (await session.exec(select(TourBooking))).one()
    assert booking.cancelled_at is not None
    assert booking.cancelled_at.replace(tzinfo=UTC) == NOW
    assert (await slot_row(line_world, slot)).booked == 0
