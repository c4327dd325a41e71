"""Allocating an intake round (利用調整) from the database, and confirming it.

`allocate_round` reads the round's live applications, the places open for its month of entry
(vacancies, or places the municipality gives with the request) and the points rules valid then,
scores every application (`rules.points.score`), and runs the pure allocation
(`integrations.daycare.allocation`). Nothing is written but the run itself (the round's last
allocation: its input hash, seed and outcome), so a dry run may be repeated as often as staff
like. `confirm_round` runs it again, refuses if the inputs changed since the dry run staff looked
at (its input hash), writes 内定 (offered) / 保留 (waitlisted) with each family's explanation,
takes the places, and records one `daycare-result` notice per application (ledger-keyed: once).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare import allocation as alloc
from integrations.daycare.classes import month_start
from integrations.daycare.models import (
    Application,
    ApplicationAudit,
    Facility,
    IntakeRound,
    PointsRules,
    Vacancy,
)
from integrations.daycare.notices import text as notice_text
from integrations.daycare.points import rules_for
from notifier.ledger import NoticeDraft, record_new
from registry.models import Family
from rules.points import ApplicationFacts, PointsDocument, PointsRuleError, Score, score

log = logging.getLogger(__name__)

TOKYO = ZoneInfo("Asia/Tokyo")
LIVE = ("received", "under_review")
DAYCARE_RESULT = "daycare-result"


class RoundError(Exception):
    """A round that cannot be allocated or confirmed as asked; `code` says why."""

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []


@dataclass
class RoundRun:
    """One allocation run of a round: its inputs (as the engine saw them) and its outcome."""

    round: IntakeRound
    rules: PointsRules
    document: PointsDocument
    applications: dict[str, Application]
    facilities: dict[str, Facility]  # by facility key (the municipality's facility id)
    input: alloc.RoundInput
    scores: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @functools.cached_property
    def outcome(self) -> alloc.Outcome:
        """The allocation of these inputs, computed when first asked for (the odds read the
        inputs only and never pay for it)."""
        return alloc.allocate(self.input)

    def names(self, lang: str) -> dict[str, str]:
        """Facility names by key, for explanations."""
        return {
            key: (f.name_en or f.name_ja) if lang == "en" else f.name_ja
            for key, f in self.facilities.items()
        }


async def _places(
    session: AsyncSession,
    round_: IntakeRound,
    facilities: Mapping[int, Facility],
    override: Sequence[tuple[str, int, int]] | None,
    warnings: list[str],
) -> dict[tuple[str, int], int]:
    places: dict[tuple[str, int], int] = {}
    if override is not None:
        keys = {f.facility_id for f in facilities.values()}
        for facility_id, class_age, count in override:
            if facility_id not in keys:
                raise RoundError(
                    "unknown_facility",
                    f"places given for {facility_id!r}, not a facility of {round_.municipality}",
                )
            if (facility_id, class_age) in places:
                raise RoundError(
                    "duplicate_places",
                    f"places for {facility_id!r} class {class_age} are given twice: give each "
                    "class once",
                )
            places[(facility_id, class_age)] = count
        return places
    month = month_start(round_.entry_month)
    rows = (
        await session.exec(
            select(Vacancy).where(
                col(Vacancy.facility_pk).in_(list(facilities)), Vacancy.entry_month == month
            )
        )
    ).all()
    vague = 0
    for row in rows:
        facility = facilities.get(row.facility_pk)
        if facility is None:
            continue
        if row.level == "number":
            count = row.places or 0
        elif row.level == "some":
            # "△ some places" says nothing of how many: one is the least it can mean.
            count, vague = 1, vague + 1
        else:
            count = 0
        places[(facility.facility_id, row.class_age)] = count
    if vague:
        warnings.append(
            f"{vague} classes publish only 'some places' (△): counted as 1 place each; "
            "give exact places with the request"
        )
    return places


async def build_run(
    session: AsyncSession,
    round_: IntakeRound,
    *,
    places: Sequence[tuple[str, int, int]] | None = None,
) -> RoundRun:
    """Read the round's inputs and score every live application (writes nothing); the
    allocation is the run's `outcome`."""
    assert round_.id is not None
    found = await _rules(session, round_)
    rules_row, document = found
    facilities = {
        f.id: f
        for f in (
            await session.exec(
                select(Facility).where(Facility.municipality == round_.municipality)
            )
        ).all()
        if f.id is not None
    }
    by_key = {f.facility_id: f for f in facilities.values()}
    warnings: list[str] = []
    place_map = await _places(session, round_, facilities, places, warnings)
    rows = (
        await session.exec(
            select(Application)
            .where(Application.round_id == round_.id, col(Application.status).in_(LIVE))
            .order_by(col(Application.id))
        )
    ).all()
    applicants: list[alloc.Applicant] = []
    applications: dict[str, Application] = {}
    scores: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    labels: tuple[tuple[str, str], ...] = ()
    for row in rows:
        key = str(row.id)
        try:
            facts = ApplicationFacts.model_validate(row.facts)
        except ValueError as exc:
            problems.append({"location": f"applications[{row.id}].facts", "reason": str(exc)})
            continue
        try:
            scored = score(document, facts)
        except PointsRuleError as exc:
            # A condition the uploaded examples never reached fails for this household.
            problems.append({"location": f"applications[{row.id}].facts", "reason": exc.reason})
            continue
        labels = tuple(scored.priority_labels)
        wishes = tuple(facilities[pk].facility_id for pk in row.wishes if pk in facilities)
        current = facts.transfer_from if facts.transfer_from in by_key else None
        if facts.transfer_from and current is None:
            warnings.append(
                f"application {row.id}: current facility {facts.transfer_from!r} unknown; "
                "treated as a new entry"
            )
        mode = (
            facts.sibling_mode
            if row.sibling_group and facts.sibling_mode != "independent"
            else None
        )
        applicants.append(
            alloc.Applicant(
                id=key,
                class_age=row.class_age,
                wishes=wishes,
                priority=tuple(float(v) for v in scored.priority),
                group=row.sibling_group if mode else None,
                group_mode=mode,
                current=current,
            )
        )
        applications[key] = row
        scores[key] = scored
    if problems:
        raise RoundError(
            "invalid_applications",
            f"{len(problems)} applications have facts the rules cannot score; correct them",
            problems,
        )
    if not labels:
        labels = tuple(score_labels(document))
    round_input = alloc.RoundInput(
        places=place_map,
        applicants=applicants,
        seed=round_.seed,
        priority_labels=labels,
        rules_hash=rules_row.digest,
    )
    return RoundRun(
        round=round_,
        rules=rules_row,
        document=document,
        applications=applications,
        facilities=by_key,
        input=round_input,
        scores=scores,
        warnings=warnings,
    )


def score_labels(document: PointsDocument) -> list[tuple[str, str]]:
    """The priority items' names (points, then each tie-break) when no application was scored."""
    return [("点数", "Points"), *((t.label_ja, t.label_en) for t in document.tie_breaks)]


async def _rules(session: AsyncSession, round_: IntakeRound) -> tuple[PointsRules, PointsDocument]:
    if round_.rules_version is not None:
        row = (
            await session.exec(
                select(PointsRules).where(
                    PointsRules.municipality == round_.municipality,
                    PointsRules.version == round_.rules_version,
                )
            )
        ).first()
        if row is not None:
            return row, PointsDocument.model_validate(row.body)
    found = await rules_for(session, round_.municipality, month_start(round_.entry_month))
    if found is None:
        raise RoundError(
            "no_rules",
            f"{round_.municipality} has no points rules valid for "
            f"{month_start(round_.entry_month):%Y-%m}: upload them first "
            "(POST /api/v1/daycare/points-rules)",
        )
    return found


def run_summary(run: RoundRun, *, dry_run: bool, at: datetime) -> dict[str, Any]:
    """What the round keeps of a run and the API answers: hash, seed, rules, outcome, words."""
    outcome = run.outcome
    names_ja, names_en = run.names("ja"), run.names("en")
    results = []
    for key, application in run.applications.items():
        placed = outcome.assignment.get(key)
        explanation = outcome.explanations.get(key)
        results.append(
            {
                "application_id": application.id,
                "class_age": application.class_age,
                "points": run.scores[key].total,
                "priority": list(run.scores[key].priority),
                "facility": placed,
                "facility_name": names_ja.get(placed) if placed else None,
                "wish_rank": outcome.wish_rank.get(key),
                "lottery": outcome.lottery.get(key),
                "explanation_ja": alloc.describe(explanation, "ja", names_ja)
                if explanation is not None
                else "",
                "explanation_en": alloc.describe(explanation, "en", names_en)
                if explanation is not None
                else "",
            }
        )
    placed_count = sum(1 for r in results if r["facility"])
    return {
        "round_id": run.round.id,
        "dry_run": dry_run,
        "at": at.astimezone(UTC).isoformat(),
        "input_hash": outcome.input_hash,
        "seed": run.round.seed,
        "rules": {
            "municipality": run.rules.municipality,
            "version": run.rules.version,
            "digest": run.rules.digest,
        },
        "applications": len(results),
        "placed": placed_count,
        "not_placed": len(results) - placed_count,
        "stable": outcome.stable,
        "blocking_pairs": outcome.to_json().get("blocking", []),
        # Only classes that were filled have a cutoff (the lowest admitted priority).
        "cutoffs": [
            {**c, "facility_name": names_ja.get(c["facility"])}
            for c in outcome.to_json().get("cutoffs", [])
            if c.get("priority") is not None
        ],
        "warnings": run.warnings,
        "results": results,
    }


async def allocate_round(
    session: AsyncSession,
    round_: IntakeRound,
    *,
    now: datetime,
    places: Sequence[tuple[str, int, int]] | None = None,
) -> dict[str, Any]:
    """A dry run: allocate and keep the run on the round (nothing else changes)."""
    if round_.status == "confirmed":
        raise RoundError("already_confirmed", f"round {round_.id} was already confirmed")
    run = await build_run(session, round_, places=places)
    summary = run_summary(run, dry_run=True, at=now)
    round_.allocation = {**summary, "places": _places_json(run.input.places)}
    round_.input_hash = run.outcome.input_hash
    round_.updated_at = now
    session.add(round_)
    return summary


def _places_json(places: Mapping[tuple[str, int], int]) -> list[dict[str, Any]]:
    return [{"facility": f, "class_age": c, "places": n} for (f, c), n in sorted(places.items())]


async def confirm_round(
    session: AsyncSession,
    round_: IntakeRound,
    *,
    input_hash: str,
    now: datetime,
    actor: str,
    zone: tzinfo = TOKYO,
) -> dict[str, Any]:
    """Confirm the round: the allocation staff saw (its input hash) becomes the decision.

    Writes offered/waitlisted with each explanation, takes the places from the vacancies, marks
    the round confirmed and records each family's result notice (due now; once per application).
    """
    assert round_.id is not None
    if round_.status == "confirmed":
        raise RoundError("already_confirmed", f"round {round_.id} was already confirmed")
    if round_.status == "open" and round_.deadline > now:
        # Families may still apply, change or withdraw until then: deciding now would tell
        # some of them a result others could still change.
        raise RoundError(
            "round_open",
            f"round {round_.id} takes applications until "
            f"{round_.deadline.astimezone(TOKYO).isoformat(timespec='minutes')}: close "
            "it first (PATCH /api/v1/daycare/rounds/{id} with status closed) or wait",
        )
    if not round_.allocation:
        raise RoundError("no_dry_run", "run a dry run first (POST …/allocate) and check it")
    kept = round_.allocation.get("places")
    places = (
        [(p["facility"], int(p["class_age"]), int(p["places"])) for p in kept]
        if isinstance(kept, list)
        else None
    )
    run = await build_run(session, round_, places=places)
    if run.outcome.input_hash != input_hash or round_.input_hash != input_hash:
        raise RoundError(
            "inputs_changed",
            "the applications, places or rules changed since that dry run (input hash "
            f"{input_hash[:12]}… is now {run.outcome.input_hash[:12]}…): run it again and check",
        )
    summary = run_summary(run, dry_run=False, at=now)
    by_id = {r["application_id"]: r for r in summary["results"]}
    drafts: list[NoticeDraft] = []
    families = {
        f.id: f
        for f in (
            await session.exec(
                select(Family).where(
                    col(Family.id).in_(sorted({a.family_id for a in run.applications.values()}))
                )
            )
        ).all()
    }
    taken: dict[tuple[int, int], int] = {}
    for key, application in run.applications.items():
        assert application.id is not None
        result = by_id[application.id]
        placed_key = result["facility"]
        facility = run.facilities.get(placed_key) if placed_key else None
        old = application.status
        application.status = "offered" if facility is not None else "waitlisted"
        application.placed_facility_pk = facility.id if facility is not None else None
        application.points = float(run.scores[key].total)
        application.result = {
            "round_id": round_.id,
            "facility": placed_key,
            "facility_pk": facility.id if facility is not None else None,
            "facility_name": {
                "ja": facility.name_ja,
                "en": facility.name_en or facility.name_ja,
            }
            if facility is not None
            else None,
            "wish_rank": result["wish_rank"],
            "points": result["points"],
            "explanation_ja": result["explanation_ja"],
            "explanation_en": result["explanation_en"],
            "input_hash": run.outcome.input_hash,
        }
        application.decided_at = now
        application.updated_at = now
        session.add(application)
        session.add(
            ApplicationAudit(
                application_id=application.id,
                actor=actor[:64],
                action="decided",
                field="status",
                old=old,
                new=application.status,
                at=now,
            )
        )
        if facility is not None and facility.id is not None:
            slot = (facility.id, application.class_age)
            taken[slot] = taken.get(slot, 0) + 1
        family = families.get(application.family_id)
        if family is not None and family.state == "active":
            drafts.append(result_draft(application, round_, family, now=now, zone=zone))
    await _take_places(session, round_, taken, now)
    round_.status = "confirmed"
    round_.confirmed_at = now
    round_.allocation = {**summary, "places": _places_json(run.input.places)}
    round_.input_hash = run.outcome.input_hash
    round_.updated_at = now
    session.add(round_)
    new = await record_new(session, drafts)
    summary["notices"] = len(new)
    log.info(
        "round confirmed",
        extra={"round": round_.id, "placed": summary["placed"], "notices": len(new)},
    )
    return summary


async def _take_places(
    session: AsyncSession, round_: IntakeRound, taken: Mapping[tuple[int, int], int], now: datetime
) -> None:
    # The places given in this round are no longer open for the next round of the same month.
    month = month_start(round_.entry_month)
    for (facility_pk, class_age), count in taken.items():
        row = (
            await session.exec(
                select(Vacancy).where(
                    Vacancy.facility_pk == facility_pk,
                    Vacancy.class_age == class_age,
                    Vacancy.entry_month == month,
                )
            )
        ).first()
        if row is None or row.level != "number" or row.places is None:
            continue
        row.places = max(row.places - count, 0)
        row.source = f"round:{round_.id}"
        row.updated_at = now
        session.add(row)


def result_draft(
    application: Application,
    round_: IntakeRound,
    family: Family,
    *,
    now: datetime,
    zone: tzinfo = TOKYO,
) -> NoticeDraft:
    """The family's `daycare-result` notice: due now, urgent (never held for the digest)."""
    assert application.id is not None and round_.id is not None
    from notifier.planning import family_channel

    today = now.astimezone(zone).date()
    result = application.result
    return NoticeDraft(
        family_id=application.family_id,
        subject=f"application:{application.id}",
        program_id=None,
        child_key="",
        kind=DAYCARE_RESULT,
        cycle=f"round:{round_.id}",
        issuer=round_.municipality,
        category="daycare",
        channel=family_channel(family),
        # Tomorrow: urgent for the planning, so it goes at the next moment outside quiet hours.
        deadline=today + timedelta(days=1),
        due_at=now,
        payload={
            "title": {
                lang: notice_text(
                    f"result.{application.status}.title",
                    lang,
                    name=(result.get("facility_name") or {}).get(lang, ""),
                )
                for lang in ("ja", "en")
            },
            "status": application.status,
            "round": round_.name,
            "entry_month": month_start(round_.entry_month).isoformat(),
            "class_age": application.class_age,
            "facility": result.get("facility_name"),
            "facility_pk": result.get("facility_pk"),
            "wish_rank": result.get("wish_rank"),
            "points": result.get("points"),
            "explanation": {
                "ja": result.get("explanation_ja"),
                "en": result.get("explanation_en"),
            },
            "accepts_leave_extension": bool(application.facts.get("accepts_leave_extension")),
        },
    )


async def score_application(
    session: AsyncSession, round_: IntakeRound, application: Application
) -> Score | None:
    """The application's points under the round's rules, line by line (None: the round has
    no rules yet, or the facts cannot be scored)."""
    try:
        _, document = await _rules(session, round_)
        return score(document, ApplicationFacts.model_validate(application.facts))
    except (RoundError, PointsRuleError, ValueError):
        return None


MAX_OPEN_DAYS = 731


def check_round_times(
    entry_month: date,
    deadline: datetime,
    opens_at: datetime | None,
    now: datetime,
    *,
    new_deadline: bool = True,
) -> None:
    """RoundError (`details`: the field and why) unless the deadline is ahead (when it is new)
    and before the month of entry, and the opening before the deadline, at most
    MAX_OPEN_DAYS before it."""

    def bad(field: str, reason: str, code: str = "invalid_request") -> RoundError:
        return RoundError(code, reason, [{"location": field, "reason": reason}])

    # Placement is decided before the month starts: a deadline in it would leave no time.
    entry = datetime(entry_month.year, entry_month.month, 1, tzinfo=TOKYO)
    if new_deadline and deadline <= now:
        raise bad("deadline", "the deadline has passed", "deadline_in_past")
    if deadline >= entry:
        raise bad(
            "deadline",
            f"the deadline must come before the month of entry ({entry_month:%Y-%m})",
            "deadline_after_entry",
        )
    if opens_at is not None and opens_at >= deadline:
        raise bad("opens_at", "opens_at must come before the deadline")
    if opens_at is not None and deadline - opens_at > timedelta(days=MAX_OPEN_DAYS):
        raise bad("opens_at", f"a round takes applications for at most {MAX_OPEN_DAYS} days")


def new_round(
    *,
    municipality: str,
    name: str,
    entry_month: date,
    deadline: datetime,
    opens_at: datetime | None,
    seed: str | None,
    export_columns: Sequence[str] | None,
    now: datetime,
) -> IntakeRound:
    """A new open round, its times checked (RoundError); its seed generated unless given.
    The caller adds it to its session."""
    check_round_times(entry_month, deadline, opens_at, now)
    return IntakeRound(
        municipality=municipality,
        name=name,
        entry_month=entry_month,
        opens_at=opens_at,
        deadline=deadline,
        status="open",
        seed=seed or secrets.token_hex(16),
        export_columns=list(export_columns or []),
        created_at=now,
        updated_at=now,
    )


def change_round(row: IntakeRound, changes: Mapping[str, Any], now: datetime) -> None:
    """Apply changes (name, deadline, opens_at, status, export_columns) to a round not yet
    confirmed: the times are checked again, and reopening needs a deadline ahead (RoundError)."""
    if row.status == "confirmed":
        raise RoundError("round_confirmed", f"round {row.id} is confirmed: it is final")
    if "deadline" in changes or "opens_at" in changes:
        check_round_times(
            row.entry_month,
            changes.get("deadline", row.deadline),
            changes.get("opens_at", row.opens_at),
            now,
            new_deadline="deadline" in changes,
        )
    if changes.get("status") == "open" and row.deadline <= now and "deadline" not in changes:
        raise RoundError(
            "invalid_request",
            "the deadline has passed: give a new deadline with it",
            [{"location": "status", "reason": "the deadline has passed: give a new deadline"}],
        )
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = now
