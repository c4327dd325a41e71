"""The rule checker's errors as a clerk reads them, in the page's language.

The checker (`rules.language`, `registry.validation`) writes English, and with it the facts of
each error: its `kind` (`unknown_field`, `type_mismatch`, `example_failed`, ...), a `hint` for
suggestions that vary, and the names and values its reason quotes. Japanese pages word each
known kind from those facts; English pages keep the checker's own text; a kind not known here
(or an error without one) keeps the original text on both.

Examples are numbered as the form's table numbers them: from 1 (例3, "example 3"), never as
the checker's `examples[2]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Facts = Mapping[str, Any]

TYPE_LABELS: dict[str, tuple[str, str]] = {
    "FLOAT": ("数", "number"),
    "STRING": ("文字列", "string"),
    "DATETIME": ("日付", "date"),
    "BOOLEAN": ("真偽値", "boolean"),
    "NULL": ("null", "null"),
    "ARRAY": ("一覧", "list"),
    "SET": ("集合", "set"),
    "MAPPING": ("対応表", "mapping"),
    "TIMEDELTA": ("期間", "duration"),
    "Child": ("子", "child"),
}

_EXAMPLE = re.compile(r"examples\[(\d+)\](.*)", re.S)


def type_ja(code: Any) -> str:
    """A type code of the checker (`FLOAT`, `ARRAY/STRING`) in Japanese, the code kept."""
    text = str(code or "")
    if text.startswith("ARRAY/"):
        member = text.removeprefix("ARRAY/")
        return f"{TYPE_LABELS.get(member, (member, ''))[0]}の一覧（ARRAY）"
    label = TYPE_LABELS.get(text, (text, ""))[0]
    return f"{label}（{text}）" if label != text else text


def _maybe(nearest: Any) -> str:
    return f"「{nearest}」のことですか？" if nearest else ""


def _hint_ja(e: Facts) -> str | None:
    """The suggestion of a `hint` in Japanese (None: not known here)."""
    hint = e.get("hint")
    if hint == "and_or":
        return "「&&」「||」ではなく and / or と書いてください。"
    if hint == "double_equals":
        return "等しいかどうかは「==」で比べます（「=」一つは使えません）。"
    if hint == "unquote_number":
        return f"数は引用符を付けずに書いてください：{e.get('value')}"
    if hint == "date_literal":
        return f"日付は日付の書き方で書いてください：{e.get('value')}"
    if hint == "same_type":
        return f"{e.get('left')} は{type_ja(e.get('left_type'))}と比べてください。"
    if hint == "coalesce":
        return "「??」は比較より後に結びつきます：(項目 ?? 既定値) >= 値 のように書いてください。"
    return None


_SUGGESTIONS_JA = {
    "write a simpler pattern, e.g. '^13' or 'a+b'": (
        "もっと簡単なパターンにしてください（例：'^13'、'a+b'）。"
    ),
    "simplify the rule or give fewer examples": "条件を簡単にするか、例を減らしてください。",
}


def _ja(e: Facts) -> tuple[str, str | None] | None:
    """(reason, suggestion) in Japanese for a known kind; None for any other."""
    kind = e.get("kind")
    field, nearest = e.get("field"), e.get("nearest")
    if kind == "empty":
        return "条件が空です。", (
            "条件を書いてください（例：child.class_age <= 17）。"
            if e.get("per_child")
            else "条件を書いてください（例：child_count >= 3）。"
        )
    if kind == "too_long":
        return (
            f"条件が{e.get('length')}文字あります。書けるのは{e.get('limit')}文字までです。",
            "制度を分けるか、条件を簡単にしてください。",
        )
    if kind == "too_costly":
        reason = f"この条件は判定に時間がかかりすぎるため使えません：{e.get('clause')}"
        if e.get("reason"):
            reason += f"（{e['reason']}）"
        suggestion = e.get("suggestion")
        return reason, _SUGGESTIONS_JA.get(str(suggestion), suggestion)
    if kind in {"syntax_end", "illegal_character", "syntax"}:
        where = f"{e.get('line')}行目{e.get('column')}文字目"
        if kind == "syntax_end":
            reason = f"条件が途中で終わっています（{where}）。"
        elif kind == "illegal_character":
            reason = f"{where}の「{e.get('char')}」は使えない文字です。"
        else:
            reason = f"{where}の「{e.get('near')}」の辺りの書き方に誤りがあります。"
        return reason, _hint_ja(e)
    if kind == "child_not_per_child":
        return (
            "child は「子ごとに判定」の制度でだけ使えます。",
            "「子ごとに判定」をオンにするか、children を使ってください"
            "（例：[c for c in children if c.age < 3].length >= 1）。",
        )
    if kind == "literal_case":
        return (
            f"「{field}」という項目はありません。",
            "true・false・null は小文字で書いてください。",
        )
    if kind == "unknown_field":
        if nearest:
            return f"「{field}」という項目はありません。{_maybe(nearest)}", None
        return (
            f"「{field}」という項目はありません。",
            "使える項目は「ルールで使える項目」の一覧にあります。",
        )
    if kind == "child_field_not_per_child":
        return (
            f"「{field}」は子の項目で、「子ごとに判定」の制度でだけ使えます（child.{field}）。",
            f"「子ごとに判定」をオンにするか、[c for c in children if c.{field} ...] "
            "のように書いてください。",
        )
    if kind == "unknown_child_field":
        fields = ", ".join(str(f) for f in e.get("fields") or [])
        return f"子の項目「{field}」はありません。", f"子の項目：{fields}"
    if kind == "unknown_attribute":
        return f"「{field}」という属性はありません。{_maybe(nearest)}", None
    if kind == "invalid_literal":
        value = e.get("value")
        return (
            f"値 {value} を読めません。" if value is not None else "値を読めません。",
            "日付は d'2026-04-01'、期間は t'P14D' のように書いてください。",
        )
    if kind == "too_deep":
        return "条件の入れ子（かっこ）が深すぎます。", None
    if kind == "item_access":
        return (
            f"子の項目はドットで読みます：child['{field}'] ではなく child.{field} "
            "と書いてください。",
            None,
        )
    if kind == "type_error":
        return f"型が合いません（{e.get('message')}）。", "両辺が同じ型か確かめてください。"
    if kind == "not_a_condition":
        return (
            "ルールは条件（true か false）でなければなりませんが、この式は"
            f"{type_ja(e.get('type'))}になります。",
            "比べる式にしてください（例：child_count >= 3）。",
        )
    if kind == "real_clock":
        return (
            f"${e.get('name')} は実際の時計です。ルールでは判定日を使ってください。",
            "today（判定日の0時・東京時間）を使ってください。",
        )
    if kind == "type_mismatch":
        reason = (
            f"型が合いません：{e.get('left')} は{type_ja(e.get('left_type'))}、"
            f"{e.get('right')} は{type_ja(e.get('right_type'))}です。"
        )
        return reason, _hint_ja(e) or e.get("suggestion")
    if kind == "unknown_value":
        values = ", ".join(str(v) for v in e.get("values") or [])
        return (
            f"'{e.get('value')}' は {field} の値になりません（{values} のどれか）。"
            + _maybe(nearest),
            None,
        )
    if kind == "invalid_code":
        return (
            f"'{e.get('value')}' は正しい自治体コードではありません（検査数字を含む6桁）。"
            + _maybe(nearest),
            None,
        )
    return None


def _english(e: Facts) -> str:
    """The checker's own text: the reason, where it is, and the suggestion."""
    location = str(e.get("location") or "")
    text = str(e.get("reason") or "")
    if location.startswith("eligibility:"):
        text = f"{text} ({location.removeprefix('eligibility:')})"
    suggestion = e.get("suggestion")
    if suggestion and str(suggestion) not in text:
        text += f" — {suggestion}"
    return text


def example_name(index: int, notes: Sequence[str | None], lang: str) -> str:
    """An example as the form's table names it, from its note: 例3「note」 / example 3 “note”."""
    note = notes[index] if 0 <= index < len(notes) else None
    if lang == "en":
        return f"example {index + 1}" + (f" “{note}”" if note else "")
    return f"例{index + 1}" + (f"「{note}」" if note else "")


def example_location(location: str, notes: Sequence[str | None], lang: str) -> str:
    """`examples[2].family.children[0]` as `例3 family.children[0]` (numbered from 1)."""
    found = _EXAMPLE.fullmatch(location)
    if found is None:
        return location
    rest = found.group(2).removeprefix(".")
    name = example_name(int(found.group(1)), notes, lang)
    return f"{name} {rest}" if rest else name


def _example_failed(e: Facts, notes: Sequence[str | None], lang: str) -> str:
    name = example_name(int(e.get("index", 0)), notes, lang)
    if lang == "en":
        return f"{name}: {e.get('reason', '')}"

    def say(value: Any) -> str:
        return "対象" if value is True else "対象外" if value is False else "?"

    return (
        f"{name}：{e.get('date')} の判定は「{say(e.get('expected'))}」のはずですが、"
        f"ルールでは「{say(e.get('actual'))}」になります。"
    )


def error_text(error: Facts, lang: str, notes: Sequence[str | None] = ()) -> str:
    """One error of the checker in the page's language (the original text when its kind is
    not known here), examples named as the table names them."""
    location = str(error.get("location") or "")
    if error.get("kind") == "example_failed":
        return _example_failed(error, notes, lang)
    if location.startswith("examples"):
        where = example_location(location, notes, lang)
        return f"{where}{'：' if lang == 'ja' else ': '}{_english(error)}"
    if lang == "ja":
        worded = _ja(error)
        if worded is not None:
            reason, suggestion = worded
            if suggestion and str(suggestion) not in reason:
                joint = "" if reason.endswith(("。", "？", "）")) else " "
                return f"{reason}{joint}{suggestion}"
            return reason
    return _english(error)


def errors_by_field(
    errors: Sequence[Facts], lang: str, notes: Sequence[str | None] = ()
) -> dict[str, str]:
    """The checker's errors by form field (`examples` or `eligibility`), one line each."""
    out: dict[str, str] = {}
    for error in errors:
        location = str(error.get("location", ""))
        field = "examples" if location.startswith("examples") else "eligibility"
        text = error_text(error, lang, notes)
        out[field] = f"{out[field]}\n{text}" if field in out else text
    return out


def pydantic_text(error_type: str, message: str, t: Callable[[str, str], str]) -> str:
    """A few common refusals of the examples' fields in the page's language (else as is)."""
    known = {
        "missing": ("必須の項目がありません。", message),
        "date_from_datetime_parsing": (
            "日付は 2026-04-01 の形で書いてください。",
            message,
        ),
        "date_parsing": ("日付は 2026-04-01 の形で書いてください。", message),
        "date_type": ("日付は 2026-04-01 の形で書いてください。", message),
        "bool_parsing": ("true か false で書いてください。", message),
        "bool_type": ("true か false で書いてください。", message),
        "extra_forbidden": ("この項目は使えません。", message),
    }
    if error_type in known:
        return t(*known[error_type])
    return message
