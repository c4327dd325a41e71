"""削除: delete my data, after a confirmation.

Children, household fields, preferences, "I applied" records and the conversation go; the
family row stays as an anonymous tombstone and ratings stay without their comments. The bot
answers in the language the family had, and afterwards the user is a new user (consent again).
"""

from __future__ import annotations

import logging

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import lang_of, menu_actions
from bot.state import user_key
from bot.texts import t
from notifier import postbacks as pb
from registry import families

log = logging.getLogger(__name__)

router = Router("delete")


@router.entry("delete")
def ask_deletion(turn: Turn) -> None:
    """The confirmation: delete, or cancel."""
    lang = lang_of(turn)
    turn.say(
        m.confirm(
            t("delete.ask", lang),
            m.postback(
                t("delete.yes.label", lang), pb.DELETE_YES, display=t("delete.yes.label", lang)
            ),
            m.postback(
                t("delete.no.label", lang), pb.DELETE_NO, display=t("delete.no.label", lang)
            ),
        )
    )


@router.postback(pb.DELETE_ASK)
async def on_ask(turn: Turn) -> None:
    """Start the deletion (from 家族の情報 or the help menu)."""
    ask_deletion(turn)


@router.postback(pb.DELETE_YES)
async def on_delete(turn: Turn) -> None:
    """Delete everything personal, forget the conversation, and say so."""
    lang = lang_of(turn)
    pseudonym = user_key(turn.user_id)
    await families.delete_personal_data(turn.session, turn.family)
    turn.state.clear()
    turn.state["_clear"] = True
    log.info("personal data deleted", extra={"user": pseudonym})
    turn.say(m.text(t("delete.done", lang)))


@router.postback(pb.DELETE_NO)
async def on_cancel(turn: Turn) -> None:
    """Nothing deleted."""
    lang = lang_of(turn)
    turn.say(m.text(t("delete.cancelled", lang), menu_actions(lang)))
