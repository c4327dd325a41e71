"""The family profile: what a family tells us (input) and what rules see (derived context)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.ages import age_months, age_years, class_age, fiscal_year, grade
from rules.lgcode import NATION, is_prefecture_code, is_valid_lgcode, prefecture_of

MAX_CHILDREN = 20

Daycare = Literal["none", "applying", "enrolled"]
Language = Literal["ja", "en"]


class ChildInput(BaseModel):
    """One child as the family describes them; everything else about the child is derived."""

    model_config = ConfigDict(extra="forbid")

    birth_date: date = Field(
        description="Date of birth (生年月日). Ages, class age and grade are derived from it.",
        examples=["2023-06-15"],
    )
    disability: bool = Field(
        default=False,
        description="The child has a disability certificate or equivalent (障害児).",
    )
    daycare: Daycare = Field(
        default="none",
        description="Daycare status (保育): none, applying (申込中) or enrolled (在園中).",
    )


class FamilyInput(BaseModel):
    """A family profile as entered by the family; derived fields are rejected."""

    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(
        description=(
            "Local government code (全国地方公共団体コード, six digits with check digit) of the "
            "municipality the family lives in, e.g. 131130 for Shibuya."
        ),
        examples=["131130"],
    )
    children: list[ChildInput] = Field(
        default_factory=list,
        max_length=MAX_CHILDREN,
        description=f"Children already born, in any order (at most {MAX_CHILDREN}).",
    )
    pregnant: bool = Field(default=False, description="Someone in the household is pregnant.")
    due_date: date | None = Field(
        default=None, description="Expected date of delivery (出産予定日), when pregnant."
    )
    single_parent: bool | None = Field(
        default=None, description="Single-parent household (ひとり親); null when not told."
    )
    household_income: int | None = Field(
        default=None,
        ge=0,
        description="Household income in yen a year (世帯所得); null when not told.",
    )
    resident_tax_exempt: bool | None = Field(
        default=None,
        description="Household is exempt from resident tax (住民税非課税); null when not told.",
    )
    public_assistance: bool | None = Field(
        default=None,
        description="Household receives public assistance (生活保護); null when not told.",
    )
    language: Language = Field(default="ja", description="Language for notices: ja or en.")

    @field_validator("municipality")
    @classmethod
    def _municipality_code(cls, value: str) -> str:
        if len(value) != 6 or not value.isascii() or not value.isdigit():
            raise ValueError(
                f"municipality must be a six-digit local government code, got {value!r}"
            )
        if not is_valid_lgcode(value):
            raise ValueError(
                f"municipality {value!r} has a wrong check digit "
                "(全国地方公共団体コード: the sixth digit checks the first five)"
            )
        if value == NATION or is_prefecture_code(value):
            raise ValueError(
                f"municipality {value!r} is not a municipality (a prefecture or the nation); "
                "give the code of the city, ward, town or village"
            )
        return value

    @model_validator(mode="after")
    def _due_date_needs_pregnancy(self) -> FamilyInput:
        if self.due_date is not None and not self.pregnant:
            raise ValueError("due_date is given but pregnant is false")
        return self


class Term(NamedTuple):
    """A field rules can use: rule-engine type, descriptions, nullability, allowed values."""

    type: str
    ja: str
    en: str
    nullable: bool = False
    values: tuple[str, ...] | None = None


VOCABULARY: dict[str, Term] = {
    "municipality": Term("STRING", "市区町村コード(6桁)", "Municipality code (6 digits)"),
    "prefecture": Term(
        "STRING", "都道府県コード(6桁、東京都は130001)", "Prefecture code (130001 = Tokyo)"
    ),
    "today": Term("DATETIME", "判定日", "Evaluation date (midnight, Asia/Tokyo)"),
    "fiscal_year": Term(
        "FLOAT", "判定日の年度", "Fiscal year (April-March) of the evaluation date"
    ),
    "children": Term(
        "ARRAY", "子の一覧(各要素は child と同じ項目)", "All children (same fields as child)"
    ),
    "child_count": Term("FLOAT", "子の人数", "Number of children"),
    "youngest_age": Term("FLOAT", "末子の満年齢", "Age in years of the youngest child", True),
    "oldest_age": Term("FLOAT", "長子の満年齢", "Age in years of the oldest child", True),
    "pregnant": Term("BOOLEAN", "妊娠中", "Someone in the household is pregnant"),
    "due_date": Term("DATETIME", "出産予定日", "Expected date of delivery", True),
    "single_parent": Term("BOOLEAN", "ひとり親世帯", "Single-parent household", True),
    "household_income": Term("FLOAT", "世帯所得(円/年)", "Household income (yen a year)", True),
    "resident_tax_exempt": Term("BOOLEAN", "住民税非課税世帯", "Exempt from resident tax", True),
    "public_assistance": Term("BOOLEAN", "生活保護受給世帯", "Receives public assistance", True),
    "language": Term("STRING", "通知の言語", "Notice language", values=("ja", "en")),
    "child.index": Term("FLOAT", "入力順の番号(0から)", "Position in the input (0-based)"),
    "child.birth_date": Term("DATETIME", "生年月日", "Date of birth"),
    "child.age": Term("FLOAT", "満年齢", "Age in full years"),
    "child.age_months": Term("FLOAT", "満月齢", "Age in full months"),
    "child.class_age": Term("FLOAT", "クラス年齢(4月1日時点の年齢)", "Class age (age on April 1)"),
    "child.grade": Term("FLOAT", "学年(小1=1 … 高3=12)", "School grade (1-12)", True),
    "child.birth_order": Term(
        "FLOAT", "出生順(1=第1子)", "Birth order among all children (1 = first)"
    ),
    "child.disability": Term("BOOLEAN", "障害の有無", "Has a disability"),
    "child.daycare": Term(
        "STRING", "保育の状況", "Daycare status", values=("none", "applying", "enrolled")
    ),
}
"""Every household field (bare name) and child field (`child.` prefix) rules can refer to."""


def derive(family: FamilyInput, on: date) -> dict[str, Any]:
    """Build the rule context of `family` as of day `on`; raises ValueError for unborn children."""
    fy = fiscal_year(on)
    for i, child in enumerate(family.children):
        if child.birth_date > on:
            raise ValueError(
                f"children[{i}].birth_date {child.birth_date.isoformat()} is after the evaluation "
                f"date {on.isoformat()}; record an expected child as pregnant/due_date instead"
            )
    # Birth order counts every child by birth date; twins keep their input order (stable sort).
    by_birth = sorted(range(len(family.children)), key=lambda i: family.children[i].birth_date)
    order = {i: rank for rank, i in enumerate(by_birth, start=1)}
    children: list[dict[str, Any]] = []
    for i, child in enumerate(family.children):
        ca = class_age(child.birth_date, fy)
        children.append(
            {
                "index": i,
                "birth_date": child.birth_date,
                "age": age_years(child.birth_date, on),
                "age_months": age_months(child.birth_date, on),
                "class_age": ca,
                "grade": grade(ca),
                "birth_order": order[i],
                "disability": child.disability,
                "daycare": child.daycare,
            }
        )
    ages: list[int] = [c["age"] for c in children]
    return {
        "municipality": family.municipality,
        "prefecture": prefecture_of(family.municipality),
        "today": on,
        "fiscal_year": fy,
        "children": children,
        "child_count": len(children),
        "youngest_age": min(ages) if ages else None,
        "oldest_age": max(ages) if ages else None,
        "pregnant": family.pregnant,
        "due_date": family.due_date,
        "single_parent": family.single_parent,
        "household_income": family.household_income,
        "resident_tax_exempt": family.resident_tax_exempt,
        "public_assistance": family.public_assistance,
        "language": family.language,
    }
