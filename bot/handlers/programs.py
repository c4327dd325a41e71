"""My programs: the support a family can get now, as Flex carousels, and "I applied".

Programs already marked applied stay in the list, last, with an "applied" badge and no
"I applied" button (parents see that the bot remembered). Nearest deadline first otherwise.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import (
    TOKYO,
    lang_of,
    menu_actions,
    municipality_name,
    today,
)
from bot.navigation import go
from bot.state import user_key
from bot.texts import format_born, join, t
from notifier import postbacks as pb
from notifier.compose import SUMMARY_CHARS, excerpt
from notifier.formats import format_date
from registry import families
from registry.eligibility import EligibleProgram, NearMiss, evaluate
from registry.programs import applies_for
from rules.ages import age_months, age_years, class_age, fiscal_year
from rules.deadlines import application_deadline
from rules.explain import GENERIC, reasons_of_clauses
from rules.profile import FamilyInput

log = logging.getLogger(__name__)

router = Router("programs")

MAX_REPLY = 5
MAX_CHILDREN_NAMED = 3
MAX_SOON = 3
_AGE_PART = re.compile(r"\bchild\.(age|age_months|class_age|grade|birth_date)\b")
_EITHER = re.compile(r"\bor\b")
_GROWS_INTO = re.compile(r"^child\.(age|age_months|class_age)\s*(>=?)\s*(\d+)$")
SOON_DAYS = 92
""""Soon" means within about three months: a newborn is not told of the 3-year check-up."""


@dataclass
class Card:
    """One program as shown: its bubble and how it sorts."""

    program_id: int
    name: str
    applied: bool
    deadline: date | None
    bubble: Any


def program_name(program: EligibleProgram | NearMiss, lang: str) -> str:
    """The program's name in the family's language (Japanese when there is no English)."""
    return (program.name.en if lang == "en" else None) or program.name.ja


def _child_labels(program: EligibleProgram, profile: FamilyInput, lang: str) -> list[str]:
    labels = []
    for index in program.children:
        if 0 <= index < len(profile.children):
            labels.append(format_born(profile.children[index].birth_date, lang))
    return labels


def reasons(turn: Turn, program: EligibleProgram, profile: FamilyInput, lang: str) -> list[str]:
    """Why the program fits, in plain words, from the parts of its rule that held."""
    out: list[str] = []

    def add(text: str) -> None:
        if text not in out:
            out.append(text)

    held = program.explanation.held
    children = _child_labels(program, profile, lang)
    for part in held:
        if _EITHER.search(part) and reasons_of_clauses([part]) == [GENERIC]:
            # "pregnant == true or youngest_age < 2": which side held is not known here, and
            # "you are expecting" must not be said to a family that is not.
            continue
        if _AGE_PART.search(part):
            for label in children[:MAX_CHILDREN_NAMED]:
                add(t("why.child_age", lang, child=label))
            if len(children) > MAX_CHILDREN_NAMED:
                add(t("why.children_more", lang, count=len(children) - MAX_CHILDREN_NAMED))
        elif "child.daycare" in part:
            add(t("why.daycare", lang))
        elif "child.disability" in part:
            add(t("why.disability", lang))
        elif "child_count" in part or "birth_order" in part:
            add(t("why.children_count", lang))
        elif part.startswith("municipality"):
            add(t("why.lives_in", lang, place=municipality_name(turn, profile.municipality, lang)))
        elif part.startswith("prefecture"):
            add(t("why.lives_in", lang, place=municipality_name(turn, TOKYO, lang)))
        elif "pregnant" in part or "due_date" in part:
            add(t("why.pregnant", lang))
        elif "single_parent" in part:
            add(t("why.single_parent", lang))
        elif "resident_tax_exempt" in part:
            add(t("why.tax_exempt", lang))
        elif "household_income" in part:
            add(t("why.income", lang))
        # Other parts (e.g. "not on public assistance") say nothing a parent needs to read.
    if program.per_child and children and not any(c in r for r in out for c in children):
        for label in children[:MAX_CHILDREN_NAMED]:
            add(t("why.child", lang, child=label))
    return out or [t("why.generic", lang)]


def deadline_of(
    program: EligibleProgram, profile: FamilyInput, on: date, lang: str
) -> tuple[str, date | None]:
    """The deadline line and the date to sort by (None: no upcoming date)."""
    application = program.application or {}
    fixed = application.get("deadline")
    days = application.get("deadline_days_after_birth")
    if fixed:
        day = date.fromisoformat(fixed)
        return t("deadline.date", lang, date=format_date(day, lang)), day if day >= on else None
    if days is not None:
        births = [
            profile.children[i].birth_date
            for i in program.children
            if 0 <= i < len(profile.children)
        ]
        due = (application_deadline(None, days, b) for b in births)
        upcoming = sorted(d for d in due if d is not None and d >= on)
        if upcoming:
            text = t("deadline.after_birth", lang, days=days, date=format_date(upcoming[0], lang))
            return text, upcoming[0]
        return t("deadline.after_birth_passed", lang, days=days), None
    return t("deadline.none", lang), None


def _card(
    turn: Turn,
    program: EligibleProgram,
    profile: FamilyInput,
    applied: bool,
    details: dict[int, Any],
    lang: str,
) -> Card:
    on = today(turn)
    name = program_name(program, lang)
    deadline_text, deadline = deadline_of(program, profile, on, lang)
    data = details.get(program.id)
    lines: list[Any] = []
    if data is not None:
        blurb = (excerpt(data.benefit, SUMMARY_CHARS["ja"]) or None) if lang == "ja" else None
        if blurb is None and lang == "en":
            # Whole sentences; an item written in Japanese only says so in English.
            blurb = excerpt(data.summary.en, SUMMARY_CHARS["en"]) or t("program.ja_only", lang)
        if blurb is None:
            blurb = excerpt(data.summary.ja, SUMMARY_CHARS["ja"]) or ""
        lines.append(m.flex_text(blurb, size="sm", color="#555555"))
    lines.append(m.flex_text(t("program.why", lang), size="xs", color="#888888", margin="md"))
    lines.extend(
        m.flex_text(("・" if lang == "ja" else "• ") + reason, size="sm")
        for reason in reasons(turn, program, profile, lang)
    )
    lines.append(m.flex_text(deadline_text, size="sm", weight="bold", margin="md"))
    buttons: list[Any] = []
    application = program.application or {}
    url = program.reference_url or application.get("url")
    link = m.uri(t("program.details.label", lang), url) if url else None
    if not applied and applies_for(program.category):
        buttons.append(
            m.postback(
                t("program.applied.label", lang),
                pb.APPLIED,
                p=program.id,
                display=t("program.applied.label", lang),
            )
        )
    if link is not None:
        buttons.append(link)
    badge = t("program.applied_badge", lang) if applied else None
    return Card(
        program_id=program.id,
        name=name,
        applied=applied,
        deadline=deadline,
        bubble=m.bubble(name, lines, buttons, badge=badge),
    )


def _more_bubble(count: int, lang: str) -> Any:
    return m.bubble(
        t("programs.more_title", lang, count=count),
        [m.flex_text(t("programs.more_body", lang, count=count), size="sm")],
    )


def _grown_into(part: str, birth: date, day: date) -> bool:
    """Whether a child born on `birth` meets `child.<age> >= N` on `day`."""
    found = _GROWS_INTO.match(part)
    if found is None or birth > day:
        return False
    field, operator, number = found.groups()
    if field == "age_months":
        value = age_months(birth, day)
    elif field == "age":
        value = age_years(birth, day)
    else:
        value = class_age(birth, fiscal_year(day))
    return value > int(number) if operator == ">" else value >= int(number)


def _soon(near: list[NearMiss], profile: FamilyInput, on: date, lang: str) -> list[str]:
    """Programs a child grows into within SOON_DAYS (missed today only by the child's age)."""
    names = []
    then = on + timedelta(days=SOON_DAYS)
    for miss in near:
        if not miss.failed or not all(_GROWS_INTO.match(part) for part in miss.failed):
            continue
        if any(
            all(_grown_into(part, child.birth_date, then) for part in miss.failed)
            for child in profile.children
        ):
            names.append(program_name(miss, lang))
    return names[:MAX_SOON]


@router.entry("programs")
async def show_programs(turn: Turn, *, lead: str | None = None) -> None:
    """Say the programs the family can get today (or start onboarding when it cannot tell)."""
    lang = lang_of(turn)
    family = turn.family
    profile = await families.profile_of(turn.session, family)
    if profile is None or family.onboarded_at is None or family.id is None:
        await go(turn, "resume_onboarding", lead=t("programs.not_onboarded", lang))
        return
    on = today(turn)
    # A child whose birth date is after today cannot be evaluated; the bot never stores one,
    # but rows may come from elsewhere (an app backend).
    profile.children = [c for c in profile.children if c.birth_date <= on]
    entries = await turn.deps.catalog.entries(turn.session)
    result = evaluate(entries, profile, on)
    applied = await families.applied_programs(turn.session, family.id)
    details = {entry.id: entry.data for entry in entries}
    cards = [_card(turn, p, profile, p.id in applied, details, lang) for p in result.programs]
    cards.sort(key=lambda c: (c.applied, c.deadline or date.max, c.name))
    head = [lead] if lead else []
    if not cards:
        head.append(t("programs.none", lang))
    else:
        head.append(t("programs.intro", lang, count=len(cards)))
    soon = _soon(result.near_misses, profile, on, lang)
    if soon:
        head.append(t("programs.soon", lang, names=join(soon, lang)))
    turn.say(m.text("\n".join(head), menu_actions(lang) if not cards else ()))
    if cards:
        room = MAX_REPLY - len(turn.replies)
        turn.say(*_carousels(cards, max(room, 1), lang))
        # What the parent has just read in the chat is not pushed again later.
        turn.told_programs = True
    log.info(
        "programs shown",
        extra={"user": user_key(turn.user_id), "count": len(cards), "applied": len(applied)},
    )


def _carousels(cards: list[Card], room: int, lang: str) -> list[Any]:
    """Carousels of ≤ 12 bubbles, at most `room` of them; a last bubble counts the rest."""
    capacity = room * m.MAX_BUBBLES
    bubbles = [c.bubble for c in cards]
    if len(bubbles) > capacity:
        shown = capacity - 1
        bubbles = bubbles[:shown] + [_more_bubble(len(cards) - shown, lang)]
    out = []
    for start in range(0, len(bubbles), m.MAX_BUBBLES):
        chunk = bubbles[start : start + m.MAX_BUBBLES]
        names = [c.name for c in cards[start : start + m.MAX_BUBBLES]]
        out.append(m.carousel(t("programs.alt", lang, names=join(names, lang)), chunk))
    # LINE shows quick replies of the last message only: the menu goes there.
    last = out[-1]
    last.quick_reply = m.quick(menu_actions(lang))
    return out


@router.postback(pb.MENU_PROGRAMS)
async def on_menu_programs(turn: Turn) -> None:
    """Rich menu 受けられる支援."""
    await show_programs(turn)


@router.postback(pb.APPLIED)
async def on_applied(turn: Turn) -> None:
    """ "I applied": stop the program's reminders (forged or unknown ids are answered kindly)."""
    lang = lang_of(turn)
    raw = turn.postback.get("p", "")
    program_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    entries = await turn.deps.catalog.entries(turn.session)
    entry = next((e for e in entries if e.id == program_id), None)
    if entry is None or turn.family.id is None or turn.family.onboarded_at is None:
        turn.say(m.text(t("applied.unknown", lang)))
        await show_programs(turn)
        return
    name = (entry.data.name.en if lang == "en" else None) or entry.data.name.ja
    fresh = await families.mark_applied(turn.session, turn.family, entry.id)
    log.info("applied", extra={"user": user_key(turn.user_id), "program": entry.id})
    turn.say(m.text(t("applied.done" if fresh else "applied.already", lang, name=name)))
    if fresh:
        # "I applied" (on a notice or a card) ends what the notice was for: offer to rate it.
        await go(turn, "rate.offer", "notices")
