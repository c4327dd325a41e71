"""Onboarding after consent, in taps: municipality, children (or a due date), two optional
questions, a summary to confirm; then at once the programs the family can get.

The answers in progress live in the conversation state (`state["onb"]`, 30 minutes); nothing
reaches the database before the parent confirms the summary.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from bot import messages as m
from bot.dates import parse_typed_date
from bot.dispatch import Router, Turn
from bot.handlers.common import (
    birth_range,
    check_birth,
    check_due,
    due_range,
    household_lines,
    is_municipality,
    lang_of,
    m_date,
    municipality_name,
    parse_day,
    picked_date,
    stale,
    today,
)
from bot.municipalities import (
    answer_found,
    gazetteer,
    municipality_actions,
    municipality_from_location,
)
from bot.navigation import go, intent_instead
from bot.state import user_key
from bot.texts import format_born, t
from notifier import postbacks as pb
from registry import families
from rules.profile import MAX_CHILDREN, ChildInput

log = logging.getLogger(__name__)

router = Router("onboarding")


@router.entry("start_onboarding")
async def start_onboarding(turn: Turn, *, lead: str | None = None) -> None:
    """Begin (or begin again) with the municipality question."""
    turn.state["onb"] = {
        "step": "muni",
        "children": [],
        "due": None,
        "muni": None,
        "single": None,
        "tax": None,
    }
    _ask_municipality(turn, lead)


def _ask_municipality(turn: Turn, lead: str | None) -> None:
    lang = lang_of(turn)
    codes = gazetteer(turn).common()
    body = t("onb.muni.ask", lang) if lead is None else lead + "\n" + t("onb.muni.ask", lang)
    actions = municipality_actions(
        turn, codes, pb.ONB_MUNICIPALITY, pb.ONB_MUNICIPALITY_OTHER, share_location=True
    )
    turn.say(m.text(body, actions))
    turn.state["await"] = "onb.muni"


@router.entry("resume_onboarding")
async def resume_onboarding(turn: Turn, *, lead: str | None = None) -> None:
    """Ask the question the parent is at (or begin, when nothing is in progress)."""
    onb = _progress(turn)
    if onb is None:
        await start_onboarding(turn, lead=lead)
        return
    lang = lang_of(turn)
    step = onb.get("step")
    if step == "muni" or not onb.get("muni"):
        _ask_municipality(turn, lead)
        return
    if lead:
        turn.say(m.text(lead))
    if step == "single":
        turn.say(m.text(t("onb.single.ask", lang), yes_no_skip(lang, pb.ONB_SINGLE)))
    elif step == "tax":
        turn.say(m.text(t("onb.tax.ask", lang), yes_no_skip(lang, pb.ONB_TAX)))
    elif step == "confirm":
        _summary(turn, onb)
    else:
        ask_children(turn, first=not onb.get("children") and not onb.get("due"))


def _progress(turn: Turn) -> dict[str, Any] | None:
    onb = turn.state.get("onb")
    return onb if isinstance(onb, dict) else None


async def _expired(turn: Turn) -> None:
    """A step's button without onboarding in progress (timed out, or an old message)."""
    if turn.family.onboarded_at is not None:
        stale(turn)
        return
    await start_onboarding(turn, lead=t("onb.expired", lang_of(turn)))


@router.awaiting("onb.muni")
async def on_municipality_text(turn: Turn) -> None:
    """A typed municipality, matched loosely (kanji, kana, English, typos), or a shared
    location."""
    lang = lang_of(turn)
    if _progress(turn) is None:
        await start_onboarding(turn)
        return
    if turn.kind == "location":
        code = municipality_from_location(
            turn, action=pb.ONB_MUNICIPALITY, other=pb.ONB_MUNICIPALITY_OTHER
        )
        if code is not None:
            await _set_municipality(turn, code)
        return
    if not turn.text:
        turn.say(m.text(t("onb.muni.need_text", lang)))
        return
    found = gazetteer(turn).find(turn.text)
    if found.code is None and not found.candidates and await intent_instead(turn, "onb.muni"):
        return
    code = answer_found(
        turn, found, turn.text, action=pb.ONB_MUNICIPALITY, other=pb.ONB_MUNICIPALITY_OTHER
    )
    if code is None:
        return
    await _set_municipality(turn, code)


@router.postback(pb.ONB_MUNICIPALITY)
async def on_municipality_tap(turn: Turn) -> None:
    """A municipality picked from the quick replies (the code is checked: forged ones fail)."""
    if _progress(turn) is None:
        await _expired(turn)
        return
    code = turn.postback.get("c")
    if not is_municipality(turn, code):
        lang = lang_of(turn)
        turn.say(
            m.text(
                t("onb.muni.invalid", lang),
                municipality_actions(
                    turn, gazetteer(turn).common(), pb.ONB_MUNICIPALITY, pb.ONB_MUNICIPALITY_OTHER
                ),
            )
        )
        turn.state["await"] = "onb.muni"
        return
    assert code is not None
    await _set_municipality(turn, code)


@router.postback(pb.ONB_MUNICIPALITY_OTHER)
async def on_municipality_other(turn: Turn) -> None:
    """ "Other": ask the parent to type the name."""
    if _progress(turn) is None:
        await _expired(turn)
        return
    turn.say(m.text(t("onb.muni.type", lang_of(turn))))
    turn.state["await"] = "onb.muni"


async def _set_municipality(turn: Turn, code: str) -> None:
    onb = _progress(turn)
    assert onb is not None
    onb["muni"] = code
    onb["step"] = "children"
    turn.state.pop("await", None)
    lang = lang_of(turn)
    turn.say(m.text(t("onb.muni.set", lang, name=municipality_name(turn, code, lang))))
    ask_children(turn, first=not onb["children"] and not onb.get("due"))


def ask_children(turn: Turn, *, first: bool) -> None:
    """The birth date picker, the due date picker, and "that's all" once one is given."""
    lang = lang_of(turn)
    onb = _progress(turn) or {}
    low, high = birth_range(turn)
    due_low, due_high = due_range(turn)
    actions: list[Any] = [
        m.date_picker(
            t("label.pick_birth" if first else "label.add_child", lang),
            pb.ONB_CHILD,
            initial=high,
            low=low,
            high=high,
        )
    ]
    if not onb.get("due"):
        actions.append(
            m.date_picker(
                t("label.pick_due", lang), pb.ONB_DUE, initial=due_low, low=due_low, high=due_high
            )
        )
    if not first:
        actions.append(
            m.postback(t("label.done", lang), pb.ONB_DONE, display=t("label.done", lang))
        )
    turn.say(m.text(t("onb.child.ask" if first else "onb.child.more", lang), actions))
    # A date typed instead of picked is read too (see on_typed_date).
    turn.state["await"] = "onb.date"


def _ask_children_again(turn: Turn, onb: dict[str, Any]) -> None:
    ask_children(turn, first=not onb["children"] and not onb.get("due"))


_DUE_WORDS = ("予定", "due", "expect", "pregnan")
_BIRTH_WORDS = ("生まれ", "誕生", "birth", "born")


@router.awaiting("onb.date")
async def on_typed_date(turn: Turn) -> None:
    """A birth or due date typed rather than picked (2024年4月1日, 2024/4/1, R6.4.1, 4/1...):
    a past day is a birth, a future one a due date; anything unreadable is asked again with
    the pickers kept, so the parent never drops out of onboarding."""
    onb = _progress(turn)
    if onb is None or not onb.get("muni"):
        turn.state.pop("await", None)
        await _expired(turn)
        return
    lang = lang_of(turn)
    if turn.kind != "text":  # a location while a date is awaited: the question again
        _ask_children_again(turn, onb)
        return
    text = turn.text or ""
    lowered = text.lower()
    prefer = (
        "future"
        if any(w in lowered for w in _DUE_WORDS)
        else "past"
        if any(w in lowered for w in _BIRTH_WORDS)
        else "nearest"
    )
    day = parse_typed_date(text, today(turn), prefer=prefer) if text else None
    if day is None:
        if text and await intent_instead(turn, "onb.date"):
            return
        turn.say(m.text(t("onb.date.unreadable", lang, text=m.clip(text, 40))))
        _ask_children_again(turn, onb)
        return
    if prefer == "future" or (prefer == "nearest" and day > today(turn)):
        _add_due(turn, onb, day)
    else:
        _add_birth(turn, onb, day)


@router.postback(pb.ONB_CHILD)
async def on_child(turn: Turn) -> None:
    """A child's birth date from the picker: never in the future, at most 18 years ago."""
    onb = _progress(turn)
    if onb is None or not onb.get("muni"):
        await _expired(turn)
        return
    _add_birth(turn, onb, picked_date(turn))


def _add_birth(turn: Turn, onb: dict[str, Any], day: date | None) -> None:
    lang = lang_of(turn)
    problem = check_birth(turn, day)
    if problem is not None:
        turn.say(m.text(problem))
        _ask_children_again(turn, onb)
        return
    assert day is not None
    if len(onb["children"]) >= MAX_CHILDREN:
        turn.say(m.text(t("onb.child.too_many", lang, max=MAX_CHILDREN)))
    else:
        onb["children"].append(day.isoformat())
        turn.say(m.text(t("onb.child.added", lang, child=format_born(day, lang))))
    ask_children(turn, first=False)


@router.postback(pb.ONB_DUE)
async def on_due(turn: Turn) -> None:
    """A due date from the picker: today up to 300 days ahead."""
    onb = _progress(turn)
    if onb is None or not onb.get("muni"):
        await _expired(turn)
        return
    _add_due(turn, onb, picked_date(turn))


def _add_due(turn: Turn, onb: dict[str, Any], day: date | None) -> None:
    lang = lang_of(turn)
    problem = check_due(turn, day)
    if problem is not None:
        turn.say(m.text(problem))
        _ask_children_again(turn, onb)
        return
    assert day is not None
    onb["due"] = day.isoformat()
    turn.say(m.text(t("onb.due.added", lang, date=m_date(day, lang))))
    ask_children(turn, first=False)


def yes_no_skip(lang: str, action: str) -> list[Any]:
    """Yes / No / Skip quick replies for an optional question."""
    return [
        m.postback(t(f"label.{v}", lang), action, v=v, display=t(f"label.{v}", lang))
        for v in ("yes", "no", "skip")
    ]


def _answer(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


@router.postback(pb.ONB_DONE)
async def on_children_done(turn: Turn) -> None:
    """All children given: the optional questions."""
    onb = _progress(turn)
    if onb is None or not onb.get("muni"):
        await _expired(turn)
        return
    lang = lang_of(turn)
    if not onb["children"] and not onb.get("due"):
        turn.say(m.text(t("onb.child.none_yet", lang)))
        ask_children(turn, first=True)
        return
    onb["step"] = "single"
    turn.say(m.text(t("onb.single.ask", lang), yes_no_skip(lang, pb.ONB_SINGLE)))


@router.postback(pb.ONB_SINGLE)
async def on_single_parent(turn: Turn) -> None:
    """Single parent: yes, no or skipped (unknown)."""
    onb = _progress(turn)
    if onb is None or not onb.get("muni"):
        await _expired(turn)
        return
    lang = lang_of(turn)
    onb["single"] = _answer(turn.postback.get("v"))
    onb["step"] = "tax"
    turn.say(m.text(t("onb.tax.ask", lang), yes_no_skip(lang, pb.ONB_TAX)))


@router.postback(pb.ONB_TAX)
async def on_tax_exempt(turn: Turn) -> None:
    """Resident-tax exemption: yes, no or skipped; then the summary."""
    onb = _progress(turn)
    if onb is None or not onb.get("muni"):
        await _expired(turn)
        return
    onb["tax"] = _answer(turn.postback.get("v"))
    onb["step"] = "confirm"
    _summary(turn, onb)


def _dates(values: list[Any]) -> list[date]:
    return [d for d in (parse_day(v) for v in values) if d is not None]


def _summary(turn: Turn, onb: dict[str, Any]) -> None:
    lang = lang_of(turn)
    lines = household_lines(
        turn,
        lang,
        municipality=onb.get("muni"),
        children=_dates(onb.get("children") or []),
        due=parse_day(onb.get("due")),
        single=onb.get("single"),
        tax=onb.get("tax"),
    )
    turn.say(
        m.text(t("onb.summary", lang, summary="\n".join(lines))),
        m.confirm(
            t("onb.confirm.question", lang),
            m.postback(
                t("onb.confirm.label", lang), pb.ONB_CONFIRM, display=t("onb.confirm.label", lang)
            ),
            m.postback(t("onb.edit.label", lang), pb.ONB_EDIT, display=t("onb.edit.label", lang)),
        ),
    )


@router.postback(pb.ONB_CONFIRM)
async def on_confirm(turn: Turn) -> None:
    """Save the household, then show the programs it can get."""
    onb = _progress(turn)
    if onb is None or not is_municipality(turn, onb.get("muni")):
        await _expired(turn)
        return
    lang = lang_of(turn)
    births = _dates(onb.get("children") or [])
    due = parse_day(onb.get("due"))
    # The answers were checked when given; check again (the state could predate a day change).
    births = [b for b in births if check_birth(turn, b) is None]
    if due is not None and due < today(turn):
        due = None
    if not births and due is None:
        turn.say(m.text(t("onb.child.none_yet", lang)))
        ask_children(turn, first=True)
        return
    family = turn.family
    await families.update_profile(
        turn.session,
        family,
        municipality=onb["muni"],
        pregnant=due is not None,
        due_date=due,
        single_parent=onb.get("single"),
        resident_tax_exempt=onb.get("tax"),
    )
    await families.replace_children(
        turn.session, family, [ChildInput(birth_date=b) for b in births]
    )
    family.onboarded_at = turn.now
    turn.session.add(family)
    await turn.session.flush()
    turn.state.pop("onb", None)
    turn.state.pop("await", None)
    log.info("onboarded", extra={"user": user_key(turn.user_id), "children": len(births)})
    await go(turn, "programs", lead=t("onb.saved", lang))


@router.postback(pb.ONB_EDIT)
async def on_edit(turn: Turn) -> None:
    """Start over from the municipality."""
    await start_onboarding(turn, lead=t("onb.restart", lang_of(turn)))
