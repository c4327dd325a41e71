"""What every topic's handlers share: routers with custom matches, language, dates, menus."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from bot import messages as m
from bot.dispatch import Dispatcher, Turn
from bot.state import user_key
from bot.texts import format_born, language, t
from notifier import postbacks as pb
from notifier.formats import format_date
from registry import families
from registry.offices import Office
from rules.ages import age_years

log = logging.getLogger(__name__)

TOKYO = "130001"
MAX_CHILD_AGE_YEARS = 18
MAX_DUE_DAYS = 300


class SafeDispatcher(Dispatcher):
    """The dispatcher, plus what holds for every event: a tap ends any typed-answer step."""

    async def dispatch(self, turn: Turn) -> bool:
        """Run the first matching handler (a postback first forgets an awaited typed answer)."""
        if turn.kind == "postback":
            turn.state.pop("await", None)
        return await super().dispatch(turn)


def consented(turn: Turn) -> bool:
    """The family agreed to the privacy notice (and did not delete its data since)."""
    return turn.family.consented_at is not None and turn.family.state != "deleted"


def lang_of(turn: Turn) -> str:
    """The language to answer in: the family's, or before consent the one asked for this chat.

    Before consent nothing is stored in the database, so the wish lives only in the
    conversation state (Redis, 30 minutes).
    """
    if consented(turn):
        return language(turn.family.language)
    return language(turn.state.get("lang"))


def today(turn: Turn) -> date:
    """Today where the parents live (Asia/Tokyo)."""
    return turn.now.astimezone(turn.deps.zone).date()


def birth_range(turn: Turn) -> tuple[date, date]:
    """Earliest and latest birth date a parent may enter: 18 years ago up to today."""
    day = today(turn)
    return years_before(day, MAX_CHILD_AGE_YEARS), day


def parse_day(value: Any) -> date | None:
    """A date from a picker (`YYYY-MM-DD`), or None for anything else."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def picked_date(turn: Turn) -> date | None:
    """The date a date picker sent back with this postback."""
    return parse_day(turn.postback_params.get("date"))


def check_birth(turn: Turn, day: date | None) -> str | None:
    """Why this birth date is refused (a text for the parent), or None when it is fine."""
    lang = lang_of(turn)
    low, high = birth_range(turn)
    if day is None:
        return t("date.invalid", lang)
    if day > high:
        return t("date.future_birth", lang, date=m_date(day, lang))
    if day < low:
        return t("date.too_old", lang, date=m_date(day, lang))
    return None


def check_due(turn: Turn, day: date | None) -> str | None:
    """Why this due date is refused, or None: today up to 300 days from now."""
    lang = lang_of(turn)
    if day is None:
        return t("date.invalid", lang)
    low, high = due_range(turn)
    if not low <= day <= high:
        return t("date.due_range", lang, date=m_date(day, lang))
    return None


def due_range(turn: Turn) -> tuple[date, date]:
    """Earliest and latest due date: today up to 300 days from now."""
    start = today(turn)
    return start, start + timedelta(days=MAX_DUE_DAYS)


def m_date(day: date, lang: str) -> str:
    """A date in the parent's language."""
    return format_date(day, lang)


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (February 29 becomes February 28)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def municipality_name(turn: Turn, code: str | None, lang: str) -> str:
    """The name of a municipality (or Tokyo) in the parent's language."""
    if code == TOKYO:
        return "東京都" if lang == "ja" else "Tokyo"
    for entry in turn.deps.municipalities:
        if entry[0] == code:
            return entry[1] if lang == "ja" else entry[2]
    return code or "-"


def office_of(turn: Turn, code: str | None) -> Office | None:
    """The main office of a municipality (None for Tokyo, the nation or an unknown code)."""
    return next((o for o in turn.deps.offices if o.code == code), None)


def office_name(turn: Turn, office: Office, lang: str) -> str:
    """渋谷区役所 / Shibuya Ward office."""
    if lang == "ja":
        return office.office_ja
    return f"{municipality_name(turn, office.code, 'en')} office"


def is_municipality(turn: Turn, code: Any) -> bool:
    """One of the municipalities the bot serves (Tokyo's 62)."""
    return isinstance(code, str) and any(entry[0] == code for entry in turn.deps.municipalities)


def menu_actions(lang: str, *, include_delete: bool = False) -> list[Any]:
    """Quick replies that lead to every part of the bot."""
    actions = [
        m.postback(t("menu.programs.label", lang), pb.MENU_PROGRAMS),
        m.postback(t("menu.daycare.label", lang), pb.MENU_DAYCARE),
        m.postback(t("menu.settings.label", lang), pb.MENU_SETTINGS),
        m.postback(t("menu.family.label", lang), pb.MENU_FAMILY),
        m.postback(t("menu.rate.label", lang), pb.MENU_RATE),
        m.postback(t("menu.help.label", lang), pb.MENU_HELP),
        m.say_action(t("menu.language.label", lang), "日本語" if lang == "en" else "English"),
    ]
    if include_delete:
        actions.append(m.postback(t("menu.delete.label", lang), pb.DELETE_ASK))
    return actions


def before_consent_actions(lang: str) -> list[Any]:
    """Quick replies before consent: agree, read the privacy notice, rate, help, language."""
    return [
        m.postback(
            t("consent.agree.label", lang),
            pb.CONSENT,
            v="yes",
            display=t("consent.agree.label", lang),
        ),
        m.postback(t("consent.notice.label", lang), pb.CONSENT_NOTICE),
        m.postback(t("menu.rate.label", lang), pb.MENU_RATE),
        m.postback(t("menu.help.label", lang), pb.MENU_HELP),
        m.say_action(t("menu.language.label", lang), "日本語" if lang == "en" else "English"),
    ]


def next_actions(turn: Turn) -> list[Any]:
    """The quick replies that fit where the parent is (the menu, or before consent its own)."""
    lang = lang_of(turn)
    return menu_actions(lang) if consented(turn) else before_consent_actions(lang)


def stale(turn: Turn) -> None:
    """Answer a button from an old message (or a forged postback) kindly."""
    log.info(
        "stale or unknown postback",
        extra={"user": user_key(turn.user_id), "action": (turn.action or "")[:40]},
    )
    lang = lang_of(turn)
    turn.say(m.text(t("stale.button", lang), menu_actions(lang)))


def household_lines(
    turn: Turn,
    lang: str,
    *,
    municipality: str | None,
    children: list[date],
    due: date | None,
    single: bool | None,
    tax: bool | None,
) -> list[str]:
    """The household in plain words, one line each (children by birth month and age)."""

    def yes_no(value: bool | None) -> str:
        return t({True: "value.yes", False: "value.no", None: "value.unknown"}[value], lang)

    on = today(turn)
    lines = [t("summary.municipality", lang, name=municipality_name(turn, municipality, lang))]
    for birth in sorted(children):
        age = age_years(birth, on) if birth <= on else None
        lines.append(t("summary.child", lang, child=format_born(birth, lang, age)))
    if not children:
        lines.append(t("summary.no_children", lang))
    if due is not None:
        lines.append(t("summary.due", lang, date=m_date(due, lang)))
    lines.append(t("summary.single", lang, value=yes_no(single)))
    lines.append(t("summary.tax", lang, value=yes_no(tax)))
    lines.append(t("summary.language", lang))
    return lines


async def save_preferences(turn: Turn, **changes: Any) -> dict[str, Any]:
    """Merge changes into the family's notification preferences (a new dict: JSON columns
    only notice reassignment)."""
    return await families.update_preferences(turn.session, turn.family, **changes)
