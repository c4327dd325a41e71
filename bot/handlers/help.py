"""Free text: keyword intents in Japanese and English, help, and the fallbacks.

Intents are tried in the order of `bot.navigation.INTENTS` (the first keyword found wins), after
any step that awaits a typed answer. Anything else gets the help text with quick replies.
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
from bot.navigation import INTENTS, go
from bot.texts import t
from notifier import postbacks as pb

router = Router("help")


@router.entry("help")
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


def _intent(name: str) -> Callable[[Turn], Awaitable[None]]:
    async def handler(turn: Turn) -> None:
        await go(turn, name)

    return handler


for _keywords, _name in INTENTS:
    router.text(*_keywords)(_intent(_name))


@router.postback(pb.MENU_HELP)
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
