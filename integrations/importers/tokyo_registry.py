"""Importer of Tokyo's childcare support program registry (子育て支援制度レジストリ).

The registry is open data (CC BY 4.0) published by the Tokyo Metropolitan Government and
GovTech Tokyo. `map_item` is a pure mapping of one registry item to a `ProgramIn` plus review
notes; `import_files` is the thin step that saves the mapped items through the repository.

Age bounds (`target.greaterThanOrEqualTo` and friends, each `{targetAge, targetAgeOfMonths}`)
are read in whole months of legal age (`rules.ages.age_months`), and each bound is inclusive at
the precision it is written in:

* `>= Y years M months` → `age_months >= 12Y + M`; `< Y years M months` → `age_months < 12Y + M`.
  Precision does not matter for these two.
* `<= 6 years` (months null) means "up to and including age 6", i.e. until the 7th birthday, as
  Japanese administration reads 「6歳以下」: `age_months < 84`.
* `<= 6 years 0 months` or `<= 4 months` (months given) is inclusive in whole months:
  `age_months <= 72` (resp. `<= 4`, i.e. until the day the child turns 5 months).
* `> 6 years` (months null) means "older than 6 full years", i.e. from the 7th birthday:
  `age_months >= 84`; with months given, `age_months > 12Y + M`.

A bound written as `{Y, 0}` with Y > 0 on `<=` or `>` is ambiguous (a form may fill in the 0);
it is read literally but flagged for review. Reversed or contradictory bounds produce no age
clause at all. Nothing found only in free text is turned into a rule: it is flagged instead.
A range wider than MAX_SPAN_MONTHS (e.g. "under 18", a seminar for every parent) says little
about who the item is for, so it needs review too: a draft is never pushed.

Who is told: the item's names are mapped to the parents' notification topics
(`registry.schemas.NOTICE_TOPICS`, which a parent can switch off), and the item gets
`push: on_request` (shown when a parent asks, never pushed) when it is a seminar, class, event
or consultation, touches a sensitive circumstance (divorce, abuse, disability, poverty, single
parenthood...), or maps to no topic a parent could switch off. A municipality that sets `push`
itself through the API keeps its choice over later imports.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.importers.report import ImportReport, capped
from registry import programs
from registry.db import transaction
from registry.models import Municipality
from registry.schemas import (
    Application,
    LocalizedText,
    ProgramExample,
    ProgramIn,
    PushPolicy,
)
from rules.ages import age_months
from rules.lgcode import is_valid_lgcode
from rules.profile import ChildInput, FamilyInput

SOURCE = "registry-import"
TOKYO = "130001"
ATTRIBUTION = (
    "出典: 東京都・GovTech東京「子育て支援制度レジストリ」(CC BY 4.0) / "
    "Source: Tokyo Metropolitan Government and GovTech Tokyo, childcare support program "
    "registry (CC BY 4.0)"
)
# A fixed evaluation date keeps the generated examples (and so the stored body) identical from
# one import to the next, so that a re-import reports "unchanged". The 1st of a month also
# avoids month-end birthdays in the examples.
EXAMPLE_DATE = date(2026, 4, 1)
BATCH_SIZE = 100
MAX_SPAN_MONTHS = 72
"""An age range wider than six years does not tell who an item is for: it needs review."""
SUMMARY_LIMIT = 400
BENEFIT_LIMIT = 5000
# Codes seen in the published releases. No official code list is published, so codes are kept
# as namespaced codes ("category:002") rather than labels we would have to guess.
KNOWN_TAG_CODES: dict[str, frozenset[str]] = {
    "categoryCode": frozenset(
        {"000", "001", "002", "003", "004", "005", "006", "008", "009", "010"}
        | {"013", "015", "016", "018", "025", "027", "032", "087"}
    ),
    "targetCode": frozenset({"000", "079", "086", "087", "088", "089", "090", "091", "092"}),
    "contentsCode": frozenset({"000", "077", "078", "079", "080", "081", "082"}),
}
_TAG_PREFIX = {"categoryCode": "category", "targetCode": "target", "contentsCode": "contents"}
# Placeholders of the registry's entry template that publishers sometimes leave in.
_TEMPLATE_MARKERS = ("制度なし", "※自治体で", "○○", "〇〇", "●●")
_TEMPLATE_BRACKETED = re.compile(r"[（(]\s*※自治体で[^）)]*[）)]")
_DATE_FORMATS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)
_URL = re.compile(r"https?://[^\s,、，]+")
_ONLY_URL = re.compile(r"^\s*https?://\S+\s*$")
_MULTI_SEPARATORS = re.compile(r"\s*[,，、]\s*")
# Conditions written only in the target text that an age clause does not capture.
_TEXT_CONDITIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"妊娠|妊婦|出産予定|プレママ"), "pregnancy"),
    (re.compile(r"第\s*[一二三四1-9１-９]\s*子"), "birth order"),
    (re.compile(r"未就学|就学前"), "not yet at school (未就学)"),
    (re.compile(r"小学|中学|高校|年生"), "school grade"),
    (re.compile(r"所得|非課税|生活保護"), "income"),
    (re.compile(r"ひとり親|母子家庭|父子家庭"), "single parent"),
    (re.compile(r"障害|障がい|障碍"), "disability"),
    (re.compile(r"多胎|双子|ふたご"), "multiple birth"),
)
# 放課後子供教室 is after-school care, not a class.
_CLASSROOM = r"(?<!放課後子供)(?<!放課後子ども)教室"
# Notification topics by the words of an item's names (the municipality's short name and the
# registry's program type), most specific first: the first topic found is the one a notice's
# "turn off" button names. The registry's tag codes are left out on purpose: no official list
# tells what they mean.
_TOPIC_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"健診|健康診査|検診"), "health-checkup"),
    (re.compile(r"予防接種|ワクチン"), "vaccination"),
    (re.compile(r"医療費|医療助成|医療制度|医療の助成"), "medical"),
    (re.compile(r"ひとり親|母子家庭|父子家庭|母子・父子"), "single-parent"),
    (re.compile(r"放課後|学童|児童クラブ|児童館"), "after-school"),
    (re.compile(r"保育|こども園|幼稚園|幼児教育"), "daycare"),
    (
        re.compile(
            rf"講座|講習|{_CLASSROOM}|セミナー|説明会|講演|イベント|サロン|交流会|ひろば|広場"
        ),
        "classes",
    ),
    (re.compile(r"相談|訪問|こども家庭センター|子育て支援センター"), "consultation"),
    (re.compile(r"ギフト|プレゼント|記念品|祝い品"), "gift"),
    (re.compile(r"手当|給付|一時金|助成金|祝い金|金銭的支援|支給"), "allowance"),
    (re.compile(r"妊娠|妊婦|妊産婦|プレママ|母子健康手帳|母子手帳"), "pregnancy"),
    (re.compile(r"出産|出生|新生児|赤ちゃん"), "birth"),
)
# Kinds of item a family goes to when it wants to, not news to push (names only: a benefit's
# description may well mention a consultation desk).
_ON_REQUEST_KINDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(rf"講座|講習|{_CLASSROOM}|セミナー|説明会|講演|ワークショップ"),
        "a seminar or class",
    ),
    (re.compile(r"イベント|サロン|交流会|ひろば|広場|催し|体験会"), "an event"),
    (re.compile(r"相談|カウンセリング"), "a consultation"),
)
# Circumstances a family may not want a phone to announce, whoever else reads its screen.
_SENSITIVE_WORDS = re.compile(
    r"離婚|別居|養育費|面会交流|虐待|DV|ドメスティック|暴力|障害|障がい|障碍|発達障|発達支援|療育"
    r"|医療的ケア|難病|精神|生活困窮|困窮|貧困|生活保護|非課税|低所得|ひとり親|母子家庭|父子家庭"
    r"|寡婦|里親|養子|不妊|不育|流産|死産|自殺|いじめ|不登校|ヤングケアラー"
)
_OTHER_MUNICIPALITY = ("131016", "131130")  # Chiyoda, Shibuya: any other Tokyo municipality
_OUTSIDE_TOKYO = "141003"  # Yokohama, for programs of Tokyo itself


class RegistryFileError(ValueError):
    """A registry file that cannot be read as registry JSON."""


@dataclass(frozen=True)
class Rejected:
    """An item that cannot be imported at all."""

    source_id: str | None
    reason: str


@dataclass
class MappedItem:
    """One registry item mapped to a program, with what a person should check."""

    source_id: str
    program: ProgramIn
    needs_review: bool
    review_notes: list[str]
    publishable: bool
    review_reasons: list[str] = field(default_factory=list)
    """The notes that make the item need review (a subset of review_notes)."""


@dataclass
class RegistryImportReport(ImportReport[str | None]):
    """What an import did; `rejected` and `review` are named by psid."""

    unchanged: int = 0
    publishable: int = 0
    on_request: int = 0

    @property
    def total(self) -> int:
        """Items seen, saved or not."""
        return self.created + self.updated + self.unchanged + len(self.rejected)

    def render(self, *, max_rejected: int = 20, max_review: int = 50) -> str:
        """The final lines of the CLI."""
        lines = [
            f"registry import: {self.total} items: {self.created} created, {self.updated} "
            f"updated, {self.unchanged} unchanged, {len(self.rejected)} rejected; "
            f"{self.needs_review} need review, {self.publishable} publishable; "
            f"{self.on_request} shown on request only (never pushed)"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.review and max_review > 0:
            lines.append(f"  drafts needing review ({len(self.review)}):")
            lines += capped(
                self.review,
                max_review,
                lambda r: f"  review {r[0]} {r[1]}: {'; '.join(r[2])}",
                "needing review (see their review_notes: "
                "GET /api/v1/programs?status=draft&source=registry-import)",
            )
        lines += capped(
            self.rejected,
            max_rejected,
            lambda r: f"  rejected {r[0] or '(no psid)'}: {r[1]}",
            "rejected",
        )
        return "\n".join(lines)


# ---------------------------------------------------------------------------- loading files


@dataclass(frozen=True)
class _Group:
    """Items of one file (or of one object in a list of per-area objects)."""

    area_code: str | None
    items: list[Any]


def _is_wrapper(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("items"), list)


def _load_groups(path: Path) -> tuple[list[_Group], list[str]]:
    """The item groups of a file, and warnings about its envelope."""
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RegistryFileError(f"{name}: cannot read the file ({exc.strerror})") from exc
    try:
        # utf-8-sig drops a BOM that some editors and Excel exports add.
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise RegistryFileError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise RegistryFileError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if _is_wrapper(data):
        wrappers = [data]
    elif isinstance(data, list) and data and all(_is_wrapper(v) for v in data):
        wrappers = data
    elif isinstance(data, list) and not any(_is_wrapper(v) for v in data):
        return [_Group(None, data)], []
    else:
        raise RegistryFileError(
            f"{name}: unknown shape: expected a JSON array of items, or an object (or a list "
            "of objects) with areaCode, areaName, count and items"
        )
    groups, warnings = [], []
    for wrapper in wrappers:
        code = wrapper.get("areaCode")
        code = str(code).strip() if code is not None else None
        items = wrapper["items"]
        count = wrapper.get("count")
        if isinstance(count, int) and count != len(items):
            warnings.append(f"{name}: count says {count} but {len(items)} items are present")
        groups.append(_Group(code or None, items))
    return groups, warnings


def load_items(path: Path) -> list[dict[str, Any]]:
    """Every item of a registry file, in either published shape."""
    groups, _ = _load_groups(path)
    return [item for group in groups for item in group.items]


# ---------------------------------------------------------------------------- small helpers


class _Notes:
    """Review notes; `review` ones make the item need a person's look before publishing."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.reasons: list[str] = []
        self.review_needed = False

    def review(self, text: str) -> None:
        self._add(text)
        if text not in self.reasons:
            self.reasons.append(text)
        self.review_needed = True

    def info(self, text: str) -> None:
        self._add(text)

    def _add(self, text: str) -> None:
        if text not in self.lines:
            self.lines.append(text)


def _text(value: Any) -> str | None:
    """A stripped string, or None for null, blanks and non-strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    return stripped or None


def _get(item: Any, *keys: str) -> Any:
    current = item
    for key in keys:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _template_marker(text: str | None) -> str | None:
    if not text:
        return None
    bracketed = _TEMPLATE_BRACKETED.search(text)
    if bracketed:
        return bracketed.group(0)
    return next((m for m in _TEMPLATE_MARKERS if m in text), None)


def _same_text(a: str, b: str) -> bool:
    return _normalise_for_compare(a) == _normalise_for_compare(b)


def _normalise_for_compare(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _split_multi(value: str) -> list[str]:
    return [part for part in _MULTI_SEPARATORS.split(value) if part]


def _iri_to_uri(url: str) -> str:
    # Registry links may hold Japanese path segments; LINE and browsers want ASCII URIs.
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _first_url(value: Any, field_name: str, notes: _Notes) -> str | None:
    """The first http(s) URL of a field that may hold several joined by commas."""
    text = _text(value)
    if text is None:
        return None
    urls = _URL.findall(text)
    if not urls:
        notes.info(f"{field_name}: not an http(s) URL ({_excerpt(text, 60)!r}); left out")
        return None
    distinct = list(dict.fromkeys(urls))
    if len(distinct) > 1:
        notes.info(f"{field_name}: {len(distinct)} URLs joined in one field; the first is used")
    if not distinct[0].startswith("https://"):
        # Links for parents are https only: a plain http page can be altered on the way.
        notes.info(f"{field_name}: not an https URL ({_excerpt(distinct[0], 60)!r}); left out")
        return None
    return _iri_to_uri(distinct[0])


def _parse_date(
    value: Any, field_name: str, notes: _Notes, *, matters: bool = True
) -> date | None:
    text = _text(value)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text)
    for pattern in _DATE_FORMATS:
        match = pattern.match(text)
        if match:
            try:
                return date(*(int(g) for g in match.groups()))
            except ValueError:
                break
    message = f"{field_name}: not a date ({_excerpt(text, 40)!r}); left empty"
    if matters:
        notes.review(message)
    else:
        notes.info(message)
    return None


# ---------------------------------------------------------------------------- issuer


def _codes_of_area(value: Any) -> list[str]:
    """Six-digit codes of `area.areaCode` such as "131130;渋谷区" or "131059\t;文京区"."""
    text = _text(value)
    if text is None:
        return []
    codes = []
    for part in _MULTI_SEPARATORS.split(text):
        code = unicodedata.normalize("NFKC", part.split(";")[0]).strip()
        if code:
            codes.append(code)
    return list(dict.fromkeys(codes))


def _issuer(item: dict[str, Any], file_area_code: str | None, notes: _Notes) -> str | None:
    codes = _codes_of_area(_get(item, "area", "areaCode"))
    valid = [c for c in codes if is_valid_lgcode(c)]
    if valid:
        if len(valid) > 1:
            # The program covers several areas; we file it under the first only.
            notes.review(
                f"area.areaCode: several areas ({', '.join(valid)}); imported for {valid[0]} only"
            )
        if file_area_code and valid[0] != file_area_code and file_area_code != TOKYO:
            notes.info(
                f"area.areaCode: {valid[0]} differs from the file's areaCode {file_area_code}"
            )
        return valid[0]
    raw = _text(_get(item, "area", "areaCode"))
    reason = f"invalid ({raw!r})" if raw else "missing"
    if file_area_code and is_valid_lgcode(file_area_code):
        notes.info(f"area.areaCode: {reason}; the file's areaCode {file_area_code} is used")
        return file_area_code
    # A local government's corporate number (法人番号) is a check digit, "000020" and its code.
    organization = _text(_get(item, "basicInformation", "organization")) or ""
    if re.fullmatch(r"\d000020\d{6}", organization) and is_valid_lgcode(organization[-6:]):
        notes.info(
            f"area.areaCode: {reason}; issuer {organization[-6:]} taken from "
            "basicInformation.organization"
        )
        return organization[-6:]
    return None


# ---------------------------------------------------------------------------- age bounds

_BOUND_KEYS = ("greaterThanOrEqualTo", "greaterThan", "lessThan", "lessThanOrEqualTo")
_BOUND_SYMBOL = {
    "greaterThanOrEqualTo": ">=",
    "greaterThan": ">",
    "lessThan": "<",
    "lessThanOrEqualTo": "<=",
}


@dataclass(frozen=True)
class _Bound:
    key: str
    years: int | None
    months: int | None

    @property
    def total(self) -> int:
        return (self.years or 0) * 12 + (self.months or 0)

    @property
    def months_given(self) -> bool:
        return self.months is not None

    def describe(self) -> str:
        parts = []
        if self.years is not None:
            parts.append(f"{self.years} year" + ("" if self.years == 1 else "s"))
        if self.months is not None:
            parts.append(f"{self.months} month" + ("" if self.months == 1 else "s"))
        return f"{_BOUND_SYMBOL[self.key]} {' '.join(parts)}"


@dataclass(frozen=True)
class _AgeRange:
    """A half-open range of whole months: lower <= age_months < upper (None = open)."""

    lower: int
    upper: int | None
    upper_inclusive_text: bool  # render the upper bound as "<= upper - 1" (months were given)

    def clause(self) -> str:
        parts = []
        if self.lower > 0:
            parts.append(f"child.age_months >= {self.lower}")
        if self.upper is not None:
            if self.upper_inclusive_text:
                parts.append(f"child.age_months <= {self.upper - 1}")
            else:
                parts.append(f"child.age_months < {self.upper}")
        return " and ".join(parts)


def _age_number(value: Any, where: str, notes: _Notes) -> tuple[bool, int | None]:
    """(ok, number) of a targetAge / targetAgeOfMonths value."""
    if value is None:
        return True, None
    if isinstance(value, bool):
        notes.review(f"{where}: not a number ({value!r})")
        return False, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        notes.info(f"{where}: number given as a string ({value!r})")
        value = int(value.strip())
    if not isinstance(value, int) or value < 0:
        notes.review(f"{where}: not a whole non-negative number ({value!r})")
        return False, None
    return True, value


def _read_bounds(target: dict[str, Any], notes: _Notes) -> tuple[bool, list[_Bound]]:
    """(all readable, the bounds given)."""
    ok, bounds = True, []
    for key in _BOUND_KEYS:
        raw = target.get(key)
        if raw is None:
            continue
        where = f"target.{key}"
        if not isinstance(raw, dict):
            notes.review(f"{where}: not an object ({_excerpt(str(raw), 40)!r})")
            ok = False
            continue
        years_ok, years = _age_number(raw.get("targetAge"), f"{where}.targetAge", notes)
        months_ok, months = _age_number(
            raw.get("targetAgeOfMonths"), f"{where}.targetAgeOfMonths", notes
        )
        if not (years_ok and months_ok):
            ok = False
            continue
        if years is None and months is None:
            continue
        if years is not None and months is not None and months >= 12:
            notes.info(f"{where}: {months} months beside {years} years; added up")
        bounds.append(_Bound(key, years, months))
    return ok, bounds


def _age_range(bounds: Sequence[_Bound], notes: _Notes) -> _AgeRange | None:
    """The range the bounds describe, or None when they contradict each other."""
    lowers: list[int] = []
    uppers: list[tuple[int, bool]] = []
    for bound in bounds:
        total = bound.total
        if bound.key == "greaterThanOrEqualTo":
            lowers.append(total)
        elif bound.key == "greaterThan":
            # "> 6 years" counts in years: older than 6 full years means from the 7th birthday.
            lowers.append(total + 1 if bound.months_given else total + 12)
        elif bound.key == "lessThan":
            uppers.append((total, False))
        else:
            # "<= 6 years" counts in years: until the 7th birthday; "<= 4 months" until the
            # day the child turns 5 months.
            uppers.append((total + 1, True) if bound.months_given else (total + 12, False))
        if bound.key in ("greaterThan", "lessThanOrEqualTo") and bound.months == 0 and bound.years:
            notes.review(
                f"target.{bound.key}: {bound.describe()} read to the month "
                f"(age_months {'<=' if bound.key == 'lessThanOrEqualTo' else '>'} "
                f"{bound.total}); if '{bound.years} years' was meant (up to the "
                f"{_ordinal(bound.years + 1)} birthday), edit the rule"
            )
    described = " and ".join(b.describe() for b in bounds)
    if len(set(lowers)) > 1 or len({u for u, _ in uppers}) > 1:
        notes.review(f"target: contradictory age bounds ({described}); no age clause made")
        return None
    lower = lowers[0] if lowers else 0
    upper, inclusive = uppers[0] if uppers else (None, False)
    if upper is not None and upper <= lower:
        word = "reversed" if lowers and uppers else "empty"
        notes.review(f"target: age bounds {word} ({described}); no age clause made")
        return None
    return _AgeRange(lower, upper, inclusive)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _describe_range(age: _AgeRange) -> str:
    if age.upper is None:
        return f"from {_span(age.lower)}"
    if age.upper_inclusive_text:
        end = f"up to {_span(age.upper - 1)} inclusive"
    else:
        end = f"below {_span(age.upper)}"
    return f"from {_span(age.lower)} {end}" if age.lower else end


def _span(months: int) -> str:
    years, rest = divmod(months, 12)
    words = [
        f"{n} {unit}" + ("" if n == 1 else "s")
        for n, unit in ((years, "year"), (rest, "month"))
        if n
    ]
    return " ".join(words) or "0 months"


# ---------------------------------------------------------------------------- texts


def _name(item: dict[str, Any], notes: _Notes) -> str | None:
    # The short name is the municipality's own name for its program ("プレママ・クッキング");
    # the canonical name is the registry's program type ("自治体独自の妊娠・出産に関する教室・
    # 講習会"), shared by many items, so it is only the fallback.
    short = _text(_get(item, "institutionName", "shortName"))
    canonical = _text(_get(item, "institutionName", "canonicalName"))
    for field_name, value in (("shortName", short), ("canonicalName", canonical)):
        marker = _template_marker(value)
        if marker:
            notes.review(f"institutionName.{field_name}: template text left in ({marker!r})")
        elif value:
            if field_name == "canonicalName" and short:
                notes.info("institutionName: canonicalName used as the name")
            return value
    return None


def _strip_template(text: str, field_name: str, notes: _Notes) -> str:
    marker = _template_marker(text)
    if marker is None:
        return text
    notes.review(f"{field_name}: template text left in ({marker!r})")
    cleaned = _TEMPLATE_BRACKETED.sub("", text).strip()
    return cleaned or text


def _shorten(text: str, limit: int) -> str:
    """Cut a long text at the last sentence end that fits, else at the limit."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind("。"), head.rfind("\n"))
    if cut >= limit // 2:
        return head[: cut + 1].rstrip()
    return head[: limit - 1].rstrip() + "…"


def _summary(item: dict[str, Any], name: str, notes: _Notes) -> str:
    summary = _text(item.get("summary"))
    if summary is not None:
        return _strip_template(summary, "summary", notes)
    description = _text(item.get("description"))
    if description is not None:
        description = _strip_template(description, "description", notes)
        short = _shorten(description, SUMMARY_LIMIT)
        notes.info(
            "summary: empty; taken from description"
            + (" (shortened)" if short != description else "")
        )
        return short
    notes.review("summary: empty, and no description; the name is used as summary")
    return name


def _benefit(item: dict[str, Any], summary: str, notes: _Notes) -> str | None:
    parts: list[str] = []
    kept: list[tuple[str, str]] = []
    for key in ("description", "monetarySupport", "materiallySupport"):
        text = _text(_get(item, "support", key))
        if text is None:
            continue
        field_name = f"support.{key}"
        text = _strip_template(text, field_name, notes)
        if _ONLY_URL.match(text):
            notes.info(f"{field_name}: only a URL; left out")
            continue
        twin = next((f for f, t in kept if _contains(t, text)), None)
        if twin is not None:
            if len(text) >= 40:
                notes.info(f"{field_name}: repeats {twin}; kept once")
            continue
        if _same_text(text, summary):
            continue
        # A longer field that repeats a shorter one replaces it.
        for other, other_text in kept:
            if _contains(text, other_text) and len(other_text) >= 40:
                notes.info(f"{other}: repeated in {field_name}; kept once")
        kept = [(f, t) for f, t in kept if not _contains(text, t)]
        kept.append((field_name, text))
    parts += [t for _, t in kept]
    cost = _cost(item, notes)
    if cost:
        parts.append(cost)
    hours = _hours(item, notes)
    if hours:
        parts.append(hours)
    if not parts:
        return None
    text = "\n\n".join(parts)
    if len(text) > BENEFIT_LIMIT:
        notes.info(f"support: {len(text)} characters, shortened to {BENEFIT_LIMIT}")
        text = _shorten(text, BENEFIT_LIMIT)
    return text


def _contains(longer: str, shorter: str) -> bool:
    return _normalise_for_compare(shorter) in _normalise_for_compare(longer)


def _cost(item: dict[str, Any], notes: _Notes) -> str | None:
    raw = item.get("cost")
    conditions = _text(item.get("costConditions"))
    amount: str | None = None
    if isinstance(raw, bool):
        notes.info(f"cost: not an amount ({raw!r}); left out")
    elif isinstance(raw, int | float):
        amount = f"{int(raw):,}円" if float(raw).is_integer() else f"{raw}円"
    elif isinstance(raw, str) and raw.strip():
        digits = unicodedata.normalize("NFKC", raw).strip().replace(",", "").rstrip("円")
        if digits.isdigit():
            notes.info(f"cost: amount given as a string ({raw!r})")
            amount = f"{int(digits):,}円"
        else:
            notes.info(f"cost: text instead of an amount ({_excerpt(raw, 40)!r}); kept as text")
            amount = raw.strip()
    if amount and conditions:
        return f"費用: {amount}（{conditions}）"
    if amount or conditions:
        return f"費用: {amount or conditions}"
    return None


def _hours(item: dict[str, Any], notes: _Notes) -> str | None:
    time = item.get("utilizationTime")
    if not isinstance(time, dict):
        return None
    conditions = _text(time.get("conditions"))
    misspelled = _text(time.get("condiutilizationConditionstions"))
    if misspelled is not None:
        # The registry's schema spells this key `condiutilizationConditionstions`.
        notes.info(
            "utilizationTime.condiutilizationConditionstions: misspelled key read as "
            "utilizationTime.conditions"
        )
        if conditions is None or _same_text(conditions, misspelled):
            conditions = misspelled
        else:
            conditions = f"{conditions}\n{misspelled}"
    start, end = _text(time.get("fromHM")), _text(time.get("toHM"))
    span = f"{start or ''}〜{end or ''}" if start or end else None
    if span and conditions:
        return f"利用時間: {span}\n{conditions}"
    if span or conditions:
        return f"利用時間: {span or conditions}"
    return None


def _flag_multi_values(item: dict[str, Any], notes: _Notes) -> None:
    for key in ("zipCode", "contactPhone", "contactUrl", "contactEmail"):
        text = _text(_get(item, "contact", key))
        if text is None:
            continue
        values = _split_multi(text)
        if len(values) > 1:
            distinct = len(set(values))
            what = f"{len(values)} values" + (
                f" ({distinct} distinct)" if distinct != len(values) else ""
            )
            notes.info(f"contact.{key}: {what} joined by commas ({_excerpt(text, 60)!r})")


def _flag_url_only_texts(item: dict[str, Any], notes: _Notes) -> None:
    for path in (("target", "targetPersons"), ("target", "conditions"), ("summary",)):
        text = _text(_get(item, *path))
        if text is not None and _ONLY_URL.match(text):
            notes.info(f"{'.'.join(path)}: only a URL instead of text")


# ---------------------------------------------------------------------------- categories


def _categories(item: dict[str, Any], notes: _Notes) -> list[str]:
    tag = item.get("tag")
    if not isinstance(tag, dict):
        return []
    result: list[str] = []
    for key, prefix in _TAG_PREFIX.items():
        raw = tag.get(key)
        if raw is None:
            continue
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            text = _text(value)
            if text is None:
                continue
            text = unicodedata.normalize("NFKC", text)  # "００２" and "，" → ASCII
            parts = _split_multi(text)
            if len(parts) > 1:
                notes.info(f"tag.{key}: {text!r} holds several codes; split")
            for part in parts:
                code = part.strip()
                if code.isdigit() and len(code) < 3:
                    # Codes are three digits; a number-typed cell loses its leading zeros.
                    notes.info(f"tag.{key}: {code!r} read as {code.zfill(3)!r}")
                    code = code.zfill(3)
                if not (code.isdigit() and len(code) == 3):
                    notes.info(f"tag.{key}: malformed code {part!r}; left out")
                    continue
                if code not in KNOWN_TAG_CODES[key]:
                    notes.info(f"tag.{key}: unknown code {code!r}")
                label = f"{prefix}:{code}"
                if label not in result:
                    result.append(label)
    if len(result) > 20:
        notes.info(f"tag: {len(result)} codes; only the first 20 kept")
    return result[:20]


def _names(item: dict[str, Any]) -> str:
    """The short and canonical names, NFKC-normalised (full-width letters become ASCII)."""
    names = (
        _text(_get(item, "institutionName", "shortName")),
        _text(_get(item, "institutionName", "canonicalName")),
    )
    return unicodedata.normalize("NFKC", "\n".join(n for n in names if n))


def _topics(item: dict[str, Any]) -> list[str]:
    """The notification topics of an item, by the words of its names."""
    names = _names(item)
    return [topic for pattern, topic in _TOPIC_WORDS if pattern.search(names)]


def _push_policy(
    item: dict[str, Any], name: str, target_text: str, topics: Sequence[str], notes: _Notes
) -> PushPolicy:
    """`on_request` for what a family should look up itself, else `proactive`."""
    names = _names(item) or name
    why = []
    for pattern, kind in _ON_REQUEST_KINDS:
        found = pattern.search(names)
        if found:
            why.append(f"{kind} ({found.group(0)!r})")
            break
    # Names and target only: a summary often mentions a circumstance in passing ("free for
    # households exempt from resident tax") where the item itself is for everyone.
    texts = unicodedata.normalize("NFKC", f"{names}\n{target_text}")
    sensitive = sorted(set(_SENSITIVE_WORDS.findall(texts)), key=texts.index)
    if sensitive:
        why.append(f"a sensitive topic ({', '.join(repr(w) for w in sensitive[:3])})")
    if not topics:
        why.append("no notification topic a parent could switch off")
    if not why:
        return "proactive"
    notes.info(
        f"push: on_request, shown when a parent asks but never pushed: {'; '.join(why)}; "
        "a municipality can set push to proactive"
    )
    return "on_request"


# ---------------------------------------------------------------------------- application


def _application(item: dict[str, Any], notes: _Notes) -> Application:
    url = None
    forms = item.get("formLink")
    if isinstance(forms, list):
        uris = [u for u in (_text(_get(f, "uri")) for f in forms) if u]
        uris = [u for u in uris if _URL.match(u)]
        if uris:
            url = _first_url(uris[0], "formLink.uri", notes)
            if len(set(uris)) > 1:
                titles = [_text(_get(f, "title")) or "?" for f in forms if isinstance(f, dict)]
                notes.info(
                    f"formLink: {len(set(uris))} application forms "
                    f"({_excerpt(' / '.join(titles), 80)}); the first is used"
                )
    # contactUrl is left out on purpose: in the samples it is one inquiry form shared by many
    # programs, not the place to apply.
    period = item.get("procedurePeriod")
    deadline = None
    if isinstance(period, dict):
        deadline = _parse_date(period.get("toYMD"), "procedurePeriod.toYMD", notes)
        # Only checked: ProgramIn has no field for the first day to apply.
        _parse_date(period.get("fromYMD"), "procedurePeriod.fromYMD", notes, matters=False)
    return Application(url=url, deadline=deadline)


def _validity(item: dict[str, Any], notes: _Notes) -> tuple[date | None, date | None]:
    period = item.get("implementationPeriod")
    if not isinstance(period, dict):
        return None, None
    start = _parse_date(period.get("fromYMD"), "implementationPeriod.fromYMD", notes)
    end = _parse_date(period.get("toYMD"), "implementationPeriod.toYMD", notes)
    if start and end and end < start:
        notes.review(
            f"implementationPeriod: toYMD {end} is before fromYMD {start}; both left empty"
        )
        return None, None
    return start, end


# ---------------------------------------------------------------------------- examples


def _location_clause(issuer: str) -> str:
    if issuer == TOKYO:
        return f'prefecture == "{issuer}"'
    return f'municipality == "{issuer}"'


def _months_before(on: date, months: int) -> date:
    """The date `months` months before `on` (a 1st of the month keeps every day valid)."""
    index = on.year * 12 + on.month - 1 - months
    return on.replace(year=index // 12, month=index % 12 + 1)


def _born_for(months: int, *, last_day: bool, on: date) -> date:
    """A birth date giving `months` full months on `on`: the first such day, or the last."""
    if last_day:
        # Born one day after the (months+1)-month anniversary: turns months+1 tomorrow.
        return _months_before(on, months + 1) + timedelta(days=1)
    return _months_before(on, months)


def _examples(issuer: str, age: _AgeRange, on: date) -> list[ProgramExample]:
    """Boundary families that the program's own rule must classify as stated."""
    # A family lives in a municipality: for Tokyo's own programs, any ward will do.
    home = _OTHER_MUNICIPALITY[0] if issuer == TOKYO else issuer
    elsewhere = _OUTSIDE_TOKYO if issuer == TOKYO else _OTHER_MUNICIPALITY[issuer == "131016"]
    cases: list[tuple[str, int, bool, bool]] = []  # (municipality, months, last_day, eligible)
    if age.lower > 0:
        cases.append((home, age.lower, False, True))
        cases.append((home, age.lower - 1, True, False))
        inside = age.lower
    else:
        inside = (age.upper or 1) - 1
        cases.append((home, inside, True, True))
    if age.upper is not None:
        cases.append((home, age.upper, False, False))
    cases.append((elsewhere, inside, False, False))
    examples = []
    for municipality, months, last_day, eligible in cases[:4]:
        birth = _born_for(months, last_day=last_day, on=on)
        # The rules package counts legal age; make sure our birth date gives what we meant.
        actual = age_months(birth, on)
        if actual != months:
            raise AssertionError(f"birth {birth} gives {actual} months on {on}, not {months}")
        family = FamilyInput(municipality=municipality, children=[ChildInput(birth_date=birth)])
        note = f"a child of {_span(months)} (born {birth}) in {municipality}"
        examples.append(ProgramExample(family=family, date=on, eligible=eligible, note=note))
    return examples


# ---------------------------------------------------------------------------- the mapping


def map_item(item: dict[str, Any], *, file_area_code: str | None) -> MappedItem | Rejected:
    """Map one registry item to a program (pure: no I/O)."""
    if not isinstance(item, dict):
        return Rejected(None, f"item is not an object ({type(item).__name__})")
    source_id = _text(_get(item, "basicInformation", "psid"))
    if source_id is None:
        return Rejected(None, "basicInformation.psid is missing")
    if len(source_id) > 128:
        return Rejected(source_id[:40] + "…", "basicInformation.psid is over 128 characters")
    notes = _Notes()
    name = _name(item, notes)
    if name is None:
        return Rejected(source_id, "institutionName has no usable name")
    issuer = _issuer(item, file_area_code, notes)
    if issuer is None:
        raw = _text(_get(item, "area", "areaCode"))
        return Rejected(source_id, f"no valid issuer code (area.areaCode {raw!r})")

    summary = _summary(item, name, notes)
    benefit = _benefit(item, summary, notes)
    _flag_multi_values(item, notes)
    _flag_url_only_texts(item, notes)
    reference_url = _first_url(
        _get(item, "localGovernmentLink", "uri"), "localGovernmentLink.uri", notes
    )
    application = _application(item, notes)
    valid_from, valid_to = _validity(item, notes)
    topics = _topics(item)
    category = [*topics, *_categories(item, notes)][:20]
    # Not stored (ProgramIn has no field for it) but checked, as both "-" and "/" occur.
    _parse_date(
        _get(item, "odInformation", "updateDate"), "odInformation.updateDate", notes, matters=False
    )

    location = _location_clause(issuer)
    raw_target = item.get("target")
    target: dict[str, Any] = raw_target if isinstance(raw_target, dict) else {}
    persons, conditions = _text(target.get("targetPersons")), _text(target.get("conditions"))
    if persons and conditions and _contains(persons, conditions):
        conditions = None
    target_text = "\n".join(t for t in (persons, conditions) if t)
    readable, bounds = _read_bounds(target, notes)
    age = _age_range(bounds, notes) if readable and bounds else None
    clause = age.clause() if age else ""
    if not bounds and readable:
        excerpt = _excerpt(target_text) if target_text else "(no target text)"
        notes.review(f"target: free text only, no age bounds: {excerpt}")
    elif age is not None and not clause:
        notes.review(f"target: age bounds exclude nobody ({age.lower} months and up)")
    if clause and age is not None:
        notes.info(f"target: read as {_describe_range(age)} ({clause})")
        if age.upper is None:
            notes.review(f"target: only a lower age bound ({_describe_range(age)})")
        elif age.upper - age.lower > MAX_SPAN_MONTHS:
            notes.review(
                f"target: the age range ({_describe_range(age)}) spans more than "
                f"{MAX_SPAN_MONTHS // 12} years, too wide to tell who the item is for; "
                "narrow the rule or confirm it before publishing"
            )
        for pattern, what in _TEXT_CONDITIONS:
            found = pattern.search(target_text)
            if found:
                notes.review(
                    f"target: text also restricts by {what} ({found.group(0)!r}), "
                    "which the rule does not encode"
                )
    per_child = bool(clause)
    eligibility = f"{location} and {clause}" if clause else location
    push = _push_policy(item, name, target_text, topics, notes)

    publishable = per_child and not notes.review_needed
    examples: list[ProgramExample] = []
    if publishable and age is not None:
        on = EXAMPLE_DATE
        if valid_from and on < valid_from:
            on = valid_from
        if valid_to and on > valid_to:
            on = valid_to
        examples = _examples(issuer, age, on)

    try:
        program = ProgramIn(
            issuer=issuer,
            name=LocalizedText(ja=name[:20000]),
            summary=LocalizedText(ja=summary[:20000]),
            category=category,
            eligibility=eligibility,
            per_child=per_child,
            benefit=benefit,
            reference_url=reference_url,
            application=application,
            valid_from=valid_from,
            valid_to=valid_to,
            examples=examples,
            attribution=ATTRIBUTION,
            push=push,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return Rejected(source_id, f"does not make a valid program: {problems}")
    return MappedItem(
        source_id=source_id,
        program=program,
        needs_review=notes.review_needed,
        review_notes=notes.lines,
        publishable=publishable,
        review_reasons=notes.reasons,
    )


def map_file(path: Path) -> list[MappedItem | Rejected]:
    """Every item of a file, mapped."""
    groups, _ = _load_groups(path)
    return [
        map_item(item, file_area_code=group.area_code) for group in groups for item in group.items
    ]


# ---------------------------------------------------------------------------- saving


async def import_files(
    paths: Iterable[Path],
    session_factory: async_sessionmaker[AsyncSession],
    *,
    progress: Callable[[str], None] | None = None,
) -> RegistryImportReport:
    """Map and save every item of the files; a second import updates instead of duplicating.

    Every file is read before anything is written, so an unreadable file (RegistryFileError)
    leaves the database untouched.
    """
    say = progress or (lambda _line: None)
    paths = [Path(p) for p in paths]
    report = RegistryImportReport()
    loaded = []
    for path in paths:
        groups, warnings = _load_groups(path)
        report.warnings += warnings
        loaded.append((path, groups))
    async with session_factory() as session:
        known = set((await session.exec(select(Municipality.code))).all())
    seen: set[str] = set()
    for number, (path, groups) in enumerate(loaded, start=1):
        pairs = [(group.area_code, item) for group in groups for item in group.items]
        prefix = f"[{number}/{len(loaded)}] {path.name}"
        say(f"{prefix}: {len(pairs)} items")
        for start in range(0, len(pairs), BATCH_SIZE):
            batch = pairs[start : start + BATCH_SIZE]
            async with transaction(session_factory) as session:
                for area_code, item in batch:
                    mapped = map_item(item, file_area_code=area_code)
                    if isinstance(mapped, Rejected):
                        report.reject(mapped.source_id, mapped.reason)
                        continue
                    if mapped.source_id in seen:
                        report.reject(
                            mapped.source_id, "the same psid appears twice in this import"
                        )
                        continue
                    seen.add(mapped.source_id)
                    if mapped.program.issuer not in known:
                        report.reject(
                            mapped.source_id,
                            f"issuer {mapped.program.issuer} is not a known municipality",
                        )
                        continue
                    row, outcome = await programs.upsert_imported(
                        session,
                        mapped.program,
                        source_id=mapped.source_id,
                        needs_review=mapped.needs_review,
                        review_notes=mapped.review_notes,
                        publish=mapped.publishable,
                        source=SOURCE,
                    )
                    setattr(report, outcome, getattr(report, outcome) + 1)
                    report.publishable += mapped.publishable
                    report.on_request += row.push == "on_request"
                    if mapped.needs_review:
                        report.review.append(
                            (mapped.source_id, mapped.program.name.ja, mapped.review_reasons)
                        )
            done = start + len(batch)
            if len(pairs) > BATCH_SIZE and (done % BATCH_SIZE == 0 or done == len(pairs)):
                say(f"{prefix}: {done}/{len(pairs)} items")
    return report
