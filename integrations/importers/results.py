"""Importer of past admission results: what parents look at to judge their chances.

Two published shapes, one row per facility and a column per class (0歳 … 5歳):

* minimum admitted points (入所最低指数, Minato's `minato_min_points_2021.csv`): a cell is the
  points, "22以下" (at most 22: `at_most`), "―" (no such class), 非公開 (withheld);
* first-round results (一次選考結果, Taito's `taito_results_2022.csv`): a cell is the lowest
  points admitted, 非公開 (withheld), 空有 (places were left: `vacant`) or blank (nothing known).

The kind is `min_points` unless the file name says "result"/"結果"/"一次" (or `kind` is given);
the year is `year` (the CLI's `--year`) or the four-digit year in the file name. Facilities
are matched by name within the municipality (NFKC, spaces ignored); names that match none are
listed in the report, and with `create_missing` become minimal facilities (located=false,
source "results", id derived from the name like Minato's facility list, so a later import of
the facility list completes them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.facilities import (
    FacilityExists,
    FacilityIn,
    PastResultCell,
    ResultKind,
    ResultOutcome,
    create_facility,
    derived_facility_id,
    facilities_by_id,
    name_key,
    record_past_results,
)
from integrations.daycare.models import Facility
from integrations.importers.facilities import facility_type
from integrations.importers.report import ImportReport, capped
from integrations.importers.tabular import (
    DataFileError,
    blank,
    csv_rows,
    find_header,
    norm,
    read_text,
    year_in_name,
)

SOURCE = "results"
CLASS_COLUMN = re.compile(r"^([0-5])歳児?(?:クラス)?$")
NAME_COLUMNS = ("保育園名", "園名", "施設名", "名称", "施設名称")
KIND_COLUMNS = ("施設種別", "区分", "種別")
NO_CLASS = frozenset({"―", "-", "ー", "—", "‐", "−", "/", "／", "ｰ", "斜線"})
MAX_POINTS = 1000.0


@dataclass
class ResultsImportReport(ImportReport[str]):
    """What a results import did: cells created/updated/unchanged, facilities it could not
    match (by name), facilities it created."""

    unchanged: int = 0
    rows: int = 0
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    """(entry, name) of facilities not found and not created."""
    added: list[tuple[str, str]] = field(default_factory=list)
    """(entry, name) of facilities not found and created (`create_missing`)."""
    facilities_created: int = 0
    all_skipped: list[str] = field(default_factory=list)
    """Files of which no row was saved (each skipped or naming no facility): the CLI exits 1."""

    def render(self, *, max_rejected: int = 50, max_unmatched: int = 50) -> str:
        """The final lines of the CLI."""
        lines = [
            f"results import: {self.rows} rows: {self.created} results created, {self.updated} "
            f"updated, {self.unchanged} unchanged; {len(self.unmatched)} facilities not found, "
            f"{self.facilities_created} created; {len(self.rejected)} rows skipped"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error: no row of {name} was saved" for name in self.all_skipped]
        lines += capped(
            self.unmatched,
            max_unmatched,
            lambda u: f"  no facility named {u[1]} ({u[0]})",
            "not found (give --create-missing to add them)",
        )
        lines += capped(
            self.added,
            max_unmatched,
            lambda u: f"  created facility {u[1]} ({u[0]}; without coordinates)",
            "created",
        )
        lines += capped(
            self.rejected, max_rejected, lambda r: f"  skipped {r[0]}: {r[1]}", "skipped"
        )
        return "\n".join(lines)


Cell = tuple[ResultOutcome, float | None]


def result_cell(text: str, kind: ResultKind = "min_points") -> Cell | None:
    """(outcome, points) of a cell, None for blank; ValueError for what is none of these.
    In a first-round table "－" means nobody was sought (募集なし, Taito's note): `none`."""
    value = norm(text)
    if not value:
        return None
    if kind == "first_round" and value == "-":
        return "none", None
    if value in NO_CLASS:
        return "no_class", None
    if value == "非公開":
        return "withheld", None
    if value in {"空有", "空きあり", "空あり", "空き有"}:
        return "vacant", None
    if value in {"なし", "該当なし", "入所者なし", "0人"}:
        return "none", None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(以下)?", value)
    if match:
        points = float(match.group(1))
        if points > MAX_POINTS:
            raise ValueError(f"{value!r} is more points than any table gives")
        return ("at_most" if match.group(2) else "points"), points
    raise ValueError(f"not points, 22以下, ―, 非公開 or 空有: {value[:20]!r}")


def kind_of(path: Path) -> ResultKind:
    """first_round for a first-round result table (by its file name), else min_points."""
    stem = Path(path).stem.lower()
    return "first_round" if re.search(r"result|結果|一次", stem) else "min_points"


def _is_header(cells: list[str]) -> bool:
    return sum(1 for c in cells if CLASS_COLUMN.match(c)) >= 2 and any(
        c in NAME_COLUMNS for c in cells
    )


def _first(cells: Sequence[str], names: Sequence[str]) -> int | None:
    return next((cells.index(n) for n in names if n in cells), None)


@dataclass
class _Row:
    entry: str
    name: str
    label: str
    cells: dict[int, tuple[Cell, str]]


def _load(path: Path, kind: ResultKind) -> tuple[list[_Row], list[tuple[str, str]], int]:
    name = Path(path).name
    rows = csv_rows(read_text(path), name)
    at = find_header(rows, _is_header)
    if at is None:
        raise DataFileError(
            f"{name}: no header row with a facility name column (保育園名, 園名 ...) and class "
            "columns (0歳 … 5歳) among the first 30 rows"
        )
    header = [norm(c) for c in rows[at]]
    class_at = {int(m.group(1)): i for i, c in enumerate(header) if (m := CLASS_COLUMN.match(c))}
    name_at, kind_at = _first(header, NAME_COLUMNS), _first(header, KIND_COLUMNS)
    read, rejected, count = [], [], 0
    for number, row in enumerate(rows[at + 1 :], start=at + 2):
        if blank(row):
            continue
        entry = f"{name}:{number}"

        def cell(index: int | None, row: list[str] = row) -> str:
            return row[index].strip() if index is not None and index < len(row) else ""

        facility = norm(cell(name_at))
        if not facility and not any(cell(i) for i in class_at.values()):
            continue  # a title or a footnote (○表中の「空有」は…), not a facility
        count += 1
        if not facility:
            rejected.append((entry, "no facility name"))
            continue
        cells: dict[int, tuple[Cell, str]] = {}
        problems = []
        for age, index in sorted(class_at.items()):
            raw = cell(index)
            try:
                parsed = result_cell(raw, kind)
            except ValueError as exc:
                problems.append(f"{age}歳: {exc}")
                continue
            if parsed is not None:
                cells[age] = (parsed, raw)
        if problems:
            rejected.append((entry, "; ".join(problems)))
            continue
        read.append(_Row(entry, facility, norm(cell(kind_at)), cells))
    return read, rejected, count


def _minimal_facility(row: _Row) -> FacilityIn:
    label = row.label
    kind = facility_type("認可保育所" if label == "認可" else label)
    classes = [age for age, (cell, _) in row.cells.items() if cell[0] != "no_class"]
    return FacilityIn(
        name_ja=row.name[:200],
        type=kind,  # type: ignore[arg-type]
        type_label=label[:64],
        classes=classes,
        notes="created from published admission results; details to come",
    )


async def import_results(
    paths: Iterable[Path],
    session_factory: async_sessionmaker[AsyncSession],
    *,
    municipality: str,
    year: int | None = None,
    kind: Literal["min_points", "first_round"] | None = None,
    create_missing: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ResultsImportReport:
    """Read every file, then save each file's results in one transaction."""
    say = progress or (lambda _line: None)
    report = ResultsImportReport()
    loaded = []
    for path in paths:
        file_year = year or year_in_name(Path(path))
        if file_year is None:
            raise DataFileError(f"{Path(path).name}: no year in the file name: give --year YYYY")
        file_kind = kind or kind_of(Path(path))
        loaded.append((Path(path), file_year, file_kind, *_load(Path(path), file_kind)))
    for number, (path, file_year, file_kind, rows, rejected, count) in enumerate(loaded, 1):
        say(f"[{number}/{len(loaded)}] {path.name}: {count} rows ({file_kind}, {file_year})")
        report.rows += count
        report.rejected += rejected
        async with session_factory() as session, session.begin():
            pending: list[tuple[Facility, PastResultCell]] = []
            by_name: dict[str, list[Facility]] = {}
            for facility in (await facilities_by_id(session, municipality)).values():
                by_name.setdefault(name_key(facility.name_ja), []).append(facility)
            for row in rows:
                named = by_name.get(name_key(row.name), [])
                if len(named) > 1:
                    report.reject(row.entry, f"{len(named)} facilities are named {row.name}")
                    continue
                if not named:
                    if not create_missing:
                        report.unmatched.append((row.entry, row.name))
                        continue
                    report.added.append((row.entry, row.name))
                    try:
                        created = await create_facility(
                            session,
                            municipality,
                            derived_facility_id(row.name),
                            _minimal_facility(row),
                            source=SOURCE,
                        )
                        report.facilities_created += 1
                    except FacilityExists as exc:  # renamed since: the id still names it
                        created = exc.row
                    by_name[name_key(row.name)] = named = [created]
                pending += [
                    (
                        named[0],
                        PastResultCell(
                            class_age=age,
                            year=file_year,
                            kind=file_kind,
                            outcome=outcome,
                            points=points,
                            raw=raw,
                            source=path.name,
                        ),
                    )
                    for age, ((outcome, points), raw) in row.cells.items()
                ]
            if count and not pending:
                report.all_skipped.append(path.name)
            counts = await record_past_results(session, pending)
            report.created += counts["created"]
            report.updated += counts["updated"]
            report.unchanged += counts["unchanged"]
    return report
