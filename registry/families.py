"""The family repository: households, their children, consent, blocking and deletion.

Every function takes a session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry import hooks
from registry.models import Child, Family, ProgramAction, utcnow
from rules.profile import ChildInput, FamilyInput

PROFILE_FIELDS = (
    "municipality",
    "pregnant",
    "due_date",
    "single_parent",
    "household_income",
    "resident_tax_exempt",
    "public_assistance",
    "language",
)


async def by_line_user(session: AsyncSession, line_user_id: str) -> Family | None:
    """The family of a LINE user, if any."""
    result = await session.exec(select(Family).where(Family.line_user_id == line_user_id))
    return result.first()


async def get_or_create_line_family(session: AsyncSession, line_user_id: str) -> Family:
    """The family of a LINE user, created (holding nothing but the user ID) on first contact."""
    family = await by_line_user(session, line_user_id)
    if family is None:
        family = Family(line_user_id=line_user_id, state="new")
        session.add(family)
        await session.flush()
    return family


async def children_of(session: AsyncSession, family_id: int) -> list[Child]:
    """A family's children, oldest first."""
    result = await session.exec(
        select(Child)
        .where(Child.family_id == family_id)
        .order_by(col(Child.birth_date), col(Child.id))
    )
    return list(result.all())


def touch(family: Family) -> None:
    """Mark a family changed now."""
    family.updated_at = utcnow()


async def record_consent(session: AsyncSession, family: Family) -> Family:
    """The family agreed to the privacy notice: from now on its data may be stored."""
    family.consented_at = family.consented_at or utcnow()
    family.state = "active"
    family.blocked_at = None
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def update_profile(session: AsyncSession, family: Family, **fields: Any) -> Family:
    """Set household fields (only those of the profile vocabulary)."""
    for name, value in fields.items():
        if name not in PROFILE_FIELDS:
            raise ValueError(f"not a household field: {name}")
        setattr(family, name, value)
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def update_preferences(
    session: AsyncSession, family: Family, **changes: Any
) -> dict[str, Any]:
    """Merge changes into the notification preferences (a new dict: JSON columns only notice
    reassignment)."""
    merged = {**(family.preferences or {}), **changes}
    family.preferences = merged
    touch(family)
    session.add(family)
    await session.flush()
    return merged


async def replace_children(
    session: AsyncSession, family: Family, children: Sequence[ChildInput]
) -> list[Child]:
    """Replace a family's children with these."""
    assert family.id is not None
    await session.exec(delete(Child).where(col(Child.family_id) == family.id))  # type: ignore[call-overload]
    rows = [
        Child(
            family_id=family.id,
            birth_date=c.birth_date,
            disability=c.disability,
            daycare=c.daycare,
        )
        for c in children
    ]
    session.add_all(rows)
    touch(family)
    session.add(family)
    await session.flush()
    return rows


async def add_child(
    session: AsyncSession, family: Family, birth_date: date, *, daycare: str = "none"
) -> Child:
    """Add a child."""
    assert family.id is not None
    child = Child(family_id=family.id, birth_date=birth_date, daycare=daycare)
    session.add(child)
    touch(family)
    session.add(family)
    await session.flush()
    return child


async def remove_child(session: AsyncSession, family: Family, child_id: int) -> bool:
    """Remove one child of this family; False when it is not theirs."""
    child = await session.get(Child, child_id)
    if child is None or child.family_id != family.id:
        return False
    await session.delete(child)
    touch(family)
    session.add(family)
    await session.flush()
    return True


async def profile_of(session: AsyncSession, family: Family) -> FamilyInput | None:
    """The family as rules see it (input form); None until it has a municipality."""
    if family.municipality is None or family.id is None:
        return None
    children = await children_of(session, family.id)
    return FamilyInput(
        municipality=family.municipality,
        children=[
            ChildInput(birth_date=c.birth_date, disability=c.disability, daycare=c.daycare)  # type: ignore[arg-type]
            for c in children
        ],
        pregnant=family.pregnant,
        due_date=family.due_date if family.pregnant else None,
        single_parent=family.single_parent,
        household_income=family.household_income,
        resident_tax_exempt=family.resident_tax_exempt,
        public_assistance=family.public_assistance,
        language=family.language,  # type: ignore[arg-type]
    )


async def mark_blocked(session: AsyncSession, family: Family) -> Family:
    """The user blocked the account: nothing is sent any more; the data is kept."""
    family.state = "blocked"
    family.blocked_at = utcnow()
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def mark_unblocked(session: AsyncSession, family: Family) -> Family:
    """The user followed again: back to active if it had consented, else new."""
    family.state = "active" if family.consented_at else "new"
    family.blocked_at = None
    touch(family)
    session.add(family)
    await session.flush()
    return family


async def delete_personal_data(session: AsyncSession, family: Family) -> None:
    """Delete a family's personal data for good; anonymous counts (ratings) stay.

    The row itself stays as a tombstone holding no personal field (not even the LINE user
    ID), so counts of families remain right and nothing can be linked back to the person.
    """
    assert family.id is not None
    await session.exec(delete(Child).where(col(Child.family_id) == family.id))  # type: ignore[call-overload]
    await session.exec(
        delete(ProgramAction).where(col(ProgramAction.family_id) == family.id)  # type: ignore[call-overload]
    )
    # Notices, reviews and any other package's rows about the family (see `registry.hooks`).
    for table in hooks.tables_with(hooks.FORGET_FAMILY):
        await table.forget_family(session, family.id)
    family.line_user_id = None
    family.state = "deleted"
    family.deleted_at = utcnow()
    family.consented_at = None
    family.onboarded_at = None
    family.blocked_at = None
    family.municipality = None
    family.pregnant = False
    family.due_date = None
    family.single_parent = None
    family.household_income = None
    family.resident_tax_exempt = None
    family.public_assistance = None
    family.preferences = {}
    touch(family)
    session.add(family)
    await session.flush()


async def mark_applied(session: AsyncSession, family: Family, program_id: int) -> bool:
    """Record "I applied" for a program (stops its reminders); False when already recorded."""
    assert family.id is not None
    existing = await session.exec(
        select(ProgramAction).where(
            ProgramAction.family_id == family.id,
            ProgramAction.program_id == program_id,
            ProgramAction.kind == "applied",
        )
    )
    if existing.first() is not None:
        return False
    session.add(ProgramAction(family_id=family.id, program_id=program_id, kind="applied"))
    await session.flush()
    return True


async def applied_programs(session: AsyncSession, family_id: int) -> set[int]:
    """Programs the family said it applied for."""
    result = await session.exec(
        select(ProgramAction.program_id).where(
            ProgramAction.family_id == family_id, ProgramAction.kind == "applied"
        )
    )
    return set(result.all())
