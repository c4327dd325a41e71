"""The console's daycare pages: facilities, vacancies, tour slots and bookings, applications
and allocation rounds, as tables that sort and filter, with CSV upload and export.

Tables sort and filter on the server (query parameters, pages of PAGE rows), so they work
without JavaScript and over thousands of rows. Every change calls the domain functions the
REST API calls, is refused to viewers and is audited in the same transaction where the domain
lets it (imports commit per file: their audit follows at once). A row of another municipality
answers 404, as a missing one does. Children's birth dates appear only on an application's own
page; nothing personal is logged.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare import applications as apps
from integrations.daycare import facilities as repo
from integrations.daycare import rounds as rounds_domain
from integrations.daycare import tours
from integrations.daycare.applications_csv import CSV_COLUMNS, render_csv
from integrations.daycare.facilities import VacancyCell
from integrations.daycare.models import (
    APPLICATION_STATUSES,
    CLASS_AGES,
    FACILITY_TYPES,
    Application,
    Facility,
    IntakeRound,
    TourBooking,
    TourSlot,
    Vacancy,
)
from integrations.daycare.notices import seats_opened
from integrations.importers.facilities import import_facilities
from integrations.importers.report import reason_words
from integrations.importers.tabular import DataFileError
from integrations.importers.vacancies import import_vacancies
from registry.db import transaction
from registry.http import CLOCK, SESSIONS, TODAY
from registry.models import ConsoleUser
from registry.users import record_audit
from registry.web.kit import (
    SESSION,
    WEB,
    flash,
    language,
    read_form,
    redirect,
    render,
    require_editor,
    require_session,
    save_flash,
    scope_issuer,
    translator,
)
from rules.points import CARE_REASONS, RELATIONS, ApplicationFacts

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PAGE = 50
MAX_UPLOAD_BYTES = 5_000_000
BASE = "/console/daycare"


# ------------------------------------------------------------------------------ helpers


def _now(request: web.Request) -> datetime:
    clock = request.app.get(CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


def _today(request: web.Request) -> date:
    today = request.app.get(TODAY)
    return today() if today is not None else _now(request).astimezone(request.app[WEB].zone).date()


def _local(request: web.Request, value: datetime) -> str:
    return value.astimezone(request.app[WEB].zone).strftime("%Y-%m-%d %H:%M")


def _int(request: web.Request, name: str, lo: int, hi: int) -> int | None:
    text = request.query.get(name, "").strip()
    if not re.fullmatch(r"\d{1,9}", text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def _page(request: web.Request) -> int:
    return _int(request, "page", 1, 100_000) or 1


def _month(text: str) -> date | None:
    match = re.fullmatch(r"(20\d\d)-(0[1-9]|1[0-2])", text.strip())
    return date(int(match.group(1)), int(match.group(2)), 1) if match else None


@dataclass
class Sort:
    """The table's sort: a whitelisted key, ascending unless it came with a leading "-"."""

    key: str
    descending: bool

    @property
    def param(self) -> str:
        """As the query carries it."""
        return ("-" if self.descending else "") + self.key


def _sort(request: web.Request, allowed: Sequence[str], default: str) -> Sort:
    text = request.query.get("sort", default)
    key = text.lstrip("-")
    if key not in allowed:
        text, key = default, default.lstrip("-")
    return Sort(key, text.startswith("-"))


@dataclass
class Paging:
    """Where a page is in a list."""

    page: int
    total: int
    size: int = PAGE

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (min(self.page, self.pages) - 1) * self.size


def _scoper(request: web.Request) -> Callable[[str], str]:
    """Links and forms of an operator looking at another municipality carry `?m=CODE`."""
    session = request[SESSION]
    issuer = scope_issuer(request)
    if not session.is_operator or issuer == session.user.issuer:
        return lambda path: path
    return lambda path: f"{path}{'&' if '?' in path else '?'}m={issuer}"


def _render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    return render(request, name, status=status, scoped=_scoper(request), **context)


async def _redirect(request: web.Request, location: str) -> web.HTTPSeeOther:
    """303 to `location`, the flash messages kept for it: raised, a redirect leaves the
    middleware before it saves them (and raising rolls the page's transaction back)."""
    session = request.get(SESSION)
    if session is not None and session.flash:
        await save_flash(request, session)
        session.flash.clear()
    return redirect(_scoper(request)(location))


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound()


MAX_ID = 2**31 - 1  # PostgreSQL's integer ids: a larger number is no row (not a 500)


async def _own_facility(session: AsyncSession, issuer: str, pk: int) -> Facility:
    row = await session.get(Facility, pk) if 0 < pk <= MAX_ID else None
    if row is None or row.municipality != issuer:
        raise _not_found()
    return row


async def _own_round(
    session: AsyncSession, issuer: str, pk: int, *, lock: bool = False
) -> IntakeRound:
    row = await session.get(IntakeRound, pk, with_for_update=lock) if 0 < pk <= MAX_ID else None
    if row is None or row.municipality != issuer:
        raise _not_found()
    return row


async def _own_application(session: AsyncSession, issuer: str, pk: int) -> Application:
    row = await session.get(Application, pk, with_for_update=True) if 0 < pk <= MAX_ID else None
    if row is None or row.municipality != issuer:
        raise _not_found()
    return row


def _csv_cell(value: Any) -> Any:
    # Names, addresses and notes come from imported open data: a text that starts like a
    # formula would run in the office's Excel, so it is quoted as text (OWASP CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_response(rows: list[list[Any]], filename: str) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return _csv_text("\ufeff" + out.getvalue(), filename)


def _csv_text(text: str, filename: str) -> web.Response:
    # A BOM (written by the callers) so that Excel, which offices open CSV with, reads UTF-8.
    return web.Response(
        body=text.encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@dataclass
class Upload:
    """A CSV file a clerk sent, saved to a temporary folder under a safe name."""

    path: Path
    name: str


class UploadProblem(Exception):
    """An upload refused before any import (said to the clerk)."""


async def _upload(request: web.Request, folder: Path) -> tuple[Upload, Any]:
    t = translator(language(request))
    form = await read_form(request)
    field = form.get("file")
    if field is None or not hasattr(field, "file"):
        raise UploadProblem(t("ファイルを選んでください。", "Choose a file to upload."))
    raw = field.file.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise UploadProblem(
            t(
                f"ファイルが大きすぎます（上限 {MAX_UPLOAD_BYTES // 1_000_000} MB）。",
                f"The file is too large (at most {MAX_UPLOAD_BYTES // 1_000_000} MB).",
            )
        )
    if not raw.strip():
        raise UploadProblem(t("ファイルが空です。", "The file is empty."))
    original = Path(str(field.filename or "upload.csv")).name
    if Path(original).suffix.lower() not in {".csv", ".txt"}:
        raise UploadProblem(
            t(
                "CSVファイル（.csv）を選んでください。Excelのブックは「CSV」で保存し直してください。",
                "Choose a CSV file (.csv). Save an Excel book as CSV first.",
            )
        )
    safe = re.sub(r"[^\w.\-]", "_", original)[:80] or "upload.csv"
    path = folder / safe
    path.write_bytes(raw)
    return Upload(path, safe), form


# ------------------------------------------------------------------------------ facilities

FACILITY_SORTS = {
    "name": Facility.name_kana,
    "type": Facility.type,
    "address": Facility.address,
    "capacity": Facility.capacity,
    "id": Facility.facility_id,
    "updated": Facility.updated_at,
}


def _facility_filters(request: web.Request, issuer: str) -> tuple[Any, dict[str, str]]:
    q = request.query.get("q", "").strip()[:100]
    kind = request.query.get("type", "")
    status = request.query.get("status", "")
    where: list[Any] = [Facility.municipality == issuer]
    if q:
        like = f"%{q}%"
        where.append(
            col(Facility.name_ja).like(like)
            | col(Facility.name_kana).like(like)
            | col(Facility.address).like(like)
            | (Facility.facility_id == q)
        )
    if kind in FACILITY_TYPES:
        where.append(Facility.type == kind)
    else:
        kind = ""
    if status in {"active", "closed"}:
        where.append(Facility.status == status)
    else:
        status = ""
    return where, {"q": q, "type": kind, "status": status}


def ages_text(row: Facility, t: Callable[[str, str], str]) -> str:
    """The classes a facility takes, for people ("0–5歳")."""
    if not row.classes:
        return "—"
    low, high = min(row.classes), max(row.classes)
    span = f"{low}" if low == high else f"{low}–{high}"
    return t(f"{span}歳児", f"ages {span}")


@routes.get(BASE + "/facilities")
async def facilities_page(request: web.Request) -> web.Response:
    """The municipality's facilities: search, filter by type and status, sort, pages."""
    issuer = scope_issuer(request)
    where, filters = _facility_filters(request, issuer)
    sort = _sort(request, list(FACILITY_SORTS), "name")
    column = col(FACILITY_SORTS[sort.key])
    async with request.app[SESSIONS]() as session:
        total = (
            await session.exec(select(func.count()).select_from(Facility).where(*where))
        ).one()
        paging = Paging(_page(request), int(total))
        order = (column.desc() if sort.descending else column.asc()).nulls_last()
        rows = (
            await session.exec(
                select(Facility)
                .where(*where)
                .order_by(order, col(Facility.id))
                .offset(paging.offset)
                .limit(PAGE)
            )
        ).all()
    return _render(
        request,
        "daycare_facilities.html",
        rows=rows,
        filters=filters,
        sort=sort,
        paging=paging,
        types=FACILITY_TYPES,
        ages_text=ages_text,
        issuer=issuer,
        error="",
    )


FACILITY_EXPORT = (
    "都道府県コード又は市区町村コード",
    "NO",
    "名称",
    "名称_カナ",
    "種別",
    "住所",
    "緯度",
    "経度",
    "電話番号",
    "収容定員",
    "受入年齢",
    "利用可能曜日",
    "開始時間",
    "終了時間",
    "一時預かりの有無",
    "URL",
    "備考",
    "状態",
    "更新日時",
)
"""The standard open-data facility list's columns (推奨データセット 子育て施設一覧), so that an
export can be uploaded again, then what the list does not carry (ignored by the importer)."""

_DAY_WORDS = {"mon": "月", "tue": "火", "wed": "水", "thu": "木", "fri": "金", "sat": "土"}
_DAY_WORDS["sun"] = "日"


def _ages_cell(row: Facility) -> str:
    if not row.classes:
        return ""
    high = max(row.classes)
    if row.min_age_days == 57:
        start = "産休明け"
    elif row.min_age_days:
        start = f"生後{row.min_age_days}日"
    elif row.min_age_months is not None and row.min_age_months % 12:
        start = f"{row.min_age_months}か月"
    else:
        start = f"{min(row.classes)}歳クラス"
    return f"{start}から{high}歳"


def facility_csv_row(row: Facility, zone: Any) -> list[Any]:
    """One facility as a row of FACILITY_EXPORT."""
    yes_no = {True: "有", False: "無", None: ""}
    return [
        row.municipality,
        row.facility_id,
        row.name_ja,
        row.name_kana,
        row.type_label or FACILITY_TYPES.get(row.type, ("", ""))[0],
        row.address,
        "" if row.latitude is None else row.latitude,
        "" if row.longitude is None else row.longitude,
        row.phone,
        "" if row.capacity is None else row.capacity,
        _ages_cell(row),
        ";".join(_DAY_WORDS[d] for d in row.days if d in _DAY_WORDS),
        row.opens or "",
        row.closes or "",
        yes_no[row.temporary_care],
        row.url,
        row.notes,
        row.status,
        row.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    ]


@routes.get(BASE + "/facilities.csv")
async def facilities_csv(request: web.Request) -> web.Response:
    """The facilities (as filtered) as the standard open-data CSV, UTF-8 with a BOM."""
    issuer = scope_issuer(request)
    where, _ = _facility_filters(request, issuer)
    zone = request.app[WEB].zone
    async with request.app[SESSIONS]() as session:
        rows = (
            await session.exec(select(Facility).where(*where).order_by(col(Facility.id)))
        ).all()
    body = [list(FACILITY_EXPORT), *(facility_csv_row(r, zone) for r in rows)]
    return _csv_response(body, f"facilities-{issuer}.csv")


@routes.get(BASE + r"/facilities/{id:\d{1,9}}")
async def facility_page(request: web.Request) -> web.Response:
    """One facility: its fields, vacancies from this month on, tour slots and versions."""
    issuer = scope_issuer(request)
    pk = int(request.match_info["id"])
    async with request.app[SESSIONS]() as session:
        row = await _own_facility(session, issuer, pk)
        vacancies = await repo.current_vacancies(session, pk, from_month=_today(request))
        versions = await repo.list_versions(session, pk)
    return _render(
        request,
        "daycare_facility.html",
        row=row,
        vacancies=vacancies,
        versions=list(reversed(versions)),
        types=FACILITY_TYPES,
        ages_text=ages_text,
        issuer=issuer,
    )


def _report_rows(rejected: list[tuple[str, str]], lang: str) -> list[tuple[str, str]]:
    """(row number, why in the page's language) of each row an import refused."""
    return [(entry.rsplit(":", 1)[-1], reason_words(why, lang)) for entry, why in rejected]


@routes.post(BASE + "/facilities/import")
async def facilities_import(request: web.Request) -> web.Response:
    """Upload the standard open-data facility list; the import report as a page."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    with tempfile.TemporaryDirectory(prefix="hagukumi-upload-") as folder:
        try:
            upload, _ = await _upload(request, Path(folder))
            report = await import_facilities(
                [upload.path],
                request.app[SESSIONS],
                municipality=issuer,
                today=_today(request),
            )
        except (UploadProblem, DataFileError) as exc:
            flash(
                request,
                t("取り込めませんでした: ", "Nothing was imported: ")
                + reason_words(str(exc), language(request)),
                "error",
            )
            raise await _redirect(request, BASE + "/facilities") from None
    async with transaction(request.app[SESSIONS]) as session:
        if report.opened:
            await seats_opened(session, report.opened, zone=request.app[WEB].zone)
        await record_audit(
            session,
            console.user,
            "facility.import",
            issuer=issuer,
            target=f"facilities {upload.name}",
            summary=(
                f"施設一覧を取込 {upload.name}: 新規{report.created} 更新{report.updated} "
                f"変更なし{report.unchanged} 不採用{report.skipped}"
            ),
            summary_en=(
                f"Facilities imported from {upload.name}: {report.created} new, "
                f"{report.updated} updated, {report.unchanged} unchanged, "
                f"{report.skipped} not taken"
            ),
            detail={
                "file": upload.name,
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "refused": report.skipped,
            },
        )
    return _render(
        request,
        "daycare_import_report.html",
        kind="facilities",
        file=upload.name,
        rows=report.rows,
        counts=[
            (t("新規", "Created"), report.created),
            (t("更新", "Updated"), report.updated),
            (t("変更なし", "Unchanged"), report.unchanged),
            (t("取り込まなかった行", "Rows refused"), report.skipped),
        ],
        refused=_report_rows(report.rejected, language(request)),
        unreadable=[(entry.rsplit(":", 1)[-1], col, raw) for entry, col, raw in report.unreadable],
        warnings=[reason_words(w, language(request)) for w in report.warnings],
        notes=[
            t(f"座標なし（住所から後で配置）: {u[1]}", f"No coordinates (kept): {u[1]}")
            for u in report.unlocated[:50]
        ],
        back=BASE + "/facilities",
    )


# ------------------------------------------------------------------------------ vacancies

VACANCY_SORTS = ("facility", "class", "month", "places", "updated")


def _vacancy_filters(request: web.Request, issuer: str) -> tuple[list[Any], dict[str, Any]]:
    month = _month(request.query.get("month", ""))
    class_age = _int(request, "class", 0, 5)
    facility = _int(request, "facility", 1, 2**31)
    where: list[Any] = [Facility.municipality == issuer]
    if month is not None:
        where.append(Vacancy.entry_month == month)
    if class_age is not None:
        where.append(Vacancy.class_age == class_age)
    if facility is not None:
        where.append(Vacancy.facility_pk == facility)
    return where, {
        "month": f"{month:%Y-%m}" if month else "",
        "class": class_age,
        "facility": facility,
    }


@routes.get(BASE + "/vacancies")
async def vacancies_page(request: web.Request) -> web.Response:
    """Places per facility, class and month of entry: filter, sort, pages, edit one."""
    issuer = scope_issuer(request)
    where, filters = _vacancy_filters(request, issuer)
    sort = _sort(request, VACANCY_SORTS, "facility")
    columns = {
        "facility": col(Facility.name_kana),
        "class": col(Vacancy.class_age),
        "month": col(Vacancy.entry_month),
        "places": col(Vacancy.places),
        "updated": col(Vacancy.updated_at),
    }
    column = columns[sort.key]
    order = (column.desc() if sort.descending else column.asc()).nulls_last()
    async with request.app[SESSIONS]() as session:
        joined = (
            select(func.count())
            .select_from(Vacancy)
            .join(Facility, col(Facility.id) == col(Vacancy.facility_pk))
        )
        total = (await session.exec(joined.where(*where))).one()
        paging = Paging(_page(request), int(total))
        rows = (
            await session.exec(
                select(Vacancy, Facility)
                .join(Facility, col(Facility.id) == col(Vacancy.facility_pk))
                .where(*where)
                .order_by(
                    order,
                    col(Facility.name_kana),
                    col(Vacancy.class_age),
                    col(Vacancy.entry_month),
                )
                .offset(paging.offset)
                .limit(PAGE)
            )
        ).all()
        facilities = (
            await session.exec(
                select(Facility)
                .where(Facility.municipality == issuer)
                .order_by(col(Facility.name_kana))
                .limit(2000)
            )
        ).all()
        months = (
            await session.exec(
                select(col(Vacancy.entry_month))
                .join(Facility, col(Facility.id) == col(Vacancy.facility_pk))
                .where(Facility.municipality == issuer)
                .distinct()
                .order_by(col(Vacancy.entry_month).desc())
                .limit(36)
            )
        ).all()
    return _render(
        request,
        "daycare_vacancies.html",
        rows=rows,
        filters=filters,
        sort=sort,
        paging=paging,
        facilities=facilities,
        months=[f"{m:%Y-%m}" for m in months],
        classes=CLASS_AGES,
        this_month=f"{_today(request):%Y-%m}",
        issuer=issuer,
    )


@routes.get(BASE + "/vacancies.csv")
async def vacancies_csv(request: web.Request) -> web.Response:
    """The vacancies (as filtered) in the common vacancy-list shape: one row per facility and
    month, columns ０歳児 … ５歳児 (a number, ○ some, × none, blank unknown)."""
    issuer = scope_issuer(request)
    where, _ = _vacancy_filters(request, issuer)
    async with request.app[SESSIONS]() as session:
        rows = (
            await session.exec(
                select(Vacancy, Facility)
                .join(Facility, col(Facility.id) == col(Vacancy.facility_pk))
                .where(*where)
                .order_by(col(Vacancy.entry_month), col(Facility.id), col(Vacancy.class_age))
            )
        ).all()
    grid: dict[tuple[date, int], dict[int, str]] = {}
    names: dict[int, Facility] = {}
    for vacancy, facility in rows:
        assert facility.id is not None
        names[facility.id] = facility
        cell = (
            str(vacancy.places)
            if vacancy.level == "number"
            else {"some": "○", "none": "×"}.get(vacancy.level, "")
        )
        grid.setdefault((vacancy.entry_month, facility.id), {})[vacancy.class_age] = cell
    body: list[list[Any]] = [
        ["入所月", "施設番号", "施設名", *(f"{a}歳児" for a in CLASS_AGES)],
    ]
    for (month, pk), cells in grid.items():
        facility = names[pk]
        body.append(
            [
                f"{month:%Y-%m}",
                facility.facility_id,
                facility.name_ja,
                *(
                    cells.get(a, "-" if facility.classes and a not in facility.classes else "")
                    for a in CLASS_AGES
                ),
            ]
        )
    return _csv_response(body, f"vacancies-{issuer}.csv")


@routes.post(BASE + "/vacancies/import")
async def vacancies_import(request: web.Request) -> web.Response:
    """Upload a vacancy list (空き状況) for a month of entry; the import report as a page."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    with tempfile.TemporaryDirectory(prefix="hagukumi-upload-") as folder:
        try:
            upload, form = await _upload(request, Path(folder))
            month_text = str(form.get("month", "")).strip()
            month = _month(month_text) if month_text else None
            if month_text and month is None:
                raise UploadProblem(
                    t("入所月は YYYY-MM で入力してください。", "Give the month as YYYY-MM.")
                )
            report = await import_vacancies(
                [upload.path],
                request.app[SESSIONS],
                municipality=issuer,
                month=month,
                today=_today(request),
            )
        except (UploadProblem, DataFileError) as exc:
            flash(
                request,
                t("取り込めませんでした: ", "Nothing was imported: ")
                + reason_words(str(exc), language(request)),
                "error",
            )
            raise await _redirect(request, BASE + "/vacancies") from None
    async with transaction(request.app[SESSIONS]) as session:
        if report.opened:
            await seats_opened(session, report.opened, zone=request.app[WEB].zone)
        await record_audit(
            session,
            console.user,
            "vacancy.import",
            issuer=issuer,
            target=f"vacancies {upload.name}",
            summary=(
                f"空き状況を取込 {upload.name}: 施設{report.facilities} 枠{report.cells} "
                f"変更なし{report.unchanged} 不採用{len(report.rejected)}"
            ),
            summary_en=(
                f"Vacancies imported from {upload.name}: {report.facilities} facilities, "
                f"{report.cells} places, {report.unchanged} unchanged, "
                f"{len(report.rejected)} not taken"
            ),
            detail={
                "file": upload.name,
                "rows": report.rows,
                "facilities": report.facilities,
                "cells": report.cells,
                "refused": len(report.rejected),
            },
        )
    months = [f"{m:%Y-%m}" for _, _, m in report.months]
    return _render(
        request,
        "daycare_import_report.html",
        kind="vacancies",
        file=upload.name,
        rows=report.rows,
        counts=[
            (t("施設", "Facilities"), report.facilities),
            (t("保存した枠", "Cells saved"), report.cells),
            (t("変更なし", "Unchanged"), report.unchanged),
            (t("取り込まなかった行", "Rows refused"), len(report.rejected)),
        ],
        refused=_report_rows(report.rejected, language(request)),
        unreadable=[(entry.rsplit(":", 1)[-1], col, raw) for entry, col, raw in report.unreadable],
        warnings=[reason_words(w, language(request)) for w in report.warnings],
        notes=[t(f"入所月: {m}", f"Month of entry: {m}") for m in months],
        back=BASE + "/vacancies",
    )


@routes.post(BASE + r"/vacancies/{facility:\d{1,9}}")
async def vacancy_update(request: web.Request) -> web.Response:
    """Set one class's places for one month of entry: a number, or "some"/"none" as the level
    (`places`, or `level` when no number is typed)."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    pk = int(request.match_info["facility"])
    back = str(form.get("back", "")) or BASE + "/vacancies"
    if not back.startswith(BASE + "/vacancies"):
        back = BASE + "/vacancies"
    month = _month(str(form.get("month", "")))
    class_text = str(form.get("class_age", ""))
    places_text = str(form.get("places", "")).strip()
    level = str(form.get("level", ""))
    if not places_text and level in {"some", "none"}:
        places_text = level  # 「あり」 without a number, or 「なし」, kept as the level
    problem = ""
    cell: VacancyCell | None = None
    if month is None or not re.fullmatch(r"[0-5]", class_text):
        problem = t("入所月とクラスを確認してください。", "Check the month and class.")
    elif places_text in {"some", "none"}:
        cell = VacancyCell.model_validate(
            {"class_age": int(class_text), "entry_month": month, "level": places_text}
        )
    elif re.fullmatch(r"\d{1,4}", places_text) and int(places_text) <= repo.MAX_PLACES:
        cell = VacancyCell(
            class_age=int(class_text), entry_month=month, level="number", places=int(places_text)
        )
    else:
        problem = t(
            f"空き数は 0〜{repo.MAX_PLACES} の数で入力してください。",
            f"Enter the places as a number from 0 to {repo.MAX_PLACES}.",
        )
    if cell is not None:
        async with transaction(request.app[SESSIONS]) as session:
            row = await _own_facility(session, issuer, pk)
            problems = repo.vacancy_problems(row, [cell], _today(request).replace(day=1))
            if problems:
                problem = problems[0][2]
            else:
                opened = await repo.set_vacancies(session, row, [cell], _today(request), "console")
                await seats_opened(session, opened, zone=request.app[WEB].zone)
                shown = cell.places if cell.level == "number" else cell.level
                await record_audit(
                    session,
                    console.user,
                    "vacancy.update",
                    issuer=issuer,
                    target=f"facility {row.facility_id}",
                    summary=(
                        f"{row.name_ja} {cell.class_age}歳児 {cell.entry_month:%Y-%m} の空きを "
                        + {"some": "「あり」", "none": "「なし」"}.get(str(shown), f"{shown}")
                        + " に"
                    ),
                    summary_en=(
                        f"{row.name_en or row.name_ja}: places for age {cell.class_age} "
                        f"from {cell.entry_month:%Y-%m} set to "
                        + {"some": "“some”", "none": "“none”"}.get(str(shown), f"{shown}")
                    ),
                    detail={
                        "facility": row.facility_id,
                        "class_age": cell.class_age,
                        "month": f"{cell.entry_month:%Y-%m}",
                        "places": cell.places,
                        "level": cell.level,
                    },
                )
                flash(request, t("空きを保存しました。", "Places saved."))
    if problem:
        flash(request, t("保存できませんでした: ", "Not saved: ") + problem, "error")
    raise await _redirect(request, back)


# ------------------------------------------------------------------------------ tours


@routes.get(BASE + "/tours")
async def tours_page(request: web.Request) -> web.Response:
    """Tour slots (upcoming by default) and their bookings, with a form for a new slot."""
    issuer = scope_issuer(request)
    facility = _int(request, "facility", 1, 2**31)
    show = request.query.get("show", "upcoming")
    if show not in {"upcoming", "past", "all"}:
        show = "upcoming"
    now = _now(request)
    where: list[Any] = [Facility.municipality == issuer]
    if facility is not None:
        where.append(TourSlot.facility_pk == facility)
    if show == "upcoming":
        where.append(col(TourSlot.ends_at) > now)
    elif show == "past":
        where.append(col(TourSlot.ends_at) <= now)
    sort = _sort(request, ("start", "facility", "booked"), "start")
    column = {
        "start": col(TourSlot.starts_at),
        "facility": col(Facility.name_kana),
        "booked": col(TourSlot.booked),
    }[sort.key]
    order = (column.desc() if sort.descending else column.asc()).nulls_last()
    async with request.app[SESSIONS]() as session:
        total = (
            await session.exec(
                select(func.count())
                .select_from(TourSlot)
                .join(Facility, col(Facility.id) == col(TourSlot.facility_pk))
                .where(*where)
            )
        ).one()
        paging = Paging(_page(request), int(total))
        slots = (
            await session.exec(
                select(TourSlot, Facility)
                .join(Facility, col(Facility.id) == col(TourSlot.facility_pk))
                .where(*where)
                .order_by(order, col(TourSlot.id))
                .offset(paging.offset)
                .limit(PAGE)
            )
        ).all()
        slot_ids = [s.id for s, _ in slots]
        bookings = (
            (
                await session.exec(
                    select(TourBooking)
                    .where(col(TourBooking.slot_id).in_(slot_ids))
                    .order_by(col(TourBooking.slot_id), col(TourBooking.id))
                )
            ).all()
            if slot_ids
            else []
        )
        facilities = (
            await session.exec(
                select(Facility)
                .where(Facility.municipality == issuer, Facility.status == "active")
                .order_by(col(Facility.name_kana))
                .limit(2000)
            )
        ).all()
    by_slot: dict[int, TourSlot] = {s.id: s for s, _ in slots if s.id is not None}
    booking_rows = [
        (b, by_slot[b.slot_id], tours.cancelled_with_slot(b, by_slot[b.slot_id])) for b in bookings
    ]
    return _render(
        request,
        "daycare_tours.html",
        slots=slots,
        bookings=booking_rows,
        facilities=facilities,
        filters={"facility": facility, "show": show},
        sort=sort,
        paging=paging,
        tomorrow=f"{_today(request) + timedelta(days=1):%Y-%m-%d}",
        issuer=issuer,
    )


def _tour_problem(t: Callable[[str, str], str], exc: tours.TourError) -> str:
    """Why a slot was not published, in the page's language (the domain says it in English)."""
    hours = re.fullmatch(r"a tour lasts at most (\d+) hours", exc.message)
    if hours:
        n = hours.group(1)
        return t(f"見学は最長{n}時間です。", f"A tour lasts at most {n} hours.")
    words = {
        "starts_in_past": ("開始が過去の日時です。", "The tour starts in the past."),
        "slot_exists": (
            "この施設にはその時刻に始まる見学枠がすでにあります。",
            "A tour of this facility already starts then.",
        ),
        "facility_closed": ("この施設は閉園しています。", "The facility is closed."),
        "ends_at must be after starts_at": (
            "終了時刻は開始時刻より後にしてください。",
            "The end time must be after the start time.",
        ),
        "tours are published at most two years ahead": (
            "見学枠は2年先までしか公開できません。",
            "Tours are published at most two years ahead.",
        ),
    }
    said = words.get(exc.message) or words.get(exc.code)
    return t(*said) if said else exc.message


@routes.post(BASE + "/tours")
async def tour_slot_create(request: web.Request) -> web.Response:
    """Publish one tour slot (the API's checks: future, at most 12 hours, no double start)."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    zone = request.app[WEB].zone
    try:
        pk = int(str(form.get("facility", "")))
        day = date.fromisoformat(str(form.get("date", "")))
        starts = datetime.combine(day, time.fromisoformat(str(form.get("starts", ""))), zone)
        ends = datetime.combine(day, time.fromisoformat(str(form.get("ends", ""))), zone)
        capacity = int(str(form.get("capacity", "1")))
    except ValueError:
        flash(
            request,
            t(
                "施設・日付・開始と終了の時刻・定員を入力してください。",
                "Give the facility, the date, the start and end times and the capacity.",
            ),
            "error",
        )
        raise await _redirect(request, BASE + "/tours") from None
    notes = str(form.get("notes", ""))[:500]
    if not 1 <= capacity <= 100:
        flash(request, t("定員は1〜100です。", "The capacity is 1 to 100."), "error")
        raise await _redirect(request, BASE + "/tours")
    async with transaction(request.app[SESSIONS]) as session:
        facility = await _own_facility(session, issuer, pk)
        try:
            (slot,) = await tours.publish_slots(
                session,
                facility,
                [tours.SlotSpec(starts, ends, capacity=capacity, notes=notes)],
                now=_now(request),
            )
        except tours.TourError as exc:
            said = _tour_problem(t, exc)
            flash(request, t("公開できませんでした: ", "Not published: ") + said, "error")
            raise await _redirect(request, f"{BASE}/tours?facility={pk}") from None
        await record_audit(
            session,
            console.user,
            "tour.slot_create",
            issuer=issuer,
            target=f"tour {slot.id}",
            summary=f"{facility.name_ja} の見学枠 {starts:%Y-%m-%d %H:%M}（定員{capacity}）を公開",
            summary_en=(
                f"Tour slot at {facility.name_en or facility.name_ja} on "
                f"{starts:%Y-%m-%d %H:%M} (capacity {capacity}) published"
            ),
            detail={"facility": facility.facility_id, "starts_at": starts.isoformat()},
        )
    flash(request, t("見学枠を公開しました。", "Tour slot published."))
    raise await _redirect(request, BASE + "/tours")


@routes.post(BASE + r"/tours/{id:\d{1,9}}/cancel")
async def tour_slot_cancel(request: web.Request) -> web.Response:
    """Cancel a slot: its bookings are cancelled and the families told (as the API does)."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    async with transaction(request.app[SESSIONS]) as session:
        slot = await session.get(TourSlot, int(request.match_info["id"]))
        if slot is None:
            raise _not_found()
        facility = await _own_facility(session, issuer, slot.facility_pk)
        if slot.status == "cancelled":
            flash(request, t("この見学はすでに中止です。", "This tour was already cancelled."))
            raise await _redirect(request, BASE + "/tours")
        cancelled = await tours.cancel_slot_and_tell(
            session, slot, facility, now=_now(request), zone=request.app[WEB].zone
        )
        await record_audit(
            session,
            console.user,
            "tour.slot_cancel",
            issuer=issuer,
            target=f"tour {slot.id}",
            summary=(
                f"{facility.name_ja} の見学枠 {_local(request, slot.starts_at)} "
                f"を中止（予約{len(cancelled)}件）"
            ),
            summary_en=(
                f"Tour slot at {facility.name_en or facility.name_ja} on "
                f"{_local(request, slot.starts_at)} cancelled ({len(cancelled)} bookings)"
            ),
            detail={"facility": facility.facility_id, "bookings_cancelled": len(cancelled)},
        )
    flash(
        request,
        t(
            f"見学を中止しました。予約{len(cancelled)}件のご家庭に連絡します。",
            f"Tour cancelled; the {len(cancelled)} booked families will be told.",
        ),
    )
    raise await _redirect(request, BASE + "/tours")


@routes.get(BASE + "/tours.csv")
async def tours_csv(request: web.Request) -> web.Response:
    """Every booking of the municipality's tours: slot, facility, reference, state."""
    issuer = scope_issuer(request)
    zone = request.app[WEB].zone
    async with request.app[SESSIONS]() as session:
        rows = (
            await session.exec(
                select(TourBooking, TourSlot, Facility)
                .join(TourSlot, col(TourSlot.id) == col(TourBooking.slot_id))
                .join(Facility, col(Facility.id) == col(TourSlot.facility_pk))
                .where(Facility.municipality == issuer)
                .order_by(col(TourSlot.starts_at), col(TourBooking.id))
            )
        ).all()
    body: list[list[Any]] = [
        [
            "slot_start",
            "facility_id",
            "facility",
            "slot_status",
            "booking_id",
            "status",
            "people",
            "booked_at",
        ]
    ]
    for b, s, f in rows:
        body.append(
            [
                s.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                f.facility_id,
                f.name_ja,
                s.status,
                b.id,
                "tour_cancelled" if tours.cancelled_with_slot(b, s) else b.status,
                b.people,
                b.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            ]
        )
    return _csv_response(body, f"tour-bookings-{issuer}.csv")


# ------------------------------------------------------------------------------ applications

APPLICATION_SORTS = ("submitted", "points", "class", "status", "id")


async def _rounds_of(session: AsyncSession, issuer: str) -> list[IntakeRound]:
    return list(
        (
            await session.exec(
                select(IntakeRound)
                .where(IntakeRound.municipality == issuer)
                .order_by(col(IntakeRound.entry_month).desc(), col(IntakeRound.id).desc())
                .limit(200)
            )
        ).all()
    )


def _application_filter(request: web.Request) -> tuple[apps.ApplicationFilter, dict[str, Any]]:
    status = request.query.get("status", "")
    status = status if status in APPLICATION_STATUSES else ""
    channel = request.query.get("channel", "")
    channel = channel if channel in {"line", "api"} else ""
    documents = request.query.get("documents", "")
    documents = documents if documents in {"missing", "complete"} else ""
    facility = request.query.get("facility", "").strip()[:64]
    first_wish = request.query.get("first_wish", "").strip()[:64]
    class_age = _int(request, "class", 0, 5)
    query = apps.ApplicationFilter(
        status=status or None,
        class_age=class_age,
        channel=channel or None,
        facility=facility or None,
        first_wish=first_wish or None,
        documents=documents or None,
    )
    return query, {
        "status": status,
        "channel": channel,
        "documents": documents,
        "facility": facility,
        "first_wish": first_wish,
        "class": class_age,
    }


async def _chosen_round(
    request: web.Request, session: AsyncSession, issuer: str
) -> tuple[IntakeRound | None, list[IntakeRound]]:
    rounds = await _rounds_of(session, issuer)
    wanted = _int(request, "round", 1, 2**31)
    if wanted is None:
        return (rounds[0] if rounds else None), rounds
    found = next((r for r in rounds if r.id == wanted), None)
    if found is None:
        found = await _own_round(session, issuer, wanted)  # 404 for another's
    return found, rounds


@routes.get(BASE + "/applications")
async def applications_page(request: web.Request) -> web.Response:
    """A round's applications with the REST list's filters, sorted and paged."""
    issuer = scope_issuer(request)
    query, filters = _application_filter(request)
    sort = _sort(request, APPLICATION_SORTS, "submitted")
    async with request.app[SESSIONS]() as session:
        round_, rounds = await _chosen_round(request, session, issuer)
        rows: list[Application] = []
        facilities: dict[int, Facility] = {}
        if round_ is not None:
            rows, facilities = await apps.filter_applications(session, round_, query)
        own = (
            await session.exec(
                select(Facility)
                .where(Facility.municipality == issuer)
                .order_by(col(Facility.name_kana))
                .limit(2000)
            )
        ).all()
    keys: dict[str, Callable[[Application], Any]] = {
        "submitted": lambda a: (a.submitted_at, a.id or 0),
        "points": lambda a: (a.points or 0.0, a.id or 0),
        "class": lambda a: (a.class_age, a.id or 0),
        "status": lambda a: (a.status, a.id or 0),
        "id": lambda a: a.id or 0,
    }
    # Applications not scored yet (points are kept from the first allocation) come last.
    unscored = [a for a in rows if sort.key == "points" and a.points is None]
    rows = sorted(
        (a for a in rows if sort.key != "points" or a.points is not None),
        key=keys[sort.key],
        reverse=sort.descending,
    )
    rows += unscored
    paging = Paging(_page(request), len(rows))
    page = rows[paging.offset : paging.offset + PAGE]
    return _render(
        request,
        "daycare_applications.html",
        round=round_,
        rounds=rounds,
        rows=page,
        facilities=facilities,
        own_facilities=own,
        filters=filters,
        sort=sort,
        paging=paging,
        statuses=APPLICATION_STATUSES,
        missing={a.id: len(apps.documents_missing(a)) for a in page},
        issuer=issuer,
    )


@routes.get(BASE + "/applications.csv")
async def applications_csv(request: web.Request) -> web.Response:
    """The round's applications (as filtered) in the round's column order, UTF-8 with a BOM."""
    issuer = scope_issuer(request)
    query, _ = _application_filter(request)
    async with request.app[SESSIONS]() as session:
        round_, _ = await _chosen_round(request, session, issuer)
        if round_ is None:
            raise _not_found()
        rows, facilities = await apps.filter_applications(session, round_, query)
    columns = list(round_.export_columns or CSV_COLUMNS)
    if request[SESSION].user.issuer != issuer:
        # As on the application's page: children's birth dates only to their own
        # municipality's staff, not to an operator looking in.
        columns = [c for c in columns if c != "child_birth_date"]
    ja = request.query.get("headers", "ja") != "en"
    return _csv_text(
        render_csv(rows, facilities, columns, ja), f"applications-round-{round_.id}.csv"
    )


FACT_FIELDS = tuple(name for name in ApplicationFacts.model_fields if name != "guardians")
FACT_LABELS: dict[str, tuple[str, str]] = {
    "single_parent": ("ひとり親", "Single parent"),
    "public_assistance": ("生活保護", "Public assistance"),
    "resident_tax_exempt": ("住民税非課税", "Exempt from resident tax"),
    "child_disability": ("障害児", "Child with a disability"),
    "siblings_enrolled": ("きょうだい在園施設", "Siblings enrolled at"),
    "siblings_applying": ("きょうだい同時申込数", "Siblings applying too"),
    "sibling_mode": ("きょうだい入所希望", "Siblings' placement"),
    "accepts_leave_extension": ("育休延長許容", "Accepts a longer parental leave"),
    "transfer_from": ("転園元施設", "Transfer from"),
    "graduating_small_scale": ("小規模保育等卒園", "Leaving small-scale care at 3"),
    "outside_municipality": ("区市町村外", "Lives in another municipality"),
    "sibling_facility_first_choice": (
        "きょうだい在園施設を第1希望",
        "First wish is a sibling's facility",
    ),
    "unlicensed_care": ("認可外保育施設等を利用中", "In unlicensed care now"),
}
"""Each fact's words for people (a fact not listed here shows its name)."""
SIBLING_MODES: dict[str, tuple[str, str]] = {
    "independent": ("別々の施設でもよい", "Separate facilities are fine"),
    "same_facility": ("同じ施設のみ", "Only together at one facility"),
    "both_or_neither": ("全員入所か全員見送り", "All placed or none"),
}
RELATION_WORDS: dict[str, tuple[str, str]] = {**RELATIONS, "other": ("その他", "Other")}
TRAIL_ACTIONS: dict[str, tuple[str, str]] = {
    "submitted": ("申込", "Submitted"),
    "resubmitted": ("再申込", "Submitted again"),
    "changed": ("変更", "Changed"),
    "withdrawn": ("取下げ", "Withdrawn"),
    "corrected": ("訂正", "Corrected"),
    "document_checked": ("書類を受領", "Document received"),
    "document_unchecked": ("書類を未受領に戻す", "Document marked not received"),
    "status": ("状況の変更", "Status changed"),
}


def _trail_rows(
    trail: Sequence[Any], row: Application, emails: dict[int, str], t: Callable[[str, str], str]
) -> list[dict[str, str]]:
    """The audit trail in words: who (a clerk's email), what, which field, old → new."""

    def who(actor: str) -> str:
        kind, _, rest = actor.partition(":")
        if kind == "console" and rest.isdigit():
            return emails.get(int(rest), t("コンソール利用者 ", "console user ") + rest)
        words = {"family": ("ご家庭", "Family"), "system": ("システム", "System")}
        if actor in words:
            return t(*words[actor])
        if kind == "staff":
            return t("職員（APIキー ", "Staff (API key ") + rest + t("）", ")")
        return actor

    def field_words(field: str) -> str:
        kind, _, name = field.partition(".")
        if kind == "documents":
            document = row.documents.get(name, {})
            return t("書類: ", "Document: ") + t(
                document.get("ja", name), document.get("en", name)
            )
        if kind == "facts":
            return t(*FACT_LABELS[name]) if name in FACT_LABELS else name
        if field == "wishes":
            return t("希望施設", "Wishes")
        return field

    def value(a: Any, v: Any) -> str:
        if v is None:
            return ""
        if str(a.field).startswith("documents.") and isinstance(v, bool):
            return t("受領済み", "received") if v else t("未受領", "not received")
        if isinstance(v, bool):
            return t("はい", "yes") if v else t("いいえ", "no")
        if (
            isinstance(v, str)
            and v in APPLICATION_STATUSES
            and a.action in ("status", "withdrawn")
        ):
            return t(*APPLICATION_STATUSES[v])
        if isinstance(v, str) and a.field == "facts.sibling_mode" and v in SIBLING_MODES:
            return t(*SIBLING_MODES[v])
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return [
        {
            "at": a.at,
            "who": who(a.actor),
            "action": t(*TRAIL_ACTIONS[a.action]) if a.action in TRAIL_ACTIONS else a.action,
            "field": field_words(a.field),
            "old": value(a, a.old),
            "new": value(a, a.new),
            "reason": a.reason,
        }
        for a in trail
    ]


@routes.get(BASE + r"/applications/{id:\d{1,9}}")
async def application_page(request: web.Request) -> web.Response:
    """One application: wishes, facts, points lines, documents, audit, corrections."""
    issuer = scope_issuer(request)
    require_session(request)
    pk = int(request.match_info["id"])
    async with request.app[SESSIONS]() as session:
        row = await session.get(Application, pk)
        if row is None or row.municipality != issuer:
            raise _not_found()
        round_ = await apps.round_of(session, row)
        facilities = await apps.facilities_of(session, row.wishes)
        trail = await apps.audit_trail(session, pk)
        score = await rounds_domain.score_application(session, round_, row)
        clerks = {
            int(a.actor.partition(":")[2])
            for a in trail
            if a.actor.startswith("console:") and a.actor.partition(":")[2].isdigit()
        }
        emails = {
            u.id: u.email
            for u in (
                await session.exec(select(ConsoleUser).where(col(ConsoleUser.id).in_(clerks)))
            ).all()
            if u.id is not None
        }
    lang = language(request)
    t = translator(lang)
    return _render(
        request,
        "daycare_application.html",
        row=row,
        round=round_,
        wishes=[(rank, facilities.get(fpk)) for rank, fpk in enumerate(row.wishes, start=1)],
        facts=row.facts,
        lines=score.lines(lang) if score is not None else [],
        trail=_trail_rows(trail, row, emails, t),
        statuses=APPLICATION_STATUSES,
        fact_fields=FACT_FIELDS,
        fact_labels={name: FACT_LABELS.get(name, (name, name)) for name in FACT_FIELDS},
        sibling_modes=SIBLING_MODES,
        relations=RELATION_WORDS,
        reasons=CARE_REASONS,
        changeable=row.status in apps.OPEN_STATUSES,
        issuer=issuer,
    )


def _parse_value(text: str) -> Any:
    """A correction's new value: JSON (true, 3, ["A1"]) or else the text itself."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        return text


@routes.post(BASE + r"/applications/{id:\d{1,9}}/documents")
async def application_document(request: web.Request) -> web.Response:
    """Mark a document received (checked), or undo it."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    pk = int(request.match_info["id"])
    key = str(form.get("key", ""))[:100]
    checked = str(form.get("checked", "1")) == "1"
    async with transaction(request.app[SESSIONS]) as session:
        row = await _own_application(session, issuer, pk)
        try:
            await apps.check_document(
                session,
                row,
                key,
                checked=checked,
                actor=f"console:{console.user.id}",
                now=_now(request),
            )
        except apps.ApplicationError as exc:
            flash(request, t("変更できませんでした: ", "Not changed: ") + exc.message, "error")
            raise await _redirect(request, f"{BASE}/applications/{pk}") from None
        await record_audit(
            session,
            console.user,
            "application.document",
            issuer=issuer,
            target=f"application {pk}",
            summary=(
                f"申込 {pk} の書類「{row.documents.get(key, {}).get('ja', key)}」を"
                f"{'受領' if checked else '未受領'}に"
            ),
            summary_en=(
                f"Application {pk}: “{row.documents.get(key, {}).get('en', key)}” marked "
                f"{'received' if checked else 'not received'}"
            ),
            detail={"document": key, "checked": checked},
        )
    flash(request, t("書類の状態を保存しました。", "Document state saved."))
    raise await _redirect(request, f"{BASE}/applications/{pk}")


def _correction_problem(t: Callable[[str, str], str], exc: apps.ApplicationError) -> str:
    """Why a correction was refused, in the page's language (the domain says it in English)."""
    if exc.code == "invalid_facts":
        where = (exc.location or "").removeprefix("facts.")
        name = where.split(".")[0]
        if name in FACT_LABELS:
            label = t(*FACT_LABELS[name])
        else:
            label = t("保護者", "Guardians") if name == "guardians" else where
        message = exc.message.partition(": ")[2]
        kinds = [
            (
                "valid integer",
                ("整数（例: 1）で入力してください。", "enter a whole number (e.g. 1)."),
            ),
            ("valid boolean", ("true か false で入力してください。", "enter true or false.")),
            (
                "valid list",
                ('["A1"] のような一覧で入力してください。', 'enter a list like ["A1"].'),
            ),
            ("valid string", ("文字で入力してください。", "enter text.")),
        ]
        bound = re.search(r"(less|greater) than or equal to (\d+)", message)
        if bound:
            ja = "以下" if bound.group(1) == "less" else "以上"
            en = "at most" if bound.group(1) == "less" else "at least"
            hint = t(f"{bound.group(2)}{ja}にしてください。", f"make it {en} {bound.group(2)}.")
        else:
            found = [words for key, words in kinds if key in message]
            hint = t(*found[0]) if found else message
        return (
            t(f"「{label}」の値が正しくありません: ", f"{label}: the value is not valid: ") + hint
        )
    words = {
        "reason_required": ("訂正の理由を書いてください。", "Give the reason for the correction."),
        "already_decided": (
            "結果が出た申込は訂正できません。",
            "The application was already decided.",
        ),
        "not_changeable": (
            "取り下げられた申込は訂正できません。",
            "The application was withdrawn.",
        ),
        "unknown_fact": ("その項目はありません。", "There is no such fact."),
    }
    return t(*words[exc.code]) if exc.code in words else exc.message


@routes.post(BASE + r"/applications/{id:\d{1,9}}/corrections")
async def application_correct(request: web.Request) -> web.Response:
    """Correct one fact of an application, with the reason (the domain's validation)."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    pk = int(request.match_info["id"])
    name = str(form.get("field", ""))
    value = _parse_value(str(form.get("value", ""))[:2000])
    reason = str(form.get("reason", ""))[:500]
    async with transaction(request.app[SESSIONS]) as session:
        row = await _own_application(session, issuer, pk)
        try:
            await apps.correct_facts(
                session,
                row,
                {name: value},
                reason=reason,
                actor=f"console:{console.user.id}",
                now=_now(request),
            )
        except apps.ApplicationError as exc:
            said = _correction_problem(t, exc)
            flash(request, t("訂正できませんでした: ", "Not corrected: ") + said, "error")
            raise await _redirect(request, f"{BASE}/applications/{pk}") from None
        await record_audit(
            session,
            console.user,
            "application.correct",
            issuer=issuer,
            target=f"application {pk}",
            summary=f"申込 {pk} の {name} を訂正（理由: {reason}）",
            summary_en=f"Application {pk}: {name} corrected (reason: {reason})",
            detail={"field": name},
        )
    flash(request, t("訂正を保存しました。", "Correction saved."))
    raise await _redirect(request, f"{BASE}/applications/{pk}")


# ------------------------------------------------------------------------------ rounds


def _reveal_seed(row: IntakeRound, now: datetime) -> bool:
    """The seed itself only once applications are over (as the API shows it to the public);
    before, its sha256 (staff need not see it: nobody should be able to time a draw)."""
    return row.status != "open" or row.deadline <= now


@routes.get(BASE + "/rounds")
async def rounds_page(request: web.Request) -> web.Response:
    """The municipality's rounds, and a form for a new one."""
    issuer = scope_issuer(request)
    async with request.app[SESSIONS]() as session:
        rounds = await _rounds_of(session, issuer)
        counts = dict(
            (
                await session.exec(
                    select(Application.round_id, func.count())
                    .where(Application.municipality == issuer)
                    .group_by(col(Application.round_id))
                )
            ).all()
        )
    return _render(
        request,
        "daycare_rounds.html",
        rounds=rounds,
        counts=counts,
        now=_now(request),
        issuer=issuer,
    )


def _run_warning(t: Callable[[str, str], str], warning: str) -> tuple[str, bool]:
    """A dry run's warning for a clerk, and whether it links to the vacancies page."""
    vague = re.fullmatch(r"(\d+) classes publish only 'some places' \(△\).*", warning)
    if vague:
        n = vague.group(1)
        return (
            t(
                f"{n} クラスの空きが「あり（△）」だけで数がないため、"
                "それぞれ 1 人分として数えました。正確に割り当てるには、"
                "空き状況のページで数を入力してから試行割当をやり直してください。",
                f"{n} classes have 'some places' (△) without a number: each was counted as 1 "
                "place. To allocate exactly, enter the numbers on the vacancies page and run "
                "the dry run again.",
            ),
            True,
        )
    transfer = re.fullmatch(
        r"application (\d+): current facility '(.*)' unknown; treated as a new entry", warning
    )
    if transfer:
        number, facility = transfer.groups()
        return (
            t(
                f"申込 {number}: 転園元の施設「{facility}」が見つからないため、"
                "新規の申込として扱いました。",
                f"Application {number}: the current facility {facility!r} is unknown; it was "
                "treated as a new entry.",
            ),
            False,
        )
    return warning, False


@routes.get(BASE + r"/rounds/{id:\d{1,9}}")
async def round_page(request: web.Request) -> web.Response:
    """A round: applications by class and status, the last dry run, confirm."""
    issuer = scope_issuer(request)
    async with request.app[SESSIONS]() as session:
        row = await _own_round(session, issuer, int(request.match_info["id"]))
        by_class = (
            await session.exec(
                select(Application.class_age, Application.status, func.count())
                .where(Application.round_id == row.id)
                .group_by(col(Application.class_age), col(Application.status))
            )
        ).all()
    table: dict[int, dict[str, int]] = {}
    for class_age, status, n in by_class:
        table.setdefault(class_age, {})[status] = n
    now = _now(request)
    run = row.allocation or None
    try:
        run_at = datetime.fromisoformat(str(run.get("at", ""))) if run else None
    except ValueError:
        run_at = None
    if run_at is not None and run_at.tzinfo is None:
        run_at = run_at.replace(tzinfo=UTC)
    t = translator(language(request))
    return _render(
        request,
        "daycare_round.html",
        row=row,
        by_class=sorted(table.items()),
        statuses=APPLICATION_STATUSES,
        run=run,
        run_at=run_at,
        run_warnings=[_run_warning(t, str(w)) for w in (run or {}).get("warnings", [])],
        seed_shown=_reveal_seed(row, now),
        seed_sha256=hashlib.sha256(row.seed.encode()).hexdigest(),
        applications_over=row.status != "open" or row.deadline <= now,
        now=now,
        issuer=issuer,
    )


@routes.post(BASE + r"/rounds/{id:\d{1,9}}/allocate")
async def round_allocate(request: web.Request) -> web.Response:
    """A dry run (the function of `POST /rounds/{id}/allocate`): nothing is decided."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    pk = int(request.match_info["id"])
    async with transaction(request.app[SESSIONS]) as session:
        row = await _own_round(session, issuer, pk, lock=True)
        try:
            summary = await rounds_domain.allocate_round(session, row, now=_now(request))
        except rounds_domain.RoundError as exc:
            flash(
                request, t("割り当てできませんでした: ", "Not allocated: ") + exc.message, "error"
            )
            raise await _redirect(request, f"{BASE}/rounds/{pk}") from None
        await record_audit(
            session,
            console.user,
            "round.allocate",
            issuer=issuer,
            target=f"round {pk}",
            summary=(
                f"{row.name} を試行割当: 内定{summary['placed']} 保留{summary['not_placed']}"
            ),
            summary_en=(
                f"{row.name}: dry run, {summary['placed']} offered, "
                f"{summary['not_placed']} waitlisted"
            ),
            detail={"input_hash": summary["input_hash"], "stable": summary["stable"]},
        )
    flash(
        request, t("試行割当をしました（まだ確定していません）。", "Dry run done (not confirmed).")
    )
    raise await _redirect(request, f"{BASE}/rounds/{pk}")


@routes.post(BASE + r"/rounds/{id:\d{1,9}}/confirm")
async def round_confirm(request: web.Request) -> web.Response:
    """Confirm the dry run named by its input hash: 内定/保留 are written, families told."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    pk = int(request.match_info["id"])
    input_hash = str(form.get("input_hash", ""))[:64]
    async with transaction(request.app[SESSIONS]) as session:
        row = await _own_round(session, issuer, pk, lock=True)
        try:
            summary = await rounds_domain.confirm_round(
                session,
                row,
                input_hash=input_hash,
                now=_now(request),
                actor=f"console:{console.user.id}",
                zone=request.app[WEB].zone,
            )
        except rounds_domain.RoundError as exc:
            flash(request, t("確定できませんでした: ", "Not confirmed: ") + exc.message, "error")
            raise await _redirect(request, f"{BASE}/rounds/{pk}") from None
        await record_audit(
            session,
            console.user,
            "round.confirm",
            issuer=issuer,
            target=f"round {pk}",
            summary=f"{row.name} を確定: 内定{summary['placed']} 保留{summary['not_placed']}",
            summary_en=(
                f"{row.name} confirmed: {summary['placed']} offered, "
                f"{summary['not_placed']} waitlisted"
            ),
            detail={"input_hash": input_hash},
        )
    flash(request, t("選考結果を確定しました。", "The round is confirmed."))
    raise await _redirect(request, f"{BASE}/rounds/{pk}")


def _form_time(form: Any, prefix: str, zone: Any) -> datetime | None:
    """A date and time of the form (`PREFIX_date`, `PREFIX_time`, 23:59 when left out) in
    the municipality's zone; None when the date is blank; ValueError when unreadable."""
    day = str(form.get(f"{prefix}_date", "")).strip()
    if not day:
        return None
    clock = str(form.get(f"{prefix}_time", "")).strip() or "23:59"
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), zone)


def _round_problem(request: web.Request, exc: rounds_domain.RoundError) -> str:
    t = translator(language(request))
    words = {
        "deadline_in_past": t("締切が過ぎています。", "The deadline has passed."),
        "deadline_after_entry": t(
            "締切は入所月より前にしてください。", "The deadline must come before the month."
        ),
        "round_confirmed": t("確定済みの選考は変更できません。", "A confirmed round is final."),
    }
    return words.get(exc.code, exc.message)


@routes.post(BASE + "/rounds")
async def round_create(request: web.Request) -> web.Response:
    """Open a round for a month of entry (the API's checks; the seed generated if blank)."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    zone = request.app[WEB].zone
    name = str(form.get("name", "")).strip()[:200]
    entry_month = _month(str(form.get("entry_month", "")))
    seed = str(form.get("seed", "")).strip()[:128] or None
    try:
        deadline = _form_time(form, "deadline", zone)
        opens_at = _form_time(form, "opens", zone)
    except ValueError:
        deadline = opens_at = None
    if not name or entry_month is None or deadline is None:
        flash(
            request,
            t(
                "名前・入所月（YYYY-MM）・締切日を入力してください。",
                "Give the name, the month of entry (YYYY-MM) and the deadline.",
            ),
            "error",
        )
        raise await _redirect(request, BASE + "/rounds")
    try:
        row = rounds_domain.new_round(
            municipality=issuer,
            name=name,
            entry_month=entry_month,
            deadline=deadline,
            opens_at=opens_at,
            seed=seed,
            export_columns=None,
            now=_now(request),
        )
    except rounds_domain.RoundError as exc:
        said = t("作成できませんでした: ", "Not created: ")
        flash(request, said + _round_problem(request, exc), "error")
        raise await _redirect(request, BASE + "/rounds") from None
    async with transaction(request.app[SESSIONS]) as session:
        session.add(row)
        await session.flush()
        await record_audit(
            session,
            console.user,
            "round.create",
            issuer=issuer,
            target=f"round {row.id}",
            summary=f"選考「{name}」（{entry_month:%Y-%m}入所）を作成",
            summary_en=f"Round “{name}” (entry in {entry_month:%Y-%m}) created",
            detail={"entry_month": f"{entry_month:%Y-%m}", "deadline": deadline.isoformat()},
        )
    flash(request, t("選考を作成しました。", "Round created."))
    raise await _redirect(request, f"{BASE}/rounds/{row.id}")


@routes.post(BASE + r"/rounds/{id:\d{1,9}}")
async def round_update(request: web.Request) -> web.Response:
    """Change a round's name, deadline or status (not once confirmed)."""
    console = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    form = await read_form(request)
    pk = int(request.match_info["id"])
    zone = request.app[WEB].zone
    async with transaction(request.app[SESSIONS]) as session:
        row = await _own_round(session, issuer, pk, lock=True)
        changes: dict[str, Any] = {}
        name = str(form.get("name", "")).strip()[:200]
        if name and name != row.name:
            changes["name"] = name
        try:
            deadline = _form_time(form, "deadline", zone)
        except ValueError:
            deadline = None
        # The form shows minutes: a deadline sent back unchanged differs by its seconds only.
        if deadline is not None and abs(deadline - row.deadline) >= timedelta(minutes=1):
            changes["deadline"] = deadline
        status = str(form.get("status", ""))
        if status in {"open", "closed"} and status != row.status:
            changes["status"] = status
        if not changes:
            flash(request, t("変更はありません。", "Nothing changed."))
            raise await _redirect(request, f"{BASE}/rounds/{pk}")
        try:
            rounds_domain.change_round(row, changes, _now(request))
        except rounds_domain.RoundError as exc:
            said = t("変更できませんでした: ", "Not changed: ")
            flash(request, said + _round_problem(request, exc), "error")
            raise await _redirect(request, f"{BASE}/rounds/{pk}") from None
        session.add(row)
        await record_audit(
            session,
            console.user,
            "round.update",
            issuer=issuer,
            target=f"round {pk}",
            summary=(
                f"選考「{row.name}」を変更: "
                + "、".join(
                    {"name": "名称", "deadline": "締切", "status": "受付状態"}.get(k, k)
                    for k in changes
                )
            ),
            summary_en=f"Round “{row.name}” changed: {', '.join(changes)}",
            detail={
                k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()
            },
        )
    flash(request, t("選考を変更しました。", "Round changed."))
    raise await _redirect(request, f"{BASE}/rounds/{pk}")
