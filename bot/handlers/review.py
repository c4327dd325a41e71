"""評価する: a rating of a service (1-5), then its item-specific questions (1-5 each, or
skipped), then an optional comment.

Every answer is stored at once (a parent who walks away still counted). The rich menu's 評価する
rates the bot itself, with a way to pick another service; after a tour booking, an application
or "I applied" on a notice, other topics call the entry `rate.offer`, which offers (never asks
mid-flow, at most once a month per service) to rate what was just used.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from bot import messages as m
from bot import reviews
from bot.dispatch import Router, Turn
from bot.handlers.common import consented, lang_of, next_actions, stale
from bot.models import Review
from bot.reviews import OFFER_EVERY_DAYS, Service, service_of
from bot.state import user_key
from bot.texts import t
from notifier import postbacks as pb

log = logging.getLogger(__name__)

router = Router("review")

SERVICE = "bot"
_SKIP_WORDS = {"skip", "スキップ", "なし", "no", "いいえ", "答えない"}
_OFFER_KEY = "hagukumi:rate-offer:{user}:{service}"
MAX_REPLY_MESSAGES = 5  # LINE takes 5 messages a reply


def _stars(n: int) -> str:
    return f"{n} " + "★" * n


def _owner(turn: Turn) -> Any:
    # Before consent the rating is kept without any link to the parent (only the LINE user
    # ID may be stored before consent).
    return turn.family if consented(turn) else None


def ask_overall(turn: Turn, service: Service) -> None:
    """Five taps, 5 to 1, for the service as a whole."""
    lang = lang_of(turn)
    actions: list[Any] = [
        m.postback(_stars(n), pb.RATE, v=n, s=service.id, display=_stars(n))
        for n in range(5, 0, -1)
    ]
    if service.id == SERVICE:
        body = t("review.ask", lang)
        actions.append(m.postback(t("review.other.label", lang), pb.RATE_SERVICES))
    else:
        body = t("review.ask.service", lang, name=service.name(lang))
    turn.say(m.text(body, actions))


@router.entry("rate")
def ask_rating(turn: Turn) -> None:
    """The bot's own rating (the rich menu's 評価する and typed "評価")."""
    service = service_of(SERVICE)
    assert service is not None
    ask_overall(turn, service)


@router.entry("rate.offer")
async def offer_rating(turn: Turn, service_id: str) -> None:
    """After a service was used: offer to rate it (a button, never a question), at most once
    per service every OFFER_EVERY_DAYS days, and not when the family rated it lately."""
    service = service_of(service_id)
    family_id = turn.family.id
    if service is None or family_id is None or not consented(turn):
        return
    if len(turn.replies) >= MAX_REPLY_MESSAGES or not turn.replies:
        return
    if await reviews.rated_lately(turn.session, family_id, service.id, turn.now):
        return
    key = _OFFER_KEY.format(user=user_key(turn.user_id), service=service.id)
    if not await turn.deps.redis.set(key, "1", nx=True, ex=OFFER_EVERY_DAYS * 86400):
        return
    lang = lang_of(turn)
    short = service.ja if lang == "ja" else service.short_en
    # Only the last message's quick replies show: keep the ones the answer already had.
    quick = getattr(turn.replies[-1], "quick_reply", None)
    kept = [item.action for item in quick.items] if quick is not None else next_actions(turn)
    offer = m.postback(
        t("review.offer.label", lang, name=short),
        pb.RATE_OFFER,
        s=service.id,
        display=t("review.offer.label", lang, name=short),
    )
    turn.say(m.text(t("review.offer", lang, name=service.name(lang)), [offer, *kept]))
    log.info("rating offered", extra={"user": user_key(turn.user_id), "service": service.id})


@router.postback(pb.MENU_RATE)
async def on_menu_rate(turn: Turn) -> None:
    """Rich menu 評価する."""
    ask_rating(turn)


@router.postback(pb.RATE_SERVICES)
async def on_services(turn: Turn) -> None:
    """Which service to rate."""
    lang = lang_of(turn)
    actions = [
        m.postback(s.name(lang), pb.RATE_OFFER, s=s.id, display=s.name(lang))
        for s in reviews.SERVICES
    ]
    turn.say(m.text(t("review.services.ask", lang), actions))


@router.postback(pb.RATE_OFFER)
async def on_offer(turn: Turn) -> None:
    """ "この◯◯を評価する": the overall question of that service."""
    service = service_of(turn.postback.get("s"))
    if service is None:
        stale(turn)
        return
    ask_overall(turn, service)


@router.postback(pb.RATE)
async def on_rating(turn: Turn) -> None:
    """Store the overall rating, then ask the service's first item-specific question."""
    lang = lang_of(turn)
    raw = turn.postback.get("v", "")
    service = service_of(turn.postback.get("s", SERVICE))
    if service is None:
        stale(turn)
        return
    if raw not in {"1", "2", "3", "4", "5"}:
        turn.say(m.text(t("review.invalid", lang)))
        ask_overall(turn, service)
        return
    review = await reviews.add_review(
        turn.session, _owner(turn), int(raw), None, service.id, now=turn.now
    )
    log.info(
        "review stored",
        extra={"user": user_key(turn.user_id), "rating": int(raw), "service": service.id},
    )
    await _ask_next(turn, review, service, None)


async def _ask_next(turn: Turn, review: Review, service: Service, after: str | None) -> None:
    """The item-specific question after the one answered (`after`; None: the first) among
    those this family can answer now, or the comment when none is left."""
    assert review.id is not None
    questions = await reviews.questions_for(turn.session, review.family_id, service)
    ids = [q.id for q in questions]
    # `after` is one of them (`_answer` refuses a question not asked of this family).
    index = ids.index(after) + 1 if after in ids else 0
    if index >= len(questions):
        _ask_comment(turn, review.id)
        return
    lang = lang_of(turn)
    question = questions[index]
    actions: list[Any] = [
        m.postback(_stars(n), pb.RATE_ITEM, r=review.id, q=question.id, v=n, display=_stars(n))
        for n in range(5, 0, -1)
    ]
    skip = t("label.skip_question", lang)
    actions.append(
        m.postback(skip, pb.RATE_ITEM, r=review.id, q=question.id, v="skip", display=skip)
    )
    stop = t("review.stop.label", lang)
    actions.append(m.postback(stop, pb.RATE_SKIP, display=stop))
    turn.state.update({"review": review.id, "await": "rate.item", "rate_q": question.id})
    turn.say(
        m.text(
            t(
                "review.item.ask",
                lang,
                n=index + 1,
                total=len(questions),
                question=question.en if lang == "en" else question.ja,
            ),
            actions,
        )
    )


def _ask_comment(turn: Turn, review_id: int) -> None:
    lang = lang_of(turn)
    turn.state.pop("rate_q", None)
    turn.state["review"] = review_id
    turn.state["await"] = "rate.comment"
    turn.say(
        m.text(
            t("review.comment.ask", lang),
            [m.postback(t("label.skip", lang), pb.RATE_SKIP, display=t("label.skip", lang))],
        )
    )


async def _review_in_hand(turn: Turn, raw: Any) -> tuple[Review, Service] | None:
    """The review a button or typed answer is about, if it is this parent's (an anonymous
    review only from the same conversation)."""
    review_id = int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) <= 12 else raw
    if not isinstance(review_id, int):
        return None
    owner = _owner(turn)
    if owner is None and turn.state.get("review") != review_id:
        return None
    review = await reviews.own_review(turn.session, owner, review_id)
    service = service_of(review.service) if review is not None else None
    if review is None or service is None:
        return None
    return review, service


async def _answer(
    turn: Turn, review: Review, service: Service, question_id: str, raw: str
) -> None:
    """Store one answer (or a skip), then go on to the next question."""
    question = service.question(question_id)
    asked = await reviews.questions_for(turn.session, review.family_id, service)
    if question is None or question not in asked:
        stale(turn)
        return
    if raw in {"1", "2", "3", "4", "5"}:
        await reviews.set_answer(review, turn.session, question.id, int(raw))
    await _ask_next(turn, review, service, question.id)


@router.postback(pb.RATE_ITEM)
async def on_item(turn: Turn) -> None:
    """An item-specific answer (1-5) or a skip, stored at once."""
    found = await _review_in_hand(turn, turn.postback.get("r"))
    raw = turn.postback.get("v", "")
    if found is None or (raw != "skip" and raw not in {"1", "2", "3", "4", "5"}):
        stale(turn)
        return
    review, service = found
    await _answer(turn, review, service, turn.postback.get("q", ""), raw)


@router.awaiting("rate.item")
async def on_item_typed(turn: Turn) -> None:
    """A typed answer to a question: a digit 1-5 or a skip word answers it; anything else is
    the parent's comment (kept, and the rating ends there)."""
    said = unicodedata.normalize("NFKC", turn.text or "").strip()
    found = await _review_in_hand(turn, turn.state.get("review"))
    question_id = turn.state.get("rate_q")
    if found is None or not isinstance(question_id, str):
        _forget(turn)
        turn.say(m.text(t("review.skipped", lang_of(turn)), next_actions(turn)))
        return
    review, service = found
    if said in {"1", "2", "3", "4", "5"}:
        await _answer(turn, review, service, question_id, said)
    elif said.lower() in _SKIP_WORDS:
        await _answer(turn, review, service, question_id, "skip")
    else:
        await _comment(turn, review.id, said)


def _forget(turn: Turn) -> None:
    for key in ("review", "rate_q", "await"):
        turn.state.pop(key, None)


@router.postback(pb.RATE_SKIP)
async def on_skip(turn: Turn) -> None:
    """No comment (or no more questions)."""
    _forget(turn)
    lang = lang_of(turn)
    turn.say(m.text(t("review.skipped", lang), next_actions(turn)))


async def _comment(turn: Turn, review_id: Any, said: str) -> None:
    _forget(turn)
    lang = lang_of(turn)
    if not said or said.lower() in _SKIP_WORDS or not isinstance(review_id, int):
        turn.say(m.text(t("review.skipped", lang), next_actions(turn)))
        return
    if not await reviews.set_review_comment(turn.session, _owner(turn), review_id, said):
        turn.say(m.text(t("review.skipped", lang), next_actions(turn)))
        return
    turn.say(m.text(t("review.thanks", lang), next_actions(turn)))


@router.awaiting("rate.comment")
async def on_comment(turn: Turn) -> None:
    """A typed comment, added to the review just given (at most 1,000 characters)."""
    await _comment(turn, turn.state.get("review"), (turn.text or "").strip())
