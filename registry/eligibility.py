"""Which published programs a family can get on a date, and why."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import Program
from registry.programs import in_force, program_in
from registry.schemas import LocalizedText, ProgramIn
from rules.evaluate import CompiledProgram, Match, evaluate_family
from rules.language import RuleError, compile_rule
from rules.profile import FamilyInput, derive

NATION = "000000"
log = logging.getLogger(__name__)


class EligibilityRequest(BaseModel):
    """A family profile (input form) and the date to evaluate on (default: today in Tokyo)."""

    model_config = ConfigDict(extra="forbid")

    family: FamilyInput
    date: dt.date | None = Field(
        default=None, description="YYYY-MM-DD; default today (HAGUKUMI_TZ)"
    )


class Explanation(BaseModel):
    """Which parts of the rule held, failed, or could not be decided (unknown data)."""

    rule: str
    held: list[str]
    failed: list[str]
    unknown: list[str]


class EligibleProgram(BaseModel):
    """A program the family can get."""

    id: int
    version: int
    issuer: str
    name: LocalizedText
    category: list[str]
    per_child: bool
    children: list[int] = Field(description="0-based indexes of the qualifying children")
    explanation: Explanation
    reference_url: str | None = None
    application: dict[str, Any] | None = None


class NearMiss(BaseModel):
    """A program the family missed by one condition."""

    id: int
    version: int
    issuer: str
    name: LocalizedText
    failed: list[str]
    explanation: Explanation


class EligibilityResponse(BaseModel):
    """The programs a family can get on a date, and its near misses."""

    date: dt.date
    programs: list[EligibleProgram]
    near_misses: list[NearMiss]


@dataclass
class CatalogEntry:
    """A published program with its compiled rule."""

    id: int
    version: int
    data: ProgramIn
    compiled: CompiledProgram


class Catalog:
    """Published programs compiled once and reused until the table changes."""

    def __init__(self) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self._entries: list[CatalogEntry] = []

    async def entries(self, session: AsyncSession) -> list[CatalogEntry]:
        """The published programs, reloaded only when something changed."""
        stamp_row = (
            await session.exec(
                select(func.count(), func.max(Program.updated_at), func.max(Program.id)).where(
                    Program.status == "published"
                )
            )
        ).one()
        stamp = tuple(stamp_row)
        if stamp != self._stamp:
            rows = (await session.exec(select(Program).where(Program.status == "published"))).all()
            entries = []
            for row in rows:
                data = program_in(row)
                try:
                    rule = compile_rule(data.eligibility, per_child=data.per_child)
                except RuleError as exc:
                    # Published before today's checks (e.g. a rule now too costly): offering it
                    # would hold every request, so it is left out until its issuer fixes it.
                    log.warning(
                        "published program left out: its rule no longer compiles",
                        extra={"program_id": row.id, "reason": exc.message},
                    )
                    continue
                assert row.id is not None
                entries.append(
                    CatalogEntry(
                        id=row.id,
                        version=row.version,
                        data=data,
                        compiled=CompiledProgram(
                            id=str(row.id), rule=rule, per_child=data.per_child, payload=row.id
                        ),
                    )
                )
            self._entries = sorted(entries, key=lambda e: e.id)
            self._stamp = stamp
        return self._entries


def issuers_for(context: dict[str, Any]) -> set[str]:
    """A family sees programs of its municipality, its prefecture and the nation."""
    return {context["municipality"], context["prefecture"], NATION}


def _explanation(data: ProgramIn, match: Match) -> Explanation:
    exp = match.explanation
    return Explanation(
        rule=data.eligibility,
        held=list(exp.held),
        failed=list(exp.failed),
        unknown=list(exp.unknown),
    )


def evaluate(entries: list[CatalogEntry], family: FamilyInput, on: date) -> EligibilityResponse:
    """Evaluate one family against every program that applies to it on a date."""
    context = derive(family, on)
    issuers = issuers_for(context)
    applicable = [e for e in entries if e.data.issuer in issuers and in_force(e.data, on)]
    by_id = {e.compiled.id: e for e in applicable}
    programs: list[EligibleProgram] = []
    near: list[NearMiss] = []
    for match in evaluate_family(context, [e.compiled for e in applicable]):
        entry = by_id[match.program.id]
        explanation = _explanation(entry.data, match)
        if match.eligible:
            programs.append(
                EligibleProgram(
                    id=entry.id,
                    version=entry.version,
                    issuer=entry.data.issuer,
                    name=entry.data.name,
                    category=entry.data.category,
                    per_child=entry.data.per_child,
                    children=list(match.children),
                    explanation=explanation,
                    reference_url=entry.data.reference_url,
                    application=entry.data.application.model_dump(mode="json"),
                )
            )
        elif match.near_miss:
            near.append(
                NearMiss(
                    id=entry.id,
                    version=entry.version,
                    issuer=entry.data.issuer,
                    name=entry.data.name,
                    failed=list(explanation.failed),
                    explanation=explanation,
                )
            )
    return EligibilityResponse(date=on, programs=programs, near_misses=near)
