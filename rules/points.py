"""Daycare points (利用調整基準): the facts of an application, as points rules see them.

An application for a daycare place (入所申込) carries, besides the child and the wished
facilities, the household facts that 利用調整 scores: each guardian's reason for care (保育の必要性
の事由) and hours of work a week, leave status, siblings, single parent, transfer. These are the
same for every municipality; what each municipality makes of them (base points per reason and
hours, how the guardians' points combine, adjustment points, tie-breaks) is its own rules
document, scored by this module. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_GUARDIANS = 2

CareReason = Literal[
    "work",  # 就労 (employed or self-employed; hours a week decide the base points)
    "job_seeking",  # 求職中
    "pregnancy",  # 妊娠・出産
    "illness",  # 疾病・負傷
    "disability",  # 心身の障害
    "nursing_care",  # 親族の介護・看護
    "disaster",  # 災害復旧
    "study",  # 就学・職業訓練
    "absent",  # no such guardian in the household (ひとり親): scored as the rules say
    "none",  # at home, able to care (no reason for care)
]
"""A guardian's reason for care (保育の必要性の事由, 子ども・子育て支援法施行規則 1条)."""

CARE_REASONS: dict[str, tuple[str, str]] = {
    "work": ("就労", "Work"),
    "job_seeking": ("求職中", "Looking for work"),
    "pregnancy": ("妊娠・出産", "Pregnancy or childbirth"),
    "illness": ("疾病・負傷", "Illness or injury"),
    "disability": ("心身の障害", "Disability"),
    "nursing_care": ("親族の介護・看護", "Caring for a relative"),
    "disaster": ("災害復旧", "Disaster recovery"),
    "study": ("就学・職業訓練", "Study or job training"),
    "absent": ("不存在（ひとり親等）", "No such guardian (single parent)"),
    "none": ("保育可能（家庭にいる）", "At home, able to care"),
}
"""Each care reason's words for people (Japanese, English)."""

SiblingMode = Literal["independent", "same_facility", "both_or_neither"]

SIBLING_MODES: dict[str, tuple[str, str]] = {
    "independent": ("別々の園でもよい", "Different facilities are fine"),
    "same_facility": ("同じ園でなければ入所しない", "Only together at the same facility"),
    "both_or_neither": ("きょうだい全員入所でなければ入所しない", "All siblings or none"),
}


class GuardianFacts(BaseModel):
    """One guardian's situation (父・母 or another guardian) as an application states it."""

    model_config = ConfigDict(extra="forbid")

    relation: Literal["mother", "father", "other"] = Field(
        default="other", description="The guardian's relation to the child (母, 父, その他)."
    )
    reason: CareReason = Field(description="Reason for care (保育の必要性の事由).")
    hours_per_week: float | None = Field(
        default=None,
        ge=0,
        le=168,
        description="Hours of work (or study) a week, for `work` and `study` (週の就労時間).",
    )
    days_per_week: int | None = Field(
        default=None, ge=0, le=7, description="Days of work a week (週の就労日数), if known."
    )
    on_leave: bool = Field(default=False, description="On parental leave now (育児休業中).")
    returning_from_leave: bool = Field(
        default=False,
        description="Returns to work from parental leave by the month of entry (育休復帰).",
    )

    @model_validator(mode="after")
    def _hours_for_work(self) -> GuardianFacts:
        if self.reason in ("work", "study") and self.hours_per_week is None:
            raise ValueError(f"hours_per_week is required when the reason is {self.reason!r}")
        if self.returning_from_leave and not self.on_leave:
            raise ValueError(
                "returning_from_leave needs on_leave: only a guardian on leave returns"
            )
        return self


class ApplicationFacts(BaseModel):
    """The household facts of one daycare application that points rules score.

    The household profile pre-fills what it knows (single parent, public assistance, the child's
    disability); the rest is asked once and kept for a re-application or the next year's renewal.
    """

    model_config = ConfigDict(extra="forbid")

    guardians: list[GuardianFacts] = Field(
        min_length=1,
        max_length=MAX_GUARDIANS,
        description="Each guardian's reason for care (one or two; a single parent gives one).",
    )
    single_parent: bool = Field(default=False, description="Single-parent household (ひとり親).")
    public_assistance: bool = Field(
        default=False, description="The household receives public assistance (生活保護)."
    )
    resident_tax_exempt: bool = Field(
        default=False, description="The household is exempt from resident tax (住民税非課税)."
    )
    child_disability: bool = Field(
        default=False, description="The child has a disability (障害児)."
    )
    siblings_enrolled: list[str] = Field(
        default_factory=list,
        max_length=10,
        description=(
            "Facility ids (the municipality's) where the child's brothers or sisters are enrolled "
            "now (きょうだい在園)."
        ),
    )
    siblings_applying: int = Field(
        default=0,
        ge=0,
        le=10,
        description="How many brothers or sisters apply in the same round (きょうだい同時申込).",
    )
    sibling_mode: SiblingMode = Field(
        default="independent",
        description=(
            "With siblings applying: `independent`, `same_facility` (only together at one "
            "facility) or `both_or_neither` (all siblings placed or none)."
        ),
    )
    accepts_leave_extension: bool = Field(
        default=False,
        description=(
            "The family accepts extending parental leave if no place is found (育休延長を許容): "
            "many municipalities score such an application last."
        ),
    )
    transfer_from: str | None = Field(
        default=None,
        max_length=64,
        description="Facility id of the child's current place, for a transfer (転園).",
    )
    graduating_small_scale: bool = Field(
        default=False,
        description="The child leaves a small-scale facility at age 3 (小規模保育等の卒園).",
    )
    outside_municipality: bool = Field(
        default=False, description="The household lives in another municipality (区市町村外)."
    )
    sibling_facility_first_choice: bool = Field(
        default=False,
        description=(
            "The first wished facility is one where a brother or sister is enrolled now "
            "(きょうだい在園施設を第1希望)."
        ),
    )
    unlicensed_care: bool = Field(
        default=False,
        description=(
            "The child is in paid care outside licensed daycare now (認可外保育施設・認証保育所"
            "等の利用), as many tables add points for it."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> ApplicationFacts:
        absent = sum(1 for g in self.guardians if g.reason == "absent")
        if absent == len(self.guardians):
            raise ValueError("at least one guardian must be present (reason other than 'absent')")
        if self.sibling_mode != "independent" and self.siblings_applying == 0:
            raise ValueError("sibling_mode needs siblings_applying >= 1")
        return self


# -- the points rules document (the upload schema) ----------------------------------------------

MAX_CONDITION_LENGTH = 1000  # a condition is a line of a 別表, not a program
MAX_ADJUSTMENTS = 100
MAX_TIE_BREAKS = 30
MAX_EXAMPLES = 50
LOCAL_CODE = r"^\d{6}$"

Combine = Literal["sum", "lower_rank", "min", "max"]


class BaseBand(BaseModel):
    """One row of the base table (基準指数表) for a reason: the points if the guardian matches."""

    model_config = ConfigDict(extra="forbid")

    min_hours: float | None = Field(
        default=None,
        ge=0,
        le=168,
        description=(
            "Hours a week at least (for `work` and `study`). Of the bands a guardian meets, "
            "the one with the most points applies."
        ),
    )
    min_days: int | None = Field(
        default=None,
        ge=0,
        le=7,
        description="Days of work a week at least (where the 別表 also counts days).",
    )
    on_leave: bool | None = Field(
        default=None,
        description="Applies only to a guardian on leave (true) or not on leave (false).",
    )
    points: float = Field(ge=-1000, le=1000, description="Base points (基準指数) of the band.")
    label_ja: str = Field(default="", max_length=200, description="The row as the 別表 says it.")
    label_en: str = Field(default="", max_length=200, description="The row in English.")


class Adjustment(BaseModel):
    """An adjustment (調整指数): points added (or taken, when negative) if its condition holds."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="A stable id.")
    label_ja: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)
    points: float = Field(ge=-1000, le=1000, description="Points added; negative to take.")
    condition: str = Field(
        min_length=1,
        max_length=MAX_CONDITION_LENGTH,
        description=(
            "A rule-language expression over the application vocabulary "
            "(`rules.points.VOCABULARY`), e.g. `single_parent` or `siblings_enrolled >= 1`."
        ),
    )


class TieBreak(BaseModel):
    """One step of the ordered tie-break list (同一指数の場合の優先順位)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label_ja: str = Field(min_length=1, max_length=200)
    label_en: str = Field(min_length=1, max_length=200)
    expression: str = Field(
        min_length=1,
        max_length=MAX_CONDITION_LENGTH,
        description=(
            "A boolean (true first) or numeric expression over the vocabulary and `total_points`."
        ),
    )
    order: Literal["desc", "asc"] = Field(
        default="desc", description="`desc`: larger (or true) is better; `asc`: smaller is."
    )


class PointsExample(BaseModel):
    """A household and the points the municipality's table gives it, checked on upload."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    facts: ApplicationFacts
    expected_points: float = Field(description="The total points (指数) expected.")
    expected_base: float | None = Field(
        default=None, description="The combined base points expected (optional)."
    )


class PointsDocument(BaseModel):
    """A municipality's points rules (利用調整基準): base table, combination, adjustments, ties."""

    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=LOCAL_CODE, description="Local government code (6 digits).")
    title: str = Field(min_length=1, max_length=300, examples=["令和7年度 保育所等利用調整基準"])
    source_url: str = Field(
        min_length=1, max_length=1000, description="The published 別表 page or PDF."
    )
    valid_from: date = Field(description="First day the rules apply (usually April 1).")
    valid_to: date | None = Field(default=None, description="Last day, if known.")
    base: dict[CareReason, list[BaseBand]] = Field(
        description=(
            "Base points per reason for care: a list of bands. For `work` and `study` each band "
            "has `min_hours`; other reasons usually one band. A reason left out gives 0 points."
        )
    )
    absent_guardian_points: float = Field(
        default=0,
        ge=-1000,
        le=1000,
        description="Base points of a guardian who is absent (ひとり親: 不存在).",
    )
    combine: Combine = Field(
        default="sum",
        description=(
            "How the guardians' base points combine: `sum`, `min`, `max`, or `lower_rank` "
            "(Nagoya: the lower guardian's rank, ties broken by the higher guardian's)."
        ),
    )
    adjustments: list[Adjustment] = Field(default_factory=list, max_length=MAX_ADJUSTMENTS)
    tie_breaks: list[TieBreak] = Field(
        default_factory=list,
        max_length=MAX_TIE_BREAKS,
        description="Ordered tie-breaks after the points; a published-seed lottery is last.",
    )
    examples: list[PointsExample] = Field(default_factory=list, max_length=MAX_EXAMPLES)

    @model_validator(mode="after")
    def _consistent(self) -> PointsDocument:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        for reason, bands in self.base.items():
            if not bands:
                raise ValueError(f"base.{reason} has no band")
        for name, items in (("adjustments", self.adjustments), ("tie_breaks", self.tie_breaks)):
            ids = [item.id for item in items]
            doubled = sorted({i for i in ids if ids.count(i) > 1})
            if doubled:
                raise ValueError(f"{name}: ids repeated: {', '.join(doubled)}")
        return self


# -- the application vocabulary -----------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One name conditions may use: its rule-engine type and what it means."""

    type: str  # BOOLEAN, FLOAT, STRING, ARRAY_STRING, ARRAY_FLOAT
    description: str


VOCABULARY: dict[str, Word] = {
    "single_parent": Word("BOOLEAN", "ひとり親世帯"),
    "public_assistance": Word("BOOLEAN", "生活保護世帯"),
    "resident_tax_exempt": Word("BOOLEAN", "住民税非課税世帯"),
    "child_disability": Word("BOOLEAN", "the child has a disability (障害児)"),
    "siblings_enrolled": Word("FLOAT", "brothers or sisters enrolled now (count, きょうだい在園)"),
    "siblings_applying": Word("FLOAT", "brothers or sisters applying in the same round (count)"),
    "sibling_mode": Word("STRING", "'independent', 'same_facility' or 'both_or_neither'"),
    "accepts_leave_extension": Word("BOOLEAN", "the family accepts extending parental leave"),
    "transfer": Word("BOOLEAN", "a transfer (転園): the child has a place now"),
    "graduating_small_scale": Word("BOOLEAN", "leaves a small-scale facility at 3 (卒園)"),
    "outside_municipality": Word("BOOLEAN", "the household lives elsewhere (区市町村外)"),
    "sibling_facility_first_choice": Word(
        "BOOLEAN", "the first wish is a sibling's facility (きょうだい在園施設を第1希望)"
    ),
    "unlicensed_care": Word("BOOLEAN", "the child is in unlicensed paid care now (認可外利用)"),
    "guardian_count": Word("FLOAT", "guardians present (not `absent`)"),
    "absent_guardians": Word("FLOAT", "guardians `absent` (0 or 1)"),
    "min_hours": Word("FLOAT", "least hours a week of the present guardians (none given: 0)"),
    "max_hours": Word("FLOAT", "most hours a week of the present guardians"),
    "any_on_leave": Word("BOOLEAN", "a guardian is on parental leave (育休中)"),
    "returning_from_leave": Word("BOOLEAN", "a guardian returns from leave by entry (育休復帰)"),
    "reasons": Word("ARRAY_STRING", "each guardian's reason, e.g. 'illness' in reasons"),
    "hours": Word("ARRAY_FLOAT", "each present guardian's hours a week (none given: 0)"),
    "base_points": Word("FLOAT", "the combined base points (基準指数)"),
    "base_points_min": Word("FLOAT", "the lower guardian's base points"),
    "base_points_max": Word("FLOAT", "the higher guardian's base points"),
    **{
        f"any_reason_{reason}": Word("BOOLEAN", f"a guardian's reason is {reason} ({ja})")
        for reason, (ja, _) in CARE_REASONS.items()
    },
}
"""What adjustment conditions and tie-breaks may name (tie-breaks also see `total_points`)."""

TIE_BREAK_ONLY: dict[str, Word] = {
    "total_points": Word("FLOAT", "the total points (base and adjustments)"),
    "adjustment_points": Word("FLOAT", "the sum of the adjustment points that applied"),
}


def _engine_type(word: Word) -> Any:
    from rule_engine.types import DataType

    if word.type == "ARRAY_STRING":
        return DataType.ARRAY(DataType.STRING)
    if word.type == "ARRAY_FLOAT":
        return DataType.ARRAY(DataType.FLOAT)
    return getattr(DataType, word.type)


class PointsRuleError(Exception):
    """An expression of a points document that does not compile; `suggestion` may help."""

    def __init__(self, reason: str, suggestion: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion


@functools.lru_cache(maxsize=2048)
def compile_expression(expression: str, *, tie_break: bool = False) -> Any:
    """Compile a condition (boolean) or a tie-break (boolean or number); PointsRuleError if not."""
    import rule_engine
    from rule_engine import errors as re_errors
    from rule_engine.types import DataType

    from rules.language import TOKYO, _Rule, _UnsafePattern

    words = {**VOCABULARY, **TIE_BREAK_ONLY} if tie_break else VOCABULARY
    if len(expression) > MAX_CONDITION_LENGTH:
        raise PointsRuleError(f"longer than {MAX_CONDITION_LENGTH} characters")
    if "$" in expression:
        # Points must follow from the application alone, never from the clock ($now, $today).
        raise PointsRuleError("'$' symbols are not allowed", "use the application vocabulary")
    context = rule_engine.Context(
        type_resolver=rule_engine.type_resolver_from_dict(
            {name: _engine_type(word) for name, word in words.items()}
        ),
        default_timezone=TOKYO,
    )
    try:
        rule = _Rule(expression, context=context)
    except _UnsafePattern:
        raise PointsRuleError(
            "regular expressions are not allowed here", "compare with == or 'in'"
        ) from None
    except re_errors.SymbolResolutionError as exc:
        match = difflib.get_close_matches(exc.symbol_name, list(words), n=1, cutoff=0.6)
        hint = f"did you mean {match[0]!r}?" if match else "see the points vocabulary"
        raise PointsRuleError(f"unknown symbol {exc.symbol_name!r}", hint) from None
    except re_errors.RuleSyntaxError as exc:
        raise PointsRuleError(f"syntax error: {exc.message}") from None
    except re_errors.EngineError as exc:
        raise PointsRuleError(getattr(exc, "message", str(exc))) from None
    except RecursionError:
        raise PointsRuleError("nested too deeply") from None
    except Exception as exc:  # rule-engine's other refusals: a clear 422, never a crash
        raise PointsRuleError(f"cannot be compiled: {exc}") from None
    from rule_engine import ast as re_ast

    from rules.language import _walk

    if any(
        isinstance(n, re_ast.FuzzyComparisonExpression) for n in _walk(rule.statement.expression)
    ):
        # No 別表 needs a pattern; refusing them keeps every condition cheap to evaluate.
        raise PointsRuleError(
            "regular expressions are not allowed here", "compare with == or 'in'"
        )
    result = rule.statement.expression.result_type
    allowed = (
        {DataType.BOOLEAN, DataType.FLOAT, DataType.UNDEFINED}
        if tie_break
        else {DataType.BOOLEAN, DataType.UNDEFINED}
    )
    if result not in allowed:
        want = "a boolean or a number" if tie_break else "a boolean (true or false)"
        raise PointsRuleError(f"gives {result.name.lower()}, not {want}")
    return rule


def document_errors(document: PointsDocument) -> list[dict[str, Any]]:
    """Every adjustment condition and tie-break that does not compile, located."""
    problems: list[dict[str, Any]] = []
    items: list[tuple[str, str, bool]] = [
        (f"adjustments[{i}].condition", a.condition, False)
        for i, a in enumerate(document.adjustments)
    ]
    items += [
        (f"tie_breaks[{i}].expression", t.expression, True)
        for i, t in enumerate(document.tie_breaks)
    ]
    for location, expression, tie_break in items:
        try:
            compile_expression(expression, tie_break=tie_break)
        except PointsRuleError as exc:
            problems.append(
                {"location": location, "reason": exc.reason, "suggestion": exc.suggestion}
            )
    return problems


# -- scoring ------------------------------------------------------------------------------------

RELATIONS = {"mother": ("母", "Mother"), "father": ("父", "Father")}


@dataclass(frozen=True)
class GuardianBase:
    """A guardian's base points and the band of the table that gave them."""

    index: int
    relation: str
    reason: str
    points: float
    label_ja: str
    label_en: str


@dataclass(frozen=True)
class AdjustmentLine:
    """An adjustment that applied."""

    id: str
    label_ja: str
    label_en: str
    points: float


@dataclass(frozen=True)
class Score:
    """A household's points under one document, each line explained, and its priority."""

    total: float
    base: tuple[GuardianBase, ...]
    combine: str
    combined_base: float
    adjustments: tuple[AdjustmentLine, ...]
    priority: tuple[float, ...]
    priority_labels: tuple[tuple[str, str], ...]

    def lines(self, lang: str = "ja") -> list[str]:
        """The score explained line by line, in Japanese (`ja`) or English."""
        ja = lang == "ja"
        out = []
        for g in self.base:
            who_ja, who_en = RELATIONS.get(
                g.relation, (f"保護者{g.index + 1}", f"Guardian {g.index + 1}")
            )
            reason_ja, reason_en = CARE_REASONS[g.reason]
            if ja:
                band = f" {g.label_ja}" if g.label_ja else ""
                out.append(f"{who_ja}: {reason_ja}{band} = {_num(g.points)}点")
            else:
                band = f", {g.label_en}" if g.label_en else ""
                out.append(f"{who_en}: {reason_en}{band} = {_num(g.points)} points")
        how_ja, how_en = COMBINE_WORDS[self.combine]
        if len(self.base) > 1:
            out.append(
                f"基準指数（{how_ja}）= {_num(self.combined_base)}点"
                if ja
                else f"Base points ({how_en}) = {_num(self.combined_base)}"
            )
        for a in self.adjustments:
            sign = "+" if a.points >= 0 else "−"
            out.append(f"{a.label_ja if ja else a.label_en} {sign}{_num(abs(a.points))}")
        out.append(f"合計 {_num(self.total)}点" if ja else f"Total {_num(self.total)} points")
        return out


COMBINE_WORDS = {
    "sum": ("父母の合計", "both guardians added"),
    "min": ("低い方", "the lower guardian"),
    "max": ("高い方", "the higher guardian"),
    "lower_rank": ("低い方のランク", "the lower guardian's rank"),
}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _band_label(band: BaseBand) -> tuple[str, str]:
    if band.label_ja or band.label_en:
        return band.label_ja, band.label_en or band.label_ja
    if band.min_hours:
        return f"週{_num(band.min_hours)}時間以上", f"{_num(band.min_hours)} h a week or more"
    return "", ""


def guardian_base(document: PointsDocument, index: int, guardian: GuardianFacts) -> GuardianBase:
    """The base points of one guardian under the document's table."""
    if guardian.reason == "absent":
        return GuardianBase(
            index, guardian.relation, "absent", document.absent_guardian_points, "", ""
        )
    # Rows of a 別表 overlap (5 days of 6 h also meets 4 days of 6 h): the best row applies.
    bands = sorted(
        document.base.get(guardian.reason, []), key=lambda b: (-b.points, -(b.min_hours or 0))
    )
    hours = guardian.hours_per_week or 0
    for band in bands:
        if band.min_hours is not None and hours < band.min_hours:
            continue
        if band.min_days is not None and (guardian.days_per_week or 0) < band.min_days:
            continue
        if band.on_leave is not None and band.on_leave != guardian.on_leave:
            continue
        label_ja, label_en = _band_label(band)
        return GuardianBase(
            index, guardian.relation, guardian.reason, band.points, label_ja, label_en
        )
    none_ja, none_en = "（該当なし）", "(no band applies)"
    return GuardianBase(index, guardian.relation, guardian.reason, 0, none_ja, none_en)


def _combine(how: str, points: list[float]) -> float:
    if how == "sum":
        return sum(points)
    if how == "max":
        return max(points)
    return min(points)  # min and lower_rank: the lower guardian decides


def facts_context(facts: ApplicationFacts) -> dict[str, Any]:
    """The application vocabulary's values for a household (without the points)."""
    present = [g for g in facts.guardians if g.reason != "absent"]
    hours = [float(g.hours_per_week or 0) for g in present]
    reasons = [g.reason for g in facts.guardians]
    values: dict[str, Any] = {
        "single_parent": facts.single_parent,
        "public_assistance": facts.public_assistance,
        "resident_tax_exempt": facts.resident_tax_exempt,
        "child_disability": facts.child_disability,
        "siblings_enrolled": float(len(facts.siblings_enrolled)),
        "siblings_applying": float(facts.siblings_applying),
        "sibling_mode": facts.sibling_mode,
        "accepts_leave_extension": facts.accepts_leave_extension,
        "transfer": facts.transfer_from is not None,
        "graduating_small_scale": facts.graduating_small_scale,
        "outside_municipality": facts.outside_municipality,
        "sibling_facility_first_choice": facts.sibling_facility_first_choice,
        "unlicensed_care": facts.unlicensed_care,
        "guardian_count": float(len(present)),
        "absent_guardians": float(len(facts.guardians) - len(present)),
        "min_hours": min(hours) if hours else 0.0,
        "max_hours": max(hours) if hours else 0.0,
        "any_on_leave": any(g.on_leave for g in facts.guardians),
        "returning_from_leave": any(g.returning_from_leave for g in facts.guardians),
        "reasons": tuple(reasons),
        "hours": tuple(hours),
    }
    for reason in CARE_REASONS:
        values[f"any_reason_{reason}"] = reason in reasons
    return values


def _value(rule: Any, values: dict[str, Any], location: str) -> float:
    try:
        result = rule.evaluate(values)
    except Exception as exc:  # e.g. a division by zero for this household
        raise PointsRuleError(f"{location}: cannot be evaluated: {exc}") from None
    if isinstance(result, bool):
        return 1.0 if result else 0.0
    return float(result)


def score(document: PointsDocument, facts: ApplicationFacts) -> Score:
    """Score a household under a document (raises PointsRuleError if an expression is broken)."""
    bases = tuple(guardian_base(document, i, g) for i, g in enumerate(facts.guardians))
    points = [b.points for b in bases]
    combined = _combine(document.combine, points)
    values = facts_context(facts)
    values.update(base_points=combined, base_points_min=min(points), base_points_max=max(points))
    lines = []
    for index, adjustment in enumerate(document.adjustments):
        rule = compile_expression(adjustment.condition)
        if _value(rule, values, f"adjustments[{index}].condition"):
            lines.append(
                AdjustmentLine(
                    adjustment.id, adjustment.label_ja, adjustment.label_en, adjustment.points
                )
            )
    adjusted = sum(a.points for a in lines)
    total = combined + adjusted
    values.update(total_points=total, adjustment_points=adjusted)
    priority = [total]
    labels = [("指数", "Points")]
    if document.combine == "lower_rank":
        # Nagoya: between equal lower ranks, the household whose other guardian ranks higher.
        priority.append(max(points))
        labels.append(("高い方の保護者のランク", "The other guardian's rank"))
    for index, tie in enumerate(document.tie_breaks):
        rule = compile_expression(tie.expression, tie_break=True)
        value = _value(rule, values, f"tie_breaks[{index}].expression")
        # The allocation compares tuples, larger first: an ascending step is negated.
        priority.append(value if tie.order == "desc" else -value)
        labels.append((tie.label_ja, tie.label_en))
    return Score(
        total=total,
        base=bases,
        combine=document.combine,
        combined_base=combined,
        adjustments=tuple(lines),
        priority=tuple(priority),
        priority_labels=tuple(labels),
    )


# -- examples and digest ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleOutcome:
    """An example household scored: what was expected, what the rules give."""

    index: int
    name: str
    expected_points: float
    actual_points: float | None
    expected_base: float | None
    actual_base: float | None
    passed: bool
    error: str | None = None


def run_examples(document: PointsDocument) -> list[ExampleOutcome]:
    """Score every example household (the document's expressions must compile)."""
    outcomes = []
    for index, example in enumerate(document.examples):
        try:
            result = score(document, example.facts)
        except PointsRuleError as exc:
            outcomes.append(
                ExampleOutcome(
                    index=index,
                    name=example.name,
                    expected_points=example.expected_points,
                    actual_points=None,
                    expected_base=example.expected_base,
                    actual_base=None,
                    passed=False,
                    error=exc.reason,
                )
            )
            continue
        passed = abs(result.total - example.expected_points) < 1e-9 and (
            example.expected_base is None
            or abs(result.combined_base - example.expected_base) < 1e-9
        )
        outcomes.append(
            ExampleOutcome(
                index=index,
                name=example.name,
                expected_points=example.expected_points,
                actual_points=result.total,
                expected_base=example.expected_base,
                actual_base=result.combined_base,
                passed=passed,
            )
        )
    return outcomes


def check_examples(document: PointsDocument) -> list[dict[str, Any]]:
    """The problems of a document, located: expressions that do not compile, examples that fail."""
    errors = document_errors(document)
    if errors:
        return errors
    problems = []
    for outcome in run_examples(document):
        if outcome.passed:
            continue
        if outcome.error is not None:
            reason = f"{outcome.name!r}: {outcome.error}"
            problems.append({"location": f"examples[{outcome.index}]", "reason": reason})
            continue
        reason = (
            f"{outcome.name!r}: expected {_num(outcome.expected_points)} points, "
            f"the rules give {_num(outcome.actual_points or 0)}"
        )
        if outcome.expected_base is not None:
            reason += (
                f" (base expected {_num(outcome.expected_base)}, "
                f"given {_num(outcome.actual_base or 0)})"
            )
        problems.append({"location": f"examples[{outcome.index}]", "reason": reason})
    return problems


def document_digest(document: PointsDocument) -> str:
    """sha256 of the document's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(
        document.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
