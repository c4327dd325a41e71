"""入所申込 in LINE: wished facilities per child, the application's questions, the summary and
submit; 申込状況 (status, change wishes, withdraw until the deadline); the points simulator.

Wishes are collected from the search results, saved facilities and booked tours ("この園に申し
込む") and kept per child in the family's preferences (`daycare_wishes`: {child id: [Facility
ids]}), so they outlive the 30-minute conversation and go with the family's data. The apply flow
keeps its answers in the conversation state (`ap`, with a token its buttons carry) and asks only
what the service does not know: the profile and the last application pre-fill the rest
(`applications.prefill_facts`); a re-application shows the last answers for one tap, and asks
again only the part the parent says changed.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from linebot.v3.messaging import (
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexMessage,
    FlexText,
    PostbackAction,
)
from pydantic import ValidationError
from sqlmodel import col, select

from bot import messages as m
from bot.dispatch import Router, Turn, postback_data
from bot.handlers.common import consented, lang_of, menu_actions, save_preferences, stale, today
from bot.navigation import go, intent_instead, intent_of
from bot.state import user_key
from bot.texts import format_born, join, t
from integrations.daycare import applications as apps
from integrations.daycare import points as points_store
from integrations.daycare.applications import through_municipality
from integrations.daycare.classes import entry_class, month_start
from integrations.daycare.models import (
    APPLICATION_STATUSES,
    MAX_WISHES,
    Application,
    Facility,
    IntakeRound,
    PastResult,
    SavedFacility,
    TourBooking,
    TourSlot,
)
from integrations.daycare.odds import estimate_odds
from integrations.daycare.rounds import RoundError
from notifier import postbacks as pb
from notifier.formats import format_date, format_month
from registry import families
from rules.ages import class_age, fiscal_year
from rules.points import (
    CARE_REASONS,
    SIBLING_MODES,
    ApplicationFacts,
    PointsDocument,
    PointsRuleError,
    score,
)

log = logging.getLogger(__name__)

router = Router("applications")

WISHES_KEY = "daycare_wishes"
STEP_HOURS = "ap.hours"
STEP_SIBLING = "ap.sib"
MAX_CARDS = 10  # application cards in 申込状況 (LINE allows 12)
MAX_CHOICES = 11  # facilities offered as quick replies (13 allowed; room for two more)
MAX_ID = 2**31 - 1
HOURS_CHOICES = (40, 35, 30, 25)
ASKED_REASONS = [r for r in CARE_REASONS if r != "absent"]  # one guardian: a single parent
# Quick reply labels hold 20 characters (LINE): the English reasons said shorter there.
SHORT_REASONS_EN = {
    "pregnancy": "Pregnancy or birth",
    "nursing_care": "Caring for family",
    "study": "Study or training",
    "none": "At home, can care",
}
HOURS_REASONS = ("work", "study")

# Fact names in words, for "what changed since the last application".
FACT_WORDS: dict[str, tuple[str, str]] = {
    "guardians": ("保護者の状況", "guardians' situation"),
    "single_parent": ("ひとり親", "single parent"),
    "public_assistance": ("生活保護", "public assistance"),
    "resident_tax_exempt": ("住民税非課税", "resident-tax exemption"),
    "child_disability": ("お子さんの障害", "the child's disability"),
    "siblings_enrolled": ("きょうだいの在園", "siblings at a daycare"),
    "siblings_applying": ("きょうだいの同時申込", "siblings applying together"),
    "sibling_mode": ("きょうだいの入所の希望", "how siblings are placed"),
    "accepts_leave_extension": ("育休延長の許容", "accepting longer parental leave"),
    "transfer_from": ("転園", "transfer"),
    "graduating_small_scale": ("小規模保育の卒園", "leaving small-scale daycare"),
    "outside_municipality": ("区市町村外", "living elsewhere"),
}


# -- children and wishes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kid:
    """A registered child who could go to daycare (born, not yet of school age)."""

    child_id: int
    birth: date
    disability: bool

    @property
    def key(self) -> str:
        return str(self.child_id)


async def kids_of(turn: Turn) -> list[Kid]:
    """The family's born children not yet of school age, oldest first."""
    assert turn.family.id is not None
    on = today(turn)
    year = fiscal_year(month_start(on))
    return [
        Kid(c.id, c.birth_date, c.disability)
        for c in await families.children_of(turn.session, turn.family.id)
        if c.id is not None and c.birth_date <= on and class_age(c.birth_date, year) <= 5
    ]


async def kid_by_key(turn: Turn, key: Any) -> Kid | None:
    """The child a button names, if still in the family."""
    return next((k for k in await kids_of(turn) if k.key == key), None)


def kid_label(kid: Kid | None, lang: str, birth: date | None = None) -> str:
    """2025年6月生まれ (a child is named by birth month only)."""
    if kid is not None:
        return format_born(kid.birth, lang)
    return format_born(birth, lang) if birth is not None else "-"


def _id(value: Any) -> int | None:
    """A row id from a postback (1..2**31-1), else None."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def wishes_of(turn: Turn, kid: Kid) -> list[int]:
    """The child's wished facilities (Facility ids), best first."""
    stored = (turn.family.preferences or {}).get(WISHES_KEY) or {}
    found = stored.get(kid.key) if isinstance(stored, dict) else None
    if not isinstance(found, list):
        return []
    return [x for x in found if isinstance(x, int)][:MAX_WISHES]


async def set_wishes(turn: Turn, kid: Kid, wishes: list[int]) -> None:
    """Store the child's wish list (an empty list forgets it)."""
    stored = dict((turn.family.preferences or {}).get(WISHES_KEY) or {})
    if wishes:
        stored[kid.key] = list(wishes)[:MAX_WISHES]
    else:
        stored.pop(kid.key, None)
    await save_preferences(turn, **{WISHES_KEY: stored})


async def facilities_by_pk(turn: Turn, pks: list[int]) -> dict[int, Facility]:
    """The facilities of these ids (any status: a closed one is still named)."""
    if not pks:
        return {}
    found = await turn.session.exec(select(Facility).where(col(Facility.id).in_(pks)))
    return {f.id: f for f in found.all() if f.id is not None}


def facility_name(facility: Facility | None, lang: str) -> str:
    """The facility's name in the parent's language."""
    if facility is None:
        return "-"
    return facility.name_en if lang == "en" and facility.name_en else facility.name_ja


async def wish_names(turn: Turn, wishes: list[int], lang: str) -> list[str]:
    """1. みどり保育園 …, in order."""
    found = await facilities_by_pk(turn, wishes)
    return [f"{i}. {facility_name(found.get(pk), lang)}" for i, pk in enumerate(wishes, 1)]


def _door_actions(lang: str) -> list[Any]:
    return [
        m.postback(t("apply.start.label", lang), pb.AP_START),
        m.postback(t("apply.status.label", lang), pb.AP_STATUS),
        m.postback(t("apply.points.label", lang), pb.AP_POINTS),
        *menu_actions(lang),
    ][: m.MAX_QUICK_ITEMS]


async def _ready(turn: Turn) -> bool:
    """The family may apply (agreed and registered); else onboarding is resumed."""
    if consented(turn) and turn.family.onboarded_at is not None and turn.family.municipality:
        return True
    await go(turn, "resume_onboarding", lead=t("daycare.not_onboarded", lang_of(turn)))
    return False


# -- the wish list ----------------------------------------------------------------------------


@router.entry("apply")
async def start(turn: Turn) -> None:
    """申し込む: which child (when several), then the child's wish list."""
    lang = lang_of(turn)
    if not await _ready(turn):
        return
    turn.state.pop("ap", None)
    kids = await kids_of(turn)
    if not kids:
        turn.say(
            m.text(
                t("apply.no_children", lang),
                [m.postback(t("menu.family.label", lang), pb.MENU_FAMILY), *menu_actions(lang)],
            )
        )
        return
    if len(kids) == 1:
        await show_wishes(turn, kids[0], lead=t("apply.intro", lang))
        return
    actions = [
        m.postback(kid_label(k, lang), pb.AP_CHILD, c=k.key, display=kid_label(k, lang))
        for k in kids
    ]
    actions.append(m.postback(t("apply.status.label", lang), pb.AP_STATUS))
    turn.say(m.text(t("apply.intro", lang) + "\n" + t("apply.which_child", lang), actions))


@router.postback(pb.AP_START)
async def on_start(turn: Turn) -> None:
    """The 申し込む button (daycare door, saved facilities, tours)."""
    await start(turn)


@router.postback(pb.AP_CHILD, pb.AP_WISHES)
async def on_child(turn: Turn) -> None:
    """A child chosen: the child's wish list."""
    if not await _ready(turn):
        return
    kid = await kid_by_key(turn, turn.postback.get("c"))
    if kid is None:
        stale(turn)
        return
    await show_wishes(turn, kid)


async def open_application_of(turn: Turn, kid: Kid) -> tuple[Application, IntakeRound] | None:
    """The child's application that may still change (open status, before the deadline)."""
    assert turn.family.id is not None
    for application in await apps.applications_of_family(turn.session, turn.family.id):
        if application.child_id != kid.child_id or application.status not in apps.OPEN_STATUSES:
            continue
        round_ = await apps.round_of(turn.session, application)
        if round_.status == "open" and round_.deadline > turn.now:
            return application, round_
    return None


def _wish_row(name: str, kid: Kid, pk: int, index: int, count: int) -> FlexBox:
    """One wish: its rank and name, with up, down and remove."""
    buttons: list[Any] = []
    for shown, action, params in (
        ("↑", pb.AP_WISH_MOVE, {"d": "u"}),
        ("↓", pb.AP_WISH_MOVE, {"d": "d"}),
        ("✕", pb.AP_WISH_REMOVE, {}),
    ):
        if (shown == "↑" and index == 0) or (shown == "↓" and index == count - 1):
            buttons.append(FlexText(text=" ", flex=1))
            continue
        buttons.append(
            FlexButton(
                action=m.postback(shown, action, c=kid.key, f=pk, **params),
                style="link",
                height="sm",
                flex=1,
            )
        )
    return FlexBox(
        layout="horizontal",
        spacing="xs",
        contents=[
            FlexText(text=m.clip(f"{index + 1}. {name}", 60), wrap=True, size="sm", flex=5),
            *buttons,
        ],
    )


async def show_wishes(turn: Turn, kid: Kid, *, lead: str | None = None) -> None:
    """The child's wish list, best first, each with up, down and remove; then apply (or, for
    an application already made, save the changes)."""
    lang = lang_of(turn)
    wishes = wishes_of(turn, kid)
    label = kid_label(kid, lang)
    head = [lead] if lead else []
    if not wishes and await open_application_of(turn, kid) is not None:
        head.append(t("apply.applied_already", lang, child=label))
        turn.say(m.text("\n".join(head), _door_actions(lang)))
        return
    if not wishes:
        head.append(t("apply.wishes_none", lang, child=label))
        daycare = m.postback(t("menu.daycare.label", lang), pb.MENU_DAYCARE)
        actions = [
            m.postback(t("apply.more.label", lang), pb.AP_WISH_MORE, c=kid.key),
            daycare,
            m.postback(t("apply.status.label", lang), pb.AP_STATUS),
            # The menu's 保育園をさがす is already offered second: not twice.
            *(a for a in menu_actions(lang) if a.label != daycare.label),
        ]
        turn.say(m.text("\n".join(head), actions))
        return
    found = await facilities_by_pk(turn, wishes)
    rows = [
        _wish_row(facility_name(found.get(pk), lang), kid, pk, i, len(wishes))
        for i, pk in enumerate(wishes)
    ]
    existing = await open_application_of(turn, kid)
    if existing is not None and existing[0].wishes != wishes:
        main = m.postback(t("apply.commit.label", lang), pb.AP_COMMIT, p=existing[0].id)
    elif existing is not None:
        main = m.postback(t("apply.status.label", lang), pb.AP_STATUS)
    else:
        main = m.postback(t("apply.go.label", lang), pb.AP_APPLY, c=kid.key)
    buttons = [main, m.postback(t("apply.more.label", lang), pb.AP_WISH_MORE, c=kid.key)]
    title = t("apply.wishes_title", lang, child=label, count=len(wishes), max=MAX_WISHES)
    bubble = m.bubble(title, rows, buttons)
    bubble.size = "mega"
    names = join([facility_name(found.get(pk), lang) for pk in wishes], lang)
    if head:
        turn.say(m.text("\n".join(head)))
    turn.say(
        FlexMessage(
            alt_text=m.clip(f"{title}: {names}", m.MAX_FLEX_ALT),
            contents=bubble,
            quick_reply=m.quick(_door_actions(lang)),
        )
    )


async def _wish_kid(turn: Turn) -> tuple[Kid, list[int]] | None:
    """The child and wish list a wish button names; None after saying why not."""
    kid = await kid_by_key(turn, turn.postback.get("c"))
    if kid is None or turn.family.id is None:
        stale(turn)
        return None
    return kid, wishes_of(turn, kid)


@router.postback(pb.AP_WISH_ADD)
async def on_add(turn: Turn) -> None:
    """この園に申し込む: add the facility to the child's wishes (which child, when several)."""
    lang = lang_of(turn)
    if not await _ready(turn):
        return
    pk = _id(turn.postback.get("f"))
    facility = await turn.session.get(Facility, pk) if pk is not None else None
    if pk is None:
        stale(turn)
        return
    if facility is None or facility.status != "active":
        turn.say(m.text(t("daycare.gone", lang), _door_actions(lang)))
        return
    if not through_municipality(facility):
        name = facility_name(facility, lang)
        turn.say(m.text(t("apply.direct", lang, name=name), _door_actions(lang)))
        return
    key = turn.postback.get("c") or ""
    if key == "due":
        turn.say(m.text(t("apply.unborn", lang), _door_actions(lang)))
        return
    kids = await kids_of(turn)
    if key:
        kid = next((k for k in kids if k.key == key), None)
        if kid is None:
            stale(turn)
            return
    elif len(kids) == 1:
        kid = kids[0]
    elif not kids:
        turn.say(m.text(t("apply.no_children", lang), _door_actions(lang)))
        return
    else:
        actions = [
            m.postback(kid_label(k, lang), pb.AP_WISH_ADD, f=facility.id, c=k.key) for k in kids
        ]
        turn.say(m.text(t("apply.add_which_child", lang), actions))
        return
    wishes = wishes_of(turn, kid)
    name = facility_name(facility, lang)
    assert facility.id is not None
    if facility.id in wishes:
        lead = t("apply.added_already", lang, name=name, rank=wishes.index(facility.id) + 1)
    elif len(wishes) >= MAX_WISHES:
        lead = t("apply.wishes_full", lang, max=MAX_WISHES)
    else:
        wishes.append(facility.id)
        await set_wishes(turn, kid, wishes)
        lead = t("apply.added", lang, name=name, rank=len(wishes), child=kid_label(kid, lang))
    await show_wishes(turn, kid, lead=lead)


@router.postback(pb.AP_WISH_MOVE, pb.AP_WISH_REMOVE)
async def on_move(turn: Turn) -> None:
    """Move a wish up or down, or remove it."""
    lang = lang_of(turn)
    found = await _wish_kid(turn)
    if found is None:
        return
    kid, wishes = found
    pk = _id(turn.postback.get("f"))
    if pk is None or pk not in wishes:
        turn.say(m.text(t("apply.wish_gone", lang)))
        await show_wishes(turn, kid)
        return
    index = wishes.index(pk)
    if turn.action == pb.AP_WISH_REMOVE:
        wishes.pop(index)
    else:
        other = index - 1 if turn.postback.get("d") == "u" else index + 1
        if 0 <= other < len(wishes):
            wishes[index], wishes[other] = wishes[other], wishes[index]
    await set_wishes(turn, kid, wishes)
    await show_wishes(turn, kid)


@router.postback(pb.AP_WISH_MORE)
async def on_more(turn: Turn) -> None:
    """Add a wish from the saved facilities and the booked tours (or search)."""
    lang = lang_of(turn)
    found = await _wish_kid(turn)
    if found is None:
        return
    kid, wishes = found
    assert turn.family.id is not None
    saved = await turn.session.exec(
        select(Facility)
        .join(SavedFacility, col(SavedFacility.facility_pk) == col(Facility.id))
        .where(SavedFacility.family_id == turn.family.id, Facility.status == "active")
        .order_by(col(SavedFacility.created_at).desc(), col(SavedFacility.id).desc())
    )
    toured = await turn.session.exec(
        select(Facility)
        .join(TourSlot, col(TourSlot.facility_pk) == col(Facility.id))
        .join(TourBooking, col(TourBooking.slot_id) == col(TourSlot.id))
        .where(
            TourBooking.family_id == turn.family.id,
            TourBooking.status == "booked",
            Facility.status == "active",
        )
        .order_by(col(TourSlot.starts_at))
    )
    choices: list[Facility] = []
    for facility in [*saved.all(), *toured.all()]:
        if facility.id not in wishes and all(c.id != facility.id for c in choices):
            choices.append(facility)
    actions = [
        m.postback(facility_name(f, lang), pb.AP_WISH_ADD, f=f.id, c=kid.key)
        for f in choices[:MAX_CHOICES]
    ]
    actions.append(m.postback(t("menu.daycare.label", lang), pb.MENU_DAYCARE))
    key = "apply.more" if choices else "apply.more_none"
    turn.say(m.text(t(key, lang), actions))


# -- applying: who, the round, the questions ---------------------------------------------------


def _flow(turn: Turn) -> dict[str, Any] | None:
    """The apply flow a button belongs to (its token matches), else None."""
    flow = turn.state.get("ap")
    if not isinstance(flow, dict) or flow.get("tok") != turn.postback.get("s"):
        return None
    return flow


@router.postback(pb.AP_APPLY)
async def on_apply(turn: Turn) -> None:
    """申し込みへ進む: with a brother or sister? (when there is one), else the questions."""
    lang = lang_of(turn)
    if not await _ready(turn):
        return
    kid = await kid_by_key(turn, turn.postback.get("c"))
    if kid is None:
        stale(turn)
        return
    if not wishes_of(turn, kid):
        await show_wishes(turn, kid)
        return
    others = [k for k in await kids_of(turn) if k.key != kid.key]
    if not others:
        await begin(turn, [kid])
        return
    actions = [
        m.postback(t("apply.alone.label", lang), pb.AP_TOGETHER, c=kid.key, o=""),
    ]
    for other in others[:10]:
        text_label = (
            t("apply.together.label", lang)
            if len(others) == 1
            else t("apply.together_kid.label", lang, child=kid_label(other, lang))
        )
        actions.append(m.postback(text_label, pb.AP_TOGETHER, c=kid.key, o=other.key))
    names = join([kid_label(o, lang) for o in others[:10]], lang)
    if len(others) == 1:
        names = t("apply.together_one", lang, child=names)
    turn.say(
        m.text(t("apply.together_ask", lang, child=kid_label(kid, lang), others=names), actions)
    )


@router.postback(pb.AP_TOGETHER, pb.AP_COPY)
async def on_together(turn: Turn) -> None:
    """This child alone, or with a brother or sister (whose wishes may copy this child's)."""
    lang = lang_of(turn)
    if not await _ready(turn):
        return
    kid = await kid_by_key(turn, turn.postback.get("c"))
    other_key = turn.postback.get("o") or ""
    other = await kid_by_key(turn, other_key) if other_key else None
    if kid is None or (other_key and (other is None or other.key == kid.key)):
        stale(turn)
        return
    if other is None:
        await begin(turn, [kid])
        return
    if turn.action == pb.AP_COPY:
        await set_wishes(turn, other, wishes_of(turn, kid))
    if not wishes_of(turn, other):
        turn.say(
            m.text(
                t("apply.sibling_no_wishes", lang, child=kid_label(other, lang)),
                [
                    m.postback(t("apply.copy.label", lang), pb.AP_COPY, c=kid.key, o=other.key),
                    m.postback(t("apply.sibling_wishes.label", lang), pb.AP_WISHES, c=other.key),
                    *menu_actions(lang),
                ],
            )
        )
        return
    await begin(turn, [kid, other])


async def begin(turn: Turn, kids: list[Kid]) -> None:
    """Start the questions for these children (one, or two applying together)."""
    assert turn.family.id is not None
    last = await apps.last_facts(turn.session, turn.family.id)
    known = apps.prefill_facts(
        single_parent=turn.family.single_parent,
        public_assistance=turn.family.public_assistance,
        resident_tax_exempt=turn.family.resident_tax_exempt,
        child_disability=False,  # per child, when the facts are built
        last=last,
    )
    single = (
        known.get("single_parent")
        if (last is not None or turn.family.single_parent is not None)
        else None
    )
    guardians = [
        {
            "relation": g.get("relation", "other"),
            "reason": g.get("reason"),
            "hours": g.get("hours_per_week"),
            "days": g.get("days_per_week"),
            "leave": g.get("on_leave"),
            "back": g.get("returning_from_leave"),
        }
        for g in known.get("guardians", [])
    ]
    turn.state["ap"] = {
        "tok": secrets.token_hex(4),
        "kids": [k.key for k in kids],
        "mode": None if len(kids) > 1 else "independent",
        "r": None,
        "single": single,
        "g": guardians,
        "sib": known.get("siblings_enrolled") if last is not None else None,
        "ext": known.get("accepts_leave_extension") if last is not None else None,
        "pa": bool(known.get("public_assistance", False)),
        "tax": bool(known.get("resident_tax_exempt", False)),
        "last": last is not None,
        "checked": last is None,  # a re-application first shows the last answers
    }
    await advance(turn)


async def flow_kids(turn: Turn, flow: dict[str, Any]) -> list[Kid] | None:
    """The flow's children, if all still in the family."""
    kids = await kids_of(turn)
    chosen = [next((k for k in kids if k.key == key), None) for key in flow.get("kids", [])]
    if not chosen or any(k is None for k in chosen):
        return None
    return [k for k in chosen if k is not None]


async def advance(turn: Turn) -> None:
    """Ask the next thing not known yet; when everything is, the summary."""
    lang = lang_of(turn)
    turn.state.pop("await", None)
    flow = turn.state["ap"]
    kids = await flow_kids(turn, flow)
    if kids is None:
        turn.state.pop("ap", None)
        stale(turn)
        return
    tok = flow["tok"]
    if flow["mode"] is None:
        _ask_mode(turn, tok, lang)
        return
    if flow["r"] is None:
        await _ask_round(turn, flow, kids, lang)
        return
    if not flow["checked"]:
        await _ask_same(turn, flow, kids, lang)
        return
    if flow["single"] is None:
        _ask(turn, t("apply.q.single", lang), tok, "single", _yes_no(lang))
        return
    count = 1 if flow["single"] else 2
    guardians = flow["g"][:count]
    while len(guardians) < count:
        guardians.append({})
    flow["g"] = guardians
    for index, g in enumerate(guardians):
        who = _who(index, count, lang)
        # "absent" is never offered, but is kept when a last application (via the API) said it.
        if g.get("reason") not in CARE_REASONS:
            reasons = [
                (
                    SHORT_REASONS_EN.get(r, CARE_REASONS[r][1])
                    if lang == "en"
                    else CARE_REASONS[r][0],
                    r,
                )
                for r in ASKED_REASONS
            ]
            _ask(turn, t("apply.q.reason", lang, who=who), tok, f"reason{index}", reasons)
            return
        if g["reason"] in HOURS_REASONS and g.get("hours") is None:
            choices = [(t("apply.hours_at_least", lang, n=40), "40")]
            choices += [(t("apply.hours_n", lang, n=n), str(n)) for n in HOURS_CHOICES[1:]]
            choices.append((t("apply.hours_under", lang, n=25), "under"))
            turn.state["await"] = STEP_HOURS
            flow["ask_g"] = index
            _ask(turn, t("apply.q.hours", lang, who=who), tok, f"hours{index}", choices)
            return
        if g["reason"] == "work" and g.get("leave") is None:
            _ask(turn, t("apply.q.leave", lang, who=who), tok, f"leave{index}", _yes_no(lang))
            return
        if g["reason"] != "work":
            g["leave"], g["back"] = False, False
        if g.get("leave") and g.get("back") is None:
            assert flow.get("month")
            month = format_month(date.fromisoformat(flow["month"]), lang)
            _ask(
                turn,
                t("apply.q.back", lang, who=who, month=month),
                tok,
                f"back{index}",
                _yes_no(lang),
            )
            return
        if not g.get("leave"):
            g["back"] = False
    if flow["sib"] is None:
        flow["sibc"] = flow.get("sibc") or []
        turn.state["await"] = STEP_SIBLING
        _ask(
            turn,
            t("apply.q.siblings", lang),
            tok,
            "sib",
            [(t("apply.none.label", lang), "none")],
        )
        return
    if flow["ext"] is None:
        if any(g.get("leave") for g in flow["g"]):
            _ask(turn, t("apply.q.extension", lang), tok, "ext", _yes_no(lang))
            return
        flow["ext"] = False
    await show_summary(turn, flow, kids)


def _yes_no(lang: str) -> list[tuple[str, str]]:
    return [(t("apply.yes.label", lang), "1"), (t("apply.no.label", lang), "0")]


def _who(index: int, count: int, lang: str) -> str:
    if count == 1:
        return t("apply.you", lang)
    return t("apply.guardian", lang, n=index + 1)


def _ask(turn: Turn, body: str, tok: str, key: str, choices: list[tuple[str, str]]) -> None:
    """A question with quick-reply answers (plus the menu when room is left)."""
    lang = lang_of(turn)
    actions = [
        m.postback(shown, pb.AP_ANSWER, s=tok, k=key, v=value, display=shown)
        for shown, value in choices
    ]
    turn.say(m.text(body, [*actions, *menu_actions(lang)][: m.MAX_QUICK_ITEMS]))


def _ask_mode(turn: Turn, tok: str, lang: str) -> None:
    """How the two children may be placed (SIBLING_MODES), as buttons with the full words."""
    # Flex button labels may be 40 characters: the modes' words fit whole (quick replies
    # would cut them at 20).
    buttons = [
        PostbackAction(
            label=m.clip(words[1 if lang == "en" else 0], m.MAX_FLEX_LABEL),
            data=postback_data(pb.AP_MODE, s=tok, v=mode),
            display_text=words[1 if lang == "en" else 0],
        )
        for mode, words in SIBLING_MODES.items()
    ]
    title = t("apply.q.mode", lang)
    bubble = m.bubble(title, [], buttons)
    bubble.size = "mega"
    turn.say(FlexMessage(alt_text=title, contents=bubble, quick_reply=m.quick(menu_actions(lang))))


async def _ask_round(turn: Turn, flow: dict[str, Any], kids: list[Kid], lang: str) -> None:
    """Which round: the municipality's open ones (one is taken at once); none: say so."""
    municipality = turn.family.municipality or ""
    rounds = await apps.open_rounds(turn.session, municipality, turn.now)
    if not rounds:
        turn.state.pop("ap", None)
        coming = await turn.session.exec(
            select(IntakeRound)
            .where(
                IntakeRound.municipality == municipality,
                IntakeRound.status == "open",
                col(IntakeRound.opens_at) > turn.now,
            )
            .order_by(col(IntakeRound.opens_at))
        )
        upcoming = coming.first()
        body = t("apply.no_round", lang)
        if upcoming is not None and upcoming.opens_at is not None:
            body += "\n" + t(
                "apply.next_round",
                lang,
                name=round_name(upcoming, lang),
                date=_day(turn, upcoming.opens_at, lang),
            )
        else:
            body += "\n" + t("apply.round_unknown", lang)
        turn.say(m.text(body, _door_actions(lang)))
        return
    if len(rounds) == 1:
        await round_chosen(turn, flow, kids, rounds[0])
        return
    choices = [(round_name(r, lang), str(r.id)) for r in rounds[:10]]
    _ask(turn, t("apply.q.round", lang), flow["tok"], "round", choices)


def round_name(round_: IntakeRound, lang: str) -> str:
    """令和9年4月 一次選考 (or the month of entry when the round has no name)."""
    month = format_month(round_.entry_month, lang)
    if not round_.name:
        return t("apply.round_of", lang, month=month)
    return round_.name if month in round_.name or lang == "ja" else f"{round_.name} ({month})"


def _day(turn: Turn, moment: Any, lang: str) -> str:
    local = moment.astimezone(turn.deps.zone)
    return f"{format_date(local.date(), lang)} {local:%H:%M}"


async def round_chosen(
    turn: Turn, flow: dict[str, Any], kids: list[Kid], round_: IntakeRound
) -> None:
    """Check every child has a class in the round's month, then go on."""
    lang = lang_of(turn)
    for kid in kids:
        if entry_class(kid.birth, round_.entry_month) is None:
            turn.state.pop("ap", None)
            turn.say(
                m.text(
                    t(
                        "apply.no_class",
                        lang,
                        child=kid_label(kid, lang),
                        month=format_month(round_.entry_month, lang),
                    ),
                    _door_actions(lang),
                )
            )
            return
    flow["r"] = round_.id
    flow["month"] = round_.entry_month.isoformat()
    await advance(turn)


def guardian_line(g: dict[str, Any], who: str, lang: str) -> str:
    """保護者1: 就労 週40時間（育休中・入所月までに復帰）."""
    reason = CARE_REASONS.get(g.get("reason") or "", ("-", "-"))[1 if lang == "en" else 0]
    parts = [reason]
    if g.get("hours") is not None:
        parts.append(t("apply.hours_week", lang, n=f"{g['hours']:g}"))
    notes = []
    if g.get("leave"):
        notes.append(t("apply.on_leave", lang))
        if g.get("back"):
            notes.append(t("apply.returning", lang))
    line = f"{who}: " + " ".join(parts)
    if notes:
        line += t("apply.paren", lang, value=join(notes, lang))
    return line


async def answer_lines(turn: Turn, flow: dict[str, Any], lang: str) -> list[str]:
    """The answers in words, one line each."""
    count = len(flow["g"])
    lines = [guardian_line(g, _who(i, count, lang), lang) for i, g in enumerate(flow["g"])]
    yes_no = {True: t("value.yes", lang), False: t("value.no", lang)}
    lines.append(t("apply.a.single", lang, value=yes_no[bool(flow["single"])]))
    sib_names = []
    if flow["sib"]:
        found = await turn.session.exec(
            select(Facility).where(
                Facility.municipality == (turn.family.municipality or ""),
                col(Facility.facility_id).in_(flow["sib"]),
            )
        )
        by_key = {f.facility_id: f for f in found.all()}
        sib_names = [facility_name(by_key.get(key), lang) for key in flow["sib"]]
    lines.append(
        t(
            "apply.a.siblings",
            lang,
            value=join(sib_names, lang) if sib_names else t("apply.none.label", lang),
        )
    )
    lines.append(t("apply.a.extension", lang, value=yes_no[bool(flow["ext"])]))
    return lines


def build_facts(flow: dict[str, Any], kid: Kid, kids: list[Kid]) -> ApplicationFacts:
    """The application facts of one child from the flow's answers (may raise ValidationError)."""
    guardians = [
        {
            "relation": g.get("relation") or "other",
            "reason": g.get("reason"),
            "hours_per_week": g.get("hours") if g.get("reason") in HOURS_REASONS else None,
            "days_per_week": g.get("days"),
            "on_leave": bool(g.get("leave")),
            "returning_from_leave": bool(g.get("leave")) and bool(g.get("back")),
        }
        for g in flow["g"]
    ]
    together = len(kids) > 1
    return ApplicationFacts.model_validate(
        {
            "guardians": guardians,
            "single_parent": bool(flow["single"]),
            "public_assistance": bool(flow.get("pa")),
            "resident_tax_exempt": bool(flow.get("tax")),
            "child_disability": kid.disability,
            "siblings_enrolled": list(flow["sib"] or []),
            "siblings_applying": len(kids) - 1,
            "sibling_mode": flow["mode"] if together else "independent",
            "accepts_leave_extension": bool(flow["ext"]),
        }
    )


async def _ask_same(turn: Turn, flow: dict[str, Any], kids: list[Kid], lang: str) -> None:
    """A re-application: the last answers, confirmed with one tap, or the part that changed."""
    lines = await answer_lines(turn, flow, lang) if _complete(flow) else []
    body = "\n".join([t("apply.same_ask", lang), *lines])
    tok = flow["tok"]
    actions = [
        m.postback(t("apply.same.label", lang), pb.AP_SAME, s=tok),
        *_redo_actions(flow, lang),
    ]
    turn.say(m.text(body, actions))


def _complete(flow: dict[str, Any]) -> bool:
    guardians = flow.get("g") or []
    return (
        flow.get("single") is not None
        and len(guardians) == (1 if flow["single"] else 2)
        and all(g.get("reason") in CARE_REASONS for g in guardians)
        and flow.get("sib") is not None
        and flow.get("ext") is not None
    )


def _redo_actions(flow: dict[str, Any], lang: str) -> list[Any]:
    """Quick replies to answer one part again."""
    tok = flow["tok"]
    count = 1 if flow.get("single") else 2
    parts = [("single", t("apply.part.single", lang))]
    parts += [(f"g{i}", _who(i, count, lang)) for i in range(count)]
    parts += [
        ("sib", t("apply.part.siblings", lang)),
        ("ext", t("apply.part.extension", lang)),
    ]
    return [m.postback(shown, pb.AP_REDO, s=tok, k=key) for key, shown in parts]


@router.postback(pb.AP_MODE)
async def on_mode(turn: Turn) -> None:
    """The sibling mode chosen."""
    flow = _flow(turn)
    mode = turn.postback.get("v")
    if flow is None or mode not in SIBLING_MODES:
        stale(turn)
        return
    flow["mode"] = mode
    await advance(turn)


@router.postback(pb.AP_SAME)
async def on_same(turn: Turn) -> None:
    """Nothing changed since the last application."""
    flow = _flow(turn)
    if flow is None:
        stale(turn)
        return
    flow["checked"] = True
    await advance(turn)


@router.postback(pb.AP_FIX)
async def on_fix(turn: Turn) -> None:
    """修正する: which part to answer again."""
    lang = lang_of(turn)
    flow = _flow(turn)
    if flow is None:
        stale(turn)
        return
    turn.say(m.text(t("apply.fix_ask", lang), _redo_actions(flow, lang)))


@router.postback(pb.AP_REDO)
async def on_redo(turn: Turn) -> None:
    """Answer one part again (the rest is kept)."""
    flow = _flow(turn)
    part = turn.postback.get("k") or ""
    if flow is None or part not in ("single", "g0", "g1", "sib", "ext"):
        stale(turn)
        return
    flow["checked"] = True
    if part == "single":
        flow["single"] = None
    elif part == "sib":
        flow["sib"], flow["sibc"] = None, []
    elif part == "ext":
        flow["ext"] = None
    else:
        index = int(part[1])
        while len(flow["g"]) <= index:
            flow["g"].append({})
        flow["g"][index] = {"relation": flow["g"][index].get("relation", "other")}
        # Leave may change with the guardian's answers, and with it the extension question.
        flow["ext"] = None
    await advance(turn)


@router.postback(pb.AP_ANSWER)
async def on_answer(turn: Turn) -> None:
    """An answer tapped."""
    lang = lang_of(turn)
    flow = _flow(turn)
    if flow is None:
        stale(turn)
        return
    key = turn.postback.get("k") or ""
    value = turn.postback.get("v") or ""
    found = re.fullmatch(r"(reason|hours|leave|back)([01])", key)
    if key == "round":
        kids = await flow_kids(turn, flow)
        round_id = _id(value)
        round_ = await turn.session.get(IntakeRound, round_id) if round_id else None
        if kids is None or round_ is None or round_.municipality != turn.family.municipality:
            stale(turn)
            return
        await round_chosen(turn, flow, kids, round_)
        return
    if key == "single" and value in ("0", "1"):
        flow["single"] = value == "1"
    elif key == "sib" and value == "none":
        flow["sib"] = list(flow.get("sibc") or [])
        flow.pop("sibc", None)
    elif key == "sib" and _id(value) is not None:
        await _add_sibling_place(turn, flow, _id(value))
        return
    elif key == "ext" and value in ("0", "1"):
        flow["ext"] = value == "1"
    elif found is not None and int(found.group(2)) < len(flow["g"]):
        g = flow["g"][int(found.group(2))]
        what = found.group(1)
        if what == "reason" and value in ASKED_REASONS:
            g.update(reason=value, hours=None, leave=None, back=None)
        elif what == "hours" and value == "under":
            flow["ask_g"] = int(found.group(2))
            turn.state["await"] = STEP_HOURS
            turn.say(m.text(t("apply.hours_type", lang)))
            return
        elif what == "hours" and value.isascii() and value.isdigit() and 0 < int(value) <= 168:
            g["hours"] = float(value)
        elif what in ("leave", "back") and value in ("0", "1"):
            g[what] = value == "1"
        else:
            stale(turn)
            return
    else:
        stale(turn)
        return
    await advance(turn)


@router.awaiting(STEP_HOURS)
async def on_hours_typed(turn: Turn) -> None:
    """Hours a week typed (e.g. 20, 32.5, 週20時間)."""
    lang = lang_of(turn)
    flow = turn.state.get("ap")
    index = flow.get("ask_g") if isinstance(flow, dict) else None
    if not isinstance(flow, dict) or not isinstance(index, int) or index >= len(flow["g"]):
        turn.state.pop("await", None)
        await start(turn)
        return
    said = unicodedata.normalize("NFKC", turn.text or "")
    found = re.search(r"(\d{1,3}(?:\.\d+)?)", said)
    hours = float(found.group(1)) if found else None
    if hours is None or not 0 < hours <= 168:
        if await intent_instead(turn, STEP_HOURS):
            return
        turn.say(m.text(t("apply.hours_bad", lang)))
        return
    turn.state.pop("await", None)
    flow["g"][index]["hours"] = hours
    await advance(turn)


def _norm(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).lower()


@router.awaiting(STEP_SIBLING)
async def on_sibling_typed(turn: Turn) -> None:
    """The name of a facility a brother or sister goes to (or なし)."""
    lang = lang_of(turn)
    flow = turn.state.get("ap")
    if not isinstance(flow, dict) or turn.kind != "text":
        turn.state.pop("await", None)
        await start(turn)
        return
    said = _norm(turn.text or "")
    if said in ("なし", "ない", "いない", "none", "no"):
        turn.state.pop("await", None)
        flow["sib"] = list(flow.get("sibc") or [])
        flow.pop("sibc", None)
        await advance(turn)
        return
    found = await turn.session.exec(
        select(Facility)
        .where(
            Facility.municipality == (turn.family.municipality or ""),
            Facility.status == "active",
        )
        .order_by(col(Facility.id))
    )
    matches = [
        f
        for f in found.all()
        if len(said) >= 2
        and any(said in _norm(name) for name in (f.name_ja, f.name_en, f.name_kana) if name)
    ]
    tok = flow["tok"]
    if not matches:
        # A facility's name often says 保育園: only another intent (help, 削除) leaves the step.
        if intent_of(turn.text or "") != "daycare" and await intent_instead(turn, STEP_SIBLING):
            return
        _ask(
            turn,
            t("apply.sibling_unknown", lang, said=m.clip(turn.text or "", 40)),
            tok,
            "sib",
            [(t("apply.none.label", lang), "none")],
        )
        return
    if len(matches) == 1:
        await _add_sibling_place(turn, flow, matches[0].id)
        return
    choices = [(facility_name(f, lang), str(f.id)) for f in matches[:MAX_CHOICES]]
    _ask(turn, t("apply.sibling_which", lang), tok, "sib", choices)


async def _add_sibling_place(turn: Turn, flow: dict[str, Any], pk: int | None) -> None:
    """Note a facility a brother or sister goes to; ask whether there are more."""
    lang = lang_of(turn)
    facility = await turn.session.get(Facility, pk) if pk is not None else None
    if facility is None or facility.municipality != turn.family.municipality:
        stale(turn)
        return
    chosen = list(flow.get("sibc") or [])
    if facility.facility_id not in chosen and len(chosen) < 10:
        chosen.append(facility.facility_id)
    flow["sibc"] = chosen
    turn.state["await"] = STEP_SIBLING
    _ask(
        turn,
        t("apply.sibling_more", lang, name=facility_name(facility, lang)),
        flow["tok"],
        "sib",
        [(t("apply.sibling_done.label", lang), "none")],
    )


# -- the summary and submitting ---------------------------------------------------------------


async def show_summary(turn: Turn, flow: dict[str, Any], kids: list[Kid]) -> None:
    """Children, round, wishes in order, the answers, what changed, documents; submit or fix."""
    lang = lang_of(turn)
    round_ = await turn.session.get(IntakeRound, flow["r"])
    if round_ is None:
        turn.state.pop("ap", None)
        stale(turn)
        return
    try:
        facts = [build_facts(flow, kid, kids) for kid in kids]
    except ValidationError:
        log.warning("apply: answers do not make facts", extra={"user": user_key(turn.user_id)})
        flow["g"], flow["checked"] = [], True
        await advance(turn)
        return
    lines = [t("apply.summary_title", lang)]
    lines.append(
        t(
            "apply.summary_round",
            lang,
            name=round_name(round_, lang),
            deadline=_day(turn, round_.deadline, lang),
        )
    )
    for kid in kids:
        age = entry_class(kid.birth, round_.entry_month)
        klass = t("daycare.class", lang, age=age)
        lines.append(t("apply.summary_child", lang, child=kid_label(kid, lang), klass=klass))
        lines.extend(f"  {name}" for name in await wish_names(turn, wishes_of(turn, kid), lang))
    if len(kids) > 1:
        words = SIBLING_MODES[flow["mode"]][1 if lang == "en" else 0]
        lines.append(t("apply.summary_mode", lang, value=words))
    lines.extend(await answer_lines(turn, flow, lang))
    if flow.get("last"):
        assert turn.family.id is not None
        last = await apps.last_facts(turn.session, turn.family.id)
        changed = [
            name
            for name in apps.facts_changes(last, facts[0])
            if name not in ("siblings_applying", "sibling_mode", "child_disability")
        ]
        words_of = [FACT_WORDS.get(n, (n, n))[1 if lang == "en" else 0] for n in changed]
        lines.append(
            t("apply.changed", lang, value=join(words_of, lang))
            if changed
            else t("apply.unchanged", lang)
        )
    needs = list({n.key: n for f in facts for n in apps.required_documents(f)}.values())
    if needs:
        lines.append(t("apply.documents", lang))
        lines.extend(f"・{need.en if lang == 'en' else need.ja}" for need in needs)
    else:
        lines.append(t("apply.documents_none", lang))
    lines.append(t("apply.submit_ask", lang))
    tok = flow["tok"]
    turn.say(
        m.text(
            "\n".join(lines),
            [
                m.postback(t("apply.submit.label", lang), pb.AP_SUBMIT, s=tok),
                m.postback(t("apply.fix.label", lang), pb.AP_FIX, s=tok),
                m.postback(t("apply.points.label", lang), pb.AP_POINTS, s=tok),
                *menu_actions(lang),
            ][: m.MAX_QUICK_ITEMS],
        )
    )


ERROR_KEYS = {
    "round_closed": "apply.err.closed",
    "round_not_open": "apply.err.closed",
    "class_not_offered": "apply.err.wishes",
    "unknown_facility": "apply.err.wishes",
    "other_municipality": "apply.err.wishes",
    "no_wishes": "apply.err.no_wishes",
    "already_decided": "apply.err.decided",
    "not_changeable": "apply.err.decided",
}


def error_text(error: apps.ApplicationError, lang: str) -> str:
    """An ApplicationError in the parent's words."""
    return t(ERROR_KEYS.get(error.code, "apply.err.other"), lang)


@router.postback(pb.AP_SUBMIT)
async def on_submit(turn: Turn) -> None:
    """申し込む: every child's application in one go (both or none are made)."""
    lang = lang_of(turn)
    flow = _flow(turn)
    if flow is None or turn.family.id is None:
        stale(turn)
        return
    kids = await flow_kids(turn, flow)
    round_ = await turn.session.get(IntakeRound, flow.get("r") or 0)
    if kids is None or round_ is None or not _complete(flow):
        stale(turn)
        return
    if round_.municipality != turn.family.municipality:
        # The family moved since it chose the round: not its municipality's round any more.
        turn.state.pop("ap", None)
        stale(turn)
        return
    made: list[tuple[Kid, Application]] = []
    try:
        # A savepoint: a refused second child undoes the first (siblings apply together).
        async with turn.session.begin_nested():
            for kid in kids:
                application, _created = await apps.submit(
                    turn.session,
                    round_=round_,
                    family_id=turn.family.id,
                    child_id=kid.child_id,
                    birth_date=kid.birth,
                    wishes=wishes_of(turn, kid),
                    facts=build_facts(flow, kid, kids),
                    now=turn.now,
                    channel="line",
                )
                made.append((kid, application))
    except apps.ApplicationError as error:
        log.info("apply refused", extra={"user": user_key(turn.user_id), "code": error.code})
        turn.say(m.text(error_text(error, lang), _door_actions(lang)))
        return
    turn.state.pop("ap", None)
    for kid in kids:
        await set_wishes(turn, kid, [])
    log.info(
        "daycare application submitted",
        extra={"user": user_key(turn.user_id), "round": round_.id, "children": len(kids)},
    )
    lines = [t("apply.submitted", lang, name=round_name(round_, lang))]
    for kid, application in made:
        status = APPLICATION_STATUSES[application.status][1 if lang == "en" else 0]
        lines.append(
            t("apply.summary_child_status", lang, child=kid_label(kid, lang), status=status)
        )
        lines.extend(f"  {name}" for name in await wish_names(turn, application.wishes, lang))
    missing = apps.documents_missing(made[0][1])
    if missing:
        lines.append(t("apply.documents_send", lang))
        lines.extend(f"・{d['en'] if lang == 'en' else d['ja']}" for d in missing)
    lines.append(t("apply.until_deadline", lang, deadline=_day(turn, round_.deadline, lang)))
    turn.say(m.text("\n".join(lines), _door_actions(lang)))
    await go(turn, "rate.offer", "applications")


# -- my applications --------------------------------------------------------------------------


def changeable(application: Application, round_: IntakeRound, now: Any) -> bool:
    """The family may still change or withdraw it (open status, before the deadline)."""
    return (
        application.status in apps.OPEN_STATUSES
        and round_.status == "open"
        and round_.deadline > now
    )


async def application_bubble(
    turn: Turn, application: Application, round_: IntakeRound, kids: dict[int, Kid], lang: str
) -> FlexBubble:
    """An application: child, round, status, wishes, documents, deadline, result; change and
    withdraw while it may."""
    kid = kids.get(application.child_id or 0)
    status = APPLICATION_STATUSES.get(application.status, (application.status,) * 2)
    lines: list[Any] = [
        m.flex_text(
            t("apply.card.status", lang, value=status[1 if lang == "en" else 0]),
            size="sm",
            weight="bold",
            color="#1E7D32" if application.status == "offered" else "#333333",
        ),
        m.flex_text(round_name(round_, lang), size="xs", color="#555555"),
        m.flex_text(
            t("daycare.class", lang, age=application.class_age), size="xs", color="#555555"
        ),
    ]
    result = application.result or {}
    explanation = result.get("explanation_en" if lang == "en" else "explanation_ja")
    if explanation is None and isinstance(result.get("explanation"), dict):
        # The result notice's shape ({"ja": ..., "en": ...}), should allocation store it so.
        words = result["explanation"]
        explanation = words.get(lang) or words.get("ja")
    if application.status in ("offered", "waitlisted") and isinstance(explanation, str):
        lines.append(m.flex_text(m.clip(explanation, 800), size="sm"))
    lines.append(m.flex_text(t("apply.card.wishes", lang), size="xs", color="#555555"))
    lines.extend(
        m.flex_text(name, size="sm") for name in await wish_names(turn, application.wishes, lang)
    )
    missing = apps.documents_missing(application)
    if missing and application.status in apps.OPEN_STATUSES:
        shown = join([d["en"] if lang == "en" else d["ja"] for d in missing], lang)
        lines.append(m.flex_text(t("apply.card.missing", lang, value=shown), size="xs"))
    buttons: list[Any] = []
    if changeable(application, round_, turn.now):
        lines.append(
            m.flex_text(
                t("apply.card.deadline", lang, deadline=_day(turn, round_.deadline, lang)),
                size="xs",
            )
        )
        buttons = [
            m.postback(t("apply.edit.label", lang), pb.AP_EDIT, p=application.id),
            m.postback(t("apply.withdraw.label", lang), pb.AP_WITHDRAW, p=application.id),
        ]
    elif application.status in apps.OPEN_STATUSES:
        lines.append(m.flex_text(t("apply.card.closed", lang), size="xs", color="#C62828"))
    title = kid_label(kid, lang, application.child_birth_date)
    return m.bubble(title, lines, buttons)


@router.entry("applications")
async def show_status(turn: Turn) -> None:
    """申込状況: each application's card (newest first)."""
    lang = lang_of(turn)
    if not await _ready(turn):
        return
    assert turn.family.id is not None
    found = await apps.applications_of_family(turn.session, turn.family.id)
    if not found:
        turn.say(m.text(t("apply.status_none", lang), _door_actions(lang)))
        return
    kids = {k.child_id: k for k in await kids_of(turn)}
    bubbles = []
    for application in found[:MAX_CARDS]:
        round_ = await apps.round_of(turn.session, application)
        bubbles.append(await application_bubble(turn, application, round_, kids, lang))
    words = [
        APPLICATION_STATUSES.get(a.status, (a.status,) * 2)[1 if lang == "en" else 0]
        for a in found[:MAX_CARDS]
    ]
    turn.say(
        m.text(t("apply.status_list", lang, count=len(found))),
        m.carousel(
            t("apply.status_alt", lang, value=join(words, lang)), bubbles, _door_actions(lang)
        ),
    )


@router.postback(pb.AP_STATUS)
async def on_status(turn: Turn) -> None:
    """The 申込状況 button."""
    await show_status(turn)


async def _own_application(turn: Turn) -> tuple[Application, IntakeRound] | None:
    """The family's application a button names, with its round; None after saying why."""
    pk = _id(turn.postback.get("p"))
    application = await turn.session.get(Application, pk) if pk is not None else None
    if application is None or application.family_id != turn.family.id:
        stale(turn)
        return None
    return application, await apps.round_of(turn.session, application)


def _refuse_closed(turn: Turn, application: Application, round_: IntakeRound) -> bool:
    """Say the application can no longer change (after the deadline, decided, withdrawn)."""
    if changeable(application, round_, turn.now):
        return False
    lang = lang_of(turn)
    key = (
        "apply.err.withdrawn"
        if application.status == "withdrawn"
        else "apply.err.deadline"
        if application.status in apps.OPEN_STATUSES
        else "apply.err.decided"
    )
    turn.say(m.text(t(key, lang), _door_actions(lang)))
    return True


async def _changeable(turn: Turn) -> tuple[Application, Kid] | None:
    """The family's application named by the button and its child, while it may still change
    (else the family has been told why, and None)."""
    own = await _own_application(turn)
    if own is None:
        return None
    application, round_ = own
    if _refuse_closed(turn, application, round_):
        return None
    kid = next((k for k in await kids_of(turn) if k.child_id == application.child_id), None)
    if kid is None:
        lang = lang_of(turn)
        turn.say(m.text(t("apply.err.other", lang), _door_actions(lang)))
        return None
    return application, kid


@router.postback(pb.AP_EDIT)
async def on_edit(turn: Turn) -> None:
    """希望を変更: the application's wishes become the child's list to reorder, remove, add."""
    lang = lang_of(turn)
    found = await _changeable(turn)
    if found is None:
        return
    application, kid = found
    await set_wishes(turn, kid, list(application.wishes))
    await show_wishes(turn, kid, lead=t("apply.edit_lead", lang))


@router.postback(pb.AP_COMMIT)
async def on_commit(turn: Turn) -> None:
    """Save the child's wish list to the application (before the deadline)."""
    lang = lang_of(turn)
    found = await _changeable(turn)
    if found is None:
        return
    application, kid = found
    try:
        async with turn.session.begin_nested():
            await apps.change_wishes(turn.session, application, wishes_of(turn, kid), now=turn.now)
    except apps.ApplicationError as error:
        turn.say(m.text(error_text(error, lang), _door_actions(lang)))
        return
    await set_wishes(turn, kid, [])
    names = await wish_names(turn, application.wishes, lang)
    turn.say(m.text("\n".join([t("apply.changed_wishes", lang), *names]), _door_actions(lang)))


@router.postback(pb.AP_WITHDRAW)
async def on_withdraw(turn: Turn) -> None:
    """取り下げる? (confirm)."""
    lang = lang_of(turn)
    own = await _own_application(turn)
    if own is None:
        return
    application, round_ = own
    if _refuse_closed(turn, application, round_):
        return
    body = t(
        "apply.withdraw_ask",
        lang,
        child=kid_label(None, lang, application.child_birth_date),
        name=round_name(round_, lang),
    )
    turn.say(
        m.confirm(
            body,
            m.postback(t("apply.withdraw_yes.label", lang), pb.AP_WITHDRAW_YES, p=application.id),
            m.postback(t("apply.keep.label", lang), pb.AP_KEEP),
        )
    )


@router.postback(pb.AP_WITHDRAW_YES)
async def on_withdraw_yes(turn: Turn) -> None:
    """Withdraw the application (取下げ)."""
    lang = lang_of(turn)
    own = await _own_application(turn)
    if own is None:
        return
    application, round_ = own
    if _refuse_closed(turn, application, round_):
        return
    await apps.withdraw(turn.session, application, now=turn.now)
    log.info("daycare application withdrawn", extra={"user": user_key(turn.user_id)})
    turn.say(
        m.text(
            t(
                "apply.withdrawn",
                lang,
                child=kid_label(None, lang, application.child_birth_date),
                name=round_name(round_, lang),
            ),
            _door_actions(lang),
        )
    )


@router.postback(pb.AP_KEEP)
async def on_keep(turn: Turn) -> None:
    """Not withdrawn after all."""
    lang = lang_of(turn)
    turn.say(m.text(t("apply.kept", lang), _door_actions(lang)))


# -- the points simulator ---------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Estimated points under a municipality's rules, explained line by line; `title` names
    the rules, `current` is False when they are not the month's own (none registered yet)."""

    total: float
    lines: list[str]
    title: str
    current: bool


async def estimate_points(
    session: Any, municipality: str, on: date, facts: ApplicationFacts, lang: str
) -> Estimate | None:
    """The household's points (`rules.points.score`) under the municipality's rules valid on
    `on`, else its newest ones; None when the municipality has no rules."""
    current = True
    found = await points_store.rules_for(session, municipality, on)
    if found is not None:
        row, document = found
    else:
        # Next year's rules are published late (autumn): the newest ones are the best guess.
        latest = await points_store.latest_rules(session, municipality)
        if latest is None:
            return None
        row, document, current = latest, PointsDocument.model_validate(latest.body), False
    try:
        result = score(document, facts)
    except PointsRuleError:
        return None  # a condition fails for this household: no estimate rather than a crash
    return Estimate(
        total=float(result.total), lines=result.lines(lang), title=row.title, current=current
    )


async def last_minimum(turn: Turn, pk: int, class_age_: int) -> PastResult | None:
    """A facility's latest published minimum points for the class (入所最低指数)."""
    found = await turn.session.exec(
        select(PastResult)
        .where(
            PastResult.facility_pk == pk,
            PastResult.class_age == class_age_,
            PastResult.kind == "min_points",
        )
        .order_by(col(PastResult.year).desc())
        .limit(1)
    )
    return found.first()


def past_text(past: PastResult | None, lang: str) -> str:
    """2021年度 最低指数 40点 / 非公開 / 空有 / 公表なし."""
    if past is None:
        return t("apply.points.no_past", lang)
    if past.outcome == "withheld":
        return t("daycare.past_withheld", lang, year=past.year)
    if past.outcome == "vacant":
        return t("daycare.past_vacant", lang, year=past.year)
    if past.outcome == "none":
        return t("daycare.past_none", lang, year=past.year)
    if past.points is not None:
        key = "daycare.past_at_most" if past.outcome == "at_most" else "daycare.past_points"
        return t(key, lang, year=past.year, points=f"{past.points:g}")
    return past.raw or t("apply.points.no_past", lang)


async def _simulation_input(
    turn: Turn,
) -> tuple[ApplicationFacts, list[int], int, date] | None:
    """What to score: the answers being given (their first child), else the latest
    application; (facts, wishes, class age, month of entry)."""
    flow = turn.state.get("ap")
    if isinstance(flow, dict) and flow.get("r") and _complete(flow):
        kids = await flow_kids(turn, flow)
        round_ = await turn.session.get(IntakeRound, flow["r"])
        if kids and round_ is not None:
            age = entry_class(kids[0].birth, round_.entry_month)
            try:
                facts = build_facts(flow, kids[0], kids)
            except ValidationError:
                facts = None
            if facts is not None and age is not None:
                return facts, wishes_of(turn, kids[0]), age, round_.entry_month
    assert turn.family.id is not None
    for application in await apps.applications_of_family(turn.session, turn.family.id):
        try:
            facts = ApplicationFacts.model_validate(application.facts)
        except ValidationError:
            continue
        round_ = await apps.round_of(turn.session, application)
        return facts, list(application.wishes), application.class_age, round_.entry_month
    return None


@router.entry("points")
async def show_points(turn: Turn) -> None:
    """点数シミュレーション: estimated points, each line explained, beside last year's minimum
    points of the wished facilities for the child's class."""
    lang = lang_of(turn)
    if not await _ready(turn):
        return
    found = await _simulation_input(turn)
    if found is None:
        turn.say(m.text(t("apply.points.no_answers", lang), _door_actions(lang)))
        return
    facts, wishes, age, month = found
    estimate = await estimate_points(
        turn.session, turn.family.municipality or "", month, facts, lang
    )
    lines = [t("apply.points.title", lang)]
    if estimate is None:
        lines.append(t("apply.points.no_rules", lang))
    else:
        key = "apply.points.rules" if estimate.current else "apply.points.older_rules"
        lines.append(t(key, lang, title=estimate.title, month=format_month(month, lang)))
        lines.extend(estimate.lines)
    if wishes:
        klass = t("daycare.class", lang, age=age)
        lines.append(t("apply.points.past_title", lang, klass=klass))
        by_pk = await facilities_by_pk(turn, wishes)
        for rank, pk in enumerate(wishes, 1):
            past = await last_minimum(turn, pk, age)
            line = f"{rank}. {facility_name(by_pk.get(pk), lang)}: {past_text(past, lang)}"
            if (
                estimate is not None
                and past is not None
                and past.outcome == "points"
                and past.points is not None
            ):
                mark = (
                    "apply.points.reached"
                    if estimate.total >= past.points
                    else "apply.points.below"
                )
                line += t(mark, lang)
            lines.append(line)
    if wishes and estimate is not None:
        lines.extend(await odds_lines(turn, facts, wishes, age, month, lang))
    lines.append(t("apply.points.note", lang))
    flow = turn.state.get("ap")
    actions = _door_actions(lang)
    if isinstance(flow, dict) and _complete(flow):
        actions = [
            m.postback(t("apply.submit.label", lang), pb.AP_SUBMIT, s=flow["tok"]),
            m.postback(t("apply.fix.label", lang), pb.AP_FIX, s=flow["tok"]),
            *menu_actions(lang),
        ]
    turn.say(m.text("\n".join(lines), actions))


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


async def odds_lines(
    turn: Turn, facts: ApplicationFacts, wishes: list[int], age: int, month: date, lang: str
) -> list[str]:
    """The admission odds of the wishes in the open round for that month (simulated from this
    year's applications so far and last year's volume); a short why where none are shown."""
    municipality = turn.family.municipality or ""
    rounds = [
        r
        for r in await apps.open_rounds(turn.session, municipality, turn.now)
        if month_start(r.entry_month) == month_start(month)
    ]
    if not rounds:
        return []
    round_ = rounds[0]
    by_pk = await facilities_by_pk(turn, wishes)
    keys = [by_pk[pk].facility_id for pk in wishes if pk in by_pk]
    mine = [
        a
        for a in await apps.applications_of_family(turn.session, turn.family.id or 0)
        if a.round_id == round_.id and a.class_age == age and a.status in apps.OPEN_STATUSES
    ]
    try:
        answer = await estimate_odds(
            turn.session,
            round_,
            class_age=age,
            wishes=keys,
            facts=facts,
            exclude=str(mine[0].id) if mine else None,
        )
    except RoundError:
        return []
    if not answer.shown:
        return [t("apply.odds.none", lang)]
    out = [t("apply.odds.title", lang, n=answer.simulations)]
    names = {f.facility_id: facility_name(f, lang) for f in by_pk.values()}
    for rank, w in enumerate(answer.wishes, 1):
        out.append(
            t(
                "apply.odds.line",
                lang,
                rank=rank,
                name=names.get(w.facility, w.facility),
                chance=_percent(w.chance),
                low=_percent(w.low),
                high=_percent(w.high),
            )
        )
    if answer.any_place is not None:
        p = answer.any_place
        out.append(
            t(
                "apply.odds.any",
                lang,
                chance=_percent(p.chance),
                low=_percent(p.low),
                high=_percent(p.high),
            )
        )
    return out


@router.postback(pb.AP_POINTS)
async def on_points(turn: Turn) -> None:
    """The 点数シミュレーション button."""
    await show_points(turn)


__all__ = ["estimate_points", "router"]
