"""The sweep: every published program against every consented family, as of one moment.

The population path of "the life of a notice": programs are compiled once, families are read in
batches (keyset pages by id, each with its children, app subscriptions and "I applied" records
in one query apiece) and derived straight into columns (`rules.columns.derive_columns`: no
profile object or rule context per family), and every program is evaluated on them with
`rules.evaluate.evaluate_columns`, kept to its issuer's scope by a mask over the batch's
families. The notices a page already has (this fiscal year's eligibility notices as integer
codes aggregated by the database, reminders as keys) are read before drafting: matches are
compared with them as numpy arrays, and only new notices become `NoticeDraft`s, recorded with
INSERT ... ON CONFLICT DO NOTHING. Each batch commits on its own, so a long run holds no long
transaction and a run cut short is simply finished by the next one. The scheduler's daily sweep
keeps the families' rows between days (`Population`) and re-reads only changed families. A
rule the column engine does not cover is evaluated family by family over its scope only (the
same answer, slower); the report names such programs, why, and how many family evaluations
they cost. The notices carry each program's
reasons (its top-level conditions, the same for every match), so no family is explained here.

Who is told: only families in state "active" with consent and a municipality. Blocked families
get no new notices (not even suppressed ones: following again and the next sweep catch them
up, and nothing is recorded about someone who cannot be told); deleted families hold no profile
and are never read. Notices already pending for a family that blocks are suppressed "blocked"
by the delivery stage.

Notice kinds and cycles:

* `eligible`, cycle = the fiscal year (a new fiscal year tells again), one per qualifying child
  for per-child programs. Not created once a fixed application deadline has passed.
* `deadline-7` / `deadline-2`, cycle = the deadline date, when the deadline is 3-7 / 0-2 days
  ahead; a window rather than an exact day, so a missed daily run still reminds (once: the cycle
  is the date). The deadline is `application.deadline`, or a child's birth date plus
  `application.deadline_days_after_birth` (児童手当's 15日特例: born 8 days ago → 7 days left).
  Birth deadlines are per child; a fixed deadline of a per-child program reminds per child too,
  as its eligibility notice did. "I applied" (ProgramAction "applied") stops the reminders it
  covers: those of children born on or before the day it was recorded (a later child needs a
  new application) and fixed deadlines less than a year after it (an older one belongs to an
  earlier round).

A family whose preferences["categories_off"] names any of a program's categories gets the
notices recorded as suppressed "preference", so statistics still show them. Programs with
`push: on_request` are never planned: no notice of any kind is recorded for them.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from operator import itemgetter
from typing import Any, get_args

import numpy as np
from sqlalchemy import String, cast, func, or_
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.compose import payload, program_part
from notifier.ledger import (
    CODE_SHIFT,
    NoticeDraft,
    NoticeKey,
    child_key,
    record_new,
    recorded_eligible,
    recorded_keys,
    subject_for_program,
)
from registry.db import transaction
from registry.eligibility import NATION, Catalog, CatalogEntry, issuers_for
from registry.models import AppSubscription, Child, Family, ProgramAction, utcnow
from registry.programs import in_force
from rules.ages import fiscal_year
from rules.columns import (
    Columns,
    NotVectorised,
    build_columns,
    derive_columns,
    fallback_reason,
)
from rules.deadlines import application_deadline
from rules.evaluate import CompiledProgram, evaluate_columns
from rules.explain import reasons_of
from rules.language import bind
from rules.lgcode import is_prefecture_code
from rules.profile import MAX_CHILDREN, ChildInput, Daycare, FamilyInput, Language, derive

log = logging.getLogger(__name__)

REMINDERS = (("deadline-2", 2), ("deadline-7", 7))
"""Reminder kinds by the largest number of days left they cover, nearest first."""
SAMPLES = 3
BATCH = 10_000
"""Families per page: each page is one transaction, five queries and one evaluation of every
program on its columns (larger pages cost fewer round trips; the peak memory of a sweep is a
page's)."""
APPLIED_COVERS = timedelta(days=366)
"""How far ahead of a fixed deadline an "I applied" record still belongs to the same round."""

Sessions = async_sessionmaker[AsyncSession]
Progress = Callable[[str], None]


@dataclass(slots=True)
class Recipient:
    """What deciding a family's notices needs, besides which rules hold for it."""

    id: int
    births: list[date]
    categories_off: frozenset[str]
    channel: str


@dataclass(slots=True)
class FamilyView(Recipient):
    """One family as the sweep reads it: its rule context and what deciding notices needs."""

    context: dict[str, Any]


@dataclass(slots=True)
class ProgramPlan:
    """A published program prepared for one day: compiled rule, payload part, deadline."""

    entry: CatalogEntry
    subject: str
    categories: frozenset[str]
    category: str
    part: dict[str, Any]
    deadline: date | None
    days_after_birth: int | None
    payloads: dict[tuple[str, date | None, tuple[int, int] | None], dict[str, Any]] = field(
        default_factory=dict
    )

    @property
    def id(self) -> int:
        """The program id."""
        return self.entry.id

    @property
    def issuer(self) -> str:
        """The issuing government's code."""
        return self.entry.data.issuer

    def payload(self, kind: str, deadline: date | None, birth: date | None) -> dict[str, Any]:
        """The payload of a notice, shared by every notice that would carry the same one."""
        # The label names only the birth month, so notices about children born in the same
        # month (with the same deadline) share one payload object.
        month = (birth.year, birth.month) if birth else None
        key = (kind, deadline, month)
        found = self.payloads.get(key)
        if found is None:
            found = payload(self.part, kind=kind, deadline=deadline, birth=birth)
            self.payloads[key] = found
        return found


@dataclass
class ProgramTally:
    """What a run found for one program."""

    id: int
    name: str
    matches: int = 0
    reminders: int = 0
    new: int = 0
    suppressed: int = 0
    families: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)
    fallback: str | None = None
    """Why the program's rule was evaluated family by family (None: on columns)."""
    fallback_evaluations: int = 0
    """Family evaluations that cost."""


@dataclass
class SweepReport:
    """What a sweep (or a trigger) found and recorded."""

    as_of: date
    fiscal_year: int
    dry_run: bool
    programs: dict[int, ProgramTally] = field(default_factory=dict)
    families_scanned: int = 0
    families_skipped: int = 0
    families_read: int = 0
    """Families read from the database (the others were kept from the last sweep)."""
    families_kept: int = 0
    """Families taken as they were kept from the last sweep (`Population`), not read."""
    elapsed: float = 0.0

    @property
    def matches(self) -> int:
        """Eligible (family, program[, child]) matches."""
        return sum(t.matches for t in self.programs.values())

    @property
    def reminders(self) -> int:
        """Deadline reminders due."""
        return sum(t.reminders for t in self.programs.values())

    @property
    def new(self) -> int:
        """Notices recorded (or, in a dry run, that would be) for the first time."""
        return sum(t.new for t in self.programs.values())

    @property
    def suppressed(self) -> int:
        """New notices recorded as suppressed (the family opted out of the category)."""
        return sum(t.suppressed for t in self.programs.values())

    def fallback_line(self) -> str:
        """Which programs' rules were evaluated family by family rather than on columns, why,
        and the family evaluations they cost."""
        slow = sorted((t for t in self.programs.values() if t.fallback), key=lambda t: t.id)
        if not slow:
            return "rules per family: none (every rule evaluated on columns)"
        evaluations = sum(t.fallback_evaluations for t in slow)
        named = "; ".join(f"{t.id} {t.name} ({t.fallback})" for t in slow)
        return f"rules per family: {len(slow)}, {evaluations} family evaluations — {named}"

    def render(self) -> str:
        """A plain-text table for the CLI."""
        head = f"sweep as of {self.as_of.isoformat()} (FY{self.fiscal_year})"
        if self.dry_run:
            head += " — dry run, nothing written"
        lines = [
            head,
            f"families scanned {self.families_scanned}, skipped {self.families_skipped}"
            " (profile no longer derives)"
            + (
                f"; {self.families_kept} kept from the last sweep, {self.families_read} read"
                if self.families_kept
                else ""
            ),
            f"{'id':>6}  {'matches':>8} {'remind':>7} {'new':>7} {'suppr':>6} {'told':>7}"
            "  program",
        ]
        for t in sorted(self.programs.values(), key=lambda t: t.id):
            lines.append(
                f"{t.id:>6}  {t.matches:>8} {t.reminders:>7} {t.new:>7} {t.suppressed:>6}"
                f" {t.families:>7}  {t.name}"
            )
            for s in t.samples:
                child = f" {s['child']}" if s["child"] else ""
                lines.append(f"{'':>8}e.g. family {s['family_id']} {s['kind']}{child}")
        told = sum(t.families for t in self.programs.values())
        lines.append(
            f"{'total':>6}  {self.matches:>8} {self.reminders:>7} {self.new:>7}"
            f" {self.suppressed:>6} {told:>7}"
        )
        lines.append(self.fallback_line())
        lines.append(f"elapsed {self.elapsed:.1f} s")
        return "\n".join(lines)


def today_of(now: datetime, zone: tzinfo) -> date:
    """The date people in `zone` live on at `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zone).date()


def _reminder_kind(days_left: int) -> str | None:
    if days_left < 0:
        return None
    for kind, most in REMINDERS:
        if days_left <= most:
            return kind
    return None


def _applied_covers(applied_on: date | None, deadline: date, birth: date | None) -> bool:
    if applied_on is None:
        return False
    if birth is not None:
        return applied_on >= birth
    return deadline - applied_on < APPLIED_COVERS


def plan_programs(entries: Iterable[CatalogEntry], today: date) -> list[ProgramPlan]:
    """The programs to evaluate today: pushed (not on_request), in force, and not past a fixed
    application deadline."""
    plans = []
    for entry in entries:
        data = entry.data
        # On-request programs (seminars, consultations, sensitive topics) are shown when a
        # parent asks and never pushed: no eligibility notice, no reminder.
        if data.push == "on_request" or not in_force(data, today):
            continue
        deadline = data.application.deadline
        if deadline is not None and deadline < today:
            continue
        plans.append(
            ProgramPlan(
                entry=entry,
                subject=subject_for_program(entry.id),
                categories=frozenset(data.category),
                # The ledger keeps one category for statistics; the payload keeps them all.
                category=data.category[0][:64] if data.category else "",
                # A definite match holds every top-level conjunct: they are the reasons.
                part=program_part(entry.id, entry.version, data, reasons_of(entry.compiled.rule)),
                deadline=deadline,
                days_after_birth=data.application.deadline_days_after_birth,
            )
        )
    return plans


async def load_plans(
    session: AsyncSession,
    today: date,
    *,
    program_ids: set[int] | None = None,
    catalog: Catalog | None = None,
) -> list[ProgramPlan]:
    """Published programs compiled (once per catalog change) and planned for today."""
    entries = await (catalog or Catalog()).entries(session)
    if program_ids is not None:
        entries = [e for e in entries if e.id in program_ids]
    return plan_programs(entries, today)


def _scope_filter(plans: Sequence[ProgramPlan]) -> Any:
    """A WHERE clause keeping only families some plan can reach (None = every family)."""
    clauses = []
    for issuer in {p.issuer for p in plans}:
        if issuer == NATION:
            return None
        if is_prefecture_code(issuer):
            # A municipality's code starts with its prefecture's two digits (JIS X 0401).
            clauses.append(col(Family.municipality).startswith(issuer[:2]))
        else:
            clauses.append(col(Family.municipality) == issuer)
    return or_(*clauses) if clauses else col(Family.id) < 0


def reachable(family_id: int | None, plans: Sequence[ProgramPlan]) -> list[Any]:
    """WHERE clauses of the families who can be told (active, consented, with a municipality,
    in some plan's scope), all of them or one."""
    where = [
        col(Family.state) == "active",
        col(Family.consented_at).is_not(None),
        col(Family.municipality).is_not(None),
    ]
    if family_id is not None:
        where.append(col(Family.id) == family_id)
    scope = _scope_filter(plans)
    if scope is not None:
        where.append(scope)
    return where


_NOTHING_OFF: frozenset[str] = frozenset()

_FAMILY_COLUMNS = (
    Family.id,
    Family.municipality,
    Family.pregnant,
    Family.due_date,
    Family.single_parent,
    Family.household_income,
    Family.resident_tax_exempt,
    Family.public_assistance,
    Family.language,
    Family.preferences,
)


def _recipient(fid: int, births: list[date], prefs: Any, has_app: bool) -> Recipient:
    if not prefs or prefs in ("{}", "null"):
        # Most families have no preferences: nothing to decode.
        return Recipient(fid, births, _NOTHING_OFF, "app" if has_app else "line")
    if isinstance(prefs, str):
        prefs = _preferences(prefs)
    off = prefs.get("categories_off") or []
    return Recipient(
        id=fid,
        births=births,
        categories_off=frozenset(off) if isinstance(off, list) else frozenset(),
        channel="app" if has_app or prefs.get("channel") == "app" else "line",
    )


def view_family(
    row: Sequence[Any], children: Sequence[Sequence[Any]], has_app: bool, today: date
) -> FamilyView | None:
    """A family row and its (birth_date, disability, daycare) rows as the sweep sees them;
    None when the profile no longer derives (an invalid code, a child born after today)."""
    (fid, municipality, pregnant, due_date, single, income, exempt, assistance, lang, prefs) = row
    try:
        profile = FamilyInput(
            municipality=municipality,
            children=[ChildInput(birth_date=b, disability=d, daycare=c) for b, d, c in children],
            pregnant=pregnant,
            # As registry.families.profile_of: a due date means nothing without a pregnancy.
            due_date=due_date if pregnant else None,
            single_parent=single,
            household_income=income,
            resident_tax_exempt=exempt,
            public_assistance=assistance,
            language=lang,
        )
        context = derive(profile, today)
    except ValueError:
        return None
    who = _recipient(fid, [b for b, _, _ in children], prefs, has_app)
    return FamilyView(
        id=who.id,
        births=who.births,
        categories_off=who.categories_off,
        channel=who.channel,
        context=context,
    )


@dataclass
class Batch:
    """One page of families, read with their children, subscriptions and "I applied" days."""

    families: list[FamilyView]
    ids: list[int]
    skipped: int
    applied: dict[tuple[int, int], date]


@dataclass
class ColumnBatch:
    """One page of families as the sweep evaluates them: columns and who would be told."""

    families: list[Recipient]
    columns: Columns
    ids: list[int]
    skipped: int
    applied: dict[tuple[int, int], date]
    births: Births | None = None
    """The families' birth dates as arrays, when read so (else made from `families`)."""
    last: int | None = None
    """The last id the page covers (a kept page may have lost all its families); None: the
    end, no page after this one."""

    def __post_init__(self) -> None:
        if self.last is None and self.ids:
            self.last = self.ids[-1]


Kids = dict[int, list[tuple[date, bool, str]]]


def _family_select() -> Any:
    """The family columns the sweep reads, the preferences as their JSON text."""
    return select(*_FAMILY_COLUMNS[:-1], cast(col(Family.preferences), String))  # type: ignore[call-overload]


def _kids(child_rows: Iterable[Sequence[Any]]) -> Kids:
    """Child rows (family_id, birth_date, disability, daycare) by family, in their order."""
    kids: Kids = defaultdict(list)
    for fid, birth, disability, daycare in child_rows:
        kids[fid].append((birth, disability, daycare))
    return kids


def _preferences(text: str | None) -> dict[str, Any]:
    """A family's preferences from their JSON text (most families have none)."""
    if not text or text in ("{}", "null"):
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


_CHILD_COLUMNS = (Child.family_id, Child.birth_date, Child.disability, Child.daycare)


async def _family_rows(
    connection: Any, where: list[Any], *, after: int, limit: int
) -> tuple[Sequence[Any], Sequence[Any]]:
    """The next page's family rows (preferences as JSON text) and child rows (family_id,
    birth_date, disability, daycare; by family, oldest first): two queries on the core (no
    ORM rows), the second over the page's id range joined to the same conditions."""
    rows = (
        await connection.execute(
            _family_select()
            .where(*where, col(Family.id) > after)
            .order_by(col(Family.id))
            .limit(limit)
        )
    ).all()
    if not rows:
        return rows, []
    return rows, await _child_rows(connection, where, _range(after, rows[-1][0]))


def _range(after: int, last: int) -> Callable[[Any], list[Any]]:
    """The conditions keeping a family id column within a page (on the joined table's own
    column too, so that the database walks its index instead of scanning the table)."""
    return lambda column: [column > after, column <= last]


async def _child_rows(
    connection: Any, where: list[Any], within: Callable[[Any], list[Any]]
) -> Sequence[Any]:
    return (
        await connection.execute(
            select(*_CHILD_COLUMNS)  # type: ignore[call-overload]
            .join(Family, col(Family.id) == col(Child.family_id))
            .where(*where, *within(col(Family.id)), *within(col(Child.family_id)))
            # The order of registry.families.children_of, so child indexes mean the same child.
            .order_by(col(Child.family_id), col(Child.birth_date), col(Child.id))
        )
    ).all()


async def _extras(
    connection: Any, where: list[Any], within: Callable[[Any], list[Any]], zone: tzinfo
) -> tuple[set[int], dict[tuple[int, int], date]]:
    """App subscribers and "I applied" days of a page's families (`within`: its id range),
    joined to the sweep's conditions (no list of ids to bind)."""
    apps = set(
        (
            await connection.execute(
                select(AppSubscription.family_id)  # type: ignore[call-overload]
                .join(Family, col(Family.id) == col(AppSubscription.family_id))
                .where(*where, *within(col(Family.id)), *within(col(AppSubscription.family_id)))
            )
        )
        .scalars()
        .all()
    )
    actions = await connection.execute(
        select(ProgramAction.family_id, ProgramAction.program_id, ProgramAction.created_at)  # type: ignore[call-overload]
        .join(Family, col(Family.id) == col(ProgramAction.family_id))
        .where(
            *where,
            *within(col(Family.id)),
            *within(col(ProgramAction.family_id)),
            ProgramAction.kind == "applied",
        )
    )
    applied = {(f, p): at.astimezone(zone).date() for f, p, at in actions.all()}
    return apps, applied


async def _read_rows(
    session: AsyncSession,
    where: list[Any],
    *,
    after: int,
    limit: int,
    zone: tzinfo,
    population: Population | None = None,
) -> tuple[Sequence[Any], Sequence[Any], set[int], dict[tuple[int, int], date], int | None]:
    """A page's family rows, child rows (`_family_rows`: from the database, or kept by
    `population` and patched), app subscribers, "I applied" days, and the last id the page
    covers (None: no page after `after`)."""
    connection = await session.connection()
    rows: Sequence[Any]
    child_rows: Sequence[Any]
    if population is not None:
        rows, child_rows, last = await population.page(connection, where, after, limit)
    else:
        rows, child_rows = await _family_rows(connection, where, after=after, limit=limit)
        last = rows[-1][0] if rows else None
    if not rows:
        return rows, [], set(), {}, last
    apps, applied = await _extras(connection, where, _range(after, rows[-1][0]), zone)
    return rows, child_rows, apps, applied, last


REREAD_MARGIN = timedelta(minutes=10)
"""How far before the last read a change is still looked for (clocks and transactions that
commit a while after they stamp `updated_at`): re-reading a family twice is harmless."""


@dataclass
class _Page:
    rows: list[Any]
    child_rows: list[Any]
    last: int
    read_at: datetime


class Population:
    """The families a process swept, kept between its sweeps (the scheduler's daily one).

    The next sweep takes each kept page as it was and re-reads only its families whose
    `updated_at` moved since that page was last read (every change of a family touches it:
    the registry's functions, the LINE bot, the importer, erasure; children are replaced
    through them), reads pages beyond the kept ones (new ids) from the database, and derives
    the new day's columns from the kept rows; app subscriptions and "I applied" records are
    small and read every time. Each page remembers when it was read, so a sweep cut short
    leaves the pages it did not reach to the next one, and a change during a sweep is seen by
    a page read after it. A sweep over another scope (other issuers' programs) or page size
    starts over.
    """

    def __init__(self) -> None:
        self.scope: str | None = None
        self.pages: dict[int, _Page] = {}
        self.read = 0
        """Families read from the database by the current sweep."""
        self.kept = 0
        """Families taken from the kept pages by the current sweep."""

    def start(self, where: list[Any], limit: int) -> None:
        """Begin a sweep: keep the pages if the scope and page size are the same."""
        scope = f"{limit}:" + str(
            select(Family.id).where(*where).compile(compile_kwargs={"literal_binds": True})
        )
        self.read = self.kept = 0
        if scope != self.scope:
            self.scope, self.pages = scope, {}

    async def page(
        self, connection: Any, where: list[Any], after: int, limit: int
    ) -> tuple[list[Any], list[Any], int | None]:
        """The page after id `after`: kept (its changed families re-read) or read and kept."""
        visited = utcnow()
        page = self.pages.get(after)
        if page is None:
            rows, child_rows = await _family_rows(connection, where, after=after, limit=limit)
            if not rows:
                return [], [], None
            page = _Page(list(rows), list(child_rows), rows[-1][0], visited)
            self.pages[after] = page
            self.read += len(rows)
            return page.rows, page.child_rows, page.last
        within = _range(after, page.last)
        moved = col(Family.updated_at) > page.read_at - REREAD_MARGIN
        changed = set(
            (
                await connection.execute(
                    select(Family.id).where(*within(col(Family.id)), moved)  # type: ignore[call-overload]
                )
            )
            .scalars()
            .all()
        )
        if changed:
            # A changed family is read again (with the sweep's conditions: one that left
            # them, blocked or erased, is dropped), its children with it.
            fresh = (
                await connection.execute(
                    _family_select()
                    .where(*where, *within(col(Family.id)), moved)
                    .order_by(col(Family.id))
                )
            ).all()
            kids = await _child_rows(connection, [*where, moved], within)
            page.rows = sorted(
                [r for r in page.rows if r[0] not in changed] + list(fresh), key=itemgetter(0)
            )
            # Stable: each family's children keep their order (from one query or the other).
            page.child_rows = sorted(
                [c for c in page.child_rows if c[0] not in changed] + list(kids),
                key=itemgetter(0),
            )
            self.read += len(fresh)
            self.kept += len(page.rows) - len(fresh)
        else:
            self.kept += len(page.rows)
        page.read_at = visited
        return page.rows, page.child_rows, page.last


async def read_batch(
    session: AsyncSession,
    where: list[Any],
    *,
    after: int,
    limit: int,
    today: date,
    zone: tzinfo,
) -> Batch:
    """The next page of reachable families after id `after` (four queries, whatever the size)."""
    rows, child_rows, apps, applied, _ = await _read_rows(
        session, where, after=after, limit=limit, zone=zone
    )
    kids = _kids(child_rows)
    families: list[FamilyView] = []
    for row in rows:
        view = view_family(row, kids.get(row[0], []), row[0] in apps, today)
        if view is not None:
            families.append(view)
    return Batch(families, [r[0] for r in rows], len(rows) - len(families), applied)


_DAYCARE = frozenset(get_args(Daycare))
_LANGUAGES = frozenset(get_args(Language))


@functools.lru_cache(maxsize=4096)
def _valid_municipality(code: str) -> bool:
    try:
        FamilyInput(municipality=code)
    except ValueError:
        return False
    return True


_HOUSEHOLD = (
    ("municipality", 1),
    ("pregnant", 2),
    ("single_parent", 4),
    ("household_income", 5),
    ("resident_tax_exempt", 6),
    ("public_assistance", 7),
    ("language", 8),
)


async def read_columns(
    session: AsyncSession,
    where: list[Any],
    *,
    after: int,
    limit: int,
    today: date,
    zone: tzinfo,
    population: Population | None = None,
) -> ColumnBatch:
    """The next page of reachable families after id `after`, as columns derived in bulk
    (`rules.columns.derive_columns`: no profile object or rule context per family); with
    `population`, from the rows it kept since the last sweep where they did not change."""
    rows, child_rows, apps, applied, last = await _read_rows(
        session, where, after=after, limit=limit, zone=zone, population=population
    )
    ids = [r[0] for r in rows]
    n = len(rows)
    # The page column by column; children are ordered by family, and family ids ascend.
    id_array = np.asarray(ids, dtype=np.int64)
    owner_ids = np.fromiter((c[0] for c in child_rows), np.int64, len(child_rows))
    known = np.isin(owner_ids, id_array)
    if not known.all():
        # A family that met the conditions between the two queries (a consent, a follow):
        # its children came without its row; it is read with the next sweep.
        child_rows = [c for c, k in zip(child_rows, known.tolist(), strict=True) if k]
        owner_ids = owner_ids[known]
    family_of = np.searchsorted(id_array, owner_ids)
    birth_dates = [c[1] for c in child_rows]
    birth = np.fromiter(map(date.toordinal, birth_dates), np.int64, len(birth_dates))
    disability = [c[2] for c in child_rows]
    daycare = [c[3] for c in child_rows]
    counts = np.bincount(family_of, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)))
    keep = _derive_mask(rows, counts, family_of, birth, daycare, today)
    if not keep.all():
        kept_rows = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
        child_kept = keep[family_of]
        renumber = np.cumsum(keep) - 1
        family_of = renumber[family_of[child_kept]]
        picks = np.flatnonzero(child_kept).tolist()
        birth, birth_dates = birth[child_kept], [birth_dates[i] for i in picks]
        disability, daycare = [disability[i] for i in picks], [daycare[i] for i in picks]
        counts = counts[keep]
        starts = np.concatenate(([0], np.cumsum(counts)))
    else:
        kept_rows = list(rows)
    households: dict[str, list[Any]] = {name: [r[i] for r in kept_rows] for name, i in _HOUSEHOLD}
    # As registry.families.profile_of: a due date means nothing without a pregnancy.
    households["due_date"] = [r[3] if r[2] else None for r in kept_rows]
    bounds = starts.tolist()
    families = [
        _recipient(r[0], birth_dates[a:b], r[9], r[0] in apps)
        for r, a, b in zip(kept_rows, bounds, bounds[1:], strict=False)
    ]
    try:
        columns = derive_columns(
            today,
            households,
            {
                "family": family_of,
                "birth_date": birth,
                "disability": disability,
                "daycare": daycare,
            },
        )
    except NotVectorised:
        # Values beyond the columns (an income beyond 2**53): this page through `derive`.
        kids = _kids(child_rows)
        views = [view_family(r, kids.get(r[0], []), r[0] in apps, today) for r in rows]
        found = [v for v in views if v is not None]
        families = list(found)
        columns = build_columns([v.context for v in found])
        return ColumnBatch(families, columns, ids, n - len(families), applied, last=last)
    births = Births(birth, starts)
    return ColumnBatch(families, columns, ids, n - len(families), applied, births, last)


def _derive_mask(
    rows: Sequence[Any],
    counts: np.ndarray,
    family_of: np.ndarray,
    birth: np.ndarray,
    daycare: Sequence[Any],
    today: date,
) -> np.ndarray:
    """Which families `view_family` would accept (`FamilyInput`'s and `derive`'s checks of the
    values the database can hold, on columns): a valid
    municipality and language, no negative income, at most MAX_CHILDREN children, none born
    after today and every daycare value known."""
    valid = {}
    for value in {r[1] for r in rows}:
        valid[value] = isinstance(value, str) and _valid_municipality(value)
    keep = np.fromiter(
        (valid[r[1]] and r[8] in _LANGUAGES and (r[5] is None or r[5] >= 0) for r in rows),
        bool,
        len(rows),
    )
    keep &= counts <= MAX_CHILDREN
    bad = birth > today.toordinal()
    if not set(daycare) <= _DAYCARE:
        bad |= np.fromiter((d not in _DAYCARE for d in daycare), bool, len(daycare))
    if bad.any():
        keep[family_of[bad]] = False
    return keep


def scope_positions(contexts: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Positions of the contexts each issuer reaches (registry.eligibility.issuers_for)."""
    by_issuer: dict[str, list[int]] = defaultdict(list)
    for position, context in enumerate(contexts):
        for issuer in issuers_for(context):
            by_issuer[issuer].append(position)
    return by_issuer


def scope_masks(columns: Columns, issuers: Iterable[str]) -> dict[str, np.ndarray]:
    """Per issuer, the families of `columns` it reaches: its own municipality's, a
    prefecture's, everyone for the nation (registry.eligibility.issuers_for, on columns)."""
    municipality = columns.household("municipality")[0]
    prefecture = columns.household("prefecture")[0]
    masks: dict[str, np.ndarray] = {}
    for issuer in set(issuers):
        code = columns.strings.get(issuer)
        if issuer == NATION:
            masks[issuer] = np.ones(columns.families, dtype=bool)
        elif code is None:
            masks[issuer] = np.zeros(columns.families, dtype=bool)
        else:
            masks[issuer] = (municipality == code) | (prefecture == code)
    return masks


FamilyMatch = tuple[int, list[int] | None]
"""A matching family's position in the batch and, for a per-child program, the indexes of its
qualifying children (None for a household program)."""
Results = dict[int, list[FamilyMatch]]
"""Per program id: the families of its scope it matches, in batch order."""


@dataclass
class Fallback:
    """A program evaluated family by family: why (`rules.columns.fallback_reason`), how often."""

    reason: str
    evaluations: int = 0


Found = tuple[np.ndarray, np.ndarray | None]
"""Where a program holds in a batch, as arrays: the family position of every match (one per
family, or one per qualifying child) and, for a per-child program, that child's index in its
family (None for a household program). Positions ascend; a family's children are adjacent."""


@dataclass
class Evaluation:
    """What `evaluate_plans` found: matches per program, and the programs that fell back."""

    found: dict[int, Found] = field(default_factory=dict)
    fallbacks: dict[int, Fallback] = field(default_factory=dict)
    _results: Results | None = None

    @property
    def results(self) -> Results:
        """`found` as lists of (family position, [child indexes] or None) per program."""
        if self._results is None:
            self._results = {key: _as_results(found) for key, found in self.found.items()}
        return self._results


def _as_results(found: Found) -> list[FamilyMatch]:
    owners, kids = found
    if kids is None:
        return [(p, None) for p in owners.tolist()]
    if not len(owners):
        return []
    # Child rows are grouped by family: one (family, [child indexes]) per run of an owner.
    starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
    bounds = [*starts.tolist(), len(owners)]
    indexes = kids.tolist()
    return [
        (owner, indexes[a:b])
        for owner, a, b in zip(owners[starts].tolist(), bounds, bounds[1:], strict=False)
    ]


def _matches(
    program: CompiledProgram,
    columns: Columns,
    holds: np.ndarray,
    keep: np.ndarray | None,
    positions: np.ndarray | None,
) -> Found:
    """`evaluate_columns`'s answer as matching families (`keep`: of the scope; `positions`: the
    batch position of each family of `columns`, when they are a part of the batch)."""
    if not program.per_child:
        rows = np.flatnonzero(holds if keep is None else holds & keep)
        return (rows if positions is None else positions[rows]), None
    index = columns.child_index_array()  # builds the child table if the rule did not need it
    family = columns.family
    assert family is not None
    rows = np.flatnonzero(holds if keep is None else holds & keep[family])
    owners = family[rows]
    if positions is not None:
        owners = positions[owners]
    return owners, index[rows]


def _one_family(program: CompiledProgram, context: Mapping[str, Any]) -> list[int] | bool:
    """The per-family path (`CompiledRule.evaluate`): child indexes, or whether it holds."""
    bound = bind(context)
    if not program.per_child:
        return program.rule.evaluate(bound) is True
    return [
        child["index"]
        for child in context["children"]
        if program.rule.evaluate(bound, child) is True
    ]


def evaluate_plans(
    programs: Iterable[tuple[int, CompiledProgram, str]],
    columns: Columns,
    *,
    per_family: bool = False,
) -> Evaluation:
    """Evaluate (id, compiled program, issuer) over the families of `columns` in each issuer's
    scope, on the columns (`per_family`: family by family over the rule contexts, as before
    columns; the reference the column engine is tested and measured against)."""
    if per_family:
        return _evaluate_per_family(programs, columns.contexts)
    evaluation = Evaluation()
    programs = list(programs)
    if not columns.families or not programs:
        return evaluation
    masks = scope_masks(columns, (issuer for _, _, issuer in programs))
    for program_id, compiled, issuer in programs:
        mask = masks[issuer]
        if not mask.any():
            continue
        reason = fallback_reason(compiled.rule)
        if reason is not None:
            # Evaluated family by family anyway: over the scope only, not the whole batch.
            positions = np.flatnonzero(mask)
            contexts = columns.contexts
            part = build_columns([contexts[i] for i in positions.tolist()])
            evaluation.fallbacks[program_id] = Fallback(reason, part.families)
            holds = evaluate_columns(compiled, part)
            evaluation.found[program_id] = _matches(compiled, part, holds, None, positions)
            continue
        before = columns.fallbacks.copy()
        holds = evaluate_columns(compiled, columns)
        if columns.fallbacks != before:
            # The population (not the rule) was beyond the columns: every family was evaluated.
            (late,) = (columns.fallbacks - before).keys()
            evaluation.fallbacks[program_id] = Fallback(late, columns.families)
        evaluation.found[program_id] = _matches(compiled, columns, holds, mask, None)
    return evaluation


def _evaluate_per_family(
    programs: Iterable[tuple[int, CompiledProgram, str]], contexts: Sequence[Mapping[str, Any]]
) -> Evaluation:
    evaluation = Evaluation()
    scopes = scope_positions([dict(c) for c in contexts])
    for program_id, compiled, issuer in programs:
        owners: list[int] = []
        kids: list[int] = []
        for position in scopes.get(issuer, ()):
            result = _one_family(compiled, contexts[position])
            if result is True:
                owners.append(position)
            elif isinstance(result, list):
                owners.extend([position] * len(result))
                kids.extend(result)
        if owners:
            evaluation.found[program_id] = (
                np.asarray(owners, dtype=np.int64),
                np.asarray(kids, dtype=np.int64) if compiled.per_child else None,
            )
    return evaluation


Due = tuple[ProgramPlan, Recipient, str, date | None, date | None]
"""A notice the sweep owes before it is drafted: (plan, family, kind, child's birth or None,
deadline) — a plain tuple, so that the many already recorded cost no object."""


def _draft(key: NoticeKey, due: Due, now: datetime) -> NoticeDraft:
    plan, family, kind, birth, deadline = due
    suppressed = bool(plan.categories & family.categories_off)
    return NoticeDraft(
        family_id=family.id,
        subject=plan.subject,
        program_id=plan.id,
        child_key=key[2],
        kind=kind,
        cycle=key[4],
        issuer=plan.issuer,
        category=plan.category,
        channel=family.channel,
        deadline=deadline,
        due_at=now,
        status="suppressed" if suppressed else "pending",
        reason="preference" if suppressed else None,
        payload=plan.payload(kind, deadline, birth),
    )


def _eligible_dues(
    plan: ProgramPlan,
    found: Fresh,
    families: Sequence[Recipient],
    today: date,
    cycle: str,
) -> Iterator[tuple[NoticeKey, Due]]:
    """The keys and notices owed of eligibility codes (`owed_arrays`), one by one."""
    mask = (1 << BIRTH_BITS) - 1
    for code, position in zip(found.codes.tolist(), found.owners.tolist(), strict=True):
        ordinal = code & mask
        birth = _day(ordinal) if ordinal else None
        key = (code >> BIRTH_BITS, plan.subject, _iso(birth) if birth else "", "eligible", cycle)
        deadline = _deadline_of(plan, birth, today)
        yield key, (plan, families[position], "eligible", birth, deadline)


_ISO: dict[date, str] = {}


@functools.lru_cache(maxsize=65536)
def _day(ordinal: int) -> date:
    """A date from its ordinal, remembered."""
    return date.fromordinal(ordinal)


def _iso(day: date) -> str:
    """`child_key` of a birth date, remembered (a population has a few thousand birthdays)."""
    found = _ISO.get(day)
    if found is None:
        if len(_ISO) > 100_000:
            _ISO.clear()
        found = _ISO[day] = child_key(day)
    return found


@dataclass
class Owed:
    """What a page of families is owed: the notices not yet recorded, by key (in the order
    found), the eligible matches per program, and the reminders due per program (recorded
    already or not)."""

    fresh: dict[NoticeKey, Due] = field(default_factory=dict)
    matches: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    reminders: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def owed_notices(
    plans: Sequence[ProgramPlan],
    families: Sequence[Recipient],
    applied: Mapping[tuple[int, int], date],
    *,
    today: date,
    results: Results,
    seen: Container[NoticeKey] = frozenset(),
) -> Owed:
    """Every notice these families should have about these programs today that `seen` does
    not hold yet, from where the programs hold (`evaluate_plans` over the same families).
    Keys are built first and a notice is looked at further only when its key is new."""
    cycle = str(fiscal_year(today))
    owed = Owed()
    fresh = owed.fresh
    for plan in plans:
        found = results.get(plan.id)
        if not found:
            continue
        subject, program = plan.subject, plan.id
        reminds = plan.deadline is not None or plan.days_after_birth is not None
        # A fixed deadline: the same for every child; one of days after a birth: per child.
        fixed = _deadline_of(plan, None, today) if plan.days_after_birth is None else None
        seen_reminders: set[NoticeKey] = set()
        matches = 0
        for position, children in found:
            family = families[position]
            fid = family.id
            per_child: list[date | None] = (
                [None] if children is None else [family.births[i] for i in children]
            )
            matches += len(per_child)
            for birth in per_child:
                key = (fid, subject, _iso(birth) if birth else "", "eligible", cycle)
                if key not in seen and key not in fresh:
                    deadline = (
                        fixed
                        if plan.days_after_birth is None
                        else (_deadline_of(plan, birth, today))
                    )
                    fresh[key] = (plan, family, "eligible", birth, deadline)
            if reminds:
                _remind(owed, plan, family, per_child, applied, today, seen, seen_reminders)
        owed.matches[program] += matches
    return owed


def _remind(
    owed: Owed,
    plan: ProgramPlan,
    family: Recipient,
    per_child: list[date | None],
    applied: Mapping[tuple[int, int], date],
    today: date,
    seen: Container[NoticeKey],
    seen_reminders: set[NoticeKey],
) -> None:
    """Add the deadline reminders a matching family is due today (counted whether recorded or
    not; kept in `owed.fresh` when new)."""
    applied_on = applied.get((family.id, plan.id))
    for birth, deadline in _reminder_deadlines(plan, family, per_child):
        kind = _reminder_kind((deadline - today).days)
        if kind is None or _applied_covers(applied_on, deadline, birth):
            continue
        key = (family.id, plan.subject, _iso(birth) if birth else "", kind, deadline.isoformat())
        # Twins share a key: the first stands for both.
        if key in seen_reminders:
            continue
        seen_reminders.add(key)
        owed.reminders[plan.id] += 1
        if key not in seen and key not in owed.fresh:
            owed.fresh[key] = (plan, family, kind, birth, deadline)


BIRTH_BITS = 20
"""A notice code is family_id << BIRTH_BITS | the child's birth date ordinal (0 for none):
ordinals stay below 2**20 until the year 2871 (`notifier.ledger.CODE_SHIFT`)."""
assert 1 << BIRTH_BITS == CODE_SHIFT
NO_CODES = np.zeros(0, dtype=np.int64)


@dataclass
class Births:
    """The birth dates (ordinals) of a page's children, family by family in `births` order."""

    ordinals: np.ndarray
    starts: np.ndarray
    """The births of family p are ordinals[starts[p]:starts[p + 1]]."""

    @classmethod
    def of(cls, families: Sequence[Recipient]) -> Births:
        """From the families' `births`."""
        counts = np.fromiter((len(f.births) for f in families), np.int64, len(families))
        ordinals = np.fromiter(
            (b.toordinal() for f in families for b in f.births), np.int64, int(counts.sum())
        )
        return cls(ordinals, np.concatenate(([0], np.cumsum(counts))))

    @property
    def owners(self) -> np.ndarray:
        """The family position of every birth."""
        return np.repeat(np.arange(len(self.starts) - 1), np.diff(self.starts))


@dataclass
class Fresh:
    """A program's new eligibility notices in a page, as arrays (codes ascending)."""

    codes: np.ndarray
    owners: np.ndarray
    """The family position of each."""


@dataclass
class OwedArrays:
    """`Owed`, with the eligibility notices (nearly all of them) kept as arrays per program;
    `owed.fresh` holds the new reminders only."""

    owed: Owed = field(default_factory=Owed)
    eligible: dict[int, Fresh] = field(default_factory=dict)


def owed_arrays(
    plans: Sequence[ProgramPlan],
    families: Sequence[Recipient],
    applied: Mapping[tuple[int, int], date],
    *,
    today: date,
    found: Mapping[int, Found],
    births: Births,
    seen_eligible: Mapping[str, np.ndarray],
    seen: Container[NoticeKey],
) -> OwedArrays:
    """`owed_notices` on arrays: eligibility notices are codes (`BIRTH_BITS`) matched against
    the recorded ones (`seen_eligible`: per subject, this fiscal year's, as codes) with numpy;
    only the families a deadline reminder may concern go through Python."""
    out = OwedArrays()
    owed = out.owed
    ids = np.fromiter((f.id for f in families), np.int64, len(families))
    today_ordinal = today.toordinal()
    for plan in plans:
        if plan.id not in found:
            continue
        owners, kids = found[plan.id]
        if not len(owners):
            continue
        if kids is None:
            born = np.zeros(len(owners), dtype=np.int64)
        else:
            born = births.ordinals[births.starts[owners] + kids]
        owed.matches[plan.id] += len(owners)
        codes = (ids[owners] << BIRTH_BITS) | born
        # Twins share a key: one notice stands for both.
        unique, first = np.unique(codes, return_index=True)
        new = ~np.isin(unique, seen_eligible.get(plan.subject, NO_CODES))
        out.eligible[plan.id] = Fresh(unique[new], owners[first[new]])
        candidates = _reminder_candidates(plan, owners, kids, born, births, today_ordinal)
        if candidates is None or not len(candidates):
            continue
        seen_reminders: set[NoticeKey] = set()
        concerned = np.isin(owners, candidates)
        mine = (owners[concerned], None if kids is None else kids[concerned])
        for position, children in _as_results(mine):
            family = families[position]
            per_child: list[date | None] = (
                [None] if children is None else [family.births[i] for i in children]
            )
            _remind(owed, plan, family, per_child, applied, today, seen, seen_reminders)
    return out


def _reminder_candidates(
    plan: ProgramPlan,
    owners: np.ndarray,
    kids: np.ndarray | None,
    born: np.ndarray,
    births: Births,
    today: int,
) -> np.ndarray | None:
    """The positions of the matching families a deadline reminder may concern today (a
    superset: `_remind` decides), None when none can."""
    if plan.deadline is not None:
        if _reminder_kind((plan.deadline - date.fromordinal(today)).days) is None:
            return None
        return owners
    if plan.days_after_birth is None:
        return None
    # A birth deadline 0-7 days ahead: born between days_after_birth and days_after_birth - 7
    # days ago.
    latest = today - plan.days_after_birth + REMINDERS[-1][1]
    earliest = today - plan.days_after_birth
    if kids is not None:
        return owners[(born >= earliest) & (born <= latest)]
    # A household program: every birth in the family starts a clock.
    window = (births.ordinals >= earliest) & (births.ordinals <= latest)
    concerned = np.zeros(len(births.starts) - 1, dtype=bool)
    concerned[births.owners[window]] = True
    return owners[concerned[owners]]


def draft_notices(
    plans: Sequence[ProgramPlan],
    families: Sequence[Recipient],
    applied: Mapping[tuple[int, int], date],
    *,
    today: date,
    now: datetime,
    results: Results,
) -> tuple[dict[NoticeKey, NoticeDraft], dict[int, int]]:
    """Every notice these families should have about these programs today, by key, and how
    many eligible matches (family, or family and child) each program had, from where the
    programs hold (`evaluate_plans` over the same families)."""
    owed = owed_notices(plans, families, applied, today=today, results=results)
    drafts = {key: _draft(key, due, now) for key, due in owed.fresh.items()}
    return drafts, dict(owed.matches)


def _deadline_of(plan: ProgramPlan, birth: date | None, today: date) -> date | None:
    """The deadline an eligibility notice mentions: fixed, or the child's if not yet past."""
    deadline = application_deadline(plan.deadline, plan.days_after_birth, birth)
    if plan.deadline is None and deadline is not None and deadline < today:
        return None
    return deadline


def _reminder_deadlines(
    plan: ProgramPlan, family: Recipient, per_child: list[date | None]
) -> list[tuple[date | None, date]]:
    """(child's birth or None, deadline) pairs a matching family may be reminded of."""
    if plan.deadline is not None:
        return [(birth, plan.deadline) for birth in per_child]
    if plan.days_after_birth is None:
        return []
    # A household program with a birth deadline: every birth in the family starts a clock.
    births = family.births if per_child == [None] else [b for b in per_child if b is not None]
    return [
        (birth, deadline)
        for birth in births
        if (deadline := application_deadline(None, plan.days_after_birth, birth)) is not None
    ]


class _Run:
    """The shared body of the sweep and of the event triggers."""

    def __init__(
        self,
        report: SweepReport,
        plans: list[ProgramPlan],
        *,
        now: datetime,
        zone: tzinfo,
        dry_run: bool,
        per_family: bool = False,
        batch_size: int = BATCH,
        population: Population | None = None,
    ) -> None:
        self.population = population
        self.report = report
        self.batch_size = batch_size
        self.plans = plans
        self.now = now
        self.zone = zone
        self.dry_run = dry_run
        self.per_family = per_family
        for plan in plans:
            report.programs[plan.id] = ProgramTally(id=plan.id, name=plan.entry.data.name.ja)
        # The cycles a notice of today can have: the fiscal year (eligible) or a deadline 0-7
        # days ahead (reminders); older keys need not be read.
        today = report.as_of
        self.cycles = [str(report.fiscal_year)] + [
            (today + timedelta(days=days)).isoformat() for days in range(REMINDERS[-1][1] + 1)
        ]

    async def read(self, session: AsyncSession, where: list[Any], after: int) -> ColumnBatch:
        """The next page of families, as columns (per family: through their rule contexts)."""
        today = self.report.as_of
        if not self.per_family:
            return await read_columns(
                session,
                where,
                after=after,
                limit=self.batch_size,
                today=today,
                zone=self.zone,
                population=self.population,
            )
        batch = await read_batch(
            session, where, after=after, limit=self.batch_size, today=today, zone=self.zone
        )
        columns = build_columns([f.context for f in batch.families])
        return ColumnBatch(list(batch.families), columns, batch.ids, batch.skipped, batch.applied)

    async def batch(self, session: AsyncSession, batch: ColumnBatch) -> None:
        """Draft, record (unless dry) and count one batch."""
        report = self.report
        report.families_scanned += len(batch.ids)
        report.families_skipped += batch.skipped
        evaluation = evaluate_plans(
            ((p.id, p.entry.compiled, p.issuer) for p in self.plans),
            batch.columns,
            per_family=self.per_family,
        )
        for program_id, fallback in evaluation.fallbacks.items():
            tally = report.programs[program_id]
            tally.fallback = fallback.reason
            tally.fallback_evaluations += fallback.evaluations
        if not batch.ids:
            return
        if self.per_family:
            await self.batch_per_family(session, batch, evaluation)
            return
        # Most keys of a daily sweep exist already: reading them (as codes, compared with
        # numpy) is far cheaper than offering every row to the insert, and a notice is drafted
        # only when its key is new. The insert's ON CONFLICT still settles races between runs.
        subjects = [p.subject for p in self.plans] if len(self.plans) < 100 else None
        first, last = batch.ids[0], batch.ids[-1]
        seen_eligible = await recorded_eligible(
            session, first, last, subjects=subjects, cycle=self.cycles[0]
        )
        seen = await recorded_keys(session, first, last, subjects=subjects, cycles=self.cycles[1:])
        out = owed_arrays(
            self.plans,
            batch.families,
            batch.applied,
            today=report.as_of,
            found=evaluation.found,
            births=batch.births or Births.of(batch.families),
            seen_eligible=seen_eligible,
            seen=seen,
        )
        self.count(out.owed)
        if self.dry_run:
            self.tally_arrays(out, batch.families)
            return
        fresh = dict(out.owed.fresh)
        cycle = self.cycles[0]
        today = report.as_of
        for plan in self.plans:
            found = out.eligible.get(plan.id)
            if found is None:
                continue
            fresh.update(_eligible_dues(plan, found, batch.families, today, cycle))
        await self.record(session, fresh)

    async def batch_per_family(
        self, session: AsyncSession, batch: ColumnBatch, evaluation: Evaluation
    ) -> None:
        """`batch`'s drafting as before columns: every match as a key, looked up in the keys
        read as tuples (the reference the array path is tested against)."""
        seen = await recorded_keys(
            session,
            batch.ids[0],
            batch.ids[-1],
            subjects=[p.subject for p in self.plans] if len(self.plans) < 100 else None,
            cycles=self.cycles,
        )
        owed = owed_notices(
            self.plans,
            batch.families,
            batch.applied,
            today=self.report.as_of,
            results=evaluation.results,
            seen=seen,
        )
        self.count(owed)
        if self.dry_run:
            self.tally(owed.fresh)
        else:
            await self.record(session, owed.fresh)

    def count(self, owed: Owed) -> None:
        """Add a page's matches and reminders to the report."""
        for program_id, count in owed.matches.items():
            self.report.programs[program_id].matches += count
        for program_id, count in owed.reminders.items():
            self.report.programs[program_id].reminders += count

    async def record(self, session: AsyncSession, fresh: Mapping[NoticeKey, Due]) -> None:
        """Record the new notices and count those the ledger took."""
        if fresh:
            drafts = [_draft(key, due, self.now) for key, due in fresh.items()]
            recorded = set(await record_new(session, drafts))
            fresh = {key: due for key, due in fresh.items() if key in recorded}
        self.tally(fresh)

    def tally_arrays(self, out: OwedArrays, families: Sequence[Recipient]) -> None:
        """`tally` for a dry run's arrays: counts with numpy; only the few examples (the
        smallest keys of the first families) become keys."""
        opted_out = [(p, f.categories_off) for p, f in enumerate(families) if f.categories_off]
        cycle = self.cycles[0]
        by_plan: dict[int, dict[NoticeKey, Due]] = defaultdict(dict)
        for key, due in out.owed.fresh.items():
            by_plan[due[0].id][key] = due
        for plan in self.plans:
            tally = self.report.programs[plan.id]
            reminders = by_plan.get(plan.id, {})
            found = out.eligible.get(plan.id, Fresh(NO_CODES, NO_CODES))
            off = np.asarray([p for p, cats in opted_out if cats & plan.categories], np.int64)
            suppressed = np.isin(found.owners, off)
            told = found.codes[~suppressed] >> BIRTH_BITS
            tally.new += len(found.codes) + len(reminders)
            tally.suppressed += int(suppressed.sum())
            families_told = set(np.unique(told).tolist())
            for key, due in reminders.items():
                if plan.categories & due[1].categories_off:
                    tally.suppressed += 1
                else:
                    families_told.add(key[0])
            tally.families += len(families_told)
            if len(tally.samples) >= SAMPLES or not families_told:
                continue
            # Examples: every new notice of the first few families told, smallest keys first.
            first = sorted(families_told)[:SAMPLES]
            examples = {
                key: due
                for key, due in reminders.items()
                if key[0] in first and not plan.categories & due[1].categories_off
            }
            keep = np.isin(found.codes >> BIRTH_BITS, first) & ~suppressed
            first_found = Fresh(found.codes[keep], found.owners[keep])
            examples.update(_eligible_dues(plan, first_found, families, self.report.as_of, cycle))
            for key, (_, _, kind, birth, deadline) in sorted(examples.items(), key=itemgetter(0)):
                if len(tally.samples) >= SAMPLES:
                    break
                child = plan.payload(kind, deadline, birth).get("child")
                tally.samples.append(
                    {"family_id": key[0], "kind": kind, "child": child["ja"] if child else None}
                )

    def tally(self, fresh: Mapping[NoticeKey, Due]) -> None:
        """Count the new notices of a page per program (and, in a dry run, keep a few
        examples: the smallest keys, as the ledger would list them)."""
        report = self.report
        told: dict[int, set[int]] = defaultdict(set)
        examples: dict[int, list[tuple[NoticeKey, Due]]] = defaultdict(list)
        for key, due in fresh.items():
            plan, family = due[0], due[1]
            tally = report.programs[plan.id]
            tally.new += 1
            if plan.categories & family.categories_off:
                tally.suppressed += 1
                continue
            families = told[plan.id]
            # Keys arrive family by family in id order: the first few families hold the
            # smallest keys.
            if (
                self.dry_run
                and len(tally.samples) < SAMPLES
                and (key[0] in families or len(families) < SAMPLES)
            ):
                examples[plan.id].append((key, due))
            families.add(key[0])
        for program_id, found in examples.items():
            tally = report.programs[program_id]
            for key, (plan, _, kind, birth, deadline) in sorted(found, key=itemgetter(0)):
                if len(tally.samples) >= SAMPLES:
                    break
                child = plan.payload(kind, deadline, birth).get("child")
                tally.samples.append(
                    {"family_id": key[0], "kind": kind, "child": child["ja"] if child else None}
                )
        for program_id, families in told.items():
            report.programs[program_id].families += len(families)


async def run(
    sessions: Sessions,
    *,
    now: datetime,
    zone: tzinfo,
    program_ids: set[int] | None = None,
    family_id: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH,
    catalog: Catalog | None = None,
    per_family: bool = False,
    population: Population | None = None,
) -> SweepReport:
    """Evaluate published programs (all, or some) over reachable families (all, or one).

    `per_family` evaluates every rule family by family instead of on columns: the reference
    the column engine is tested and measured against, never needed otherwise. `population`
    keeps the families' rows between sweeps of the whole population (see `Population`).
    """
    started = time.monotonic()
    today = today_of(now, zone)
    report = SweepReport(as_of=today, fiscal_year=fiscal_year(today), dry_run=dry_run)
    if per_family or family_id is not None or program_ids is not None:
        population = None
    async with sessions() as session:
        plans = await load_plans(session, today, program_ids=program_ids, catalog=catalog)
        where = reachable(family_id, plans)
        total = 0
        if plans:
            total = (
                await session.exec(select(func.count()).select_from(Family).where(*where))
            ).one()
            if population is not None:
                population.start(where, batch_size)
    state = _Run(
        report,
        plans,
        now=now,
        zone=zone,
        dry_run=dry_run,
        per_family=per_family,
        batch_size=batch_size,
        population=population,
    )
    if plans and progress is not None:
        progress(f"sweep {today.isoformat()}: {len(plans)} programs, {total} families")
    after = 0
    while plans:
        async with transaction(sessions) as session:
            batch = await state.read(session, where, after)
            if batch.last is None:
                break
            await state.batch(session, batch)
        after = batch.last
        if progress is not None:
            progress(
                f"families {report.families_scanned}/{total} … {report.new} new notices,"
                f" {time.monotonic() - started:.1f} s"
            )
    report.elapsed = time.monotonic() - started
    if population is not None and plans:
        report.families_read, report.families_kept = population.read, population.kept
    else:
        report.families_read = report.families_scanned
    log.info(
        "notices swept",
        extra={
            "as_of": today.isoformat(),
            "programs": len(plans),
            "families": report.families_scanned,
            "skipped": report.families_skipped,
            "new": report.new,
            "dry_run": dry_run,
            "one_family": family_id is not None,
            "per_family_programs": sum(1 for t in report.programs.values() if t.fallback),
        },
    )
    return report


async def sweep(
    sessions: Sessions,
    *,
    now: datetime,
    zone: tzinfo,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH,
    catalog: Catalog | None = None,
    per_family: bool = False,
    population: Population | None = None,
) -> SweepReport:
    """The daily sweep: every published program in force against every reachable family
    (`population`: rows kept from this process's last sweep, re-read only where changed)."""
    return await run(
        sessions,
        now=now,
        zone=zone,
        dry_run=dry_run,
        progress=progress,
        batch_size=batch_size,
        catalog=catalog,
        per_family=per_family,
        population=population,
    )
