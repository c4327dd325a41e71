"""Follow, consent, unfollow (block) and re-follow.

Before consent nothing but the LINE user ID is stored (the pipeline creates that row); every
event of a parent who has not agreed yet is answered here with the privacy notice and the
consent question. A wish for English before consent lives only in the conversation state.
"""

from __future__ import annotations

import logging

from bot import messages as m
from bot.dispatch import Router, Turn
from bot.handlers.common import consented, lang_of, menu_actions
from bot.navigation import go, intent_of
from bot.state import user_key
from bot.texts import t
from notifier import postbacks as pb
from registry import families

log = logging.getLogger(__name__)

router = Router("follow")

_ENGLISH = ("english", "英語")
_JAPANESE = ("日本語", "japanese", "nihongo")


@router.entry("consent_messages")
def consent_messages(turn: Turn, *, greet: bool) -> None:
    lang = lang_of(turn)
    notice = t("follow.privacy", lang)
    first = t("follow.greeting", lang) + "\n\n" + notice if greet else notice
    turn.say(
        m.text(first + "\n\n" + t("consent.english_hint", lang)),
        m.confirm(
            t("consent.question", lang),
            m.postback(
                t("consent.agree.label", lang),
                pb.CONSENT,
                v="yes",
                display=t("consent.agree.label", lang),
            ),
            m.postback(
                t("consent.later.label", lang),
                pb.CONSENT,
                v="no",
                display=t("consent.later.label", lang),
            ),
        ),
    )


def _not_consented(turn: Turn) -> bool:
    return not consented(turn)


# What works before consent besides the consent itself: help, the privacy notice on request,
# and rating the service (stored without any link to the parent).
_OPEN_POSTBACKS = frozenset(
    {
        pb.CONSENT,
        pb.CONSENT_NOTICE,
        pb.MENU_HELP,
        pb.MENU_RATE,
        pb.RATE,
        pb.RATE_SKIP,
        pb.RATE_ITEM,
        pb.RATE_SERVICES,
        pb.RATE_OFFER,
    }
)


def _open_before_consent(turn: Turn) -> bool:
    if turn.state.get("await") in {"rate.item", "rate.comment"}:
        return True
    return intent_of(turn.text or "") in {"help", "rate"}


def _language_asked(turn: Turn) -> str | None:
    said = (turn.text or "").lower()
    if any(k in said for k in _ENGLISH):
        return "en"
    if any(k in said for k in _JAPANESE):
        return "ja"
    return None


@router.follow()
async def on_follow(turn: Turn) -> None:
    """A new friend (greeting and consent) or a friend back from a block (welcome back)."""
    family = turn.family
    unblocked = bool(getattr(getattr(turn.event, "follow", None), "is_unblocked", False))
    if family.state == "blocked" or unblocked:
        await families.mark_unblocked(turn.session, family)
    log.info("follow", extra={"user": user_key(turn.user_id), "unblocked": unblocked})
    if not consented(turn):
        turn.state.clear()
        consent_messages(turn, greet=True)
        return
    lang = lang_of(turn)
    if family.onboarded_at is None:
        turn.say(m.text(t("follow.welcome_back", lang)))
        await go(turn, "resume_onboarding", lead=t("follow.resume_onboarding", lang))
        return
    turn.say(m.text(t("follow.welcome_back", lang) + "\n" + t("follow.welcome_back_menu", lang)))


@router.unfollow()
async def on_unfollow(turn: Turn) -> None:
    """Blocked: nothing is sent to this family any more; its data is kept until deletion."""
    if turn.family.state == "new" and turn.family.consented_at is None:
        # Nothing was stored but the ID: keep it that way (a later follow starts afresh).
        turn.state["_clear"] = True
    await families.mark_blocked(turn.session, turn.family)
    log.info("unfollow", extra={"user": user_key(turn.user_id)})


@router.postback(pb.CONSENT)
async def on_consent(turn: Turn) -> None:
    """Agree: store consent (and the language chosen so far), then start onboarding."""
    if consented(turn):
        # An old consent button tapped again: carry on where the family is.
        if turn.family.onboarded_at is None:
            await go(turn, "resume_onboarding")
        else:
            lang = lang_of(turn)
            turn.say(m.text(t("follow.welcome_back_menu", lang), menu_actions(lang)))
        return
    if turn.postback.get("v") != "yes":
        turn.state.pop("onb", None)
        turn.say(m.text(t("consent.later", lang_of(turn))))
        return
    lang = lang_of(turn)
    await families.record_consent(turn.session, turn.family)
    await families.update_profile(turn.session, turn.family, language=lang)
    turn.state.pop("lang", None)
    log.info("consent recorded", extra={"user": user_key(turn.user_id)})
    turn.say(m.text(t("consent.thanks", lang)))
    await go(turn, "start_onboarding")


@router.postback(pb.CONSENT_NOTICE)
async def on_privacy_notice(turn: Turn) -> None:
    """The privacy notice on request (with the consent question while not agreed)."""
    if consented(turn):
        lang = lang_of(turn)
        turn.say(m.text(t("follow.privacy", lang), menu_actions(lang)))
        return
    consent_messages(turn, greet=False)


@router.when("awaiting", lambda turn: _not_consented(turn) and not _open_before_consent(turn))
async def before_consent_text(turn: Turn) -> None:
    """Any message before consent: the notice again; "English" (or 日本語) gives the whole
    introduction in that language."""
    asked = _language_asked(turn)
    if asked is not None:
        turn.state["lang"] = asked
        consent_messages(turn, greet=True)
        return
    turn.say(m.text(t("consent.needed", lang_of(turn))))
    consent_messages(turn, greet=False)


@router.when("postback", lambda turn: _not_consented(turn) and turn.action not in _OPEN_POSTBACKS)
async def before_consent_postback(turn: Turn) -> None:
    """A button (rich menu or an old message) before consent: ask for consent first."""
    lang = lang_of(turn)
    turn.say(m.text(t("consent.needed", lang)))
    consent_messages(turn, greet=False)
