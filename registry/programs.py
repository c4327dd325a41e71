"""The program repository: every function takes a session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Literal

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry import hooks
from registry.models import Program, ProgramAction, ProgramVersion, utcnow
from registry.schemas import ProgramIn, ProgramOut, ValidationReport

Outcome = Literal["created", "updated", "unchanged"]


def _search_text(data: ProgramIn) -> str:
    parts = [data.name.ja, data.name.en or "", data.summary.ja, data.summary.en or ""]
    parts += data.category
    return "\n".join(parts).lower()


def _fill(row: Program, data: ProgramIn) -> None:
    row.issuer = data.issuer
    row.name_ja = data.name.ja
    row.categories = list(data.category)
    row.push = data.push
    row.search_text = _search_text(data)
    row.body = data.model_dump(mode="json")


def program_in(row: Program) -> ProgramIn:
    """The program input stored in a row."""
    return ProgramIn.model_validate(row.body)


def to_out(row: Program) -> ProgramOut:
    """A row as the API answers it."""
    return ProgramOut.model_validate(
        {
            **row.body,
            "id": row.id,
            "version": row.version,
            "status": row.status,
            "source": row.source,
            "source_id": row.source_id,
            "needs_review": row.needs_review,
            "review_notes": row.review_notes,
            "push_explicit": row.push_explicit,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "published_at": row.published_at,
        }
    )


async def _snapshot(session: AsyncSession, row: Program) -> None:
    assert row.id is not None
    existing = await session.exec(
        select(ProgramVersion).where(
            ProgramVersion.program_id == row.id, ProgramVersion.version == row.version
        )
    )
    version = existing.first()
    if version is None:
        version = ProgramVersion(program_id=row.id, version=row.version, status=row.status)
    version.status = row.status
    version.body = dict(row.body)
    session.add(version)


async def create_program(
    session: AsyncSession,
    data: ProgramIn,
    *,
    source: str = "api",
    source_id: str | None = None,
    needs_review: bool = False,
    review_notes: Sequence[str] = (),
    push_explicit: bool = False,
) -> Program:
    """Store a new draft program (version 1); `push_explicit` when the issuer chose `push`."""
    row = Program(
        issuer=data.issuer,
        source=source,
        source_id=source_id,
        needs_review=needs_review,
        review_notes=list(review_notes),
        push_explicit=push_explicit,
    )
    _fill(row, data)
    session.add(row)
    await session.flush()
    await _snapshot(session, row)
    return row


async def get_program(
    session: AsyncSession, program_id: int, *, lock: bool = False
) -> Program | None:
    """One program by id."""
    statement = select(Program).where(Program.id == program_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def list_programs(
    session: AsyncSession,
    *,
    visible_issuers: Iterable[str] | None,
    issuer: str | None = None,
    category: str | None = None,
    status: str | None = "published",
    source: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Program], int]:
    """A filtered page of programs and the total matching.

    Published programs are visible to all; other statuses only for `visible_issuers`
    (None = every issuer, as for an operator).
    """
    statement = select(Program)
    if status and status != "all":
        statement = statement.where(Program.status == status)
    if visible_issuers is not None:
        allowed = list(visible_issuers)
        statement = statement.where(
            or_(col(Program.status) == "published", col(Program.issuer).in_(allowed))
        )
    if issuer:
        statement = statement.where(Program.issuer == issuer)
    if source:
        statement = statement.where(Program.source == source)
    if q:
        for word in q.lower().split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            statement = statement.where(col(Program.search_text).like(f"%{escaped}%", escape="\\"))
    rows = list((await session.exec(statement.order_by(col(Program.id)))).all())
    if category:
        rows = [r for r in rows if category in r.categories]
    total = len(rows)
    return rows[offset : offset + limit], total


async def count_programs(session: AsyncSession) -> int:
    """How many programs are stored."""
    return (await session.exec(select(func.count()).select_from(Program))).one()


async def update_program(
    session: AsyncSession, row: Program, data: ProgramIn, *, push_explicit: bool = False
) -> Program:
    """Apply a change. A published program gets a new version; earlier ones stay readable.

    `push_explicit`: the issuer set `push` in this change (kept from then on)."""
    if push_explicit and not row.push_explicit:
        row.push_explicit = True
        session.add(row)
    if row.body == data.model_dump(mode="json"):
        return row
    if row.status == "published":
        await _snapshot(session, row)
        row.version += 1
        row.published_at = utcnow()
    _fill(row, data)
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    await _snapshot(session, row)
    return row


async def set_status(session: AsyncSession, row: Program, status: str) -> Program:
    """Publish or archive a program."""
    row.status = status
    row.updated_at = utcnow()
    if status == "published":
        row.published_at = utcnow()
        row.needs_review = False
    session.add(row)
    await session.flush()
    await _snapshot(session, row)
    return row


async def delete_program(session: AsyncSession, row: Program) -> None:
    """Delete a program and its versions."""
    versions = await session.exec(
        select(ProgramVersion).where(ProgramVersion.program_id == row.id)
    )
    for version in versions.all():
        await session.delete(version)
    await session.flush()
    await session.delete(row)
    await session.flush()


async def has_family_history(session: AsyncSession, program_id: int) -> bool:
    """Whether families were told about the program or said they applied (kept for history)."""
    found = await session.exec(
        select(ProgramAction.id).where(ProgramAction.program_id == program_id).limit(1)
    )
    if found.first() is not None:
        return True
    # Notices and any other package's rows about the program (see `registry.hooks`).
    for table in hooks.tables_with(hooks.HAS_PROGRAM_HISTORY):
        if await table.has_program_history(session, program_id):
            return True
    return False


async def list_versions(session: AsyncSession, program_id: int) -> list[ProgramVersion]:
    """Every version of a program, oldest first."""
    result = await session.exec(
        select(ProgramVersion)
        .where(ProgramVersion.program_id == program_id)
        .order_by(col(ProgramVersion.version))
    )
    return list(result.all())


async def find_by_source(session: AsyncSession, source: str, source_id: str) -> Program | None:
    """The program imported from this source id, if any."""
    result = await session.exec(
        select(Program).where(Program.source == source, Program.source_id == source_id)
    )
    return result.first()


async def upsert_imported(
    session: AsyncSession,
    data: ProgramIn,
    *,
    source_id: str,
    needs_review: bool,
    review_notes: Sequence[str],
    publish: bool,
    source: str = "registry-import",
) -> tuple[Program, Outcome]:
    """Create or update an imported program keyed by its source id (psid).

    Programs a person has published or archived keep their status; a changed item that now
    needs review is not pushed on stale trust: it goes back to draft. A push policy the issuer
    set itself (`push_explicit`) wins over the import's.
    """
    row = await find_by_source(session, source, source_id)
    if row is not None and row.push_explicit:
        data = data.model_copy(update={"push": row.push})
    if row is None:
        row = await create_program(
            session,
            data,
            source=source,
            source_id=source_id,
            needs_review=needs_review,
            review_notes=review_notes,
        )
        if publish and not needs_review:
            await set_status(session, row, "published")
        return row, "created"
    same_body = row.body == data.model_dump(mode="json")
    same_notes = row.review_notes == list(review_notes)
    if same_body and same_notes:
        return row, "unchanged"
    await update_program(session, row, data)
    row.review_notes = list(review_notes)
    row.needs_review = needs_review if row.status != "published" else row.needs_review
    if needs_review and row.status == "published" and row.source == source and not publish:
        row.status = "draft"
        row.needs_review = True
    elif publish and not needs_review and row.status == "draft":
        await set_status(session, row, "published")
    session.add(row)
    await session.flush()
    return row, "updated"


async def published_programs(
    session: AsyncSession, *, issuers: Iterable[str] | None = None
) -> list[Program]:
    """Published programs, optionally of some issuers only."""
    statement = select(Program).where(Program.status == "published")
    if issuers is not None:
        statement = statement.where(col(Program.issuer).in_(list(issuers)))
    return list((await session.exec(statement.order_by(col(Program.id)))).all())


def in_force(data: ProgramIn, on: date) -> bool:
    """Whether the program is valid on a date."""
    if data.valid_from and on < data.valid_from:
        return False
    return not (data.valid_to and on > data.valid_to)


NO_APPLICATION = frozenset({"health-checkup", "vaccination", "consultation"})
"""Categories of programs one goes to rather than applies for (the municipality invites)."""


def applies_for(categories: Iterable[str]) -> bool:
    """Whether parents apply for a program of these categories ("I applied" makes sense)."""
    return not NO_APPLICATION.intersection(categories)


def as_dict(row: Program) -> dict[str, Any]:
    """The program as plain JSON."""
    return to_out(row).model_dump(mode="json")


class ProgramRefused(Exception):
    """A change the program's state or its check does not allow (the API answers it as a 4xx
    error; the console shows it next to the form)."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def failing(report: ValidationReport) -> str:
    """The failing parts of a check in one line ("examples[1]: expected ...")."""
    return "; ".join(f"{e['location']}: {e['reason']}" for e in report.errors)


def require_rule(report: ValidationReport) -> None:
    """Refuse a rule that does not compile (a check without example results)."""
    if report.errors and not report.examples:
        raise ProgramRefused(
            422, "invalid_rule", "the eligibility rule is not valid", report.errors
        )


def require_changeable(row: Program) -> None:
    """Refuse changes to an archived program."""
    if row.status == "archived":
        raise ProgramRefused(409, "archived", "an archived program cannot be changed")


async def create_checked(
    session: AsyncSession, data: ProgramIn, report: ValidationReport, *, push_explicit: bool
) -> Program:
    """Register a draft whose rule compiled (its examples may still fail: it is a draft)."""
    require_rule(report)
    return await create_program(session, data, push_explicit=push_explicit)


async def change_checked(
    session: AsyncSession,
    row: Program,
    data: ProgramIn,
    report: ValidationReport,
    *,
    push_explicit: bool,
) -> Program:
    """Apply a checked change: never to an archived program, never a rule that does not
    compile, and a published program must still pass its examples (it gets a new version)."""
    require_changeable(row)
    require_rule(report)
    if row.status == "published" and not report.valid:
        raise ProgramRefused(
            422,
            "examples_failed",
            "a published program must pass its examples: " + failing(report),
            report.errors,
        )
    return await update_program(session, row, data, push_explicit=push_explicit)


async def publish_checked(
    session: AsyncSession, row: Program, report: ValidationReport
) -> tuple[Program, bool]:
    """Publish a program whose check passed (refused naming the failing example); whether it
    was newly published (then families are to be told)."""
    if not report.valid:
        code = "examples_failed" if report.examples else "invalid_rule"
        raise ProgramRefused(422, code, "cannot publish: " + failing(report), report.errors)
    if row.status == "published":
        return row, False
    return await set_status(session, row, "published"), True


async def archive(session: AsyncSession, row: Program) -> Program:
    """Archive a program (offered to nobody from now on)."""
    if row.status == "archived":
        return row
    return await set_status(session, row, "archived")


async def delete_checked(session: AsyncSession, row: Program) -> None:
    """Delete a program that is not published and that no family has a history with."""
    if row.status == "published":
        raise ProgramRefused(
            409, "published", "a published program cannot be deleted: archive it first"
        )
    assert row.id is not None
    if await has_family_history(session, row.id):
        raise ProgramRefused(
            409,
            "has_history",
            f"program {row.id} cannot be deleted: families were told about it or applied "
            "for it, and that history is kept; it stays archived and is offered to nobody",
        )
    await delete_program(session, row)
