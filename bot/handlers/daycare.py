"""保育園をさがす: daycare search is coming (integrations' one-stop service); say so kindly."""

from __future__ import annotations

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import lang_of, menu_actions
from bot.texts import t
from notifier import postbacks as pb

router = Router("daycare")


@router.entry("daycare")
def show_daycare(turn: Turn) -> None:
    """Coming soon."""
    lang = lang_of(turn)
    turn.say(m.text(t("daycare.soon", lang), menu_actions(lang)))


@router.postback(pb.MENU_DAYCARE)
async def on_menu_daycare(turn: Turn) -> None:
    """Rich menu 保育園をさがす."""
    show_daycare(turn)
