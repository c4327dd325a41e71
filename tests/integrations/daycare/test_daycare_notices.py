"""`seats_opened`: a "seat opened" notice once per (family, facility, class, month), only to
families that saved the facility for a child of that class; rendered in the family's language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import select

from integrations.daycare.models import Facility, OpenedSeat, SavedFacility
from integrations.daycare.notices import SEAT_OPENED, seats_opened
from notifier.messages import notice_message
from notifier.models import Notice
from registry.db import transaction
from registry.models import Child, Family

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
APRIL = date(2027, 4, 1)


async def family_with(session: Any, name: str, *births: str, language: str = "ja") -> Family:
    family = Family(
        line_user_id="U" + name.encode().hex().ljust(32, "0")[:32],
        state="active",
        consented_at=NOW,
        onboarded_at=NOW,
        municipality="132012",
        language=language,
    )
    session.add(family)
    await session.flush()
    for birth in births:
        session.add(Child(family_id=family.id, birth_date=date.fromisoformat(birth)))
    await session.flush()
    return family


async def child_of(session: Any, family: Family) -> int:
    found = await session.exec(select(Child).where(Child.family_id == family.id))
    child = found.first()
    assert child is not None and child.id is not None
    return child.id


async def test_seat_opened_once_for_the_families_whose_child_is_in_that_class(
    sessions: Any,
) -> None:
    async with transaction(sessions) as session:
        facility = Facility(
            municipality="132012",
            facility_id="N1",
            name_ja="みどり保育園",
            name_en="Midori Nursery",
            classes=[0, 1, 2],
            latitude=35.66,
            longitude=139.34,
        )
        other = Facility(municipality="132012", facility_id="N2", name_ja="そら保育室")
        session.add_all([facility, other])
        await session.flush()
        assert facility.id is not None and other.id is not None
        one = await family_with(session, "one", "2026-04-01")  # 1-year class in April 2027
        zero = await family_with(session, "zero", "2026-04-02")  # 0-year class
        english = await family_with(session, "english", "2025-12-01", language="en")
        nobody = await family_with(session, "nobody", "2026-03-01")  # saved another facility
        for fam in (one, zero, english):
            session.add(
                SavedFacility(
                    family_id=fam.id,
                    facility_pk=facility.id,
                    child_id=await child_of(session, fam),
                    entry_month=APRIL,
                )
            )
        session.add(SavedFacility(family_id=nobody.id, facility_pk=other.id, entry_month=APRIL))
        ids = {"one": one.id, "zero": zero.id, "english": english.id}
        pk = facility.id

    opened = [OpenedSeat(pk, 1, APRIL), OpenedSeat(pk, 1, APRIL)]
    async with transaction(sessions) as session:
        assert await seats_opened(session, opened, now=NOW) == 2
    async with transaction(sessions) as session:
        assert await seats_opened(session, opened, now=NOW) == 0  # once
        # A month already past is not announced.
        assert await seats_opened(session, [OpenedSeat(pk, 0, date(2026, 10, 1))], now=NOW) == 0
    async with sessions() as session:
        notices = list((await session.exec(select(Notice))).all())
    assert {n.family_id for n in notices} == {ids["one"], ids["english"]}
    assert all(
        (n.kind, n.subject, n.cycle) == (SEAT_OPENED, f"seat:{pk}:1", "2027-04") for n in notices
    )

    by_family = {n.family_id: n for n in notices}
    ja = notice_message([by_family[ids["one"]]], "ja")
    body = str(ja)
    assert "空きが出ました" in body and "みどり保育園" in body
    assert "1歳児クラス・2027年4月入園" in body
    buttons = ja["contents"]["footer"]["contents"]
    assert [b["action"]["label"] for b in buttons] == ["詳細", "見学を予約", "地図"]
    assert buttons[2]["action"]["uri"].startswith(
        "https://www.google.com/maps/search/?api=1&query=35.66"
    )
    en = str(notice_message([by_family[ids["english"]]], "en"))
    assert (
        "A place opened" in en and "Midori Nursery" in en and "1-year class, entry Apr 2027" in en
    )


async def test_seat_opened_only_for_the_saved_month_and_without_waiting_for_the_digest(
    sessions: Any,
) -> None:
    from zoneinfo import ZoneInfo

    from notifier.models import SendRequest
    from notifier.planning import plan

    tokyo = ZoneInfo("Asia/Tokyo")
    async with transaction(sessions) as session:
        facility = Facility(
            municipality="132012", facility_id="N1", name_ja="みどり保育園", classes=[0, 1, 2]
        )
        session.add(facility)
        await session.flush()
        assert facility.id is not None
        family = await family_with(session, "month", "2026-04-01")
        session.add(
            SavedFacility(
                family_id=family.id,
                facility_pk=facility.id,
                child_id=await child_of(session, family),
                entry_month=APRIL,
            )
        )
        pk = facility.id
    late = datetime(2026, 11, 26, 22, 0, tzinfo=tokyo)  # in quiet hours
    async with transaction(sessions) as session:
        # May is not the month saved (the 1-year class both months): nothing.
        assert await seats_opened(session, [OpenedSeat(pk, 1, date(2027, 5, 1))], now=late) == 0
        assert await seats_opened(session, [OpenedSeat(pk, 1, APRIL)], now=late) == 1
    settings: dict[str, Any] = {"zone": tokyo, "quiet_hours": "20:00-08:00", "digest_at": "09:00"}
    assert await plan(sessions, now=late, **settings) == []  # quiet hours
    morning = datetime(2026, 11, 27, 8, 1, tzinfo=tokyo)  # before the 09:00 digest
    sent = await plan(sessions, now=morning, **settings)
    assert len(sent) == 1
    async with sessions() as session:
        request = await session.get(SendRequest, sent[0])
        assert request is not None
    assert "空きが出ました" in str(request.body) and "みどり保育園" in str(request.body)
