"""Pydantic models of the program registry API (they also generate its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from registry.urls import parent_url_validator
from rules.cost import MAX_EXAMPLES
from rules.lgcode import is_valid_lgcode
from rules.profile import FamilyInput

ProgramStatus = Literal["draft", "published", "archived"]
ProgramSource = Literal["api", "registry-import", "demo"]
PushPolicy = Literal["proactive", "on_request"]
"""`proactive`: matching families are told (pushed); `on_request`: shown only when a parent
asks (the bot's programs list, the eligibility endpoint), never pushed."""

NOTICE_TOPICS = (
    "allowance",
    "medical",
    "health-checkup",
    "vaccination",
    "pregnancy",
    "birth",
    "daycare",
    "after-school",
    "single-parent",
    "gift",
    "consultation",
    "classes",
)
"""The notification topics a parent can switch off (the bot's 通知設定); a program's categories
name them. Twelve, so the toggles and a back button fit LINE's 13 quick-reply items."""
_PUSH_DESCRIPTION = (
    "proactive: families who match are told; on_request: shown only when a parent asks, never "
    "pushed (seminars, consultations, events, sensitive topics)"
)


class Strict(BaseModel):
    """Unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


ParentUrl = Annotated[str, Field(max_length=2000), AfterValidator(parent_url_validator)]
"""A link shown to parents: https only (see registry.urls)."""


class LocalizedText(Strict):
    """A text for parents in Japanese (required) and English (optional)."""

    ja: str = Field(min_length=1, max_length=20000)
    en: str | None = Field(default=None, max_length=20000)


class Application(Strict):
    """How and by when to apply."""

    url: ParentUrl | None = Field(default=None, description="where to apply (https)")
    deadline: date | None = Field(default=None, description="a fixed last day to apply")
    deadline_days_after_birth: int | None = Field(
        default=None, ge=0, le=3650, description="apply within this many days after a birth"
    )

    @model_validator(mode="after")
    def _one_deadline(self) -> Application:
        if self.deadline is not None and self.deadline_days_after_birth is not None:
            raise ValueError("give either deadline or deadline_days_after_birth, not both")
        return self


class ProgramExample(Strict):
    """An example family with its expected eligibility on a date (OpenFisca-style test)."""

    family: FamilyInput
    date: dt.date
    eligible: bool = Field(
        description="expected result; for a per-child program, true if at least one child fits"
    )
    note: str | None = Field(default=None, max_length=500)


def _check_issuer(value: str) -> str:
    if not is_valid_lgcode(value):
        raise ValueError(
            f"{value!r} is not a valid local government code (6 digits with a check digit)"
        )
    return value


class ProgramFields(Strict):
    """The fields a municipality writes; every one optional here (PATCH)."""

    name: LocalizedText | None = None
    summary: LocalizedText | None = None
    category: list[str] | None = Field(default=None, max_length=20)
    eligibility: str | None = Field(
        default=None,
        min_length=1,
        max_length=4000,
        description="rule-engine expression over the family vocabulary",
    )
    per_child: bool | None = None
    benefit: str | None = Field(default=None, max_length=5000)
    reference_url: ParentUrl | None = Field(default=None, description="official page (https)")
    application: Application | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    examples: list[ProgramExample] | None = Field(default=None, max_length=200)
    attribution: str | None = Field(default=None, max_length=1000)
    push: PushPolicy | None = Field(default=None, description=_PUSH_DESCRIPTION)


class ProgramIn(Strict):
    """A program as a municipality registers it."""

    issuer: str = Field(
        pattern=r"^\d{6}$", description="local government code of the issuer (000000 = nation)"
    )
    name: LocalizedText
    summary: LocalizedText
    category: list[str] = Field(default_factory=list, max_length=20)
    eligibility: str = Field(
        min_length=1,
        max_length=4000,
        description="rule-engine expression over the family vocabulary",
    )
    per_child: bool = False
    benefit: str | None = Field(default=None, max_length=5000)
    reference_url: ParentUrl | None = Field(default=None, description="official page (https)")
    application: Application = Field(default_factory=Application)
    valid_from: date | None = None
    valid_to: date | None = None
    examples: list[ProgramExample] = Field(
        default_factory=list,
        max_length=200,
        description=f"example families, run on every check; a check takes at most {MAX_EXAMPLES} "
        "(programs stored earlier with more stay readable)",
    )
    attribution: str | None = Field(
        default=None, max_length=1000, description="credit the data's licence requires"
    )
    push: PushPolicy = Field(default="proactive", description=_PUSH_DESCRIPTION)

    _issuer = field_validator("issuer")(classmethod(lambda cls, v: _check_issuer(v)))

    @field_validator("category")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        cleaned = [c.strip() for c in value]
        if any(not c or len(c) > 64 for c in cleaned):
            raise ValueError("categories are non-empty strings of at most 64 characters")
        return cleaned

    @model_validator(mode="after")
    def _dates_in_order(self) -> ProgramIn:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class ProgramOut(ProgramIn):
    """A stored program, as the API answers it."""

    model_config = ConfigDict(extra="ignore")

    id: int
    version: int
    status: ProgramStatus
    source: ProgramSource
    source_id: str | None = None
    needs_review: bool = False
    review_notes: list[str] = Field(default_factory=list)
    push_explicit: bool = Field(
        default=False,
        description="true when the issuer set `push` itself (an import never overrides it)",
    )
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None


class ProgramList(BaseModel):
    """One page of programs."""

    items: list[ProgramOut]
    total: int


class ProgramVersionOut(BaseModel):
    """An earlier version, frozen."""

    program_id: int
    version: int
    status: ProgramStatus
    created_at: datetime
    program: ProgramIn


class ProgramVersionList(BaseModel):
    """Every version of a program, oldest first."""

    items: list[ProgramVersionOut]


class ExampleResult(BaseModel):
    """The outcome of one example."""

    index: int
    date: dt.date
    expected: bool
    actual: bool
    children: list[int] = Field(default_factory=list)
    passed: bool


class ValidationReport(BaseModel):
    """What `POST /programs/validate` finds, without saving anything."""

    valid: bool
    errors: list[dict[str, Any]] = Field(default_factory=list)
    examples: list[ExampleResult] = Field(default_factory=list)
