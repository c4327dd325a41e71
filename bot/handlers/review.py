"""評価する: a rating of the service (1-5), then an optional comment.

The rating is stored at once (a parent who walks away still counted); a comment typed next is
added to that same review.
"""

from __future__ import annotations

import logging

from bot import messages as m
from bot import reviews
from bot.dispatch import Router, Turn
from bot.handlers.common import consented, lang_of, next_actions
from bot.state import user_key
from bot.texts import t
from notifier import postbacks as pb

log = logging.getLogger(__name__)

router = Router("review")

SERVICE = "bot"
_SKIP_WORDS = {"skip", "スキップ", "なし", "no", "いいえ", "答えない"}


@router.entry("rate")
def ask_rating(turn: Turn) -> None:
    """Five taps, 1 to 5."""
    lang = lang_of(turn)
    actions = [
        m.postback(f"{n} " + "★" * n, pb.RATE, v=n, display=f"{n} " + "★" * n)
        for n in range(5, 0, -1)
    ]
    turn.say(m.text(t("review.ask", lang), actions))


@router.postback(pb.MENU_RATE)
async def on_menu_rate(turn: Turn) -> None:
    """Rich menu 評価する."""
    ask_rating(turn)


@router.postback(pb.RATE)
async def on_rating(turn: Turn) -> None:
    """Store the rating, then invite a comment (typed) or a skip."""
    lang = lang_of(turn)
    raw = turn.postback.get("v", "")
    if raw not in {"1", "2", "3", "4", "5"}:
        turn.say(m.text(t("review.invalid", lang)))
        ask_rating(turn)
        return
    # Before consent the rating is kept without any link to the parent (only the LINE user ID
    # may be stored before consent).
    owner = turn.family if consented(turn) else None
    review = await reviews.add_review(turn.session, owner, int(raw), None, SERVICE)
    log.info("review stored", extra={"user": user_key(turn.user_id), "rating": int(raw)})
    turn.state["review"] = review.id
    turn.state["await"] = "rate.comment"
    turn.say(
        m.text(
            t("review.comment.ask", lang),
            [m.postback(t("label.skip", lang), pb.RATE_SKIP, display=t("label.skip", lang))],
        )
    )


@router.postback(pb.RATE_SKIP)
async def on_skip(turn: Turn) -> None:
    """No comment."""
    turn.state.pop("review", None)
    lang = lang_of(turn)
    turn.say(m.text(t("review.skipped", lang), next_actions(turn)))


@router.awaiting("rate.comment")
async def on_comment(turn: Turn) -> None:
    """A typed comment, added to the review just given (at most 1,000 characters)."""
    turn.state.pop("await", None)
    review_id = turn.state.pop("review", None)
    lang = lang_of(turn)
    said = (turn.text or "").strip()
    if not said or said.lower() in _SKIP_WORDS or not isinstance(review_id, int):
        turn.say(m.text(t("review.skipped", lang), next_actions(turn)))
        return
    owner = turn.family if consented(turn) else None
    if not await reviews.set_review_comment(turn.session, owner, review_id, said):
        turn.say(m.text(t("review.skipped", lang), next_actions(turn)))
        return
    turn.say(m.text(t("review.thanks", lang), next_actions(turn)))
