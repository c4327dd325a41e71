"""Who would be told about a program now: counts for the console's preview, never people.

The preview runs the sweep's own machinery over a program that need not be stored or
published: `plan_programs` (push policy, validity, a fixed deadline already past), the sweep's
reachable families (active, consented, with a municipality, in the issuer's scope: a
municipality's own families, a prefecture's families for Tokyo's programs, everyone for the
nation's), read in the same batches straight into columns (`read_columns`), evaluated the same
way on the column engine (`evaluate_plans`: kept to the issuer's scope, family by family only
for a rule the engine does not vectorise), and turned into the very notice drafts the sweep
would record (`draft_notices`: a family that switched the program's topic off would be
suppressed, not told). So the figures are what the next sweep would tell, for a program no
family has heard of yet; families already told once are not told again by a sweep. Ages come
from the columns too: a matching child's age from the child table, a household's youngest
child's from `youngest_age` (none without a child born yet).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

import numpy as np

from notifier.sweep import (
    FamilyMatch,
    Recipient,
    Sessions,
    draft_notices,
    evaluate_plans,
    plan_programs,
    reachable,
    read_columns,
)
from registry.eligibility import CatalogEntry
from registry.programs import in_force
from registry.schemas import ProgramIn
from rules.columns import Columns
from rules.evaluate import CompiledProgram
from rules.language import compile_rule

AGE_BUCKETS = ("none", "0", "1", "2", "3-5", "6-11", "12-17", "18+")
"""Age groups (full years) of the preview; "none": a household without a child born yet."""
CHANNELS = ("line", "app")
TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass
class Audience:
    """How many would be told about a program today, and how they split."""

    per_child: bool
    families: int = 0
    """Families that would be told (they match and did not turn the program's topic off)."""
    opted_out: int = 0
    """Families that match but turned one of the program's topics off (not told)."""
    matches: int = 0
    """Eligibility notices: one per family, or per matching child of a per-child program."""
    reminders: int = 0
    """Deadline reminders that would go out today as well."""
    scanned: int = 0
    """Families of the issuer's scope that can be told at all (active, consented)."""
    by_age: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGE_BUCKETS, 0))
    """Per-child programs: the matching children by age; household programs: the families
    by their youngest child's age."""
    by_channel: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0))
    not_planned: str | None = None
    """Why nobody is told: "on_request" (never pushed), "not_in_force" (outside its validity
    dates) or "deadline_passed" (its fixed application deadline is over)."""


def age_bucket(age: int | None) -> str:
    """The preview's age group of a full age in years (None: no child)."""
    if age is None:
        return "none"
    if age <= 2:
        return str(age)
    if age <= 5:
        return "3-5"
    if age <= 11:
        return "6-11"
    return "12-17" if age <= 17 else "18+"


def _why_not_planned(program: ProgramIn, today: date) -> str:
    if program.push == "on_request":
        return "on_request"
    if not in_force(program, today):
        return "not_in_force"
    return "deadline_passed"


async def count_audience(
    sessions: Sessions,
    program: ProgramIn,
    today: date,
    *,
    zone: tzinfo = TOKYO,
    program_id: int = 0,
    batch_size: int = 2000,
) -> Audience:
    """Count who the sweep would tell about `program` today (it need not be stored: a stored
    one passes its id, so that "I applied" records stop its reminders as they would).

    Raises rules.language.RuleError when the rule does not compile (check it first)."""
    rule = compile_rule(program.eligibility, per_child=program.per_child)
    compiled = CompiledProgram(
        id=str(program_id), rule=rule, per_child=program.per_child, payload=program_id
    )
    entry = CatalogEntry(id=program_id, version=0, data=program, compiled=compiled)
    audience = Audience(per_child=program.per_child)
    plans = plan_programs([entry], today)
    if not plans:
        audience.not_planned = _why_not_planned(program, today)
        return audience
    plan = plans[0]
    where = reachable(None, plans)
    now = datetime.combine(today, time(12), zone)  # only the drafts' due time: unused here
    after = 0
    while True:
        async with sessions() as session:
            batch = await read_columns(
                session, where, after=after, limit=batch_size, today=today, zone=zone
            )
        if not batch.ids:
            break
        after = batch.ids[-1]
        columns = batch.columns
        results = evaluate_plans([(plan.id, compiled, plan.issuer)], columns).results
        drafts, matches = draft_notices(
            plans, batch.families, batch.applied, today=today, now=now, results=results
        )
        audience.scanned += len(batch.families)
        audience.matches += matches.get(plan.id, 0)
        told: set[int] = set()
        opted_out: set[int] = set()
        for draft in drafts.values():
            if draft.status == "suppressed":
                opted_out.add(draft.family_id)
                continue
            told.add(draft.family_id)
            if draft.kind != "eligible":
                audience.reminders += 1
        audience.families += len(told)
        audience.opted_out += len(opted_out)
        _tally(audience, batch.families, columns, results.get(plan.id, []), told)
    return audience


def _ages(column: tuple[np.ndarray, np.ndarray]) -> list[int | None]:
    """A column of ages as full years (None where null)."""
    data, null = column
    ages: list[int | None] = [int(a) for a in data.tolist()]
    if null.ndim:
        for row in np.flatnonzero(null).tolist():
            ages[row] = None
    return ages


def _tally(
    audience: Audience,
    families: list[Recipient],
    columns: Columns,
    found: list[FamilyMatch],
    told: set[int],
) -> None:
    """Split the told families by channel, and by age: of each matching child (per-child
    programs) or of the family's youngest child (household programs), from the columns."""
    ages: dict[str, int] = defaultdict(int)
    youngest: list[int | None] = []
    child_ages: list[int | None] = []
    starts: list[int] = []
    if found and audience.per_child:
        child_ages = _ages(columns.child("age"))
        assert columns.starts is not None  # the child table is built now
        starts = columns.starts.tolist()
    elif found:
        youngest = _ages(columns.household("youngest_age"))
    for position, indexes in found:
        family = families[position]
        if family.id not in told:
            continue
        audience.by_channel[family.channel] = audience.by_channel.get(family.channel, 0) + 1
        if indexes is not None:
            # The children of family p are child rows starts[p]:starts[p+1], in input order.
            for index in indexes:
                ages[age_bucket(child_ages[starts[position] + index])] += 1
        else:
            ages[age_bucket(youngest[position])] += 1
    for bucket, count in ages.items():
        audience.by_age[bucket] += count
