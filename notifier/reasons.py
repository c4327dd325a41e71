"""Reason codes (`rules.explain`) as parents read them, in Japanese and English.

The wording is the chat carousel's (`bot/texts.py`, "why.*"): 港区にお住まいです, お子さまが
対象年齢です, with the age range the rule names. Payloads stored before reasons existed carry
`why`, a list of raw rule clauses: those are mapped to reason codes here and never shown as
they are (a clause that does not compile becomes the generic reason).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from typing import Any

from notifier.formats import format_date
from registry.seed import municipality_rows
from rules.explain import CODES, Reason, reasons_of_clauses

TOKYO = "130001"
MAX_REASONS = 5

TEXTS: dict[str, dict[str, str]] = {
    "ja": {
        "lives_in": "{place}にお住まいです",
        "lives_in_area": "お住まいの地域が対象です",
        "child_age": "お子さまが対象年齢です（{range}）",
        "months.from_below": "生後{low}か月から{below}か月未満",
        "months.below": "生後{below}か月未満",
        "months.from": "生後{low}か月以上",
        "years.from_below": "{low}歳以上{below}歳未満",
        "years.below": "{below}歳未満",
        "years.from": "{low}歳以上",
        "class.to18": "18歳になった後の最初の3月31日まで",
        "class.one": "{low}歳児クラス",
        "class.five": "年長（5歳児クラス）",
        "class.range": "{low}〜{high}歳児クラス",
        "class.from": "{low}歳児クラス以上",
        "grade.one": "小学{low}年生",
        "grade.range": "小学{low}〜{high}年生",
        "grade.from": "小学{low}年生以上",
        "grade.to": "小学{high}年生まで",
        "child_born_from": "お子さまが{date}以降の生まれです",
        "child_born_before": "お子さまが{date}より前の生まれです",
        "child": "お子さまが対象です",
        "daycare.enrolled": "お子さまが保育園などに通っています",
        "daycare.applying": "保育園などの利用を申し込んでいます",
        "daycare": "保育園の利用状況が条件に合います",
        "disability": "お子さまの障害の状況が条件に合います",
        "birth_order": "第{order}子以降のお子さまです",
        "children_count": "お子さまの人数が条件に合います",
        "pregnant": "出産を控えています",
        "single_parent": "ひとり親世帯です",
        "tax_exempt": "住民税非課税世帯です",
        "income": "世帯の所得が条件に合います",
        "generic": "登録内容が条件に合います",
    },
    "en": {
        "lives_in": "You live in {place}",
        "lives_in_area": "You live in the area it covers",
        "child_age": "Your child is in the age range ({range})",
        "months.from_below": "{low} to under {below} months",
        "months.below": "under {below} months",
        "months.from": "{low} months or older",
        "years.from_below": "{low} to under {below} years",
        "years.below": "under {below} years",
        "years.from": "{low} years or older",
        "class.to18": "until the end of the school year in which your child turns 18",
        "class.one": "the {low}-year class",
        "class.five": "the last year before primary school",
        "class.range": "the {low}-{high} year classes",
        "class.from": "the {low}-year class or above",
        "grade.one": "grade {low} of primary school",
        "grade.range": "grades {low} to {high} of primary school",
        "grade.from": "grade {low} or above",
        "grade.to": "up to grade {high}",
        "child_born_from": "Your child was born on or after {date}",
        "child_born_before": "Your child was born before {date}",
        "child": "Your child qualifies",
        "daycare.enrolled": "Your child attends daycare",
        "daycare.applying": "You have applied for daycare",
        "daycare": "Daycare status fits",
        "disability": "Disability status fits",
        "birth_order": "This is your {order} or later child",
        "children_count": "Number of children fits",
        "pregnant": "You are expecting a baby",
        "single_parent": "Single-parent household",
        "tax_exempt": "Exempt from resident tax",
        "income": "Household income fits",
        "generic": "Your details fit the conditions",
    },
}
_ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}


@functools.lru_cache(maxsize=1)
def _places() -> dict[str, tuple[str, str]]:
    names = {str(r["code"]): (str(r["name_ja"]), str(r["name_en"])) for r in municipality_rows()}
    names[TOKYO] = ("東京都", "Tokyo")
    return names


def place_name(code: str, lang: str) -> str | None:
    """A municipality's (or Tokyo's) name in `lang`, or None when we do not know it."""
    names = _places().get(code)
    if names is None:
        return None
    return names[1] if lang == "en" else names[0]


def _t(key: str, lang: str, **values: Any) -> str:
    return TEXTS["en" if lang == "en" else "ja"][key].format(**values)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _date(value: Any, lang: str) -> str | None:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return None
    return format_date(day, lang)


def _age_range(reason: Mapping[str, Any], lang: str) -> str | None:
    unit = reason.get("unit")
    low, below = _int(reason.get("from")), _int(reason.get("below"))
    if unit in ("months", "years"):
        if low is not None and below is not None:
            return _t(f"{unit}.from_below", lang, low=low, below=below)
        if below is not None:
            return _t(f"{unit}.below", lang, below=below)
        if low is not None:
            return _t(f"{unit}.from", lang, low=low)
        return None
    if unit == "class":
        if below == 18 and not low:
            return _t("class.to18", lang)
        if low == 5 and below == 6:
            return _t("class.five", lang)
        if below is not None and (low or 0) == below - 1:
            return _t("class.one", lang, low=below - 1)
        if below is not None:
            return _t("class.range", lang, low=low or 0, high=below - 1)
        return _t("class.from", lang, low=low) if low is not None else None
    if unit == "grade":
        if low is not None and below is not None:
            if low == below - 1:
                return _t("grade.one", lang, low=low)
            return _t("grade.range", lang, low=low, high=below - 1)
        if low is not None:
            return _t("grade.from", lang, low=low)
        return _t("grade.to", lang, high=below - 1) if below is not None else None
    return None


def render(reason: Mapping[str, Any], lang: str) -> str:
    """One reason in the parent's language (the generic sentence when it cannot be said)."""
    code = reason.get("code")
    if code == "lives_in":
        place = place_name(str(reason.get("place")), lang)
        return _t("lives_in", lang, place=place) if place else _t("lives_in_area", lang)
    if code == "child_age":
        span = _age_range(reason, lang)
        return _t("child_age", lang, range=span) if span else _t("child", lang)
    if code in ("child_born_from", "child_born_before"):
        shown = _date(reason.get("date"), lang)
        return _t(code, lang, date=shown) if shown else _t("child", lang)
    if code == "daycare":
        status = reason.get("status")
        return _t(f"daycare.{status}" if status in ("enrolled", "applying") else "daycare", lang)
    if code == "birth_order":
        order = _int(reason.get("from"))
        if order is None or order < 2:
            return _t("children_count", lang)
        shown = str(order) if lang != "en" else _ORDINALS.get(order, f"{order}th")
        return _t("birth_order", lang, order=shown)
    if code in CODES and code in TEXTS["ja"]:
        return _t(str(code), lang)
    return _t("generic", lang)


def stored_reasons(payload: Mapping[str, Any]) -> list[Reason]:
    """The reason codes of a stored payload: `reasons`, else its old `why` clauses mapped."""
    listed = payload.get("reasons")
    if isinstance(listed, list):
        return [dict(r) for r in listed if isinstance(r, Mapping) and "code" in r]
    why = payload.get("why")
    if isinstance(why, list) and why:
        return reasons_of_clauses(w for w in why if isinstance(w, str))
    return []


def reason_texts(payload: Mapping[str, Any], lang: str) -> list[str]:
    """Why the notice fits, as sentences in `lang` (empty for broadcasts)."""
    out: list[str] = []
    for reason in stored_reasons(payload):
        text = render(reason, lang)
        if text not in out:
            out.append(text)
    return out[:MAX_REASONS]


def for_parents(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A payload as apps and the inbox show it: reasons as sentences in both languages.

    Rule clauses (`why`) and reason codes stay inside the service.
    """
    body = {k: v for k, v in payload.items() if k not in ("why", "reasons")}
    if stored_reasons(payload):
        body["reasons"] = {lang: reason_texts(payload, lang) for lang in ("ja", "en")}
    return body
