"""Points rules (利用調整基準) in storage: versions per municipality, the one valid on a date.

The documents themselves are `rules.points.PointsDocument`; this module stores them as
`PointsRules` rows (a new version only when the digest changes) and reads them back. The
tables shipped with the package (`points_rules/*.yaml`) are real municipalities' 別表.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.models import Facility, PastResult, PointsRules
from rules.points import PointsDocument, check_examples, document_digest, run_examples, score

__all__ = ["rules_for", "score", "save_rules", "shipped_documents", "load_document"]


class InvalidDocument(Exception):
    """A points document refused: `details` lists {location, reason[, suggestion]}."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def parse_document(data: Any) -> PointsDocument:
    """Validate a parsed YAML or JSON document and check it; InvalidDocument with locations."""
    try:
        document = PointsDocument.model_validate(data)
    except ValidationError as exc:
        details = [
            {
                "location": ".".join(str(p) for p in err["loc"]) or "body",
                "reason": err["msg"],
            }
            for err in exc.errors()
        ]
        raise InvalidDocument("the points document is not valid", details) from None
    problems = check_examples(document)
    if problems:
        raise InvalidDocument("the points document does not hold", problems)
    return document


def load_document(text: str) -> PointsDocument:
    """Parse YAML (JSON is YAML too) into a checked document; InvalidDocument if it is not."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidDocument(
            "the document is not valid YAML or JSON", [{"location": "body", "reason": str(exc)}]
        ) from None
    return parse_document(data)


def shipped_documents() -> list[PointsDocument]:
    """The real municipalities' tables shipped with the package, checked."""
    folder = files("integrations.daycare") / "points_rules"
    return [
        load_document(item.read_text(encoding="utf-8"))
        for item in sorted(folder.iterdir(), key=lambda p: p.name)
        if item.name.endswith(".yaml")
    ]


@dataclass(frozen=True)
class Saved:
    """What saving a document did: the row, and whether it is a new version."""

    row: PointsRules
    created: bool


async def latest_rules(session: AsyncSession, municipality: str) -> PointsRules | None:
    """The newest version of a municipality's rules, whatever its dates."""
    rows = await session.exec(
        select(PointsRules)
        .where(PointsRules.municipality == municipality)
        .order_by(col(PointsRules.version).desc())
        .limit(1)
    )
    return rows.first()


async def save_rules(session: AsyncSession, document: PointsDocument, created_by: str) -> Saved:
    """Store a checked document as the next version (the same digest as the latest: no-op)."""
    digest = document_digest(document)
    latest = await latest_rules(session, document.municipality)
    if latest is not None and latest.digest == digest:
        return Saved(latest, created=False)
    row = PointsRules(
        municipality=document.municipality,
        version=(latest.version + 1) if latest is not None else 1,
        valid_from=document.valid_from,
        valid_to=document.valid_to,
        title=document.title,
        source_url=document.source_url,
        digest=digest,
        body=document.model_dump(mode="json"),
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return Saved(row, created=True)


async def list_rules(session: AsyncSession, municipality: str) -> list[PointsRules]:
    """Every version of a municipality's rules, newest first."""
    rows = await session.exec(
        select(PointsRules)
        .where(PointsRules.municipality == municipality)
        .order_by(col(PointsRules.version).desc())
    )
    return list(rows.all())


async def get_rules(session: AsyncSession, municipality: str, version: int) -> PointsRules | None:
    """One version of a municipality's rules."""
    rows = await session.exec(
        select(PointsRules).where(
            PointsRules.municipality == municipality, PointsRules.version == version
        )
    )
    return rows.first()


async def rules_for(
    session: AsyncSession, municipality: str, on: date
) -> tuple[PointsRules, PointsDocument] | None:
    """The rules valid on `on` (the newest version whose dates contain it), or None."""
    rows = await session.exec(
        select(PointsRules)
        .where(
            PointsRules.municipality == municipality,
            col(PointsRules.valid_from) <= on,
            or_(col(PointsRules.valid_to).is_(None), col(PointsRules.valid_to) >= on),
        )
        .order_by(col(PointsRules.version).desc())
        .limit(1)
    )
    row = rows.first()
    if row is None:
        return None
    return row, PointsDocument.model_validate(row.body)


@dataclass(frozen=True)
class LastMinimum:
    """A wished facility's latest published minimum points for a class (入所最低指数)."""

    facility_pk: int
    name: str
    year: int | None
    outcome: str  # points, at_most, withheld, vacant, no_class, none, unknown
    points: float | None


async def last_minimums(
    session: AsyncSession, municipality: str, facility_pks: list[int], class_age: int | None
) -> list[LastMinimum | None]:
    """For each facility (database id), its latest minimum points for the class.

    None where the id is not a facility of the municipality.
    """
    out: list[LastMinimum | None] = []
    for pk in facility_pks:
        facility = await session.get(Facility, pk)
        if facility is None or facility.municipality != municipality:
            out.append(None)
            continue
        result = None
        if class_age is not None:
            rows = await session.exec(
                select(PastResult)
                .where(
                    PastResult.facility_pk == pk,
                    PastResult.kind == "min_points",
                    PastResult.class_age == class_age,
                )
                .order_by(col(PastResult.year).desc())
                .limit(1)
            )
            result = rows.first()
        out.append(
            LastMinimum(
                facility_pk=pk,
                name=facility.name_ja,
                year=result.year if result else None,
                outcome=result.outcome if result else "unknown",
                points=result.points if result else None,
            )
        )
    return out


__all__ += ["InvalidDocument", "parse_document", "run_examples", "last_minimums", "list_rules"]
