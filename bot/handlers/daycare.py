"""保育園をさがす: search daycares near a place, see details, save them, book tours in LINE.

The flow: which child (only when several could go to daycare; a baby on the way counts by its
due date), the month of entry (quick replies, or typed 2027年4月 / 2027-04 / 4月), then a shared
location or a station or area typed (matched against the facilities of the family's
municipality: the centroid of those that match is the point). The answer is a Flex carousel of
the nearest facilities with places in the child's class (else the nearest with that class,
marked full), each with map, details, book a tour and save.

Tours: a slot picker (quick replies), the booking's confirmation, "my tours" with cancel and
change, all through `integrations.daycare.tours` (the last seat is given once). Every card
offers "この園に申し込む", which adds the facility to the child's wishes (the application flow
is `bot/handlers/applications.py`). The reminder the
day before and "a seat opened" are notices (`integrations.daycare.notices`).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from linebot.v3.messaging import FlexBubble, FlexMessage
from sqlmodel import col, select

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import (
    consented,
    lang_of,
    menu_actions,
    municipality_name,
    stale,
    today,
)
from bot.navigation import go, intent_instead
from bot.state import user_key
from bot.texts import format_born, join, t
from integrations.daycare import notices as dc_notices
from integrations.daycare import tours
from integrations.daycare.applications import through_municipality
from integrations.daycare.classes import entry_class, month_start
from integrations.daycare.models import (
    FACILITY_TYPES,
    Facility,
    PastResult,
    SavedFacility,
    TourBooking,
    TourSlot,
    Vacancy,
)
from integrations.daycare.search import SearchQuery, SearchResult, distance_m, search
from notifier import postbacks as pb
from notifier.formats import MONTHS_EN, format_month
from registry import families
from rules.ages import class_age, fiscal_year

log = logging.getLogger(__name__)

router = Router("daycare")

MAX_RESULTS = 10  # bubbles in the carousel (LINE allows 12)
MAX_SLOTS = 12  # quick replies of the slot picker (13 allowed; one is left for the menu)
MONTHS_AHEAD = 24
OFFERED_MONTHS = 6
WALKING_M = 800
FAR_M = 10_000  # a point farther than this from every facility is "far from the city's"
TOO_YOUNG_LOOK = 200  # facilities looked at for "too young" notes
STEP_MONTH = "dc.month"
STEP_PLACE = "dc.place"
UNBORN = "due"
_SUFFIXES = ("駅前", "駅周辺", "周辺", "付近", "あたり", "の近く", "近く", "辺り", "駅")


# -- who and when -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kid:
    """A child the search can be for: a registered child, or the baby on the way."""

    key: str  # the child's id, or "due"
    birth: date
    child_id: int | None


def _month_key(month: date) -> str:
    return month.strftime("%Y-%m")


def _parse_month_key(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"20\d\d-(?:0[1-9]|1[0-2])", value):
        return None
    try:
        return date.fromisoformat(value + "-01")
    except ValueError:
        return None


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


async def kids_of(turn: Turn) -> list[Kid]:
    """The family's children who could go to daycare (not yet of school age), and the baby on
    the way (by due date)."""
    assert turn.family.id is not None
    on = today(turn)
    year = fiscal_year(month_start(on))
    kids = [
        Kid(str(c.id), c.birth_date, c.id)
        for c in await families.children_of(turn.session, turn.family.id)
        if c.birth_date > on or class_age(c.birth_date, year) <= 5
    ]
    due = turn.family.due_date
    if due is not None and due >= on:
        kids.append(Kid(UNBORN, due, None))
    return sorted(kids, key=lambda k: k.birth)


async def kid_by_key(turn: Turn, key: Any) -> Kid | None:
    """The child a button or the conversation names, if still in the family."""
    return next((k for k in await kids_of(turn) if k.key == key), None)


def kid_label(kid: Kid, lang: str) -> str:
    """2025年6月生まれ / born Jun 2025 / 出産予定の赤ちゃん."""
    return t("daycare.unborn", lang) if kid.key == UNBORN else format_born(kid.birth, lang)


def offered_months(on: date, birth: date | None = None) -> list[date]:
    """Next month and the few after it, with next April always among them; for a baby not
    yet born, from the month after the due date's month."""
    first = _add_months(month_start(on), 1)
    if birth is not None:
        first = max(first, _add_months(month_start(birth), 1))
    months = [_add_months(first, i) for i in range(OFFERED_MONTHS)]
    april = date(first.year + (1 if first.month > 4 else 0), 4, 1)
    if april not in months:
        months = sorted([april, *months[: OFFERED_MONTHS - 1]])
    return months


_EN_MONTHS = {name.lower(): i + 1 for i, name in enumerate(MONTHS_EN)}


def parse_month(text: str, on: date) -> date | None:
    """The month of entry typed: 2027年4月, 令和9年4月, 2027-04, 2027/4, April 2027; a month
    alone (4月, April) is the next one to come."""
    said = unicodedata.normalize("NFKC", text).strip().lower()
    found = re.search(r"(20\d\d)\s*(?:年|-|/|\.)\s*(\d{1,2})\s*月?", said)
    reiwa = re.search(r"(?:令和|r)\s*(\d{1,2}|元)\s*年?\s*(\d{1,2})\s*月", said)
    relative = re.fullmatch(
        r"(今年|来年|再来年|this year|next year)\s*(\d{1,2})\s*月?(?:から|入園|入所)?", said
    )
    if found:
        year, month = int(found.group(1)), int(found.group(2))
    elif relative:
        ahead = {"今年": 0, "this year": 0, "来年": 1, "next year": 1, "再来年": 2}
        year, month = on.year + ahead[relative.group(1)], int(relative.group(2))
    elif reiwa:
        # 令和元年 is 2019.
        year = 2018 + (1 if reiwa.group(1) == "元" else int(reiwa.group(1)))
        month = int(reiwa.group(2))
    else:
        alone = re.fullmatch(r"(\d{1,2})\s*月(?:から|入園|入所)?", said)
        words = re.fullmatch(r"([a-z]{3})[a-z]*\.?\s*(20\d\d)?", said)
        if alone:
            year, month = 0, int(alone.group(1))
        elif words and words.group(1) in _EN_MONTHS:
            year = int(words.group(2)) if words.group(2) else 0
            month = _EN_MONTHS[words.group(1)]
        else:
            return None
        if not 1 <= month <= 12:
            return None
        if year == 0:
            year = on.year if month > on.month else on.year + 1
    if not 1 <= month <= 12:
        return None
    return date(year, month, 1)


# -- the door ---------------------------------------------------------------------------------


def _daycare_actions(lang: str) -> list[Any]:
    return [
        m.postback(t("daycare.again.label", lang), pb.DC_AGAIN),
        m.postback(t("daycare.saved.label", lang), pb.DC_SAVED),
        m.postback(t("daycare.tours.label", lang), pb.DC_TOURS),
        m.postback(t("apply.start.label", lang), pb.AP_START),
        m.postback(t("apply.status.label", lang), pb.AP_STATUS),
        *menu_actions(lang),
    ]


@router.entry("daycare")
async def show_daycare(turn: Turn) -> None:
    """Start a search: which child (when several), then the month of entry."""
    lang = lang_of(turn)
    family = turn.family
    if not consented(turn) or family.onboarded_at is None or not family.municipality:
        await go(turn, "resume_onboarding", lead=t("daycare.not_onboarded", lang))
        return
    turn.state.pop("dc", None)
    kids = await kids_of(turn)
    if not kids:
        turn.say(
            m.text(
                t("daycare.no_children", lang),
                [m.postback(t("menu.family.label", lang), pb.MENU_FAMILY), *menu_actions(lang)],
            )
        )
        return
    if len(kids) == 1:
        ask_month(turn, kids[0], lead=t("daycare.intro", lang))
        return
    actions = [
        m.postback(kid_label(k, lang), pb.DC_CHILD, c=k.key, display=kid_label(k, lang))
        for k in kids
    ]
    actions += [
        m.postback(t("daycare.saved.label", lang), pb.DC_SAVED),
        m.postback(t("daycare.tours.label", lang), pb.DC_TOURS),
    ]
    turn.say(m.text(t("daycare.intro", lang) + "\n" + t("daycare.which_child", lang), actions))


@router.postback(pb.MENU_DAYCARE, pb.DC_AGAIN)
async def on_menu_daycare(turn: Turn) -> None:
    """Rich menu 保育園をさがす (and "search again")."""
    await show_daycare(turn)


@router.postback(pb.DC_CHILD)
async def on_child(turn: Turn) -> None:
    """A child chosen: ask the month of entry."""
    kid = await kid_by_key(turn, turn.postback.get("c"))
    if kid is None:
        stale(turn)
        return
    ask_month(turn, kid)


def ask_month(turn: Turn, kid: Kid, *, lead: str | None = None) -> None:
    """Which month of entry (quick replies; typed months are read too)."""
    lang = lang_of(turn)
    turn.state["dc"] = {"c": kid.key}
    turn.state["await"] = STEP_MONTH
    actions = [
        m.postback(
            format_month(month, lang),
            pb.DC_MONTH,
            m=_month_key(month),
            c=kid.key,
            display=format_month(month, lang),
        )
        for month in offered_months(today(turn), kid.birth)
    ]
    body = t("daycare.which_month", lang)
    if kid.key == UNBORN:
        body += "\n" + t("daycare.min_age_note", lang)
    turn.say(m.text(f"{lead}\n{body}" if lead else body, actions))


@router.postback(pb.DC_MONTH)
async def on_month(turn: Turn) -> None:
    """A month chosen from the buttons."""
    kid = await kid_by_key(turn, turn.postback.get("c"))
    month = _parse_month_key(turn.postback.get("m"))
    if kid is None or month is None:
        stale(turn)
        return
    await month_chosen(turn, kid, month)


@router.awaiting(STEP_MONTH)
async def on_month_typed(turn: Turn) -> None:
    """A month typed (2027年4月, 2027-04, 4月)."""
    lang = lang_of(turn)
    kid = await kid_by_key(turn, (turn.state.get("dc") or {}).get("c"))
    if kid is None:
        turn.state.pop("await", None)
        await show_daycare(turn)
        return
    month = parse_month(turn.text or "", today(turn)) if turn.kind == "text" else None
    if month is None:
        if await intent_instead(turn, STEP_MONTH):
            return
        ask = [
            m.postback(format_month(x, lang), pb.DC_MONTH, m=_month_key(x), c=kid.key)
            for x in offered_months(today(turn), kid.birth)
        ]
        turn.say(m.text(t("daycare.month_bad", lang), ask))
        return
    await month_chosen(turn, kid, month)


async def month_chosen(turn: Turn, kid: Kid, month: date) -> None:
    """Check the month fits the child, then ask where."""
    lang = lang_of(turn)
    on = month_start(today(turn))
    shown = format_month(month, lang)
    if not on <= month <= _add_months(on, MONTHS_AHEAD):
        turn.say(m.text(t("daycare.month_out", lang, month=shown)))
        ask_month(turn, kid)
        return
    age = entry_class(kid.birth, month)
    if age is None or (kid.key == UNBORN and month <= kid.birth):
        key = "daycare.not_born_yet" if kid.birth >= month else "daycare.too_old"
        turn.say(m.text(t(key, lang, month=shown)))
        if key == "daycare.not_born_yet":
            ask_month(turn, kid)
        else:
            turn.state.pop("await", None)
        return
    assert turn.family.municipality is not None
    example = await _example_place(turn, turn.family.municipality, lang)
    if example is None:
        name = municipality_name(turn, turn.family.municipality, lang)
        turn.state.pop("await", None)
        turn.say(m.text(t("daycare.no_facilities", lang, municipality=name), menu_actions(lang)))
        return
    turn.state["dc"] = {"c": kid.key, "m": _month_key(month)}
    turn.state["await"] = STEP_PLACE
    klass = t("daycare.class", lang, age=age)
    turn.say(
        m.text(
            t("daycare.where", lang, klass=klass, month=shown, example=example),
            [m.location(t("daycare.location.label", lang)), *menu_actions(lang)],
        )
    )


async def _facilities_in(turn: Turn, municipality: str) -> list[Facility]:
    found = await turn.session.exec(
        select(Facility)
        .where(Facility.municipality == municipality, Facility.status == "active")
        .order_by(col(Facility.id))
    )
    return list(found.all())


async def _example_place(turn: Turn, municipality: str, lang: str) -> str | None:
    """A station (or address) of the municipality's facilities to show as an example; None
    when the municipality has no facility at all."""
    facilities = await _facilities_in(turn, municipality)
    if not facilities:
        return None
    stations = [f.station for f in facilities if f.station]
    if stations:
        return max(sorted(set(stations)), key=stations.count)
    # No station given (Minato's list): the town most facilities are in (芝, 白金).
    towns = [town for f in facilities if len(town := town_of(f.address)) >= 1]
    if towns:
        return max(sorted(set(towns)), key=towns.count)
    return "駅名" if lang == "ja" else "a station"


def _norm(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))


def _root(said: str) -> str:
    root = _norm(said)
    for suffix in _SUFFIXES:
        if root.endswith(suffix) and len(root) > len(suffix):
            root = root[: -len(suffix)]
    return root


_RAIL_PREFIXES = (
    "東京メトロ",
    "メトロ",
    "都営",
    "JR",
    "京王",
    "小田急",
    "東急",
    "西武",
    "東武",
    "京急",
    "京成",
    "相鉄",
    "多摩モノレール",
    "ゆりかもめ",
    "りんかい線",
)
NEAREST_WALK_SPAN = 2  # minutes: the facilities closest to a station estimate its point
_TOWN_END = re.compile(r"(?=\d|[一二三四五六七八九十]+丁目|$)")


def station_root(value: str, *, operators: bool = False) -> str:
    """八王子 for 八王子駅, ＪＲ八王子駅, 八王子駅前; 京王八王子 stays (another station) unless
    `operators` (a typed 京王八王子 with no such station: 八王子)."""
    root = re.sub(r"[（(].*?[)）]", "", _norm(value))
    changed = True
    while changed:
        changed = False
        for prefix in _RAIL_PREFIXES if operators else ("JR",):
            if root.upper().startswith(prefix.upper()) and len(root) > len(prefix):
                root = root[len(prefix) :]
                changed = True
    return _root(root)


def town_of(address: str) -> str:
    """The town of an address: 子安町 in 東京都八王子市子安町1-1-1, 芝 in 東京都港区芝3-2-1."""
    rest = _norm(address)
    rest = re.sub(r"^(?:東京都|北海道|京都府|大阪府|.{2,3}県)", "", rest)
    rest = re.sub(r"^(?:.+?郡)?.+?[市区町村]", "", rest, count=1)
    found = _TOWN_END.search(rest)
    return rest[: found.start()] if found else rest


def _centroid(chosen: list[Facility]) -> tuple[float, float]:
    lat = sum(f.latitude or 0.0 for f in chosen) / len(chosen)
    lon = sum(f.longitude or 0.0 for f in chosen) / len(chosen)
    return lat, lon


def _station_point(chosen: list[Facility]) -> tuple[float, float]:
    """A station's point from its facilities: those with the fewest walking minutes (within
    the least + 2 minutes) are nearest to it; their centroid."""
    walks = [f.walk_minutes for f in chosen if f.walk_minutes is not None]
    if walks:
        least = min(walks)
        near = [
            f
            for f in chosen
            if f.walk_minutes is not None and f.walk_minutes <= least + NEAREST_WALK_SPAN
        ]
        return _centroid(near)
    return _centroid(chosen)


def matched_station(facilities: list[Facility], said: str) -> str | None:
    """The station name (八王子駅) the text names exactly, if any facility is near it."""
    for root in _typed_roots(said):
        for f in facilities:
            if f.station and station_root(f.station) == root:
                return f.station
    return None


def _typed_roots(said: str) -> list[str]:
    """The station names the text may mean: as typed, then without a railway's name."""
    roots = [station_root(said), station_root(said, operators=True)]
    return [r for i, r in enumerate(roots) if r and r not in roots[:i]]


def match_place(facilities: list[Facility], said: str) -> tuple[float, float] | None:
    """Where the text points: a station named exactly (八王子, 八王子駅: only 八王子駅, not
    西八王子駅), its point estimated from the facilities nearest to it; else a station
    containing the text; else a town of the addresses (芝 matches 芝3-2-1, not 芝浦); else an
    address containing the text (2 characters at least). None when nothing matches."""
    roots = _typed_roots(said)
    if not roots:
        return None
    located = [f for f in facilities if f.latitude is not None and f.longitude is not None]
    for root in roots:
        exact = [f for f in located if f.station and station_root(f.station) == root]
        if exact:
            return _station_point(exact)
    root = roots[-1]
    town_root = _root(said)
    towns = [f for f in located if town_of(f.address) in (town_root, town_root + "町")]
    if towns:
        return _centroid(towns)
    if len(root) >= 2 and not root.isdigit():
        containing = [f for f in located if f.station and root in station_root(f.station)]
        if containing:
            # The station whose name is closest to the text (shortest), then its facilities.
            best = min((station_root(f.station) for f in containing), key=lambda n: (len(n), n))
            return _station_point([f for f in containing if station_root(f.station) == best])
    if len(town_root) >= 2 and not re.fullmatch(r"[\d\-丁目番地号町市区村]+", town_root):
        by_address = [f for f in located if town_root in _norm(f.address)]
        if by_address:
            return _centroid(by_address)
    return None


@router.awaiting(STEP_PLACE)
async def on_place(turn: Turn) -> None:
    """Where: a shared location, or a station or area typed."""
    lang = lang_of(turn)
    wanted = turn.state.get("dc") or {}
    kid = await kid_by_key(turn, wanted.get("c"))
    month = _parse_month_key(wanted.get("m"))
    municipality = turn.family.municipality
    if kid is None or month is None or not municipality:
        turn.state.pop("await", None)
        await show_daycare(turn)
        return
    station: str | None = None
    if turn.kind == "location":
        point: tuple[float, float] | None = (
            float(turn.event.message.latitude),
            float(turn.event.message.longitude),
        )
    else:
        facilities = await _facilities_in(turn, municipality)
        point = match_place(facilities, turn.text or "")
        station = matched_station(facilities, turn.text or "")
        if point is None:
            if await intent_instead(turn, STEP_PLACE):
                return
            example = await _example_place(turn, municipality, lang) or ""
            turn.say(
                m.text(
                    t(
                        "daycare.where_again",
                        lang,
                        said=m.clip(turn.text or "", 40),
                        municipality=municipality_name(turn, municipality, lang),
                        example=example,
                    ),
                    [m.location(t("daycare.location.label", lang)), *menu_actions(lang)],
                )
            )
            return
    turn.state.pop("await", None)
    # Answered: a location shared later is not this search's any more.
    turn.state.pop("dc", None)
    assert point is not None
    await show_results(turn, kid, month, municipality, point, station=station)


# -- results ----------------------------------------------------------------------------------


def distance_text(
    metres: float | None,
    lang: str,
    *,
    facility: Facility | None = None,
    station: str | None = None,
) -> str | None:
    """徒歩圏（650 m） / 950 m / 1.2 km; near the station typed, the facility's own walk from
    it (八王子駅 徒歩5分・650 m)."""
    if metres is None:
        return None
    if (
        station
        and facility is not None
        and facility.station == station
        and facility.walk_minutes is not None
    ):
        walk = t("daycare.detail.walk", lang, station=station, minutes=facility.walk_minutes)
        far = f"{int(round(metres, -1))} m" if metres < 1000 else f"{metres / 1000:.1f} km"
        return f"{walk}・{far}" if lang == "ja" else f"{walk}, {far}"
    if metres < 1000:
        shown = int(round(metres, -1))
        return t("daycare.walk", lang, m=shown) if metres <= WALKING_M else f"{shown} m"
    return f"{metres / 1000:.1f} km"


def hours_text(facility: Facility, lang: str) -> str:
    """開所 07:30–18:30（延長 19:30まで）."""
    if not facility.opens or not facility.closes:
        return t("daycare.hours_unknown", lang)
    if facility.extended_care and facility.extended_until:
        return t(
            "daycare.hours_ext",
            lang,
            opens=facility.opens,
            closes=facility.closes,
            until=facility.extended_until,
        )
    return t("daycare.hours", lang, opens=facility.opens, closes=facility.closes)


def places_text(vacancy: Vacancy | None, lang: str) -> str:
    """3人 / 空きあり / 空きなし / 不明."""
    if vacancy is None:
        return t("daycare.places_unknown", lang)
    if vacancy.level == "some":
        return t("daycare.places_some", lang)
    if is_full(vacancy):
        return t("daycare.places_none", lang)
    if not vacancy.places:
        return t("daycare.places_unknown", lang)
    return t("daycare.places_n", lang, n=vacancy.places)


def is_full(vacancy: Vacancy | None) -> bool:
    """Known to have no place (none, or 0 places); unknown is not full."""
    return vacancy is not None and (
        vacancy.level == "none" or (vacancy.level == "number" and vacancy.places == 0)
    )


def has_places(vacancy: Vacancy | None) -> bool:
    """Places are known to be open."""
    return vacancy is not None and (
        vacancy.level == "some" or (vacancy.level == "number" and bool(vacancy.places))
    )


def past_text(past: PastResult, lang: str) -> str:
    """2021年度 最低指数 40点 / 非公開 / 空有."""
    if past.outcome == "withheld":
        return t("daycare.past_withheld", lang, year=past.year)
    if past.outcome == "vacant":
        return t("daycare.past_vacant", lang, year=past.year)
    if past.outcome == "none":
        return t("daycare.past_none", lang, year=past.year)
    if past.points is not None:
        key = "daycare.past_at_most" if past.outcome == "at_most" else "daycare.past_points"
        return t(key, lang, year=past.year, points=f"{past.points:g}")
    return f"{past.year}: {past.raw}" if past.raw else ""


def type_text(facility: Facility, lang: str) -> str:
    """認可保育所（私立） / Licensed daycare (private)."""
    names = FACILITY_TYPES.get(facility.type)
    if names is None or (facility.type == "other" and facility.type_label):
        return facility.type_label or "-"
    return names[1] if lang == "en" else names[0]


def facility_bubble(
    facility: Facility,
    lang: str,
    *,
    kid: str | None,
    month: date | None,
    result: SearchResult | None = None,
    station: str | None = None,
    saved: SavedFacility | None = None,
) -> FlexBubble:
    """A facility's card: type, distance, hours, places, past points; map, details, book, save."""
    lines: list[Any] = []
    if result is not None and result.class_age is not None and is_full(result.vacancy):
        lines.append(
            m.flex_text(t("daycare.full_badge", lang), size="sm", weight="bold", color="#C62828")
        )
    elif result is not None and result.class_age is not None and not has_places(result.vacancy):
        lines.append(
            m.flex_text(
                t("daycare.unknown_badge", lang), size="sm", weight="bold", color="#757575"
            )
        )
    lines.append(m.flex_text(type_text(facility, lang), size="xs", color="#555555"))
    if result is not None:
        distance = distance_text(result.distance_m, lang, facility=facility, station=station)
        if distance:
            lines.append(m.flex_text(distance, size="sm"))
    lines.append(m.flex_text(hours_text(facility, lang), size="sm"))
    if result is not None and result.class_age is not None:
        klass = t("daycare.class", lang, age=result.class_age)
        places = places_text(result.vacancy, lang)
        lines.append(m.flex_text(t("daycare.places", lang, klass=klass, places=places), size="sm"))
        if result.past:
            shown = past_text(result.past[0], lang)
            if shown:
                lines.append(m.flex_text(shown, size="xs", color="#555555"))
    params = _search_params(facility, kid, month)
    buttons = [
        m.uri(t("daycare.map.label", lang), dc_notices.map_url(facility) or ""),
        m.postback(t("daycare.details.label", lang), pb.DC_DETAILS, **params),
        m.postback(t("daycare.book.label", lang), pb.DC_SLOTS, **params),
        m.postback(t("daycare.save.label", lang), pb.DC_SAVE, **params)
        if saved is None
        else m.postback(t("daycare.unsave.label", lang), pb.DC_UNSAVE, v=saved.id),
        m.postback(t("apply.add.label", lang), pb.AP_WISH_ADD, **params)
        if through_municipality(facility)
        else None,
    ]
    return m.bubble(
        dc_notices.facility_name(facility, lang), lines, [b for b in buttons if b is not None]
    )


def _search_params(facility: Facility, kid: str | None, month: date | None) -> dict[str, Any]:
    params: dict[str, Any] = {"f": facility.id}
    if kid:
        params["c"] = kid
    if month:
        params["m"] = _month_key(month)
    return params


async def show_results(
    turn: Turn,
    kid: Kid,
    month: date,
    municipality: str,
    point: tuple[float, float],
    *,
    station: str | None = None,
) -> None:
    """The nearest facilities with places in the child's class (else the nearest with it)."""
    lang = lang_of(turn)
    query = SearchQuery(
        municipalities=[municipality],
        birth_date=kid.birth,
        entry_month=month,
        near=point,
        with_places=True,
        limit=MAX_RESULTS,
    )
    results = await search(turn.session, query)
    lead_key = "daycare.results"
    if not results:
        results = await search(turn.session, replace(query, with_places=False))
        lead_key = "daycare.results_full"
    age = entry_class(kid.birth, month)
    klass = t("daycare.class", lang, age=age)
    shown_month = format_month(month, lang)
    log.info(
        "daycare search",
        extra={"user": user_key(turn.user_id), "results": len(results), "class_age": age},
    )
    notes = await _far_note(turn, municipality, point, lang)
    notes += await _too_young_notes(turn, query, shown_month, lang)
    if not results:
        body = "\n".join([t("daycare.none", lang, klass=klass), *notes])
        turn.say(m.text(body, _daycare_actions(lang)))
        return
    bubbles = [
        facility_bubble(r.facility, lang, kid=kid.key, month=month, result=r, station=station)
        for r in results
    ]
    names = join([dc_notices.facility_name(r.facility, lang) for r in results], lang)
    lead = t(lead_key, lang, klass=klass, month=shown_month, count=len(results))
    turn.say(
        m.text("\n".join([*notes, lead])),
        m.carousel(t("daycare.alt", lang, names=names), bubbles, _daycare_actions(lang)),
    )


async def _far_note(
    turn: Turn, municipality: str, point: tuple[float, float], lang: str
) -> list[str]:
    """八王子市の園から遠い場所です: the point is more than FAR_M from every facility."""
    located = [
        f
        for f in await _facilities_in(turn, municipality)
        if f.latitude is not None and f.longitude is not None
    ]
    if not located:
        return []
    nearest = min(
        distance_m(point[0], point[1], f.latitude or 0.0, f.longitude or 0.0) for f in located
    )
    if nearest <= FAR_M:
        return []
    name = municipality_name(turn, municipality, lang)
    return [t("daycare.far", lang, municipality=name)]


async def _too_young_notes(turn: Turn, query: SearchQuery, month: str, lang: str) -> list[str]:
    """Facilities left out only because the child is too young at entry, by their minimum
    age: 生後57日から受け入れの園（2件）は2027年4月には入れません."""
    everything = await search(
        turn.session,
        replace(query, with_places=False, include_unmatched=True, limit=TOO_YOUNG_LOOK),
    )
    counts: dict[int, int] = {}
    for r in everything:
        young = [x for x in r.misses if x.startswith("too_young:")]
        if young and len(young) == len(r.misses):
            months = _id(young[0].split(":", 1)[1])
            if months is not None:
                counts[months] = counts.get(months, 0) + 1
    notes = []
    for months, count in sorted(counts.items()):
        since = (
            t("daycare.from_57_days", lang)
            if months == 2
            else t("daycare.from_months", lang, n=months)
        )
        notes.append(t("daycare.too_young", lang, since=since, count=count, month=month))
    return notes


# -- details and saving -----------------------------------------------------------------------


MAX_ID = 2**31 - 1  # ids are 32-bit integers: anything else in a postback is forged


def _id(value: Any) -> int | None:
    """A row id from a postback: 1..2**31-1, else None."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


async def _kid_param(turn: Turn) -> tuple[bool, Kid | None]:
    """The child a button names (`c`): (True, the child), (True, None) when none is named,
    (False, None) when it names no child of the family (stale or forged)."""
    key = turn.postback.get("c")
    if key is None or key == "":
        return True, None
    kid = await kid_by_key(turn, key)
    return kid is not None, kid


async def _facility(turn: Turn) -> Facility | None:
    pk = _id(turn.postback.get("f"))
    if pk is None:
        return None
    facility = await turn.session.get(Facility, pk)
    return facility if facility is not None and facility.status == "active" else None


async def _facility_or_say(turn: Turn) -> Facility | None:
    """The facility a button names; else "stale" (a forged id) or "no longer listed"."""
    if _id(turn.postback.get("f")) is None:
        stale(turn)
        return None
    facility = await _facility(turn)
    if facility is None:
        lang = lang_of(turn)
        turn.say(m.text(t("daycare.gone", lang), _daycare_actions(lang)))
    return facility


def single(alt: str, bubble: FlexBubble, actions: list[Any]) -> FlexMessage:
    """One Flex bubble as a message."""
    return FlexMessage(
        alt_text=m.clip(alt, m.MAX_FLEX_ALT), contents=bubble, quick_reply=m.quick(actions)
    )


@router.postback(pb.DC_DETAILS)
async def on_details(turn: Turn) -> None:
    """A facility's details: address, phone, website, classes, hours, notes."""
    lang = lang_of(turn)
    facility = await _facility_or_say(turn)
    if facility is None:
        return
    month = _parse_month_key(turn.postback.get("m"))
    known, found_kid = await _kid_param(turn)
    if not known:
        stale(turn)
        return
    kid = found_kid.key if found_kid is not None else None
    lines = [
        m.flex_text(t("daycare.detail.type", lang, value=type_text(facility, lang)), size="sm")
    ]
    if facility.address:
        lines.append(
            m.flex_text(t("daycare.detail.address", lang, value=facility.address), size="sm")
        )
    if facility.station:
        if facility.walk_minutes is not None:
            walk = t(
                "daycare.detail.walk",
                lang,
                station=facility.station,
                minutes=facility.walk_minutes,
            )
        else:
            walk = t("daycare.detail.station", lang, value=facility.station)
        lines.append(m.flex_text(walk, size="sm"))
    lines.append(m.flex_text(hours_text(facility, lang), size="sm"))
    if facility.classes:
        classes = join([t("daycare.class", lang, age=a) for a in sorted(facility.classes)], lang)
        lines.append(m.flex_text(t("daycare.detail.classes", lang, value=classes), size="sm"))
    if facility.capacity:
        lines.append(
            m.flex_text(t("daycare.detail.capacity", lang, value=facility.capacity), size="sm")
        )
    if facility.temporary_care:
        lines.append(m.flex_text(t("daycare.detail.temporary", lang), size="sm"))
    if facility.meals:
        lines.append(m.flex_text(t("daycare.detail.meals", lang, value=facility.meals), size="sm"))
    if facility.phone:
        lines.append(m.flex_text(t("daycare.detail.phone", lang, value=facility.phone), size="sm"))
    if facility.url:
        lines.append(m.flex_text(t("daycare.detail.url", lang, value=facility.url), size="sm"))
    if facility.notes:
        lines.append(
            m.flex_text(
                t("daycare.detail.notes", lang, value=m.clip(facility.notes, 500)), size="sm"
            )
        )
    params = _search_params(facility, kid, month)
    buttons = [
        m.postback(t("daycare.book.label", lang), pb.DC_SLOTS, **params),
        m.uri(t("daycare.map.label", lang), dc_notices.map_url(facility) or ""),
        m.uri(t("daycare.web.label", lang), facility.url),
        m.postback(t("daycare.save.label", lang), pb.DC_SAVE, **params),
        m.postback(t("apply.add.label", lang), pb.AP_WISH_ADD, **params)
        if through_municipality(facility)
        else None,
    ]
    name = dc_notices.facility_name(facility, lang)
    bubble = m.bubble(name, lines, [b for b in buttons if b is not None])
    turn.say(single(name, bubble, _daycare_actions(lang)))


@router.postback(pb.DC_SAVE)
async def on_save(turn: Turn) -> None:
    """Save a facility for a child and a month: watched for new places."""
    lang = lang_of(turn)
    facility = await _facility_or_say(turn)
    if facility is None or turn.family.id is None:
        return
    known, kid = await _kid_param(turn)
    if not known:
        stale(turn)
        return
    month = _parse_month_key(turn.postback.get("m"))
    child_id = kid.child_id if kid is not None else None
    found = await turn.session.exec(
        select(SavedFacility).where(
            SavedFacility.family_id == turn.family.id,
            SavedFacility.facility_pk == facility.id,
            SavedFacility.child_id == child_id
            if child_id is not None
            else col(SavedFacility.child_id).is_(None),
        )
    )
    row = found.first()
    name = dc_notices.facility_name(facility, lang)
    if row is None:
        assert facility.id is not None
        turn.session.add(
            SavedFacility(
                family_id=turn.family.id,
                facility_pk=facility.id,
                child_id=child_id,
                entry_month=month,
            )
        )
        key = "daycare.saved"
    else:
        if month is not None:
            row.entry_month = month
            turn.session.add(row)
        key = "daycare.saved_already"
    await turn.session.flush()
    turn.say(m.text(t(key, lang, name=name), _daycare_actions(lang)))


@router.postback(pb.DC_SAVED)
async def on_saved(turn: Turn) -> None:
    """The facilities the family saved."""
    lang = lang_of(turn)
    if turn.family.id is None or not consented(turn):
        await show_daycare(turn)
        return
    found = await turn.session.exec(
        select(SavedFacility, Facility)
        .join(Facility, col(Facility.id) == col(SavedFacility.facility_pk))
        .where(SavedFacility.family_id == turn.family.id, Facility.status == "active")
        .order_by(col(SavedFacility.created_at).desc(), col(SavedFacility.id).desc())
    )
    rows = list(found.all())
    if not rows:
        turn.say(m.text(t("daycare.saved_none", lang), _daycare_actions(lang)))
        return
    kids = {k.child_id: k for k in await kids_of(turn)}
    bubbles: list[FlexBubble] = []
    shown: list[str] = []
    seen: set[int] = set()
    for saved, facility in rows:
        if facility.id in seen or len(bubbles) >= MAX_RESULTS:
            continue
        seen.add(facility.id or 0)
        kid = kids.get(saved.child_id)
        now = await _saved_places(turn, facility, kid, saved.entry_month)
        bubbles.append(
            facility_bubble(
                facility,
                lang,
                kid=kid.key if kid is not None else None,
                month=saved.entry_month,
                result=now,
                saved=saved,
            )
        )
        shown.append(dc_notices.facility_name(facility, lang))
    names = join(shown, lang)
    turn.say(
        m.text(t("daycare.saved_list", lang, count=len(bubbles))),
        m.carousel(t("daycare.saved_alt", lang, names=names), bubbles, _daycare_actions(lang)),
    )


async def _saved_places(
    turn: Turn, facility: Facility, kid: Kid | None, month: date | None
) -> SearchResult | None:
    """The saved child's class in the saved month, with today's vacancy (for the card)."""
    if kid is None or month is None or facility.id is None:
        return None
    age = entry_class(kid.birth, month)
    if age is None:
        return None
    found = await turn.session.exec(
        select(Vacancy).where(
            Vacancy.facility_pk == facility.id,
            Vacancy.class_age == age,
            Vacancy.entry_month == month,
        )
    )
    return SearchResult(
        facility=facility, distance_m=None, class_age=age, vacancy=found.first(), past=[]
    )


@router.postback(pb.DC_UNSAVE)
async def on_unsave(turn: Turn) -> None:
    """Remove a saved facility: no more "a place opened" for it."""
    lang = lang_of(turn)
    saved_id = _id(turn.postback.get("v"))
    if saved_id is None or turn.family.id is None:
        stale(turn)
        return
    saved = await turn.session.get(SavedFacility, saved_id)
    if saved is None or saved.family_id != turn.family.id:
        turn.say(m.text(t("daycare.unsaved_already", lang), _daycare_actions(lang)))
        return
    facility = await turn.session.get(Facility, saved.facility_pk)
    name = dc_notices.facility_name(facility, lang) if facility is not None else ""
    # The card stands for the facility (one card however many children it is saved for).
    found = await turn.session.exec(
        select(SavedFacility).where(
            SavedFacility.family_id == turn.family.id,
            SavedFacility.facility_pk == saved.facility_pk,
        )
    )
    for row in found.all():
        await turn.session.delete(row)
    await turn.session.flush()
    turn.say(m.text(t("daycare.unsaved", lang, name=name), _daycare_actions(lang)))


# -- tours ------------------------------------------------------------------------------------


def slot_label(slot: TourSlot, lang: str, zone: Any) -> str:
    """12/9(水) 10:00 残2 / Wed 12/9 10:00 (2)."""
    start = slot.starts_at.astimezone(zone)
    return t(
        "daycare.slot",
        lang,
        day=f"{start.month}/{start.day}",
        weekday=dc_notices.weekday(start.date(), lang),
        time=start.strftime("%H:%M"),
        left=max(0, slot.capacity - slot.booked),
    )


async def open_slots(
    turn: Turn, facility_pk: int, *, besides: int | None = None
) -> list[TourSlot]:
    """Upcoming open slots of a facility with seats left, soonest first."""
    statement = (
        select(TourSlot)
        .where(
            TourSlot.facility_pk == facility_pk,
            TourSlot.status == "open",
            col(TourSlot.starts_at) > turn.now,
            col(TourSlot.booked) < col(TourSlot.capacity),
        )
        .order_by(col(TourSlot.starts_at), col(TourSlot.id))
        .limit(MAX_SLOTS + 1)
    )
    slots = [s for s in (await turn.session.exec(statement)).all() if s.id != besides]
    return slots[:MAX_SLOTS]


def _contact(facility: Facility, lang: str) -> str:
    parts = []
    if facility.phone:
        parts.append(t("daycare.detail.phone", lang, value=facility.phone))
    if facility.url:
        parts.append(t("daycare.detail.url", lang, value=facility.url))
    return "\n".join(parts)


async def pick_slot(
    turn: Turn, facility: Facility, *, lead: str | None = None, kid: str | None = None
) -> None:
    """The slot picker of a facility (or "no slots", with its phone and website)."""
    lang = lang_of(turn)
    assert facility.id is not None
    name = dc_notices.facility_name(facility, lang)
    slots = await open_slots(turn, facility.id)
    head = [lead] if lead else []
    if not slots:
        head.append(t("daycare.no_slots", lang, name=name))
        contact = _contact(facility, lang)
        if contact:
            head.append(contact)
        turn.say(m.text("\n".join(head), _daycare_actions(lang)))
        return
    zone = turn.deps.zone
    params = {"c": kid} if kid else {}
    actions = [
        m.postback(
            slot_label(s, lang, zone),
            pb.DC_BOOK,
            s=s.id,
            display=slot_label(s, lang, zone),
            **params,
        )
        for s in slots
    ]
    head.append(t("daycare.slots", lang, name=name))
    turn.say(m.text("\n".join(head), [*actions, *menu_actions(lang)][: m.MAX_QUICK_ITEMS]))


@router.postback(pb.DC_SLOTS)
async def on_slots(turn: Turn) -> None:
    """Book a tour: the facility's slot picker."""
    facility = await _facility_or_say(turn)
    if facility is None:
        return
    known, kid = await _kid_param(turn)
    if not known:
        stale(turn)
        return
    await pick_slot(turn, facility, kid=kid.key if kid is not None else None)


def booking_bubble(
    booking: TourBooking, slot: TourSlot, facility: Facility, lang: str, zone: Any, title: str
) -> FlexBubble:
    """A booking: facility, date and time (Asia/Tokyo), address, notes; map, change, cancel."""
    when = dc_notices.tour_when(slot, lang, zone)
    lines = [
        m.flex_text(t("daycare.when", lang, value=when), size="sm", weight="bold"),
    ]
    if facility.address:
        lines.append(
            m.flex_text(t("daycare.detail.address", lang, value=facility.address), size="sm")
        )
    if slot.notes:
        lines.append(m.flex_text(slot.notes, size="sm", color="#555555"))
    if facility.phone:
        lines.append(m.flex_text(t("daycare.detail.phone", lang, value=facility.phone), size="sm"))
    wish: dict[str, Any] = {"f": facility.id}
    if booking.child_id:
        wish["c"] = booking.child_id
    buttons = [
        m.uri(t("daycare.map.label", lang), dc_notices.map_url(facility) or ""),
        m.postback(t("daycare.change.label", lang), pb.DC_CHANGE, b=booking.id),
        m.postback(t("daycare.cancel.label", lang), pb.DC_CANCEL, b=booking.id),
        m.postback(t("apply.add.label", lang), pb.AP_WISH_ADD, **wish)
        if through_municipality(facility)
        else None,
    ]
    return m.bubble(
        dc_notices.facility_name(facility, lang),
        lines,
        [b for b in buttons if b is not None],
        badge=title,
    )


def _say_booking(
    turn: Turn, booking: TourBooking, slot: TourSlot, facility: Facility, title: str
) -> None:
    lang = lang_of(turn)
    zone = turn.deps.zone
    bubble = booking_bubble(booking, slot, facility, lang, zone, title)
    alt = t(
        "daycare.booking_alt",
        lang,
        title=title,
        name=dc_notices.facility_name(facility, lang),
        when=dc_notices.tour_when(slot, lang, zone),
    )
    turn.say(single(alt, bubble, _daycare_actions(lang)))


async def _tour_refused(turn: Turn, error: tours.TourError, slot_id: int) -> None:
    lang = lang_of(turn)
    if error.code == "already_booked":  # the same tap twice at once: the other one booked it
        turn.say(
            m.text(
                t("daycare.already_booked", lang) + ("。" if lang == "ja" else "."),
                _daycare_actions(lang),
            )
        )
        return
    key = {"full": "daycare.full"}.get(error.code, "daycare.closed")
    slot = await turn.session.get(TourSlot, slot_id)
    facility = await turn.session.get(Facility, slot.facility_pk) if slot is not None else None
    if facility is None or facility.status != "active":
        turn.say(m.text(t(key, lang), _daycare_actions(lang)))
        return
    await pick_slot(turn, facility, lead=t(key, lang))


def _int(value: Any) -> int | None:
    return _id(value)


@router.postback(pb.DC_BOOK)
async def on_book(turn: Turn) -> None:
    """Book the slot chosen (again: "already booked"; full or closed: say so, offer others)."""
    lang = lang_of(turn)
    slot_id = _int(turn.postback.get("s"))
    if slot_id is None or turn.family.id is None or not consented(turn):
        stale(turn)
        return
    known, kid = await _kid_param(turn)
    if not known:
        stale(turn)
        return
    try:
        # A savepoint: a refused booking (a duplicate spoils the transaction) is undone whole.
        async with turn.session.begin_nested():
            made = await tours.book(
                turn.session,
                slot_id,
                turn.family.id,
                child_id=kid.child_id if kid is not None else None,
                now=turn.now,
            )
    except tours.TourError as error:
        await _tour_refused(turn, error, slot_id)
        return
    facility = await turn.session.get(Facility, made.slot.facility_pk)
    assert facility is not None
    title = t("daycare.already_booked" if made.already else "daycare.booked", lang)
    if not made.already:
        await dc_notices.remind_if_tomorrow(
            turn.session,
            made.booking,
            made.slot,
            facility,
            now=turn.now,
            zone=turn.deps.zone,
            quiet_hours=turn.deps.quiet_hours,
        )
        log.info("tour booked", extra={"user": user_key(turn.user_id), "slot": slot_id})
    _say_booking(turn, made.booking, made.slot, facility, title)
    if not made.already:
        await go(turn, "rate.offer", "tours")


async def _say_not_live(turn: Turn) -> None:
    """A button of a booking no longer live: moved (a live booking of the family at the same
    facility) → where to; else "cancelled or not found"."""
    lang = lang_of(turn)
    booking_id = _int(turn.postback.get("b"))
    moved: tuple[TourSlot, Facility] | None = None
    if booking_id is not None and turn.family.id is not None:
        booking = await turn.session.get(TourBooking, booking_id)
        old = await turn.session.get(TourSlot, booking.slot_id) if booking is not None else None
        if booking is not None and old is not None and booking.family_id == turn.family.id:
            found = await turn.session.exec(
                select(TourSlot, Facility)
                .join(TourBooking, col(TourBooking.slot_id) == col(TourSlot.id))
                .join(Facility, col(Facility.id) == col(TourSlot.facility_pk))
                .where(
                    TourBooking.family_id == turn.family.id,
                    TourBooking.status == "booked",
                    TourBooking.id != booking.id,
                    TourSlot.facility_pk == old.facility_pk,
                    col(TourSlot.starts_at) > turn.now,
                )
                .order_by(col(TourBooking.updated_at).desc())
            )
            moved = found.first()
    if moved is None:
        turn.say(m.text(t("daycare.not_live", lang), _daycare_actions(lang)))
        return
    slot, facility = moved
    turn.say(
        m.text(
            t(
                "daycare.moved",
                lang,
                name=dc_notices.facility_name(facility, lang),
                when=dc_notices.tour_when(slot, lang, turn.deps.zone),
            ),
            _daycare_actions(lang),
        )
    )


async def _own_booking(turn: Turn) -> tuple[TourBooking, TourSlot, Facility] | None:
    """The live, upcoming booking a button names, if it is this family's."""
    booking_id = _int(turn.postback.get("b"))
    if booking_id is None or turn.family.id is None:
        return None
    booking = await turn.session.get(TourBooking, booking_id)
    if booking is None or booking.family_id != turn.family.id or booking.status != "booked":
        return None
    slot = await turn.session.get(TourSlot, booking.slot_id)
    if slot is None or slot.starts_at <= turn.now:
        return None
    facility = await turn.session.get(Facility, slot.facility_pk)
    if facility is None:
        return None
    return booking, slot, facility


@router.postback(pb.DC_TOURS)
async def on_tours(turn: Turn) -> None:
    """My tours: upcoming live bookings, each with change and cancel."""
    lang = lang_of(turn)
    if turn.family.id is None or not consented(turn):
        await show_daycare(turn)
        return
    found = await turn.session.exec(
        select(TourBooking, TourSlot, Facility)
        .join(TourSlot, col(TourSlot.id) == col(TourBooking.slot_id))
        .join(Facility, col(Facility.id) == col(TourSlot.facility_pk))
        .where(
            TourBooking.family_id == turn.family.id,
            TourBooking.status == "booked",
            col(TourSlot.starts_at) > turn.now,
        )
        .order_by(col(TourSlot.starts_at))
        .limit(MAX_RESULTS)
    )
    rows = list(found.all())
    if not rows:
        turn.say(m.text(t("daycare.tours_none", lang), _daycare_actions(lang)))
        return
    zone = turn.deps.zone
    booked = t("daycare.booked", lang)
    bubbles = [booking_bubble(b, s, f, lang, zone, booked) for b, s, f in rows]
    names = join(
        [
            f"{dc_notices.facility_name(f, lang)} {dc_notices.tour_when(s, lang, zone)}"
            for _b, s, f in rows
        ],
        lang,
    )
    turn.say(
        m.text(t("daycare.tours_list", lang, count=len(rows))),
        m.carousel(t("daycare.tours_alt", lang, names=names), bubbles, _daycare_actions(lang)),
    )


@router.postback(pb.DC_CANCEL)
async def on_cancel(turn: Turn) -> None:
    """Cancel a booking? (confirm)."""
    lang = lang_of(turn)
    own = await _own_booking(turn)
    if own is None:
        await _say_not_live(turn)
        return
    booking, slot, facility = own
    body = t(
        "daycare.cancel_ask",
        lang,
        name=dc_notices.facility_name(facility, lang),
        when=dc_notices.tour_when(slot, lang, turn.deps.zone),
    )
    turn.say(
        m.confirm(
            body,
            m.postback(t("daycare.cancel_yes.label", lang), pb.DC_CANCEL_YES, b=booking.id),
            m.postback(t("daycare.keep.label", lang), pb.DC_KEEP),
        )
    )


@router.postback(pb.DC_CANCEL_YES)
async def on_cancel_yes(turn: Turn) -> None:
    """Cancel the booking: the seat is given back, the reminder is not sent."""
    lang = lang_of(turn)
    own = await _own_booking(turn)
    if own is None:
        await _say_not_live(turn)
        return
    booking, slot, facility = own
    # The seat is given back and the unsent reminder goes with it (tours.cancel does both).
    await tours.cancel(turn.session, booking, now=turn.now)
    log.info("tour cancelled", extra={"user": user_key(turn.user_id), "slot": slot.id})
    turn.say(
        m.text(
            t(
                "daycare.cancelled",
                lang,
                name=dc_notices.facility_name(facility, lang),
                when=dc_notices.tour_when(slot, lang, turn.deps.zone),
            ),
            [
                m.postback(t("daycare.book.label", lang), pb.DC_SLOTS, f=facility.id),
                *_daycare_actions(lang),
            ],
        )
    )


@router.postback(pb.DC_KEEP)
async def on_keep(turn: Turn) -> None:
    """Not cancelled after all."""
    lang = lang_of(turn)
    turn.say(m.text(t("daycare.kept", lang), _daycare_actions(lang)))


@router.postback(pb.DC_CHANGE)
async def on_change(turn: Turn) -> None:
    """Change a booking: the facility's other open slots."""
    lang = lang_of(turn)
    own = await _own_booking(turn)
    if own is None:
        await _say_not_live(turn)
        return
    booking, slot, facility = own
    assert facility.id is not None
    name = dc_notices.facility_name(facility, lang)
    slots = await open_slots(turn, facility.id, besides=booking.slot_id)
    if not slots:
        turn.say(m.text(t("daycare.no_other_slots", lang, name=name), _daycare_actions(lang)))
        return
    zone = turn.deps.zone
    actions = [
        m.postback(
            slot_label(s, lang, zone),
            pb.DC_MOVE,
            b=booking.id,
            s=s.id,
            display=slot_label(s, lang, zone),
        )
        for s in slots
    ]
    when = dc_notices.tour_when(slot, lang, zone)
    turn.say(
        m.text(
            t("daycare.change_pick", lang, name=name, when=when),
            [*actions, m.postback(t("daycare.keep.label", lang), pb.DC_KEEP)],
        )
    )


@router.postback(pb.DC_MOVE)
async def on_move(turn: Turn) -> None:
    """Move the booking to the slot chosen, at once (the old seat is given back only when the
    new one is taken)."""
    lang = lang_of(turn)
    own = await _own_booking(turn)
    slot_id = _int(turn.postback.get("s"))
    if slot_id is None:
        stale(turn)
        return
    if own is None:
        await _say_not_live(turn)
        return
    booking, _slot, _facility = own
    new_slot = await turn.session.get(TourSlot, slot_id)
    if new_slot is None or new_slot.facility_pk != _slot.facility_pk:
        stale(turn)
        return
    try:
        # A savepoint: a change refused after the new seat was taken (the booking cancelled
        # meanwhile) gives that seat back.
        async with turn.session.begin_nested():
            made = await tours.change(turn.session, booking, slot_id, now=turn.now)
    except tours.TourError as error:
        if error.code == "not_booked":
            turn.say(m.text(t("daycare.not_live", lang), _daycare_actions(lang)))
            return
        await _tour_refused(turn, error, slot_id)
        return
    # tours.change cancelled the old booking, and its unsent reminder with it.
    facility = await turn.session.get(Facility, made.slot.facility_pk)
    assert facility is not None
    await dc_notices.remind_if_tomorrow(
        turn.session,
        made.booking,
        made.slot,
        facility,
        now=turn.now,
        zone=turn.deps.zone,
        quiet_hours=turn.deps.quiet_hours,
    )
    _say_booking(turn, made.booking, made.slot, facility, t("daycare.changed", lang))


def _place_asked(turn: Turn) -> bool:
    """The last daycare question was "where" (the month is chosen), and is not answered."""
    wanted = turn.state.get("dc")
    return isinstance(wanted, dict) and "m" in wanted and turn.state.get("await") is None


@router.when("location", _place_asked)
async def on_location_later(turn: Turn) -> None:
    """A location shared after the place question timed out of its step: search from it."""
    turn.state["await"] = STEP_PLACE
    await on_place(turn)


__all__ = ["kids_of", "match_place", "offered_months", "parse_month", "router"]
