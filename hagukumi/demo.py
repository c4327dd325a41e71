"""Demo data for an empty database: hand-written programs, registry samples, daycare facilities
(with vacancies for next April), tour slots to book and a demo key."""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.facilities import FacilityIn, VacancyCell
from integrations.daycare.models import Facility, TourSlot
from registry import programs as repo
from registry.auth import create_key
from registry.db import transaction
from registry.schemas import ProgramIn
from registry.validation import validate_program

DEMO_PROGRAMS = Path(__file__).resolve().parent / "demo" / "programs.yaml"
DEMO_FACILITIES = Path(__file__).resolve().parent / "demo" / "facilities.yaml"


def demo_programs() -> list[ProgramIn]:
    """The hand-written programs of `hagukumi/demo/programs.yaml`."""
    items = yaml.safe_load(DEMO_PROGRAMS.read_text(encoding="utf-8"))
    return [ProgramIn.model_validate(item) for item in items]


async def load_demo(
    sessions: async_sessionmaker[AsyncSession],
    *,
    key_file: Path,
    registry_dir: Path | None,
    progress: Callable[[str], None] = print,
    facilities_dir: Path | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> bool:
    """Load the demo data when no program exists yet; True when it loaded something.

    Daycare facilities come from Hachioji's and Minato's real files (and Minato's 2021 minimum
    points) in `facilities_dir` (../shared/data/facilities) when it is there, else a handful of
    generated Hachioji facilities; each gets vacancies for next April. Tour slots for the coming
    weekdays are added on every start (`load_demo_tours`: a restart adds the days that came
    into reach, never a slot twice)."""
    async with sessions() as session:
        loaded = await repo.count_programs(session) > 0
    users_file = key_file.parent / "demo-console-users.txt"
    if loaded:
        await load_demo_tours(sessions, now=now, progress=progress)
        await load_demo_rounds(sessions, now=now, progress=progress)
        await load_demo_console_users(sessions, users_file, progress=progress)
        return False
    programs = demo_programs()
    async with transaction(sessions) as session:
        for data in programs:
            report = validate_program(data)
            if not report.valid:
                raise RuntimeError(f"demo program {data.name.ja} fails: {report.errors}")
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")
    progress(f"demo: {len(programs)} hand-written programs published")
    if registry_dir is not None and registry_dir.is_dir():
        from integrations.importers.tokyo_registry import import_files

        files = sorted(registry_dir.glob("*.json"))
        imported = await import_files(files, sessions, progress=progress)
        progress("demo: " + imported.render(max_review=0).replace("\n", "\n      "))
    else:
        progress("demo: registry samples not found (../shared/data/registry); skipped")
    await load_demo_facilities(sessions, facilities_dir, today=today, progress=progress)
    await load_demo_tours(sessions, now=now, progress=progress)
    await load_demo_rounds(sessions, now=now, progress=progress)
    await load_demo_round_rules(sessions, now=now, progress=progress)
    async with transaction(sessions) as session:
        _, text = await create_key(session, issuer="000000", role="operator", name="demo")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(text + "\n", encoding="utf-8")
    os.chmod(key_file, 0o600)
    progress(f"demo: operator API key written to {key_file}")
    await load_demo_console_users(sessions, users_file, progress=progress)
    return True


DEMO_CONSOLE_USERS = (
    ("hachioji@demo.hagukumi.example", "132012", "editor", "八王子市 子育て支援課"),
    ("minato@demo.hagukumi.example", "131032", "editor", "港区 子ども家庭課"),
    ("viewer@demo.hagukumi.example", "132012", "viewer", "八王子市 閲覧"),
    ("ops@demo.hagukumi.example", "000000", "operator", "運用"),
)


async def load_demo_console_users(
    sessions: async_sessionmaker[AsyncSession],
    users_file: Path,
    *,
    progress: Callable[[str], None] = print,
) -> None:
    """Console users to sign in with (Hachioji and Minato editors, a viewer, an operator),
    once, when the database has none; their passwords go to `users_file` (mode 600)."""
    import secrets

    from registry.users import create_user, list_users

    async with sessions() as session:
        if await list_users(session):
            return
    lines = ["# demo console users: sign in at /console/signin (email  password  role)"]
    async with transaction(sessions) as session:
        for email, issuer, role, name in DEMO_CONSOLE_USERS:
            password = secrets.token_urlsafe(12)
            await create_user(
                session, email=email, issuer=issuer, password=password, role=role, name=name
            )
            lines.append(f"{email}  {password}  {role} {issuer}")
    users_file.parent.mkdir(parents=True, exist_ok=True)
    users_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.chmod(users_file, 0o600)
    progress(f"demo: console users written to {users_file}")


HACHIOJI, MINATO = "132012", "131032"
FACILITY_FILES = (
    ("hachioji_kosodate_shisetsu.csv", HACHIOJI),
    ("minato_hoikuen.csv", MINATO),
)
MINATO_POINTS = "minato_min_points_2021.csv"


def next_april(today: date) -> date:
    """The April of the coming admission round (this April until March, else next year's)."""
    return date(today.year + (today.month >= 4), 4, 1)


def generated_facilities() -> list[tuple[str, FacilityIn]]:
    """A handful of Hachioji facilities around the station (`hagukumi/demo/facilities.yaml`),
    for a machine without the shared data."""
    items = yaml.safe_load(DEMO_FACILITIES.read_text(encoding="utf-8"))
    return [
        (item.pop("facility_id"), FacilityIn.model_validate(item, strict=False)) for item in items
    ]


def demo_cells(facility_id: str, classes: list[int], month: date) -> list[VacancyCell]:
    """Places in each class, the same on every load: some classes full, some with places."""
    cells = []
    for age in classes:
        roll = hashlib.sha1(f"{facility_id}:{age}".encode()).digest()[0]
        if roll % 4 == 0:
            cells.append(VacancyCell(class_age=age, entry_month=month, level="number", places=0))
        elif roll % 4 == 3:
            cells.append(VacancyCell(class_age=age, entry_month=month, level="some"))
        else:
            cells.append(
                VacancyCell(class_age=age, entry_month=month, level="number", places=1 + roll % 3)
            )
    return cells


async def load_demo_facilities(
    sessions: async_sessionmaker[AsyncSession],
    facilities_dir: Path | None,
    *,
    today: date | None = None,
    progress: Callable[[str], None] = print,
) -> None:
    """Hachioji's and Minato's facilities (real files, else generated ones), Minato's 2021
    minimum points, and vacancies for next April in each facility's classes."""
    from integrations.daycare.facilities import (
        facilities_by_id,
        set_many_vacancies,
        upsert_facility,
    )
    from integrations.importers.facilities import import_facilities
    from integrations.importers.results import import_results

    today = today or datetime.now(ZoneInfo("Asia/Tokyo")).date()
    month = next_april(today)
    files = [
        (facilities_dir / name, code)
        for name, code in FACILITY_FILES
        if facilities_dir is not None and (facilities_dir / name).is_file()
    ]
    if files:
        for path, code in files:
            report = await import_facilities([path], sessions, municipality=code, today=today)
            progress(f"demo: {path.name}: {report.created} facilities")
        points = facilities_dir / MINATO_POINTS if facilities_dir else None
        if points is not None and points.is_file():
            results = await import_results([points], sessions, municipality=MINATO)
            progress(f"demo: {points.name}: {results.created} past results")
    else:
        async with transaction(sessions) as session:
            for facility_id, data in generated_facilities():
                await upsert_facility(session, HACHIOJI, facility_id, data, source="demo")
        progress("demo: facility files not found (../shared/data/facilities): 6 generated")
    async with transaction(sessions) as session:
        updates = [
            (row, demo_cells(facility_id, list(row.classes), month))
            for code in (HACHIOJI, MINATO)
            for facility_id, row in (await facilities_by_id(session, code)).items()
        ]
        await set_many_vacancies(session, updates, today, "demo")
        count = sum(len(cells) for _, cells in updates)
    progress(f"demo: vacancies for entry in {month:%Y-%m}: {count} classes")
    await load_demo_points_rules(sessions, progress=progress)


async def load_demo_round_rules(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] = print,
) -> int:
    """Points rules for the demo rounds' month of entry, so that the whole flow (apply, points,
    allocate, confirm) can be tried: a municipality whose shipped table is older gets a copy of
    it valid from that month, titled as a demo (a real municipality uploads its own year's
    table). How many copies were saved."""
    from integrations.daycare.points import rules_for, save_rules, shipped_documents

    now = now or datetime.now(UTC)
    month = next_april(now.astimezone(TOKYO).date())
    newest: dict[str, Any] = {}
    for document in shipped_documents():
        if document.municipality in (HACHIOJI, MINATO):
            known = newest.get(document.municipality)
            if known is None or document.valid_from > known.valid_from:
                newest[document.municipality] = document
    saved = 0
    async with transaction(sessions) as session:
        for code, document in sorted(newest.items()):
            if await rules_for(session, code, month) is not None:
                continue
            copy = document.model_copy(
                update={
                    "valid_from": month,
                    "valid_to": None,
                    "title": f"【デモ】{document.title}を{month.year}年度に準用"[:300],
                }
            )
            await save_rules(session, copy, created_by="demo")
            saved += 1
            progress(f"demo: points rules of {code} copied for entry in {month:%Y-%m} (demo)")
    return saved


async def load_demo_points_rules(
    sessions: async_sessionmaker[AsyncSession], *, progress: Callable[[str], None] = print
) -> None:
    """The points rules shipped with the package (real 別表, in `daycare/points_rules`)."""
    from integrations.daycare.points import save_rules, shipped_documents

    async with transaction(sessions) as session:
        for document in shipped_documents():
            saved = await save_rules(session, document, created_by="demo")
            progress(f"demo: points rules {document.municipality} version {saved.row.version}")


# -- tour slots --------------------------------------------------------------------------------

TOKYO = ZoneInfo("Asia/Tokyo")
HACHIOJI_STATION = (35.6558, 139.3389)  # 八王子駅
MINATO_CENTRE = (35.6581, 139.7516)  # 港区役所 (Shibakoen)
TOUR_FACILITIES = ((HACHIOJI, HACHIOJI_STATION, 10), (MINATO, MINATO_CENTRE, 5))
TOUR_DAYS = 10  # weekdays ahead
TOUR_HOURS = (time(10, 0), time(14, 0))
TOUR_LENGTH = timedelta(hours=1)
TOUR_CAPACITY = 3
TOUR_NOTES = (
    "動きやすい服装でお越しください",
    "上履きをお持ちください",
    "お子さまとご一緒にどうぞ。駐車場はありません",
)


def _metres(lat: float, lon: float, point: tuple[float, float]) -> float:
    # An equirectangular approximation: exact enough to rank facilities within a city.
    x = math.radians(lon - point[1]) * math.cos(math.radians((lat + point[0]) / 2))
    y = math.radians(lat - point[0])
    return 6_371_000 * math.hypot(x, y)


def nearest(facilities: Sequence[Facility], point: tuple[float, float], n: int) -> list[Facility]:
    """The `n` located facilities nearest `point`, nearest first."""
    located = [f for f in facilities if f.latitude is not None and f.longitude is not None]
    located.sort(key=lambda f: (_metres(f.latitude or 0, f.longitude or 0, point), f.id or 0))
    return located[:n]


def demo_tour_starts(now: datetime, zone: ZoneInfo = TOKYO) -> list[datetime]:
    """10:00 and 14:00 (Asia/Tokyo) on the next `TOUR_DAYS` weekdays after today, in UTC."""
    day = now.astimezone(zone).date()
    starts: list[datetime] = []
    while len(starts) < TOUR_DAYS * len(TOUR_HOURS):
        day += timedelta(days=1)
        if day.weekday() < 5:
            starts.extend(
                datetime.combine(day, hour, tzinfo=zone).astimezone(UTC) for hour in TOUR_HOURS
            )
    return starts


def tour_note(facility: Facility) -> str:
    """A short note, the same for a facility on every load."""
    roll = hashlib.sha1(f"{facility.municipality}:{facility.facility_id}".encode()).digest()[0]
    return TOUR_NOTES[roll % len(TOUR_NOTES)]


async def load_demo_tours(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] = print,
) -> int:
    """Tour slots to book in the emulator: the 10 Hachioji facilities nearest 八王子駅 and the
    5 Minato ones nearest its centre, at 10:00 and 14:00 on the next 10 weekdays (1 hour, 3
    families), and tomorrow at 10:00 at the facility nearest 八王子駅 (to see the reminder the
    day before). Slots are keyed by (facility, start): loading again adds only what is missing.
    How many slots were added."""
    from sqlmodel import col, select

    now = now or datetime.now(UTC)
    starts = demo_tour_starts(now)
    tomorrow = now.astimezone(TOKYO).date() + timedelta(days=1)
    first = datetime.combine(tomorrow, TOUR_HOURS[0], tzinfo=TOKYO).astimezone(UTC)
    async with transaction(sessions) as session:
        wanted: dict[tuple[int, datetime], Facility] = {}
        for code, point, count in TOUR_FACILITIES:
            found = await session.exec(
                select(Facility).where(Facility.municipality == code, Facility.status == "active")
            )
            chosen = nearest(list(found.all()), point, count)
            for index, facility in enumerate(chosen):
                assert facility.id is not None
                extra = [first] if code == HACHIOJI and index == 0 else []
                for start in [*starts, *extra]:
                    wanted.setdefault((facility.id, start), facility)
        if not wanted:
            progress("demo: no located facility for tours")
            return 0
        have = await session.exec(
            select(TourSlot.facility_pk, TourSlot.starts_at).where(
                col(TourSlot.facility_pk).in_(sorted({pk for pk, _ in wanted})),
                col(TourSlot.starts_at) >= first,
            )
        )
        existing = {(pk, start.astimezone(UTC)) for pk, start in have.all()}
        rows = [
            TourSlot(
                facility_pk=pk,
                starts_at=start,
                ends_at=start + TOUR_LENGTH,
                capacity=TOUR_CAPACITY,
                notes=tour_note(facility),
            )
            for (pk, start), facility in sorted(wanted.items(), key=lambda kv: kv[0])
            if (pk, start) not in existing
        ]
        session.add_all(rows)
    facilities = len({pk for pk, _ in wanted})
    progress(f"demo: {len(rows)} tour slots added ({facilities} facilities, next 10 weekdays)")
    return len(rows)


ROUND_DAYS = 30  # a demo round takes applications for this long after it is first loaded


async def load_demo_rounds(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] = print,
) -> int:
    """An open intake round for next April in Hachioji and Minato, to apply in the emulator
    (deadline 17:00 Asia/Tokyo, 30 days after first loaded); a municipality that already has a
    round for that month is left alone. How many rounds were added."""
    from sqlmodel import select

    from integrations.daycare.models import IntakeRound

    now = now or datetime.now(UTC)
    month = next_april(now.astimezone(TOKYO).date())
    closing = now.astimezone(TOKYO).date() + timedelta(days=ROUND_DAYS)
    deadline = datetime.combine(closing, time(17, 0), tzinfo=TOKYO).astimezone(UTC)
    # Reiwa year: 令和元年 is 2019.
    name = f"令和{month.year - 2018}年{month.month}月入所 一次選考"
    added = 0
    async with transaction(sessions) as session:
        for code in (HACHIOJI, MINATO):
            facilities = await session.exec(
                select(Facility.id).where(Facility.municipality == code).limit(1)
            )
            if facilities.first() is None:
                continue
            found = await session.exec(
                select(IntakeRound.id).where(
                    IntakeRound.municipality == code, IntakeRound.entry_month == month
                )
            )
            if found.first() is not None:
                continue
            session.add(
                IntakeRound(
                    municipality=code,
                    name=name,
                    entry_month=month,
                    deadline=deadline,
                    # The lottery's seed is published with the round (利用調整の抽選).
                    seed=secrets.token_hex(16),
                )
            )
            added += 1
    if added:
        progress(f"demo: {added} intake rounds for {month:%Y-%m} (deadline {closing})")
    return added
