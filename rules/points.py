"""Daycare points (利用調整基準): the facts of an application, as points rules see them.

An application for a daycare place (入所申込) carries, besides the child and the wished
facilities, the household facts that 利用調整 scores: each guardian's reason for care (保育の必要性
の事由) and hours of work a week, leave status, siblings, single parent, transfer. These are the
same for every municipality; what each municipality makes of them (base points per reason and
hours, how the guardians' points combine, adjustment points, tie-breaks) is its own rules
document, scored by this module. Pure: no I/O.
"""

from __future__ import annotations

from typing import Literal

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

    @model_validator(mode="after")
    def _consistent(self) -> ApplicationFacts:
        absent = sum(1 for g in self.guardians if g.reason == "absent")
        if absent == len(self.guardians):
            raise ValueError("at least one guardian must be present (reason other than 'absent')")
        if self.sibling_mode != "independent" and self.siblings_applying == 0:
            raise ValueError("sibling_mode needs siblings_applying >= 1")
        return self
