"""The municipality picker: find a municipality in typed text or a shared location, and
offer the likely ones as quick replies (used by onboarding and by the family page)."""

from __future__ import annotations

from typing import Any

from bot import messages as m
from bot.dispatch import Turn
from bot.handlers.common import is_municipality, lang_of, municipality_name, office_name
from bot.places import Found, Gazetteer, other_prefecture
from bot.texts import t
from registry.offices import nearest

_GAZETTEERS: list[tuple[Any, Gazetteer]] = []


def gazetteer(turn: Turn) -> Gazetteer:
    """The municipality finder over the bot's municipalities (built once)."""
    source = turn.deps.municipalities
    for known, found in _GAZETTEERS:
        if known is source:
            return found
    built = Gazetteer(source)
    _GAZETTEERS[:] = [(source, built)]
    return built


def municipality_actions(
    turn: Turn, codes: list[str], action: str, other: str, *, share_location: bool = False
) -> list[Any]:
    """Quick replies naming municipalities (postback carries the code) plus "other" (and
    "send my location" when asked: LINE's quick replies hold 13 in all)."""
    lang = lang_of(turn)
    actions: list[Any] = [
        m.postback(
            municipality_name(turn, code, lang),
            action,
            c=code,
            display=municipality_name(turn, code, lang),
        )
        for code in codes[: 11 if share_location else 12]
    ]
    if share_location:
        actions.append(m.location(t("onb.muni.location.label", lang)))
    actions.append(m.postback(t("onb.muni.other.label", lang), other))
    return actions


# Farther than this from every office, a shared place is not in Tokyo (Hahajima lies about
# 50 km from Ogasawara's office on Chichijima; Okutama's west end about 20 km from its own).
MAX_OFFICE_KM = 60.0


def municipality_from_location(turn: Turn, *, action: str, other: str) -> str | None:
    """The municipality of a shared location: sure when LINE's address names it, else a
    question with the municipalities whose offices are nearest (None: asked, or outside)."""
    lang = lang_of(turn)
    message = turn.event.message
    address = getattr(message, "address", None) or ""
    if address:
        found = gazetteer(turn).in_address(address)
        if found.code is not None:
            return found.code
    near = nearest(turn.deps.offices, float(message.latitude), float(message.longitude))
    known = [(office, km) for office, km in near if is_municipality(turn, office.code)]
    if not known or known[0][1] > MAX_OFFICE_KM or (address and other_prefecture(address)):
        turn.say(
            m.text(
                t("onb.muni.location.outside", lang),
                municipality_actions(turn, gazetteer(turn).common(), action, other),
            )
        )
        return None
    office = known[0][0]
    name = municipality_name(turn, office.code, lang)
    office_text = office_name(turn, office, lang)
    turn.say(
        m.text(
            t("onb.muni.location.nearest", lang, office=office_text, name=name),
            municipality_actions(turn, [o.code for o, _ in known], action, other),
        )
    )
    return None


def answer_found(turn: Turn, found: Found, query: str, *, action: str, other: str) -> str | None:
    """Turn a search result into a code (sure) or a question (None): "did you mean X?" with
    yes/no for a single close guess (渋屋区 -> 渋谷区), else the candidates to pick from."""
    lang = lang_of(turn)
    if found.code is not None and found.exact:
        return found.code
    if found.code is not None:
        name = municipality_name(turn, found.code, lang)
        turn.say(
            m.text(
                t("onb.muni.did_you_mean", lang, query=m.clip(query, 40), name=name),
                [
                    m.postback(t("label.yes", lang), action, c=found.code, display=name),
                    m.postback(t("label.no", lang), other, display=t("label.no", lang)),
                ],
            )
        )
        return None
    if found.candidates:
        turn.say(
            m.text(
                t("onb.muni.candidates", lang, query=m.clip(query, 40)),
                municipality_actions(turn, found.candidates, action, other),
            )
        )
    else:
        turn.say(
            m.text(
                t("onb.muni.not_found", lang, query=m.clip(query, 40)),
                municipality_actions(turn, gazetteer(turn).common(), action, other),
            )
        )
    return None
