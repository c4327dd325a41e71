"""Importer of vacancy lists (空き状況): the common CSV shape municipalities publish monthly.

One row per facility; columns ０歳児 … ５歳児 (full-width or half-width digits, "0歳" too);
a cell is a number of places, "-" (no such class: nothing is recorded), ○/◯/△/有/あり (some
places), ×/無/なし/満 (none), or blank (unknown: nothing is recorded). A title row above the
header such as 「【令和7年9月1日時点】」 gives the as-of date (令和/平成/昭和 or Western); a date
next to 入所 / 入園 (「令和7年10月1日入所 空き状況（令和7年9月1日時点）」) the month of entry.
Files are Shift-JIS or UTF-8, CRLF or LF.

Facilities are matched by a facility id column (施設番号, 施設ID, facility_id) when the file has
one, and then the row's name, if it has one, must be the facility's (else the row is reported);
else by name within the municipality (NFKC, spaces ignored). NO / No / ID columns number the
rows of the list: they are not facility ids. The month of entry is `month` (the
CLI's `--month YYYY-MM`), else the one the title names, else the month after the as-of date: a
list "as of 1 September" tells the places for entry on 1 October, as municipalities publish
them. A month of entry already past is refused (the file is reported, nothing saved), and so
are cells of a class the facility does not offer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.facilities import (
    VacancyCell,
    facilities_by_id,
    name_key,
    set_vacancies,
)
from integrations.daycare.models import Facility, OpenedSeat
from integrations.importers.facilities import municipality_code
from integrations.importers.report import ImportReport, capped
from integrations.importers.tabular import (
    DataFileError,
    blank,
    csv_rows,
    find_date,
    find_header,
    norm,
    parse_int,
    read_text,
)

SOURCE = "vacancy-import"
TOKYO_ZONE = ZoneInfo("Asia/Tokyo")
CLASS_COLUMN = re.compile(r"^([0-5])歳児?(?:クラス)?$")
NAME_COLUMNS = ("施設名", "保育園名", "園名", "名称", "施設名称", "保育施設名")
ID_COLUMNS = ("施設番号", "施設ID", "facility_id", "施設コード")
"""Columns that name a facility's id. NO / No / ID / 番号 number the rows of the list (a
vacancy list's row 1 is not facility NO 1 of the facility list): those rows match by name."""
CODE_COLUMNS = ("都道府県コード又は市区町村コード", "市区町村コード", "地方公共団体コード")
NO_CLASS = frozenset({"-", "―", "ー", "—", "‐", "−", "/", "／", "ｰ", "斜線"})
SOME = frozenset({"○", "◯", "〇", "△", "有", "あり", "空きあり", "若干", "若干名"})
NONE = frozenset({"×", "✕", "✖", "無", "なし", "満", "満員", "空きなし"})


@dataclass
class VacancyImportReport(ImportReport[str]):
    """What a vacancy import did; entries are "file:row"."""

    rows: int = 0
    facilities: int = 0
    cells: int = 0
    unchanged: int = 0
    """Cells already stored with the same places and as-of date (of `cells`)."""
    opened: list[OpenedSeat] = field(default_factory=list)
    """Cells whose places went from none or unknown to some: the "seat opened" notices."""
    months: list[tuple[str, date | None, date]] = field(default_factory=list)
    """(file, as-of date, month of entry) of each file."""
    all_skipped: list[str] = field(default_factory=list)
    """Files of which every data row was skipped (the CLI exits 1)."""

    def render(self, *, max_rejected: int = 50) -> str:
        """The final lines of the CLI."""
        lines = [
            f"vacancy import: {self.rows} rows: {self.facilities} facilities, "
            f"{self.cells - self.unchanged} cells saved, {self.unchanged} unchanged, "
            f"{len(self.opened)} newly open, {len(self.rejected)} skipped"
        ]
        for name, as_of, month in self.months:
            told = f"as of {as_of.isoformat()}" if as_of else "no as-of date"
            lines.append(f"  {name}: {told}; entry in {month:%Y-%m}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error: every row of {name} was skipped" for name in self.all_skipped]
        lines += capped(
            self.rejected, max_rejected, lambda r: f"  skipped {r[0]}: {r[1]}", "skipped"
        )
        return "\n".join(lines)


def vacancy_cell(text: str) -> tuple[str, int | None] | None:
    """("number", n), ("some", None), ("none", None), ("no_class", None), or None for blank;
    ValueError when the cell is none of these."""
    value = norm(text)
    if not value:
        return None
    if value in NO_CLASS:
        return "no_class", None
    number = parse_int(value)
    if number is not None:
        return "number", number
    if value in SOME:
        return "some", None
    if value in NONE:
        return "none", None
    raise ValueError(f"not a number of places, -, ○/△/× or 有/無: {value[:20]!r}")


def _is_header(cells: list[str]) -> bool:
    classes = sum(1 for cell in cells if CLASS_COLUMN.match(cell))
    return classes >= 2 and any(cell in NAME_COLUMNS or cell in ID_COLUMNS for cell in cells)


def _first(cells: Sequence[str], names: Sequence[str]) -> int | None:
    return next((cells.index(n) for n in names if n in cells), None)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


_ERA_BASE = {"令和": 2018, "平成": 1988, "R": 2018, "H": 1988}
_ENTRY_DATE = re.compile(
    r"(?:(令和|平成|R|H)\s*(元|\d{1,2})\s*[年.]|(\d{4})\s*[年/.-])\s*(\d{1,2})\s*(?:月|[/.-])"
    r"(?:\s*\d{1,2}\s*日?)?\s*(?:分\s*)?(?:の\s*)?(?:入所|入園)"
)


def title_dates(cells: Iterable[str]) -> tuple[date | None, date | None]:
    """(as-of date, month of entry) of the title rows above the header. A date next to 入所 /
    入園 is the month of entry (「令和7年10月1日入所 空き状況」, 「2026年4月入園分」); the other
    date (「（令和7年9月1日時点）」, 「現在」) is the as-of date."""
    as_of: date | None = None
    entry: date | None = None
    for cell in cells:
        text = norm(cell)
        match = _ENTRY_DATE.search(text)
        if match and entry is None:
            era, era_year, western, month = match.groups()
            year = (
                int(western)
                if western
                else _ERA_BASE[era] + (1 if era_year == "元" else int(era_year))
            )
            if 1 <= int(month) <= 12:
                entry = date(year, int(month), 1)
            text = text[: match.start()] + " " + text[match.end() :]
        if as_of is None:
            as_of = find_date(text)
    return as_of, entry


@dataclass
class _Row:
    entry: str
    municipality: str
    facility_id: str
    name: str
    cells: list[VacancyCell]


@dataclass
class _File:
    path: Path
    as_of: date | None
    month: date
    rows: list[_Row] = field(default_factory=list)
    count: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    passed: str | None = None
    """Why nothing of the file is saved: its month of entry is before this month."""


def load_vacancies(
    path: Path, *, municipality: str | None, month: date | None, today: date | None = None
) -> _File:
    """Read one vacancy file; DataFileError when it cannot be read at all."""
    name = Path(path).name
    rows = csv_rows(read_text(path), name)
    at = find_header(rows, _is_header)
    if at is None:
        raise DataFileError(
            f"{name}: no header row with a facility name column (施設名, 保育園名 ...) and class "
            "columns (０歳児 … ５歳児) among the first 30 rows"
        )
    as_of, titled = title_dates(cell for row in rows[:at] for cell in row)
    entry_month = month or titled or (_next_month(as_of) if as_of else None)
    if entry_month is None:
        raise DataFileError(
            f"{name}: no as-of date above the header (like 【令和7年9月1日時点】): "
            "give --month YYYY-MM"
        )
    header = [norm(cell) for cell in rows[at]]
    class_at = {
        int(m.group(1)): index
        for index, cell in enumerate(header)
        if (m := CLASS_COLUMN.match(cell))
    }
    name_at, id_at, code_at = (
        _first(header, NAME_COLUMNS),
        _first(header, ID_COLUMNS),
        _first(header, CODE_COLUMNS),
    )
    if code_at is None and municipality is None:
        raise DataFileError(f"{name} has no municipality code column: give --municipality CODE")
    loaded = _File(Path(path), as_of, entry_month)
    this_month = (today or datetime.now(TOKYO_ZONE).date()).replace(day=1)
    if entry_month < this_month:
        hint = "pass a later --month" if month else "pass --month"
        loaded.passed = f"month of entry {entry_month:%Y-%m} has passed; {hint}"
    for number, row in enumerate(rows[at + 1 :], start=at + 2):
        if blank(row):
            continue
        loaded.count += 1
        entry = f"{name}:{number}"

        def cell(index: int | None, row: list[str] = row) -> str:
            return row[index].strip() if index is not None and index < len(row) else ""

        code = municipality
        if code_at is not None and cell(code_at):
            code = municipality_code(cell(code_at))
            if code is None or (municipality and code != municipality):
                loaded.rejected.append(
                    (entry, f"municipality {cell(code_at)!r} is not {municipality or 'a code'}")
                )
                continue
        facility_name, facility_id = norm(cell(name_at)), norm(cell(id_at))
        if not facility_name and not facility_id:
            loaded.rejected.append((entry, "no facility name or id"))
            continue
        cells, problems = [], []
        for age, index in sorted(class_at.items()):
            try:
                read = vacancy_cell(cell(index))
            except ValueError as exc:
                problems.append(f"{age}歳児: {exc}")
                continue
            if read is None or read[0] == "no_class":
                continue
            level, places = read
            if places is not None and places > 999:
                problems.append(f"{age}歳児: {places} places is not believable")
                continue
            cells.append(
                VacancyCell.model_validate(
                    {
                        "class_age": age,
                        "entry_month": entry_month,
                        "level": level,
                        "places": places,
                    }
                )
            )
        if problems:
            loaded.rejected.append((entry, "; ".join(problems)))
            continue
        assert code is not None
        loaded.rows.append(_Row(entry, code, facility_id, facility_name, cells))
    return loaded


def _match(
    row: _Row, by_id: dict[str, Facility], by_name: dict[str, list[Facility]]
) -> Facility | str:
    if row.facility_id:
        found = by_id.get(row.facility_id)
        if found is None:
            return f"no facility {row.facility_id} in {row.municipality}"
        if row.name and name_key(row.name) != name_key(found.name_ja):
            return (
                f"facility {row.facility_id} of {row.municipality} is {found.name_ja}, not "
                f"{row.name}: check the id column"
            )
        return found
    named = by_name.get(name_key(row.name), [])
    if len(named) == 1:
        return named[0]
    if not named:
        return f"no facility named {row.name} in {row.municipality}"
    return f"{len(named)} facilities named {row.name} in {row.municipality}: add an id column"


async def import_vacancies(
    paths: Iterable[Path],
    session_factory: async_sessionmaker[AsyncSession],
    *,
    municipality: str | None = None,
    month: date | None = None,
    progress: Callable[[str], None] | None = None,
    source: str = SOURCE,
    today: date | None = None,
) -> VacancyImportReport:
    """Read every file, then save each file's cells in one transaction. `report.opened` lists
    the seats that opened: the caller announces them after this returns (committed).

    A file whose month of entry is before this month (Asia/Tokyo, `today`) saves nothing: it
    is reported as skipped with why. Cells of a class the facility does not offer (when its
    classes are known) are not saved and the row is reported."""
    say = progress or (lambda _line: None)
    report = VacancyImportReport()
    files = [load_vacancies(p, municipality=municipality, month=month, today=today) for p in paths]
    for number, file in enumerate(files, start=1):
        say(f"[{number}/{len(files)}] {file.path.name}: {file.count} rows")
        report.rows += file.count
        report.months.append((file.path.name, file.as_of, file.month))
        if file.passed:
            report.reject(file.path.name, f"{file.count} rows skipped: {file.passed}")
            if file.count:
                report.all_skipped.append(file.path.name)
            continue
        saved_before = report.facilities
        report.rejected += file.rejected
        async with session_factory() as session, session.begin():
            indexes: dict[str, tuple[dict[str, Facility], dict[str, list[Facility]]]] = {}
            for row in file.rows:
                if row.municipality not in indexes:
                    by_id = await facilities_by_id(session, row.municipality)
                    by_name: dict[str, list[Facility]] = {}
                    for facility in by_id.values():
                        by_name.setdefault(name_key(facility.name_ja), []).append(facility)
                    indexes[row.municipality] = (by_id, by_name)
                found = _match(row, *indexes[row.municipality])
                if isinstance(found, str):
                    report.reject(row.entry, found)
                    continue
                cells = row.cells
                if found.classes:
                    missing = sorted({c.class_age for c in cells} - set(found.classes))
                    if missing:
                        offered = ", ".join(f"{a}歳児" for a in found.classes)
                        report.reject(
                            row.entry,
                            f"{', '.join(f'{a}歳児' for a in missing)} not saved: "
                            f"{found.name_ja} has no such class (it has {offered})",
                        )
                        cells = [c for c in cells if c.class_age in found.classes]
                # Helper C's "seat opened" notices start from `report.opened`.
                same = [0]
                report.opened += await set_vacancies(
                    session, found, cells, file.as_of, f"{source}:{file.path.name}", unchanged=same
                )
                report.unchanged += same[0]
                report.facilities += 1
                report.cells += len(cells)
        if file.count and report.facilities == saved_before:
            report.all_skipped.append(file.path.name)
    return report
