"""家族の情報: view the household; add or remove a child, change the municipality, the due
date and the language."""

from __future__ import annotations

import logging
from typing import Any

from bot import messages as m
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
    menu_actions,
    municipality_name,
    picked_date,
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
from rules.ages import age_years
from rules.profile import MAX_CHILDREN

log = logging.getLogger(__name__)

router = Router("family")


def _onboarded(turn: Turn) -> bool:
    return turn.family.onboarded_at is not None and turn.family.id is not None


@router.entry("family")
async def show_family(turn: Turn, lead: str | None = None) -> None:
    """The household as stored, with what can be changed."""
    lang = lang_of(turn)
    family = turn.family
    if not _onboarded(turn):
        await go(turn, "resume_onboarding", lead=t("family.not_onboarded", lang))
        return
    assert family.id is not None
    children = await families.children_of(turn.session, family.id)
    lines = household_lines(
        turn,
        lang,
        municipality=family.municipality,
        children=[c.birth_date for c in children],
        due=family.due_date if family.pregnant else None,
        single=family.single_parent,
        tax=family.resident_tax_exempt,
    )
    body = t("family.show", lang, summary="\n".join(lines)) + "\n\n" + t("family.what", lang)
    low, high = birth_range(turn)
    due_low, due_high = due_range(turn)
    actions: list[Any] = [
        m.date_picker(
            t("family.add.label", lang), pb.FAMILY_ADD_CHILD, initial=high, low=low, high=high
        ),
        m.postback(t("family.remove.label", lang), pb.FAMILY_REMOVE_CHILD),
        m.postback(t("family.muni.label", lang), pb.FAMILY_MUNICIPALITY),
        m.date_picker(
            t("family.due.label", lang), pb.FAMILY_DUE, initial=due_low, low=due_low, high=due_high
        ),
        m.postback(
            t("family.lang.label", lang),
            pb.FAMILY_LANGUAGE,
            v="ja" if lang == "en" else "en",
            display=t("family.lang.label", lang),
        ),
        m.postback(t("family.delete.label", lang), pb.DELETE_ASK),
    ]
    turn.say(m.text(f"{lead}\n\n{body}" if lead else body, actions))


@router.postback(pb.MENU_FAMILY)
async def on_menu_family(turn: Turn) -> None:
    """Rich menu 家族の情報."""
    await show_family(turn)


@router.postback(pb.FAMILY_ADD_CHILD)
async def on_add_child(turn: Turn) -> None:
    """Add a child from the date picker (the date is checked: no future, at most 18 years)."""
    if not _onboarded(turn):
        await show_family(turn)
        return
    assert turn.family.id is not None
    lang = lang_of(turn)
    day = picked_date(turn)
    problem = check_birth(turn, day)
    if problem is not None:
        await show_family(turn, problem)
        return
    assert day is not None
    if len(await families.children_of(turn.session, turn.family.id)) >= MAX_CHILDREN:
        await show_family(turn, t("onb.child.too_many", lang, max=MAX_CHILDREN))
        return
    await families.add_child(turn.session, turn.family, day)
    log.info("child added", extra={"user": user_key(turn.user_id)})
    await show_family(turn, t("family.added", lang, child=format_born(day, lang)))


@router.postback(pb.FAMILY_REMOVE_CHILD)
async def on_remove_child(turn: Turn) -> None:
    """Which child to remove (named by birth month and age)."""
    if not _onboarded(turn):
        await show_family(turn)
        return
    assert turn.family.id is not None
    lang = lang_of(turn)
    children = await families.children_of(turn.session, turn.family.id)
    if not children:
        await show_family(turn, t("family.remove.none", lang))
        return
    on = today(turn)
    actions = [
        m.postback(
            format_born(c.birth_date, lang, age_years(c.birth_date, on))
            if c.birth_date <= on
            else format_born(c.birth_date, lang),
            pb.FAMILY_REMOVE_CHILD_CONFIRM,
            c=c.id,
        )
        for c in children[:12]
    ]
    actions.append(m.postback(t("delete.no.label", lang), pb.MENU_FAMILY))
    turn.say(m.text(t("family.remove.ask", lang), actions))


@router.postback(pb.FAMILY_REMOVE_CHILD_CONFIRM)
async def on_remove_child_chosen(turn: Turn) -> None:
    """Remove the chosen child (only one of this family's; others are refused kindly)."""
    if not _onboarded(turn):
        await show_family(turn)
        return
    assert turn.family.id is not None
    lang = lang_of(turn)
    raw = turn.postback.get("c", "")
    child_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    children = await families.children_of(turn.session, turn.family.id)
    child = next((c for c in children if c.id == child_id), None)
    if child is None or child_id is None:
        await show_family(turn, t("family.remove.unknown", lang))
        return
    await families.remove_child(turn.session, turn.family, child_id)
    log.info("child removed", extra={"user": user_key(turn.user_id)})
    await show_family(turn, t("family.removed", lang, child=format_born(child.birth_date, lang)))


@router.postback(pb.FAMILY_MUNICIPALITY)
async def on_change_municipality(turn: Turn) -> None:
    """Ask for the new municipality (typed or tapped)."""
    if not _onboarded(turn):
        await show_family(turn)
        return
    lang = lang_of(turn)
    actions = municipality_actions(
        turn,
        gazetteer(turn).common(),
        pb.FAMILY_MUNICIPALITY_SET,
        pb.FAMILY_MUNICIPALITY,
        share_location=True,
    )
    turn.say(m.text(t("family.muni.ask", lang), actions))
    turn.state["await"] = "fam.muni"


@router.awaiting("fam.muni")
async def on_municipality_typed(turn: Turn) -> None:
    """A typed new municipality."""
    turn.state.pop("await", None)
    if not _onboarded(turn):
        await show_family(turn)
        return
    lang = lang_of(turn)
    if turn.kind == "location":
        code = municipality_from_location(
            turn, action=pb.FAMILY_MUNICIPALITY_SET, other=pb.FAMILY_MUNICIPALITY
        )
        if code is None:
            turn.state["await"] = "fam.muni"
            return
        await _set_municipality(turn, code)
        return
    if not turn.text:
        turn.say(m.text(t("onb.muni.need_text", lang)))
        turn.state["await"] = "fam.muni"
        return
    found = gazetteer(turn).find(turn.text)
    if found.code is None and not found.candidates and await intent_instead(turn, "fam.muni"):
        return
    code = answer_found(
        turn, found, turn.text, action=pb.FAMILY_MUNICIPALITY_SET, other=pb.FAMILY_MUNICIPALITY
    )
    if code is None:
        turn.state["await"] = "fam.muni"
        return
    await _set_municipality(turn, code)


@router.postback(pb.FAMILY_MUNICIPALITY_SET)
async def on_municipality_chosen(turn: Turn) -> None:
    """A municipality tapped (the code must be one of the 62)."""
    if not _onboarded(turn):
        await show_family(turn)
        return
    code = turn.postback.get("c")
    if not is_municipality(turn, code):
        await show_family(turn, t("onb.muni.invalid", lang_of(turn)))
        return
    assert code is not None
    await _set_municipality(turn, code)


async def _set_municipality(turn: Turn, code: str) -> None:
    lang = lang_of(turn)
    await families.update_profile(turn.session, turn.family, municipality=code)
    log.info("municipality changed", extra={"user": user_key(turn.user_id)})
    await show_family(turn, t("family.muni.set", lang, name=municipality_name(turn, code, lang)))


@router.postback(pb.FAMILY_DUE)
async def on_due_date(turn: Turn) -> None:
    """A due date (today up to 300 days ahead)."""
    if not _onboarded(turn):
        await show_family(turn)
        return
    lang = lang_of(turn)
    day = picked_date(turn)
    problem = check_due(turn, day)
    if problem is not None:
        await show_family(turn, problem)
        return
    assert day is not None
    await families.update_profile(turn.session, turn.family, pregnant=True, due_date=day)
    await show_family(turn, t("family.due.set", lang, date=m_date(day, lang)))


async def set_language(turn: Turn, lang: str) -> None:
    """Speak Japanese or English from now on (stored; before consent only for this chat)."""
    if turn.family.consented_at is None:
        turn.state["lang"] = lang
        await go(turn, "consent_messages", greet=True)
        return
    await families.update_profile(turn.session, turn.family, language=lang)
    turn.say(m.text(t("family.lang.set", lang), menu_actions(lang)))


@router.entry("english")
async def speak_english(turn: Turn) -> None:
    """Answer in English from now on."""
    await set_language(turn, "en")


@router.entry("japanese")
async def speak_japanese(turn: Turn) -> None:
    """Answer in Japanese from now on."""
    await set_language(turn, "ja")


@router.postback(pb.FAMILY_LANGUAGE)
async def on_language(turn: Turn) -> None:
    """Switch between Japanese and English."""
    value = turn.postback.get("v")
    if value not in ("ja", "en"):
        await show_family(turn, t("settings.invalid", lang_of(turn)))
        return
    await set_language(turn, value)
