"""保育園をさがす in LINE, as a parent meets it: child, month, place, the carousel, details, save.

Facilities are rows inserted directly (helper A owns their import); the bot's clock is noon in
Tokyo on 2026-11-26. The class boundary of April 1/2 is checked for April 2027 entry: a child
born 2026-04-01 enters the 1-year class, one born 2026-04-02 the 0-year class.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import select

from integrations.daycare.models import (
    Facility,
    PastResult,
    SavedFacility,
    TourSlot,
    Vacancy,
)
from registry.db import transaction
from tests.bot.conftest import NOW, LineWorld
from tests.bot.parent import Parent, actions_in, bubble_titles, carousels, texts_of

HACHIOJI = "132012"


@pytest.fixture(autouse=True)
def tours_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bookings see the bot's clock: `tours.book` reads the real one (no clock parameter)."""
    from integrations.daycare import tours

    monkeypatch.setattr(tours, "utcnow", lambda: NOW)


def user(name: str) -> str:
    """A LINE user ID (U + 32 hex digits) for a test parent."""
    return "U" + hashlib.sha256(name.encode()).hexdigest()[:32]


STATION = (35.6558, 139.3389)  # 八王子駅
APRIL = date(2027, 4, 1)


async def add_facilities(world: LineWorld) -> dict[str, int]:
    """Three daycares around 八王子駅 and one far away, with places for April 2027."""
    rows = {
        # name: (lat, lon, classes, {class: (level, places)}, extra)
        "ひかり保育園": (
            35.6562,
            139.3392,
            [0, 1, 2, 3, 4, 5],
            {0: ("number", 2), 1: ("none", 0)},
        ),
        "みどり保育園": (
            35.6600,
            139.3400,
            [0, 1, 2, 3, 4, 5],
            {0: ("none", 0), 1: ("number", 3)},
        ),
        "そら保育室": (35.6530, 139.3300, [0, 1, 2], {1: ("some", None)}),
        "たかお保育園": (35.6320, 139.2700, [0, 1, 2, 3, 4, 5], {1: ("number", 1)}),
    }
    ids: dict[str, int] = {}
    async with transaction(world.sessions) as session:
        for index, (name, (lat, lon, classes, places)) in enumerate(rows.items()):
            facility = Facility(
                municipality=HACHIOJI,
                facility_id=f"F{index}",
                name_ja=name,
                name_en=f"Nursery {index}",
                type="small_scale" if "保育室" in name else "licensed_private",
                address=f"東京都八王子市子安町{index + 1}-1-1"
                if index < 3
                else "東京都八王子市高尾町1",
                latitude=lat,
                longitude=lon,
                station="八王子駅" if index < 3 else "高尾駅",
                walk_minutes=5,
                classes=classes,
                opens="07:30",
                closes="18:30",
                extended_care=True,
                extended_until="19:30",
                phone="042-000-000" + str(index),
                url=f"https://example.jp/nursery/{index}",
                notes="見学は平日のみ",
            )
            session.add(facility)
            await session.flush()
            assert facility.id is not None
            ids[name] = facility.id
            for age, (level, count) in places.items():
                session.add(
                    Vacancy(
                        facility_pk=facility.id,
                        class_age=age,
                        entry_month=APRIL,
                        level=level,
                        places=count,
                    )
                )
        session.add(
            PastResult(
                facility_pk=ids["みどり保育園"], class_age=1, year=2021, points=40, raw="40"
            )
        )
        session.add(
            PastResult(
                facility_pk=ids["そら保育室"],
                class_age=1,
                year=2021,
                outcome="withheld",
                raw="非公開",
            )
        )
    return ids


async def add_slot(
    world: LineWorld, facility: int, start: datetime, capacity: int = 2, booked: int = 0
) -> int:
    async with transaction(world.sessions) as session:
        slot = TourSlot(
            facility_pk=facility,
            starts_at=start,
            ends_at=start.replace(hour=start.hour + 1),
            capacity=capacity,
            booked=booked,
            notes="上履きをお持ちください",
        )
        session.add(slot)
        await session.flush()
        assert slot.id is not None
        return slot.id


def check_line_limits(messages: list[dict[str, Any]]) -> None:
    """What LINE would refuse: too many bubbles, too big, labels, postback data, altText."""
    for carousel in carousels(messages):
        assert len(carousel["contents"]) <= 10
        size = len(json.dumps(carousel, ensure_ascii=False, separators=(",", ":")).encode())
        assert size <= 50_000
    for message in messages:
        if "altText" in message:
            assert len(message["altText"]) <= 1500
        items = (message.get("quickReply") or {}).get("items") or []
        assert len(items) <= 13
        assert all(len(i["action"].get("label", "")) <= 20 for i in items)
    for action in actions_in(messages):
        assert len(action.get("label", "")) <= 40
        if action["type"] == "postback":
            assert len(action["data"]) <= 300


async def share_location(world: LineWorld, parent: Parent, lat: float, lon: float) -> Any:
    await world.send(parent.user_id, {"type": "location", "latitude": lat, "longitude": lon})
    return await parent._answer()


async def test_one_child_searches_by_station_and_sees_the_nearest_with_places(
    line_world: LineWorld,
) -> None:
    ids = await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-one"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    answer = await parent.postback("a=menu.daycare")
    said = texts_of(answer)
    assert "入園" in said and "どのお子さま" not in said  # one child: no child question
    labels = [a["label"] for a in actions_in(answer)]
    assert "2027年4月" in labels and "2026年12月" in labels
    answer = await parent.tap("2027年4月")
    assert "1歳児クラス" in texts_of(answer)
    assert any(a["type"] == "location" for a in actions_in(answer))
    answer = await parent.say("八王子駅")
    check_line_limits(answer)
    # Born 2026-04-01: the 1-year class in April 2027; ひかり has no 1-year place.
    assert bubble_titles(answer) == ["みどり保育園", "そら保育室", "たかお保育園"]
    said = texts_of(answer)
    assert "1歳児クラスの空き: 3人" in said
    assert "空きあり" in said
    assert "2021年度 最低指数 40点" in said
    assert "2021年度 最低指数 非公開" in said
    assert "開所 07:30–18:30（延長 19:30まで）" in said
    assert "m" in said and "km" in said
    maps = [a for a in actions_in(answer) if a["type"] == "uri"]
    assert maps[0]["uri"].startswith("https://www.google.com/maps/search/?api=1&query=35.66")

    # Details of the nearest.
    answer = await parent.tap("詳細")
    said = texts_of(answer)
    assert "みどり保育園" in said and "東京都八王子市子安町2-1-1" in said
    assert "042-000-0001" in said and "https://example.jp/nursery/1" in said
    assert "0歳児クラス、1歳児クラス" in said and "見学は平日のみ" in said

    # Save it: stored with the child and the month, listed under 保存した園.
    save = parent.action("保存")
    answer = await parent.postback(save["data"])
    assert "保存しました" in texts_of(answer)
    answer = await parent.postback(save["data"])  # the same button again
    assert "保存済み" in texts_of(answer)
    async with line_world.sessions() as session:
        saved = (await session.exec(select(SavedFacility))).all()
    assert [(s.facility_pk, s.entry_month) for s in saved] == [(ids["みどり保育園"], APRIL)]
    assert saved[0].child_id is not None
    answer = await parent.tap("保存した園")
    assert bubble_titles(answer) == ["みどり保育園"]
    check_line_limits(answer)
    # The saved card: today's places in the child's class, and 削除 instead of 保存.
    assert "1歳児クラスの空き: 3人" in texts_of(answer)
    assert answer[-1]["altText"].startswith("保存した園: みどり保育園")
    labels = [a["label"] for a in actions_in(answer)]
    assert "削除" in labels and "保存" not in labels
    answer = await parent.tap("削除")
    assert "保存した園から削除しました: みどり保育園" in texts_of(answer)
    async with line_world.sessions() as session:
        assert (await session.exec(select(SavedFacility))).all() == []
    answer = await parent.tap("保存した園")
    assert "保存した園はまだありません" in texts_of(answer)


async def test_april_2_child_sees_the_zero_year_class_and_location_works(
    line_world: LineWorld,
) -> None:
    await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-zero"))
    await parent.onboard("八王子市", births=("2026-04-02",))
    await parent.postback("a=menu.daycare")
    await parent.say("2027年4月")  # typed
    answer = await share_location(line_world, parent, *STATION)
    check_line_limits(answer)
    assert bubble_titles(answer) == ["ひかり保育園"]
    assert "0歳児クラスの空き: 2人" in texts_of(answer)


async def test_two_children_are_asked_which_and_unknown_places_are_asked_again(
    line_world: LineWorld,
) -> None:
    await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-two"))
    await parent.onboard("八王子市", births=("2026-04-02", "2023-05-10"))
    answer = await parent.postback("a=menu.daycare")
    assert "どのお子さま" in texts_of(answer)
    await parent.tap("2023年5月生まれ")
    answer = await parent.say("4月")  # the next April: 2027, the 3-year class
    assert "3歳児クラス（2027年4月入園）" in texts_of(answer)
    answer = await parent.say("どこか遠く")
    assert "見つかりませんでした" in texts_of(answer) and "八王子駅" in texts_of(answer)
    answer = await parent.say("子安町")
    said = texts_of(answer)
    # No 3-year place anywhere: the nearest with the class, clearly marked full.
    assert "空きのある園は見つかりませんでした" in said
    assert bubble_titles(answer) == ["ひかり保育園", "みどり保育園", "たかお保育園"]
    # No vacancy published for the 3-year class: unknown, not full.
    assert said.count("空き状況不明") >= 3 and "0歳児クラスの空き: 空きなし" not in said
    assert said.count("空きなし") == 1  # in the lead only
    check_line_limits(answer)


async def test_months_that_do_not_fit_the_child_are_explained(line_world: LineWorld) -> None:
    await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-months"))
    await parent.onboard("八王子市", births=("2026-10-20",))
    await parent.postback("a=menu.daycare")
    answer = await parent.say("来年のどこか")
    assert "入園月がわかりませんでした" in texts_of(answer)
    answer = await parent.say("2030-04")
    assert "2年先まで" in texts_of(answer)
    answer = await parent.say("2027/4")
    assert "0歳児クラス" in texts_of(answer)


async def test_english_family_sees_english(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-en"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.say("English")
    answer = await parent.postback("a=menu.daycare")
    labels = [a["label"] for a in actions_in(answer)]
    assert "Apr 2027" in labels
    await parent.tap("Apr 2027")
    answer = await parent.say("八王子")
    said = texts_of(answer)
    assert bubble_titles(answer)[0] == "Nursery 1"
    assert "Places, 1-year class: 3" in said and "FY2021 lowest points admitted: 40" in said
    assert "Open 07:30–18:30 (extended care until 19:30)" in said
    check_line_limits(answer)
    answer = await parent.tap("Book a tour")
    assert "no tour dates" in texts_of(answer)
    assert "042-000-0001" in texts_of(answer)
    await add_slot(line_world, ids["みどり保育園"], datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    answer = await parent.postback(f"a=dc.slots&f={ids['みどり保育園']}")
    assert "Wed 12/9 10:00 (2)" in [a["label"] for a in actions_in(answer)]
    answer = await parent.tap("Wed 12/9 10:00 (2)")
    said = texts_of(answer)
    assert "Tour booked" in said and "When: Wed 9 Dec 2026, 10:00–11:00" in said
    assert {"Map", "Change date", "Cancel"} <= {a["label"] for a in actions_in(answer)}


async def test_rich_menu_door_before_onboarding_starts_onboarding(line_world: LineWorld) -> None:
    parent = Parent(line_world, user("U-daycare-new"))
    await parent.follow()
    await parent.tap("同意して始める")
    answer = await parent.postback("a=menu.daycare")
    assert "市区町村とお子さまを登録" in texts_of(answer)


def _utc(day: int, hour_jst: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour_jst - 9, 0, tzinfo=UTC)


async def test_a_baby_on_the_way_and_a_child_leaving_for_school(line_world: LineWorld) -> None:
    from registry.models import Family

    await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-baby"))
    await parent.onboard("八王子市", births=("2020-05-01",))
    async with transaction(line_world.sessions) as session:
        family = (
            await session.exec(select(Family).where(Family.line_user_id == parent.user_id))
        ).one()
        family.pregnant, family.due_date = True, date(2027, 1, 15)
        session.add(family)
    answer = await parent.postback("a=menu.daycare")
    labels = [a["label"] for a in actions_in(answer)]
    assert "出産予定の赤ちゃん" in labels and "2020年5月生まれ" in labels
    answer = await parent.tap("出産予定の赤ちゃん")
    # Due 2027-01-15: months from February 2027 only, and the minimum age is mentioned.
    labels = [a["label"] for a in actions_in(answer)]
    assert labels[0] == "2027年2月" and "2027年1月" not in labels and "2027年4月" in labels
    assert "生後57日から" in texts_of(answer)
    answer = await parent.say("2026年12月")
    assert "まだ生まれていない" in texts_of(answer)
    answer = await parent.tap("2027年4月")
    assert "0歳児クラス（2027年4月入園）" in texts_of(answer)
    answer = await parent.say("八王子駅")
    assert bubble_titles(answer) == ["ひかり保育園"]

    # The older child: the 5-year class until March 2027, school age from April.
    await parent.postback("a=menu.daycare")
    await parent.tap("2020年5月生まれ")
    answer = await parent.tap("2027年4月")
    assert "小学校に入る年齢" in texts_of(answer)
    await parent.postback("a=menu.daycare")
    await parent.tap("2020年5月生まれ")
    answer = await parent.tap("2027年1月")
    assert "5歳児クラス（2027年1月入園）" in texts_of(answer)


@pytest.mark.parametrize(
    ("typed", "month"),
    [
        ("2027年4月", date(2027, 4, 1)),
        ("令和9年4月", date(2027, 4, 1)),
        ("2027-04", date(2027, 4, 1)),
        ("２０２７／４", date(2027, 4, 1)),
        ("4月", date(2027, 4, 1)),
        ("4月から", date(2027, 4, 1)),
        ("12月", date(2026, 12, 1)),
        ("April", date(2027, 4, 1)),
        ("来年4月", date(2027, 4, 1)),
        ("今年12月", date(2026, 12, 1)),
        ("来年 4月から", date(2027, 4, 1)),
        ("再来年4月", date(2028, 4, 1)),
        ("来年", None),
        ("13月", None),
    ],
)
def test_typed_months(typed: str, month: date | None) -> None:
    from bot.handlers.daycare import offered_months, parse_month

    assert parse_month(typed, date(2026, 11, 26)) == month
    assert offered_months(date(2026, 11, 26))[4] == date(2027, 4, 1)
    assert date(2027, 4, 1) in offered_months(date(2026, 4, 10))


def _facility_at(
    station: str, walk: int | None, lat: float, lon: float, address: str = ""
) -> Facility:
    return Facility(
        municipality=HACHIOJI,
        facility_id=f"{station}{walk}{lat}",
        name_ja="園",
        type="licensed_private",
        address=address or "東京都八王子市旭町1-1",
        latitude=lat,
        longitude=lon,
        station=station,
        walk_minutes=walk,
        classes=[0, 1, 2],
    )


def test_a_typed_station_is_the_station_not_its_neighbours() -> None:
    from bot.handlers.daycare import match_place

    around = [
        _facility_at("八王子駅", 2, 35.6560, 139.3390),
        _facility_at("八王子駅", 4, 35.6556, 139.3392),
        _facility_at("八王子駅", 14, 35.6650, 139.3520),  # far up the road: not the station
        _facility_at("西八王子駅", 3, 35.6566, 139.3125),
        _facility_at("京王八王子駅", 2, 35.6577, 139.3437),
        _facility_at("JR八王子駅", 3, 35.6558, 139.3386),
    ]
    for typed in ("八王子", "八王子駅", "ＪＲ八王子駅", "八王子駅前", "JR八王子"):
        point = match_place(around, typed)
        assert point is not None
        lat, lon = point
        assert abs(lat - 35.6558) < 0.0005 and abs(lon - 139.3389) < 0.0005, typed
    west = match_place(around, "西八王子")
    assert west == (35.6566, 139.3125)
    assert match_place(around, "京王八王子") == (35.6577, 139.3437)
    assert match_place(around, "町") is None and match_place(around, "1") is None


def test_a_town_is_its_exact_name_first() -> None:
    from bot.handlers.daycare import match_place

    minato = [
        _facility_at("", None, 35.650, 139.750, "東京都港区芝3-2-1"),
        _facility_at("", None, 35.640, 139.750, "東京都港区芝浦1-1-1"),
        _facility_at("", None, 35.641, 139.751, "東京都港区芝浦三丁目4-1"),
    ]
    assert match_place(minato, "芝") == (35.650, 139.750)
    point = match_place(minato, "芝浦")
    assert point is not None and abs(point[0] - 35.6405) < 1e-6


async def test_cards_near_a_typed_station_give_their_own_walk(line_world: LineWorld) -> None:
    await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-walk"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    answer = await parent.say("八王子")
    said = texts_of(answer)
    assert "八王子駅 徒歩5分・" in said
    assert "徒歩圏" not in said  # the station's facilities say their walk, the far one km
    assert "km" in said


async def test_known_full_is_red_and_unknown_is_grey(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    async with transaction(line_world.sessions) as session:
        vacancy = (
            await session.exec(
                select(Vacancy).where(
                    Vacancy.facility_pk == ids["ひかり保育園"], Vacancy.class_age == 0
                )
            )
        ).one()
        vacancy.level, vacancy.places = "number", 0
        session.add(vacancy)
    parent = Parent(line_world, user("U-daycare-unknown"))
    await parent.onboard("八王子市", births=("2026-04-02",))
    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    answer = await parent.say("八王子駅")
    assert bubble_titles(answer) == ["ひかり保育園", "みどり保育園", "そら保育室", "たかお保育園"]
    badges = {
        (c["text"], c.get("color"))
        for carousel in carousels(answer)
        for bubble in carousel["contents"]
        for c in bubble["body"]["contents"]
        if c.get("weight") == "bold" and c.get("text") in ("空きなし", "空き状況不明")
    }
    assert badges == {("空きなし", "#C62828"), ("空き状況不明", "#757575")}
    said = texts_of(answer)
    assert said.count("0歳児クラスの空き: 空きなし") == 2
    assert said.count("0歳児クラスの空き: 不明") == 2


async def test_a_location_after_the_results_is_not_a_new_search(line_world: LineWorld) -> None:
    await add_facilities(line_world)
    parent = Parent(line_world, user("U-daycare-later"))
    await parent.onboard("八王子市", births=("2026-04-01",))
    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    answer = await parent.say("八王子駅")
    assert carousels(answer)
    answer = await share_location(line_world, parent, *STATION)
    assert not carousels(answer) and "1歳児クラスの空き" not in texts_of(answer)


async def test_a_municipality_without_stations_gives_a_town_as_the_example(
    line_world: LineWorld,
) -> None:
    async with transaction(line_world.sessions) as session:
        for index, (address, lat) in enumerate(
            [
                ("東京都港区芝3-2-1", 35.650),
                ("東京都港区芝5-1-1", 35.648),
                ("東京都港区白金1-1", 35.64),
            ]
        ):
            session.add(
                Facility(
                    municipality="131032",
                    facility_id=f"M{index}",
                    name_ja=f"港保育園{index}",
                    type="licensed_private",
                    address=address,
                    latitude=lat,
                    longitude=139.75,
                    classes=[0, 1, 2],
                )
            )
    parent = Parent(line_world, user("U-daycare-minato"))
    await parent.onboard("港区", births=("2026-04-01",))
    await parent.postback("a=menu.daycare")
    answer = await parent.tap("2027年4月")
    assert "（例: 芝）" in texts_of(answer) and "駅名（例: 駅名）" not in texts_of(answer)
    answer = await parent.say("芝")
    assert bubble_titles(answer)[:2] == ["港保育園0", "港保育園1"]


async def test_too_young_and_far_away_are_said(line_world: LineWorld) -> None:
    ids = await add_facilities(line_world)
    async with transaction(line_world.sessions) as session:
        hikari = await session.get(Facility, ids["ひかり保育園"])
        assert hikari is not None
        hikari.min_age_months = 6
        session.add(hikari)
    parent = Parent(line_world, user("U-daycare-young"))
    await parent.onboard("八王子市", births=("2026-11-01",))  # 5 months old on April 1
    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    answer = await parent.say("八王子駅")
    said = texts_of(answer)
    assert "生後6か月から受け入れの園（1件）は、2027年4月にはまだ入れません" in said
    assert "ひかり保育園" not in bubble_titles(answer)
    assert "遠い場所" not in said

    await parent.postback("a=menu.daycare")
    await parent.tap("2027年4月")
    answer = await share_location(line_world, parent, 35.6896, 139.7006)  # 新宿
    said = texts_of(answer)
    assert "八王子市の園から遠い場所です" in said
    assert bubble_titles(answer)  # the nearest still shown
    check_line_limits(answer)
