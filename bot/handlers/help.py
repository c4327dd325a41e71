"""Free text: keyword intents in Japanese and English, help, and the fallbacks.

Intents are tried in the order below (the first keyword found wins), after any step that awaits
a typed answer. Anything else gets the help text with quick replies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import (
    before_consent_actions,
    consented,
    lang_of,
    menu_actions,
    office_name,
    office_of,
    stale,
)
from bot.handlers.daycare import show_daycare
from bot.handlers.delete import ask_deletion
from bot.handlers.family import set_language, show_family
from bot.handlers.programs import show_programs
from bot.handlers.review import ask_rating
from bot.handlers.settings import show_settings
from bot.texts import t

router = Router("help")


def show_help(turn: Turn, lead: str | None = None) -> None:
    """What the bot can do, with a button for each, and how to reach the family's office;
    before consent a short introduction instead (not the whole privacy notice again)."""
    lang = lang_of(turn)
    if not consented(turn):
        body = t("help.before_consent", lang)
        turn.say(m.text(f"{lead}\n\n{body}" if lead else body, before_consent_actions(lang)))
        return
    body = t("help.body", lang)
    office = office_of(turn, turn.family.municipality)
    if office is not None:
        body += "\n\n" + t(
            "help.office", lang, office=office_name(turn, office, lang), url=office.url
        )
        if office.phone:
            body += "\n" + t("help.office.phone", lang, phone=office.phone)
    turn.say(
        m.text(f"{lead}\n\n{body}" if lead else body, menu_actions(lang, include_delete=True))
    )


async def _english(turn: Turn) -> None:
    await set_language(turn, "en")


async def _japanese(turn: Turn) -> None:
    await set_language(turn, "ja")


async def _programs(turn: Turn) -> None:
    await show_programs(turn)


async def _daycare(turn: Turn) -> None:
    show_daycare(turn)


async def _settings(turn: Turn) -> None:
    show_settings(turn)


async def _family(turn: Turn) -> None:
    await show_family(turn)


async def _delete(turn: Turn) -> None:
    ask_deletion(turn)


async def _rate(turn: Turn) -> None:
    ask_rating(turn)


async def _help(turn: Turn) -> None:
    show_help(turn)


INTENTS: list[tuple[tuple[str, ...], Callable[[Turn], Awaitable[None]]]] = [
    (("english", "英語"), _english),
    (("日本語", "japanese"), _japanese),
    (("削除", "退会", "delete"), _delete),
    (("保育園", "保育所", "daycare", "nursery"), _daycare),
    (("支援", "手当", "もらえる", "support", "benefit", "program", "allowance"), _programs),
    (("設定", "通知", "settings", "notification"), _settings),
    (("家族", "子ども", "子供", "こども", "family", "child"), _family),
    (("評価", "レビュー", "review", "rating", "feedback"), _rate),
    (("ヘルプ", "help", "使い方", "メニュー", "menu"), _help),
]

for _keywords, _handler in INTENTS:
    router.text(*_keywords)(_handler)


def intent_of(text: str) -> str | None:
    """The name of the intent this text asks for (help, rate, programs, ...), if any."""
    said = text.lower()
    for keywords, handler in INTENTS:
        if any(k.lower() in said for k in keywords):
            return handler.__name__.lstrip("_")
    return None


async def run_intent(turn: Turn) -> bool:
    """Run the keyword intent in the parent's text, if any (for steps that found no answer
    in what was typed: "削除" typed while a municipality is awaited means deletion)."""
    said = (turn.text or "").lower()
    for keywords, handler in INTENTS:
        if any(k.lower() in said for k in keywords):
            await handler(turn)
            return True
    return False


@router.postback("menu.help")
async def on_menu_help(turn: Turn) -> None:
    """Rich menu ヘルプ."""
    show_help(turn)


@router.fallback()
async def on_anything_else(turn: Turn) -> None:
    """Text no intent took: help with quick replies."""
    show_help(turn, t("help.unknown", lang_of(turn)))


@router.when("postback", lambda _turn: True)
async def on_unknown_postback(turn: Turn) -> None:
    """A postback no handler knows (an old button or a forged one): answered kindly."""
    stale(turn)


@router.location()
async def on_location(turn: Turn) -> None:
    """A shared location with nothing awaiting it (daycare search will use it later)."""
    show_help(turn)
