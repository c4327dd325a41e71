"""SQLModel tables of the daycare one-stop: facilities, vacancies, past results, tours, saved.

Facilities are keyed by (municipality, facility id): the id is stable within a municipality (the
open-data file's NO, or one the municipality gives) and is what the API and importers address.
A facility keeps its versions like a program. Coordinates may be missing (`located` is false):
such a facility is kept and flagged, and found by address later.

Families' rows (tour bookings, saved facilities) are personal data: the registry hook
`forget_family` deletes them with the family's data. Class ages are 0-5 (`rules.ages.class_age`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, delete
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.models import UTCDateTime, timestamp_field

CLASS_AGES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
"""Daycare classes by class age (0歳児クラス … 5歳児クラス)."""

FACILITY_TYPES: dict[str, tuple[str, str]] = {
    # key: (Japanese, English)
    "licensed_public": ("認可保育所（公立）", "Licensed daycare (public)"),
    "licensed_private": ("認可保育所（私立）", "Licensed daycare (private)"),
    "kodomoen_linked": ("幼保連携型認定こども園", "Certified centre (integrated)"),
    "kodomoen_kindergarten": ("幼稚園型認定こども園", "Certified centre (kindergarten type)"),
    "kodomoen_daycare": ("保育所型認定こども園", "Certified centre (daycare type)"),
    "kodomoen_local": ("地方裁量型認定こども園", "Certified centre (local type)"),
    "small_scale": ("小規模保育", "Small-scale daycare"),
    "family_daycare": ("家庭的保育", "Home-based daycare"),
    "workplace": ("事業所内保育", "Workplace daycare"),
    "certified_tokyo": ("認証保育所", "Tokyo-certified daycare"),
    "unlicensed": ("認可外保育施設", "Unlicensed daycare"),
    "kindergarten": ("幼稚園", "Kindergarten"),
    "other": ("その他", "Other"),
}
"""Facility types (DOMAIN.md, 保育 facts) by key, with their names for people."""


class Facility(SQLModel, table=True):
    """The current version of a childcare facility; `body` holds the full facility input."""

    __tablename__ = "daycare_facility"
    __table_args__ = (
        UniqueConstraint("municipality", "facility_id", name="uq_daycare_facility"),
        Index("ix_daycare_facility_muni_status", "municipality", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    municipality: str = Field(max_length=6, foreign_key="municipality.code")
    facility_id: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)  # active, closed
    version: int = 1
    source: str = Field(default="api", max_length=32)  # api, import
    name_ja: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    name_kana: str = Field(default="", max_length=200)
    type: str = Field(default="other", max_length=32)  # a FACILITY_TYPES key
    type_label: str = Field(default="", max_length=64)  # as the source wrote it (種別)
    address: str = Field(default="", max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    # False where the source gave no (or unusable) coordinates: kept, flagged, found by address.
    located: bool = True
    station: str = Field(default="", max_length=100)
    walk_minutes: int | None = None
    classes: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Capacity per class age ({"0": 6, "1": 12, ...}); `capacity` is the facility's total.
    class_capacity: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    capacity: int | None = None
    min_age_months: int | None = None  # youngest accepted age in months (産休明け = 2)
    # Youngest accepted age in days where the source says it in days (産休明け = 57: 8 weeks
    # after birth, 労働基準法 65条; 生後43日 = 43); search compares it on the day of entry.
    min_age_days: int | None = None
    days: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    opens: str | None = Field(default=None, max_length=5)  # "07:30"
    closes: str | None = Field(default=None, max_length=5)  # "18:30"
    extended_care: bool | None = None  # 延長保育
    extended_until: str | None = Field(default=None, max_length=5)
    temporary_care: bool | None = None  # 一時預かり
    meals: str = Field(default="", max_length=200)
    url: str = Field(default="", max_length=1000)
    phone: str = Field(default="", max_length=40)
    notes: str = Field(default="", max_length=2000)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class FacilityVersion(SQLModel, table=True):
    """A frozen version of a facility, readable for good."""

    __tablename__ = "daycare_facility_version"
    __table_args__ = (
        UniqueConstraint("facility_pk", "version", name="uq_daycare_facility_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    facility_pk: int = Field(foreign_key="daycare_facility.id", index=True)
    version: int
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = timestamp_field()


class Vacancy(SQLModel, table=True):
    """Places open in one class of one facility for one month of entry (空き状況)."""

    __tablename__ = "daycare_vacancy"
    __table_args__ = (
        UniqueConstraint("facility_pk", "class_age", "entry_month", name="uq_daycare_vacancy"),
    )

    id: int | None = Field(default=None, primary_key=True)
    facility_pk: int = Field(foreign_key="daycare_facility.id", index=True)
    class_age: int
    entry_month: date  # the first day of the month of entry
    level: str = Field(default="number", max_length=8)  # "number", "some" or "none"
    places: int | None = None  # where level is "number"
    as_of: date | None = None  # the date the source says it describes (【令和7年9月1日時点】)
    source: str = Field(default="api", max_length=64)
    updated_at: datetime = timestamp_field()


class PastResult(SQLModel, table=True):
    """A published fact of an earlier admission round, per facility, class age and year.

    `kind` is `min_points` (入所最低指数) or `first_round` (一次選考結果); `outcome` is `points`
    (the lowest admitted points, `points` set; `at_most` where published as "22以下"), `withheld`
    (非公開), `vacant` (空有: places were left), `no_class` (―) or `none` (nobody admitted).
    """

    __tablename__ = "daycare_past_result"
    __table_args__ = (
        UniqueConstraint(
            "facility_pk", "class_age", "year", "kind", name="uq_daycare_past_result"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    facility_pk: int = Field(foreign_key="daycare_facility.id", index=True)
    class_age: int
    year: int  # the fiscal year of entry the round was for
    kind: str = Field(default="min_points", max_length=16)
    outcome: str = Field(default="points", max_length=16)
    points: float | None = None
    raw: str = Field(default="", max_length=32)  # the cell as published
    source: str = Field(default="", max_length=200)
    updated_at: datetime = timestamp_field()


class TourSlot(SQLModel, table=True):
    """A tour (見学) a facility offers: when, how many families, notes.

    `booked` counts live bookings; a booking raises it with one conditional UPDATE
    (`booked < capacity`), so the last seat cannot be given twice on any database. A slot the
    facility cancelled keeps the count it had (its bookings are cancelled with it).
    """

    __tablename__ = "daycare_tour_slot"
    __table_args__ = (Index("ix_daycare_tour_slot_facility_start", "facility_pk", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    facility_pk: int = Field(foreign_key="daycare_facility.id")
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    capacity: int = 1
    booked: int = 0
    notes: str = Field(default="", max_length=500)
    status: str = Field(default="open", max_length=16)  # open, cancelled
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class TourBooking(SQLModel, table=True):
    """A family's booking of a tour slot (personal data: deleted with the family's data)."""

    __tablename__ = "daycare_tour_booking"
    __table_args__ = (
        UniqueConstraint("slot_id", "family_id", name="uq_daycare_tour_booking"),
        Index("ix_daycare_tour_booking_family", "family_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="daycare_tour_slot.id", index=True)
    family_id: int = Field(foreign_key="family.id")
    child_id: int | None = None  # no foreign key: a child removed later leaves the row valid
    status: str = Field(default="booked", max_length=16)  # booked, cancelled
    people: int = 1
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    @classmethod
    async def forget_family(cls, session: AsyncSession, family_id: int) -> None:
        """Registry hook: a deleted family's bookings go, and their seats are given back."""
        from integrations.daycare.tours import release_family_bookings  # imports this module

        await release_family_bookings(session, family_id)


class SavedFacility(SQLModel, table=True):
    """A facility a family saved (for a child): watched for new places ("seat opened")."""

    __tablename__ = "daycare_saved_facility"
    __table_args__ = (
        UniqueConstraint("family_id", "facility_pk", "child_id", name="uq_daycare_saved"),
    )

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="family.id", index=True)
    facility_pk: int = Field(foreign_key="daycare_facility.id", index=True)
    child_id: int | None = None  # no foreign key: a child removed later leaves the row valid
    entry_month: date | None = None
    created_at: datetime = timestamp_field()

    @classmethod
    async def forget_family(cls, session: AsyncSession, family_id: int) -> None:
        """Registry hook: a deleted family's saved facilities go."""
        await session.exec(delete(cls).where(cls.family_id == family_id))  # type: ignore[call-overload,arg-type]


async def facility_by_key(
    session: AsyncSession, municipality: str, facility_id: str
) -> Facility | None:
    """The facility with this (municipality, facility id), or None."""
    found = await session.exec(
        select(Facility).where(
            Facility.municipality == municipality, Facility.facility_id == facility_id
        )
    )
    return found.first()


@dataclass(frozen=True)
class OpenedSeat:
    """Places opened in a class for a month of entry where there were none (or none known):
    what a vacancy update tells the "seat opened" notices."""

    facility_pk: int
    class_age: int
    entry_month: date


APPLICATION_STATUSES: dict[str, tuple[str, str]] = {
    "received": ("受付", "Received"),
    "under_review": ("審査中", "Under review"),
    "offered": ("内定", "Place offered"),
    "waitlisted": ("保留", "Waiting list (not placed)"),
    "withdrawn": ("取下げ", "Withdrawn"),
}
"""An application's status (入所申込の状況), with its words for people.

received → under_review (documents checked or the deadline passed) → offered (内定) or
waitlisted (保留) when a round is confirmed; received/under_review → withdrawn by the family
until the deadline.
"""

MAX_WISHES = 20


class PointsRules(SQLModel, table=True):
    """A version of a municipality's points rules (利用調整基準), as uploaded; `body` is the
    document (`rules.points.PointsDocument`), `digest` the sha256 of its canonical JSON."""

    __tablename__ = "daycare_points_rules"
    __table_args__ = (UniqueConstraint("municipality", "version", name="uq_daycare_points_rules"),)

    id: int | None = Field(default=None, primary_key=True)
    municipality: str = Field(max_length=6, foreign_key="municipality.code", index=True)
    version: int = 1
    valid_from: date
    valid_to: date | None = None
    title: str = Field(default="", max_length=300)
    source_url: str = Field(default="", max_length=1000)
    digest: str = Field(max_length=64)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(default="", max_length=64)  # API key prefix or "cli"
    created_at: datetime = timestamp_field()


class IntakeRound(SQLModel, table=True):
    """An intake round (入所選考の回) of a municipality for one month of entry.

    Applications are taken until `deadline`; the municipality allocates (dry runs, as often as it
    likes) and confirms once, which writes 内定/保留 and tells every family. `allocation` keeps
    the last allocation run (its input hash, seed, outcome), `confirmed_*` the confirmed one.
    """

    __tablename__ = "daycare_round"
    __table_args__ = (Index("ix_daycare_round_muni_entry", "municipality", "entry_month"),)

    id: int | None = Field(default=None, primary_key=True)
    municipality: str = Field(max_length=6, foreign_key="municipality.code")
    name: str = Field(default="", max_length=200)  # "令和9年4月 一次選考"
    entry_month: date  # first day of the month of entry
    opens_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    deadline: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="open", max_length=16)  # open, closed, confirmed
    seed: str = Field(default="", max_length=128)  # published lottery seed
    rules_version: int | None = None  # points rules used (None: the one valid on entry_month)
    allocation: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    input_hash: str = Field(default="", max_length=64)
    # The municipality's column order for the CSV export of applications (empty: the default).
    export_columns: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class Application(SQLModel, table=True):
    """A family's application for a daycare place for one child in one round (入所申込).

    Personal data: deleted with the family's data. `wishes` are facility row ids (`Facility.id`)
    best first (at most 20); `facts` is `rules.points.ApplicationFacts`; `points` and
    `points_detail` are the score under the round's rules when last computed; `result` is what the
    confirmed allocation said (facility, wish rank, explanation).
    """

    __tablename__ = "daycare_application"
    __table_args__ = (
        UniqueConstraint("round_id", "family_id", "child_id", name="uq_daycare_application"),
        Index("ix_daycare_application_round_status", "round_id", "status"),
        Index("ix_daycare_application_family", "family_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="daycare_round.id")
    municipality: str = Field(max_length=6, foreign_key="municipality.code")
    family_id: int = Field(foreign_key="family.id")
    child_id: int | None = None  # no foreign key: a child removed later leaves the row valid
    child_birth_date: date
    class_age: int  # class age at the month of entry (rules.ages.class_age)
    status: str = Field(default="received", max_length=16)  # APPLICATION_STATUSES
    channel: str = Field(default="line", max_length=16)  # line, api
    external_ref: str = Field(default="", max_length=100)  # an app backend's own reference
    wishes: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Applications of brothers and sisters in the same round share a group key.
    sibling_group: str | None = Field(default=None, max_length=64)
    documents: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )  # {"employment_certificate:0": {"checked": false, "checked_at": null}, ...}
    points: float | None = None
    points_detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    placed_facility_pk: int | None = Field(default=None, foreign_key="daycare_facility.id")
    submitted_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    @classmethod
    async def forget_family(cls, session: AsyncSession, family_id: int) -> None:
        """Registry hook: a deleted family's applications go, with their audit trail."""
        ids = select(cls.id).where(cls.family_id == family_id)
        await session.exec(
            delete(ApplicationAudit).where(ApplicationAudit.application_id.in_(ids))  # type: ignore[call-overload,attr-defined]
        )
        await session.exec(delete(cls).where(cls.family_id == family_id))  # type: ignore[call-overload,arg-type]


class ApplicationAudit(SQLModel, table=True):
    """One change to an application by the family or by staff (who, when, what, why)."""

    __tablename__ = "daycare_application_audit"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="daycare_application.id", index=True)
    actor: str = Field(max_length=64)  # "family", "staff:<key prefix>", "system"
    action: str = Field(max_length=32)  # submitted, changed, withdrawn, corrected, checked, ...
    field: str = Field(default="", max_length=100)
    old: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    new: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str = Field(default="", max_length=500)
    at: datetime = timestamp_field()
