"""Daycare applications (入所申込), once-only: submit, change, withdraw, correct, check documents.

A family applies for one child in one intake round (the municipality's round for a month of
entry) with up to 20 wished facilities, best first, and the household facts points rules score
(`rules.points.ApplicationFacts`). What the service already knows pre-fills the facts (the
profile, or the family's last application), so a re-application or next year's renewal asks only
what changed. Every change is written to the audit trail (who, when, what, why); staff
corrections need a reason. Until the round's deadline a family may change its wishes or withdraw.

Functions take an explicit session and `now`; the caller owns the transaction. Errors are
`ApplicationError` with a code the API and the bot turn into words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.classes import entry_class, month_start
from integrations.daycare.models import (
    MAX_WISHES,
    Application,
    ApplicationAudit,
    Facility,
    IntakeRound,
)
from rules.points import ApplicationFacts

TOKYO = ZoneInfo("Asia/Tokyo")
OPEN_STATUSES = ("received", "under_review")
"""Statuses a family may still change or withdraw (before the deadline)."""

DIRECT_TYPES = frozenset({"certified_tokyo", "unlicensed", "kindergarten"})
"""Facility types a family applies to directly, not through the municipality's 利用調整
(認証保育所, 認可外保育施設, 幼稚園): they are never wished in an application."""


def through_municipality(facility: Facility) -> bool:
    """Whether places at this facility are given by the municipality's allocation."""
    return facility.type not in DIRECT_TYPES


class ApplicationError(Exception):
    """An application that cannot be made or changed; `code` says why."""

    def __init__(self, code: str, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location


@dataclass(frozen=True)
class DocumentNeed:
    """A document the municipality needs with the application (提出書類)."""

    key: str  # e.g. "employment_certificate:0" (the guardian's index after the colon)
    ja: str
    en: str


_GUARDIAN_DOCUMENTS: dict[str, tuple[str, str, str]] = {
    # reason: (document kind, Japanese, English)
    "work": ("employment_certificate", "就労証明書", "Employment certificate"),
    "job_seeking": (
        "job_seeking_statement",
        "求職活動状況申告書",
        "Statement of job seeking",
    ),
    "pregnancy": ("maternity_handbook", "母子健康手帳の写し", "Copy of the maternity handbook"),
    "illness": ("medical_certificate", "診断書", "Medical certificate"),
    "disability": (
        "disability_certificate",
        "障害者手帳の写し",
        "Copy of the disability certificate",
    ),
    "nursing_care": (
        "care_statement",
        "介護・看護の状況申告書と診断書",
        "Statement of care with the relative's medical certificate",
    ),
    "disaster": ("disaster_certificate", "り災証明書", "Disaster victim certificate"),
    "study": ("enrolment_certificate", "在学証明書", "Certificate of enrolment"),
}


def required_documents(facts: ApplicationFacts) -> list[DocumentNeed]:
    """The documents this application still needs, by the household's facts (in order)."""
    needs: list[DocumentNeed] = []
    for index, guardian in enumerate(facts.guardians):
        who_ja = {"mother": "母", "father": "父"}.get(guardian.relation, f"保護者{index + 1}")
        who_en = {"mother": "mother", "father": "father"}.get(
            guardian.relation, f"guardian {index + 1}"
        )
        found = _GUARDIAN_DOCUMENTS.get(guardian.reason)
        if found is not None:
            kind, ja, en = found
            needs.append(DocumentNeed(f"{kind}:{index}", f"{ja}（{who_ja}）", f"{en} ({who_en})"))
        if guardian.on_leave:
            needs.append(
                DocumentNeed(
                    f"leave_certificate:{index}",
                    f"育児休業取得（予定）証明書（{who_ja}）",
                    f"Certificate of parental leave ({who_en})",
                )
            )
    if facts.single_parent:
        needs.append(
            DocumentNeed(
                "single_parent",
                "ひとり親であることがわかる書類（児童扶養手当証書等）",
                "Proof of single-parent status (e.g. child-rearing allowance certificate)",
            )
        )
    if facts.child_disability:
        needs.append(
            DocumentNeed(
                "child_disability",
                "お子さんの障害者手帳の写しまたは診断書",
                "Copy of the child's disability certificate or a medical certificate",
            )
        )
    return needs


def _documents_state(facts: ApplicationFacts, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The documents dict for `facts`, keeping what staff already checked."""
    old = old or {}
    state: dict[str, Any] = {}
    for need in required_documents(facts):
        kept = old.get(need.key)
        # The check is kept, the words follow the facts (a guardian 0 corrected from mother to
        # father keeps the checked certificate, now named the father's).
        state[need.key] = (
            {**kept, "ja": need.ja, "en": need.en}
            if isinstance(kept, dict)
            else {"ja": need.ja, "en": need.en, "checked": False, "checked_at": None}
        )
    return state


def documents_missing(application: Application) -> list[dict[str, Any]]:
    """The documents not checked yet, as stored ({"key", "ja", "en"})."""
    return [
        {"key": key, "ja": value.get("ja", key), "en": value.get("en", key)}
        for key, value in application.documents.items()
        if not value.get("checked")
    ]


def facts_changes(old: ApplicationFacts | None, new: ApplicationFacts) -> list[str]:
    """The top-level fact names that differ between a family's last application and this one
    (none for a first application)."""
    if old is None:
        return []  # a first application: nothing to compare with
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return [name for name in ApplicationFacts.model_fields if before[name] != after[name]]


def parse_facts(data: dict[str, Any]) -> ApplicationFacts:
    """Validate stored or sent facts; raises ApplicationError (code `invalid_facts`)."""
    try:
        return ApplicationFacts.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApplicationError(
            "invalid_facts", f"facts.{where}: {first['msg']}", f"facts.{where}"
        ) from None


async def open_rounds(
    session: AsyncSession, municipality: str, now: datetime
) -> list[IntakeRound]:
    """The municipality's rounds taking applications now, soonest deadline first."""
    found = await session.exec(
        select(IntakeRound)
        .where(
            IntakeRound.municipality == municipality,
            IntakeRound.status == "open",
            col(IntakeRound.deadline) > now,
        )
        .order_by(col(IntakeRound.deadline), col(IntakeRound.id))
    )
    return [r for r in found.all() if r.opens_at is None or r.opens_at <= now]


async def last_facts(
    session: AsyncSession, family_id: int, *, municipality: str | None = None
) -> ApplicationFacts | None:
    """The facts of the family's latest application (any round, any child), if any; with
    `municipality`, only one made there (what a municipality's own systems may see)."""
    query = select(Application).where(Application.family_id == family_id)
    if municipality is not None:
        query = query.where(Application.municipality == municipality)
    found = await session.exec(
        query.order_by(col(Application.updated_at).desc(), col(Application.id).desc()).limit(1)
    )
    last = found.first()
    if last is None:
        return None
    try:
        return ApplicationFacts.model_validate(last.facts)
    except ValidationError:
        return None


async def applications_of_family(session: AsyncSession, family_id: int) -> list[Application]:
    """The family's applications, newest first."""
    found = await session.exec(
        select(Application)
        .where(Application.family_id == family_id)
        .order_by(col(Application.submitted_at).desc(), col(Application.id).desc())
    )
    return list(found.all())


def _audit(
    session: AsyncSession,
    application: Application,
    *,
    actor: str,
    action: str,
    field: str = "",
    old: Any = None,
    new: Any = None,
    reason: str = "",
    now: datetime,
) -> None:
    assert application.id is not None
    session.add(
        ApplicationAudit(
            application_id=application.id,
            actor=actor[:64],
            action=action,
            field=field,
            old=old,
            new=new,
            reason=reason[:500],
            at=now,
        )
    )


def _require_open(round_: IntakeRound, now: datetime) -> None:
    if round_.status == "confirmed":
        raise ApplicationError(
            "round_closed", f"round {round_.id} was decided: it no longer takes applications"
        )
    if round_.status != "open":
        raise ApplicationError(
            "round_closed", f"round {round_.id} was closed: it no longer takes applications"
        )
    if round_.deadline <= now:
        raise ApplicationError(
            "round_closed",
            f"round {round_.id} no longer takes applications (deadline "
            f"{round_.deadline.astimezone(TOKYO).isoformat()})",
        )
    if round_.opens_at is not None and round_.opens_at > now:
        raise ApplicationError(
            "round_not_open", f"round {round_.id} opens at {round_.opens_at.isoformat()}"
        )


async def check_wishes(
    session: AsyncSession, round_: IntakeRound, wishes: list[int], class_age: int
) -> list[Facility]:
    """The wished facilities, in order; raises ApplicationError for a bad list."""
    if not wishes:
        raise ApplicationError("no_wishes", "wish at least one facility", "wishes")
    if len(wishes) > MAX_WISHES:
        raise ApplicationError(
            "too_many_wishes", f"at most {MAX_WISHES} wishes, got {len(wishes)}", "wishes"
        )
    seen: set[int] = set()
    for index, pk in enumerate(wishes):
        if pk in seen:
            raise ApplicationError(
                "duplicate_wish", f"facility {pk} is wished twice", f"wishes[{index}]"
            )
        seen.add(pk)
    found = await session.exec(select(Facility).where(col(Facility.id).in_(wishes)))
    by_pk = {f.id: f for f in found.all()}
    ordered: list[Facility] = []
    for index, pk in enumerate(wishes):
        facility = by_pk.get(pk)
        if facility is None or facility.status != "active":
            raise ApplicationError(
                "unknown_facility", f"no open facility {pk}", f"wishes[{index}]"
            )
        if facility.municipality != round_.municipality:
            raise ApplicationError(
                "other_municipality",
                f"{facility.name_ja} is in another municipality ({facility.municipality}); "
                "apply there for it",
                f"wishes[{index}]",
            )
        if not through_municipality(facility):
            raise ApplicationError(
                "apply_directly",
                f"{facility.name_ja} ({facility.type_label or facility.type}) takes applications "
                "itself, not through the municipality: apply there directly",
                f"wishes[{index}]",
            )
        if facility.classes and class_age not in facility.classes:
            raise ApplicationError(
                "class_not_offered",
                f"{facility.name_ja} has no {class_age}-year class",
                f"wishes[{index}]",
            )
        ordered.append(facility)
    return ordered


async def _sibling_group(
    session: AsyncSession, round_id: int, family_id: int, facts: ApplicationFacts
) -> str | None:
    # Brothers and sisters applying in one round form one group per family (their facts say
    # how they want to be placed together); the key is the same for all of them.
    if facts.siblings_applying == 0:
        return None
    return f"r{round_id}-f{family_id}"


async def submit(
    session: AsyncSession,
    *,
    round_: IntakeRound,
    family_id: int,
    child_id: int | None,
    birth_date: date,
    wishes: list[int],
    facts: ApplicationFacts,
    now: datetime,
    channel: str = "line",
    external_ref: str = "",
    actor: str = "family",
) -> tuple[Application, bool]:
    """Submit (or re-submit, changed) the application of one child; (application, created).

    A second submission for the same child and round replaces the first while it is open (its
    checked documents kept where still needed) and is audited as a change.
    """
    assert round_.id is not None
    _require_open(round_, now)
    class_age = entry_class(birth_date, round_.entry_month)
    if class_age is None:
        raise ApplicationError(
            "no_class",
            f"a child born {birth_date.isoformat()} has no daycare class for "
            f"{month_start(round_.entry_month):%Y-%m} (not born by then, or school age)",
            "birth_date",
        )
    await check_wishes(session, round_, wishes, class_age)
    group = await _sibling_group(session, round_.id, family_id, facts)
    found = await session.exec(
        select(Application).where(
            Application.round_id == round_.id,
            Application.family_id == family_id,
            Application.child_id == child_id,
        )
    )
    existing = found.first()
    facts_json = facts.model_dump(mode="json")
    if existing is None:
        application = Application(
            round_id=round_.id,
            municipality=round_.municipality,
            family_id=family_id,
            child_id=child_id,
            child_birth_date=birth_date,
            class_age=class_age,
            status="received",
            channel=channel,
            external_ref=external_ref[:100],
            wishes=list(wishes),
            facts=facts_json,
            sibling_group=group,
            documents=_documents_state(facts),
            submitted_at=now,
            updated_at=now,
        )
        session.add(application)
        await session.flush()
        _audit(session, application, actor=actor, action="submitted", new=wishes, now=now)
        return application, True
    if existing.status not in (*OPEN_STATUSES, "withdrawn"):
        raise ApplicationError("already_decided", f"application {existing.id} was already decided")
    changes: dict[str, tuple[Any, Any]] = {}
    if existing.wishes != list(wishes):
        changes["wishes"] = (existing.wishes, list(wishes))
    if existing.facts != facts_json:
        changes["facts"] = (existing.facts, facts_json)
    if existing.child_birth_date != birth_date:
        changes["child_birth_date"] = (
            existing.child_birth_date.isoformat(),
            birth_date.isoformat(),
        )
    was_withdrawn = existing.status == "withdrawn"
    existing.wishes = list(wishes)
    existing.facts = facts_json
    existing.child_birth_date = birth_date
    existing.class_age = class_age
    existing.sibling_group = group
    existing.documents = _documents_state(facts, existing.documents)
    existing.channel = channel
    if external_ref:
        existing.external_ref = external_ref[:100]
    existing.updated_at = now
    if was_withdrawn:
        existing.status = "received"
        existing.withdrawn_at = None
        existing.submitted_at = now
        _audit(session, existing, actor=actor, action="resubmitted", new=wishes, now=now)
    for name, (old, new) in changes.items():
        _audit(
            session, existing, actor=actor, action="changed", field=name, old=old, new=new, now=now
        )
    session.add(existing)
    return existing, False


async def round_of(session: AsyncSession, application: Application) -> IntakeRound:
    """The round an application belongs to."""
    found = await session.get(IntakeRound, application.round_id)
    assert found is not None  # a foreign key
    return found


async def change_wishes(
    session: AsyncSession,
    application: Application,
    wishes: list[int],
    *,
    now: datetime,
    actor: str = "family",
) -> Application:
    """Change the wished facilities (order counts) before the deadline."""
    round_ = await round_of(session, application)
    _require_changeable(application, round_, now)
    await check_wishes(session, round_, wishes, application.class_age)
    if application.wishes != list(wishes):
        _audit(
            session,
            application,
            actor=actor,
            action="changed",
            field="wishes",
            old=application.wishes,
            new=list(wishes),
            now=now,
        )
        application.wishes = list(wishes)
        application.updated_at = now
        session.add(application)
    return application


def _require_changeable(application: Application, round_: IntakeRound, now: datetime) -> None:
    if application.status not in OPEN_STATUSES:
        raise ApplicationError(
            "not_changeable",
            f"application {application.id} is {application.status}; it can no longer change",
        )
    _require_open(round_, now)


async def withdraw(
    session: AsyncSession, application: Application, *, now: datetime, actor: str = "family"
) -> Application:
    """Withdraw the application (取下げ) before the deadline."""
    round_ = await round_of(session, application)
    _require_changeable(application, round_, now)
    _audit(
        session,
        application,
        actor=actor,
        action="withdrawn",
        old=application.status,
        new="withdrawn",
        now=now,
    )
    application.status = "withdrawn"
    application.withdrawn_at = now
    application.updated_at = now
    session.add(application)
    return application


async def correct_facts(
    session: AsyncSession,
    application: Application,
    changes: dict[str, Any],
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Application:
    """Staff correct facts of an application (top-level fact names), with a reason (audited).

    The corrected facts are validated as a whole; documents follow the new facts.
    """
    if not reason.strip():
        raise ApplicationError("reason_required", "a correction needs a reason", "reason")
    if application.status in ("offered", "waitlisted"):
        # The decision was made on the facts as they were; changing them now would make the
        # stored points and result disagree with them.
        raise ApplicationError(
            "already_decided", f"application {application.id} was already decided"
        )
    if application.status == "withdrawn":
        raise ApplicationError("not_changeable", f"application {application.id} was withdrawn")
    unknown = [name for name in changes if name not in ApplicationFacts.model_fields]
    if unknown:
        raise ApplicationError(
            "unknown_fact",
            f"unknown fact {unknown[0]!r}: use one of {', '.join(ApplicationFacts.model_fields)}",
            f"changes.{unknown[0]}",
        )
    merged = {**application.facts, **changes}
    facts = parse_facts(merged)
    new_json = facts.model_dump(mode="json")
    for name in changes:
        old, new = application.facts.get(name), new_json.get(name)
        if old != new:
            _audit(
                session,
                application,
                actor=actor,
                action="corrected",
                field=f"facts.{name}",
                old=old,
                new=new,
                reason=reason.strip(),
                now=now,
            )
    application.facts = new_json
    # The group follows the facts, as on submission: else corrected siblings stay apart.
    application.sibling_group = await _sibling_group(
        session, application.round_id, application.family_id, facts
    )
    application.documents = _documents_state(facts, application.documents)
    application.updated_at = now
    session.add(application)
    await _correct_siblings(session, application, changes, reason=reason, actor=actor, now=now)
    return application


HOUSEHOLD_FACTS = frozenset(ApplicationFacts.model_fields) - {
    "child_disability",
    "transfer_from",
    "graduating_small_scale",
}
"""Facts of the household, the same for brothers and sisters applying together (the others
belong to one child)."""


async def _correct_siblings(
    session: AsyncSession,
    application: Application,
    changes: dict[str, Any],
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    # A household fact corrected on one child's application is corrected on its brothers' and
    # sisters' in the same round too: one household, one set of points.
    shared = {k: v for k, v in changes.items() if k in HOUSEHOLD_FACTS}
    if not shared:
        return
    found = await session.exec(
        select(Application).where(
            Application.round_id == application.round_id,
            Application.family_id == application.family_id,
            Application.id != application.id,
            Application.status != "withdrawn",
        )
    )
    for sibling in found.all():
        merged = {**sibling.facts, **shared}
        facts = parse_facts(merged)
        new_json = facts.model_dump(mode="json")
        for name in shared:
            old, new = sibling.facts.get(name), new_json.get(name)
            if old != new:
                _audit(
                    session,
                    sibling,
                    actor=actor,
                    action="corrected",
                    field=f"facts.{name}",
                    old=old,
                    new=new,
                    reason=f"{reason.strip()} (application {application.id})"[:500],
                    now=now,
                )
        sibling.facts = new_json
        sibling.documents = _documents_state(facts, sibling.documents)
        sibling.updated_at = now
        session.add(sibling)


async def check_document(
    session: AsyncSession,
    application: Application,
    key: str,
    *,
    checked: bool,
    actor: str,
    now: datetime,
) -> Application:
    """Mark one document checked (or not); the first check puts the application under review."""
    if key not in application.documents:
        raise ApplicationError(
            "unknown_document",
            f"no document {key!r} for this application: "
            f"{', '.join(application.documents) or 'none needed'}",
            "key",
        )
    state = dict(application.documents[key])
    if bool(state.get("checked")) == checked:
        return application
    state["checked"] = checked
    state["checked_at"] = now.isoformat() if checked else None
    application.documents = {**application.documents, key: state}
    _audit(
        session,
        application,
        actor=actor,
        action="document_checked" if checked else "document_unchecked",
        field=f"documents.{key}",
        old=not checked,
        new=checked,
        now=now,
    )
    if checked and application.status == "received":
        application.status = "under_review"
        _audit(
            session,
            application,
            actor=actor,
            action="status",
            old="received",
            new="under_review",
            now=now,
        )
    application.updated_at = now
    session.add(application)
    return application


async def audit_trail(session: AsyncSession, application_id: int) -> list[ApplicationAudit]:
    """The application's audit trail, oldest first."""
    found = await session.exec(
        select(ApplicationAudit)
        .where(ApplicationAudit.application_id == application_id)
        .order_by(col(ApplicationAudit.at), col(ApplicationAudit.id))
    )
    return list(found.all())


def prefill_facts(
    *,
    single_parent: bool | None,
    public_assistance: bool | None,
    resident_tax_exempt: bool | None,
    child_disability: bool,
    last: ApplicationFacts | None,
) -> dict[str, Any]:
    """What the service already knows of an application's facts: the family's last application
    first, then the household profile where it says something (a partial dict; the guardians
    are asked unless the last application gave them)."""
    known: dict[str, Any] = last.model_dump(mode="json") if last is not None else {}
    if single_parent is not None:
        known["single_parent"] = single_parent
    if public_assistance is not None:
        known["public_assistance"] = public_assistance
    if resident_tax_exempt is not None:
        known["resident_tax_exempt"] = resident_tax_exempt
    if child_disability:
        known["child_disability"] = True
    return known


@dataclass(frozen=True)
class ApplicationFilter:
    """Filters of a round's application list (the API's and the console's); None: any."""

    status: str | None = None
    class_age: int | None = None
    channel: str | None = None
    facility: str | None = None
    """A facility_id wished at any rank."""
    first_wish: str | None = None
    documents: str | None = None
    """"missing" or "complete"."""


async def facilities_of(session: AsyncSession, pks: Iterable[int]) -> dict[int, Facility]:
    """The facilities of these row ids, by id."""
    wanted = set(pks)
    if not wanted:
        return {}
    found = await session.exec(select(Facility).where(col(Facility.id).in_(wanted)))
    return {f.id: f for f in found.all() if f.id is not None}


async def filter_applications(
    session: AsyncSession, round_: IntakeRound, query: ApplicationFilter
) -> tuple[list[Application], dict[int, Facility]]:
    """The round's applications matching the filters, in order of submission, and the
    facilities they wish for (by row id)."""
    statement = select(Application).where(Application.round_id == round_.id)
    if query.status is not None:
        statement = statement.where(Application.status == query.status)
    if query.class_age is not None:
        statement = statement.where(Application.class_age == query.class_age)
    if query.channel is not None:
        statement = statement.where(Application.channel == query.channel)
    rows = list(
        (
            await session.exec(
                statement.order_by(col(Application.submitted_at), col(Application.id))
            )
        ).all()
    )
    facilities = await facilities_of(session, (pk for r in rows for pk in r.wishes))
    pk_of = {f.facility_id: pk for pk, f in facilities.items()}

    def wished(facility_id: str | None, row: Application, first: bool) -> bool:
        if facility_id is None:
            return True
        pk = pk_of.get(facility_id)
        if pk is None:
            return False
        return (row.wishes[:1] if first else row.wishes).count(pk) > 0

    selected = []
    for row in rows:
        if not wished(query.facility, row, first=False):
            continue
        if not wished(query.first_wish, row, first=True):
            continue
        if query.documents is not None:
            missing = bool(documents_missing(row))
            if missing != (query.documents == "missing"):
                continue
        selected.append(row)
    return selected, facilities
