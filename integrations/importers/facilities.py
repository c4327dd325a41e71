"""Importer of childcare facility lists: the 推奨データセット 子育て施設一覧 CSV and its cousins.

Reads, in all the forms municipalities publish them:

* the standard columns (都道府県コード又は市区町村コード, NO, 名称, 名称_カナ, 種別,
  住所, 方書, 緯度, 経度, アクセス方法, 電話番号, 団体名, 認可等年月日, 収容定員,
  受入年齢, 利用可能曜日, 開始時間, 終了時間, 利用可能日時特記事項, 一時預かりの有無,
  URL, 備考), with times as "7:30" or Excel day fractions (0.3125 = 07:30) and dates as
  ISO or Excel serials (Hachioji's file);
* Minato's own list (施設種別, 地区, 保育園名, 所在地, 入園可能月齢 "3か月",
  標準時間開始時間/終了時間, 延長保育 "22:00まで", 休園日): it has no municipality code
  column, so `municipality` (the CLI's `--municipality 131032`) must be given, and no id
  column, so a facility's id is derived from its name (`derived_facility_id`: "n" + 12 hex
  digits of the SHA-1 of the NFKC name without spaces);
* Sapporo's GeoJSON (`HID` is the id; `Vacancy: "Y"` with `VacancyDate: "2/1現在"` becomes "some"
  places in each class the facility offers for the month of entry given (`entry_month`, the
  CLI's `--month`); the date has no year (the file is years old), so without a month of entry
  no year is guessed: its vacancies are not imported and the report says why). Municipality
  011002 (Sapporo) is found from the addresses and registered when the database lacks it.

Files are UTF-8 (with or without BOM) or Shift-JIS, CRLF or LF, with or without title rows
above the header. A row without coordinates is kept (`located` false, listed in the report, to
be found by address later; coordinates given since are kept by later imports). A row that
cannot be read at all is listed with its row number and why. Facilities are keyed by
(municipality, facility id): importing a file again updates what changed and reports the rest
unchanged; a field the file leaves empty or never carries (name_en, class_capacity, meals...)
keeps what the API set (`overlay`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.facilities import (
    FacilityIn,
    VacancyCell,
    add_first_versions,
    derived_facility_id,
    facilities_by_id,
    new_facility,
    replace_facility,
    set_many_vacancies,
)
from integrations.daycare.models import Facility, OpenedSeat
from integrations.importers.report import ImportReport, capped
from integrations.importers.tabular import (
    DataFileError,
    blank,
    csv_rows,
    find_header,
    find_times,
    norm,
    parse_date,
    parse_float,
    parse_int,
    parse_time,
    read_text,
)
from registry.models import Municipality
from rules.lgcode import check_digit, is_valid_lgcode

SOURCE = "import"
PROGRESS_EVERY = 100
TOKYO_ZONE = ZoneInfo("Asia/Tokyo")

EXTRA_MUNICIPALITIES: dict[str, tuple[str, str, str, str]] = {
    # code: (name_ja, name_en, kind, prefecture) of cities outside Tokyo whose files we read.
    "011002": ("札幌市", "Sapporo", "city", "010006"),
}
CITY_BY_ADDRESS: dict[str, str] = {"札幌市": "011002"}
"""Municipality codes of files without a code column, found from the addresses."""

# Column names by meaning (after NFKC); the first present wins.
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": (
        "都道府県コード又は市区町村コード",
        "市区町村コード",
        "地方公共団体コード",
        "全国地方公共団体コード",
    ),
    "id": ("NO", "No", "no", "ID", "施設ID", "施設番号", "番号"),
    "name": ("名称", "施設名", "施設名称", "保育園名", "園名"),
    "kana": ("名称_カナ", "名称カナ", "フリガナ", "ふりがな"),
    "name_en": ("名称_英字", "名称_英語", "英語名"),
    "kind": ("施設種別",),
    "type": ("種別", "施設の種類"),
    "address": ("住所", "所在地"),
    "address2": ("方書",),
    "lat": ("緯度",),
    "lon": ("経度",),
    "access": ("アクセス方法", "アクセス", "最寄駅"),
    "phone": ("電話番号", "TEL"),
    "operator": ("団体名", "設置者", "運営者", "運営法人"),
    "licensed": ("認可等年月日",),
    "capacity": ("収容定員", "定員"),
    "ages": ("受入年齢", "入園可能月齢", "対象年齢"),
    "days": ("利用可能曜日",),
    "closed": ("休園日",),
    "opens": ("開始時間", "標準時間開始時間", "開所時間"),
    "closes": ("終了時間", "標準時間終了時間", "閉所時間"),
    "hours_notes": ("利用可能日時特記事項",),
    "extended": ("延長保育",),
    "temporary": ("一時預かりの有無", "一時預かり"),
    "url": ("URL", "WebサイトURL", "ホームページ", "ホームページURL"),
    "notes": ("備考",),
    "opened_year": ("開設年",),
    "opened_month": ("開設月",),
}
_DAYS = {"月": "mon", "火": "tue", "水": "wed", "木": "thu", "金": "fri", "土": "sat", "日": "sun"}
_DAY_ORDER = list(_DAYS)


# ---------------------------------------------------------------------------- the report


@dataclass
class FacilityImportReport(ImportReport[str]):
    """What an import did; entries are "file:row"."""

    unchanged: int = 0
    rows: int = 0
    unlocated: list[tuple[str, str, str]] = field(default_factory=list)
    """(entry, facility, why) of facilities saved without coordinates."""
    vacancies: int = 0
    opened: list[OpenedSeat] = field(default_factory=list)
    dry_run: bool = False
    all_skipped: list[str] = field(default_factory=list)
    """Files of which every data row was skipped (the CLI exits 1)."""

    @property
    def skipped(self) -> int:
        """Rows not saved (each is in `rejected` with why)."""
        return len(self.rejected)

    def render(self, *, max_rejected: int = 50, max_unlocated: int = 20) -> str:
        """The final lines of the CLI."""
        head = "facility import (dry run: nothing saved)" if self.dry_run else "facility import"
        lines = [
            f"{head}: {self.rows} rows: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped; {len(self.unlocated)} without "
            f"coordinates (kept, located=false); {self.vacancies} vacancy cells"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error: every row of {name} was skipped" for name in self.all_skipped]
        lines += capped(
            self.unreadable,
            max_rejected,
            lambda u: f"  warning: {u[0]} {u[1]} {u[2]!r} unreadable: left as it was",
            "unreadable values",
        )
        lines += capped(
            self.unlocated,
            max_unlocated,
            lambda u: f"  not located {u[0]} {u[1]}: {u[2]}",
            "without coordinates",
        )
        lines += capped(
            self.rejected, max_rejected, lambda r: f"  skipped {r[0]}: {r[1]}", "skipped"
        )
        return "\n".join(lines)


@dataclass
class MappedFacility:
    """One row read: where it goes, what it says, and the vacancies it carries (GeoJSON)."""

    entry: str
    municipality: str
    facility_id: str
    data: FacilityIn
    unlocated_why: str | None = None
    vacancies: list[VacancyCell] = field(default_factory=list)
    vacancies_as_of: date | None = None
    undated_vacancy: bool = False
    """Places published without a year and no month of entry given: not imported."""
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(column, raw value) of each cell that could not be read (the field is left as it was)."""


@dataclass
class LoadedFile:
    """A file read and mapped: its rows, the rows it could not read, its warnings."""

    path: Path
    rows: int = 0
    mapped: list[MappedFacility] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str, str]] = field(default_factory=list)
    """(entry, column, raw value) of each cell that could not be read."""


# ---------------------------------------------------------------------------- cell readers


def facility_type(label: str) -> str:
    """The FACILITY_TYPES key of a 種別 text ("other" when it says nothing we know)."""
    text = norm(label)
    if "こども園" in text:
        for word, key in (
            ("幼保連携", "kodomoen_linked"),
            ("幼稚園型", "kodomoen_kindergarten"),
            ("保育所型", "kodomoen_daycare"),
            ("地方裁量", "kodomoen_local"),
        ):
            if word in text:
                return key
        return "other"
    for word, key in (
        ("認証", "certified_tokyo"),
        ("小規模", "small_scale"),
        ("家庭的", "family_daycare"),
        ("事業所内", "workplace"),
        ("認可外", "unlicensed"),
        ("幼稚園", "kindergarten"),
    ):
        if word in text:
            return key
    if "保育所" in text or "保育園" in text:
        if any(
            w in text for w in ("公立", "区立", "市立", "町立", "村立", "都立", "委託", "公設")
        ):
            return "licensed_public"
        return "licensed_private"
    return "other"


_START_DAYS = re.compile(r"(?:生後)?(\d+)日")
_YEARS_MONTHS = re.compile(r"(\d+)歳(\d+)(?:か|ヶ|カ|ケ|ヵ|箇)月")
_MONTHS = re.compile(r"(\d+)(?:か|ヶ|カ|ケ|ヵ|箇)月")
_CLASS = re.compile(r"(\d)歳児?クラス")
_YEARS = re.compile(r"(\d)歳")


def ages(text: str) -> tuple[list[int], int | None] | None:
    """Classes offered and the youngest age in months from 受入年齢: "産休明けから",
    "1歳クラスから", "生後57日", "6か月から", "3歳~5歳", "産休明け~2歳児", or Sapporo's
    AgeS/AgeE joined by "~"; None when unreadable. An age in months alone opens the class of
    its whole years; 産休明け (57 days) is 2 months."""
    value = norm(text)
    for word in ("おおむね", "概ね", "以上"):
        value = value.replace(word, "")
    value = re.sub(r"(?<!未)満", "", value)  # 満2歳 is 2歳; 2歳未満 stays "under 2"
    if not value:
        return None
    parts = re.split(r"[~〜\-－]|から", value, maxsplit=1)
    start, end = parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")
    if not end and "未満" in start:
        start, end = "", start  # "2歳未満" alone: from birth, under 2
        first: tuple[int, int | None] | None = (0, None)
    else:
        first = _start_age(start)
    if first is None:
        return None
    last = _end_class(end)
    if last is None or last < first[0]:
        return None
    return list(range(first[0], min(last, 5) + 1)), first[1]


MATERNITY_LEAVE_DAYS = 57
"""産休明け: the mother may not work for 8 weeks after the birth (労働基準法 65条), so a child
is taken from day 57 of its life."""


def min_age_days(text: str) -> int | None:
    """The youngest age in days where 受入年齢 says it in days: 産休明け → 57, 生後43日 → 43;
    None for months or years (生後6か月, 1歳) and when unreadable."""
    value = norm(text)
    start = re.split(r"[~〜\-－]|から", value, maxsplit=1)[0].strip()
    if "産休" in start:
        return MATERNITY_LEAVE_DAYS
    match = _START_DAYS.search(start)
    if match and not _MONTHS.search(start):
        return int(match.group(1))
    return None


def _start_age(text: str) -> tuple[int, int | None] | None:
    if not text or "産休" in text:
        return (0, 2) if text else None
    match = _START_DAYS.search(text)
    if match:
        return 0, math.ceil(int(match.group(1)) / 30.4)
    match = _YEARS_MONTHS.search(text)
    if match:
        months = 12 * int(match.group(1)) + int(match.group(2))
        return min(months // 12, 5), months
    match = _MONTHS.search(text)
    if match:
        months = int(match.group(1))
        return min(months // 12, 5), months
    match = _CLASS.search(text)
    if match:
        return int(match.group(1)), None
    match = _YEARS.search(text)
    if match:
        return int(match.group(1)), 12 * int(match.group(1))
    return None


def _end_class(text: str) -> int | None:
    if not text or "就学" in text or "学童" in text:
        return 5
    match = _YEARS.search(text)
    if match:
        years = int(match.group(1))
        return years - 1 if "未満" in text else years
    match = _MONTHS.search(text)
    if match:
        return int(match.group(1)) // 12
    return None


def open_days(text: str) -> list[str] | None:
    """Weekdays of 利用可能曜日 ("月;火;水;木;金;土", "月~金"), or None when it names none."""
    value = norm(text)
    found: list[str] = []
    for match in re.finditer(
        r"([月火水木金土日])(?:曜日?)?\s*[~〜\-]\s*([月火水木金土日])", value
    ):
        a, b = _DAY_ORDER.index(match.group(1)), _DAY_ORDER.index(match.group(2))
        found += [_DAYS[d] for d in _DAY_ORDER[a : b + 1]]
    found += [_DAYS[c] for c in value if c in _DAYS]
    return [d for d in _DAYS.values() if d in found] or None


def days_from_closed(text: str) -> list[str] | None:
    """Open weekdays from 休園日 ("日・祝・年末年始" → Monday to Saturday)."""
    value = norm(text)
    if not value:
        return None
    closed = {_DAYS[c] for c in value if c in _DAYS}
    return [d for d in _DAYS.values() if d not in closed]


_STATION_BRACKETED = re.compile(
    r"「([^」]+?駅)」\s*(?:から|より)?\s*(?:徒歩|歩)\s*約?\s*(\d+)\s*分"
)
_STATION_PLAIN = re.compile(
    r"([^\s、,「」()]+?駅)\s*(?:から|より)?\s*(?:徒歩|歩)\s*約?\s*(\d+)\s*分"
)


def station(text: str) -> tuple[str, int] | None:
    """The nearest station of アクセス方法 and the minutes on foot from it:
    `JR中央線「八王子駅」から徒歩7分` → ("八王子駅", 7). Bus stops are not stations."""
    value = norm(text)
    found = [(m.group(1), int(m.group(2))) for m in _STATION_BRACKETED.finditer(value)]
    if not found:
        found = [(m.group(1), int(m.group(2))) for m in _STATION_PLAIN.finditer(value)]
    if not found:
        return None
    return min(found, key=lambda pair: pair[1])


def extended_care(text: str) -> tuple[bool | None, str | None]:
    """(延長保育 offered, until when) from "延長保育19:00まで", "22:00まで", "延長保育なし",
    "延長保育18-19時"; (None, None) when the text says nothing about it."""
    value = norm(text)
    if not value:
        return None, None
    if re.search(r"延長(?:保育)?(?:は)?(?:なし|無し|無|実施しない)", value):
        return False, None
    times = find_times(re.split(r"[(（]", value)[0])  # not "(夜部8-10時)"
    if "延長" in value or "まで" in value:
        return True, (times[-1] if times else None)
    return None, None


def yes_no(text: str) -> bool | None:
    """有/無 (and あり/なし, ○/×, Y/N) as a bool, None when blank or unknown."""
    value = norm(text).lower()
    if value in {"有", "あり", "○", "◯", "y", "yes", "true", "1", "可"}:
        return True
    if value in {"無", "なし", "×", "n", "no", "false", "0", "不可"}:
        return False
    return None


def municipality_code(text: str) -> str | None:
    """A six-digit code (a five-digit one gets its check digit), or None."""
    value = norm(text)
    if re.fullmatch(r"\d{5}", value):
        value += str(check_digit(value))
    return value if is_valid_lgcode(value) else None


def _coordinates(lat_text: Any, lon_text: Any) -> tuple[float | None, float | None, str | None]:
    lat = parse_float(str(lat_text)) if lat_text not in (None, "") else None
    lon = parse_float(str(lon_text)) if lon_text not in (None, "") else None
    if lat is None and lon is None:
        return None, None, "no coordinates"
    if lat is None or lon is None:
        return None, None, "only one of latitude and longitude"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) and -90 <= lon <= 90:
        lat, lon = lon, lat  # written the other way round (longitude first)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None, f"coordinates out of range ({lat}, {lon})"
    if lat == 0 and lon == 0:
        return None, None, "coordinates 0, 0"
    return lat, lon, None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _url(text: str) -> str:
    value = norm(text)
    match = re.search(r"https?://[^\s,、]+", value)
    return _clip(match.group(0), 1000) if match else ""


# ---------------------------------------------------------------------------- CSV


class _Columns:
    def __init__(self, header: list[str]) -> None:
        self.index: dict[str, int] = {}
        self.header = [cell.strip() for cell in header]
        normalised = [norm(cell) for cell in header]
        for meaning, names in COLUMNS.items():
            for name in names:
                if name in normalised:
                    self.index[meaning] = normalised.index(name)
                    break

    def __contains__(self, meaning: str) -> bool:
        return meaning in self.index

    def get(self, row: Sequence[str], meaning: str) -> str:
        at = self.index.get(meaning)
        return row[at].strip() if at is not None and at < len(row) else ""

    def name(self, meaning: str) -> str:
        """The column's header as the file writes it."""
        at = self.index.get(meaning)
        return self.header[at] if at is not None else meaning


def _is_facility_header(cells: list[str]) -> bool:
    columns = _Columns(cells)
    return "name" in columns and len(columns.index) >= 3


def _map_csv_row(
    columns: _Columns, row: Sequence[str], entry: str, municipality: str | None
) -> MappedFacility | str | None:
    name = norm(columns.get(row, "name"))
    if not name and not columns.get(row, "address") and not columns.get(row, "lat"):
        return None  # a title or a footnote (港区内認可保育園等一覧,Ver202104), not a facility
    if not name:
        return "no facility name (名称)"
    code_text = columns.get(row, "code")
    code = municipality_code(code_text) if code_text else None
    if code_text and code is None:
        return f"{code_text!r} is not a local government code"
    if municipality and code and code != municipality:
        return f"the row is of {code}, not of --municipality {municipality}"
    code = code or municipality
    if code is None:
        return "no municipality code"
    id_text = norm(columns.get(row, "id"))
    if "id" in columns and not id_text:
        return "no facility id (NO)"
    facility_id = id_text or derived_facility_id(name)
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}", facility_id):
        return f"facility id {id_text!r} is not usable (letters, digits, _.:- only, at most 64)"

    kind, type_text = norm(columns.get(row, "kind")), norm(columns.get(row, "type"))
    label = f"{kind}（{type_text}）" if kind and type_text else kind or type_text
    lat, lon, why = _coordinates(columns.get(row, "lat"), columns.get(row, "lon"))
    read_ages = ages(columns.get(row, "ages"))
    near = station(columns.get(row, "access"))
    days = open_days(columns.get(row, "days")) or days_from_closed(columns.get(row, "closed"))
    hours_notes = columns.get(row, "hours_notes")
    extended, until = extended_care(columns.get(row, "extended") or hours_notes)
    opens_text, closes_text = columns.get(row, "opens"), columns.get(row, "closes")
    opens = parse_time(opens_text)
    closes_all = find_times(closes_text) if not _fraction(closes_text) else []
    closes = closes_all[-1] if closes_all else parse_time(closes_text)
    opens_read, closes_read = opens, closes
    if opens is not None and opens == closes:
        opens = closes = None  # "0" and "0" (Hachioji's No. 168): hours not told
    address = " ".join(
        part
        for part in (norm(columns.get(row, "address")), norm(columns.get(row, "address2")))
        if part
    )
    notes = "\n".join(part for part in (hours_notes, columns.get(row, "notes")) if part)
    opened_on = None
    year, month = (
        parse_int(columns.get(row, "opened_year")),
        parse_int(columns.get(row, "opened_month")),
    )
    if year and 1900 <= year <= 2100:
        opened_on = date(year, month if month and 1 <= month <= 12 else 4, 1)
    capacity = parse_int(columns.get(row, "capacity"))
    if capacity is not None and capacity > 10_000:
        capacity = None
    # A value written but not readable is flagged with what it says, never guessed.
    unreadable = [
        (columns.name(meaning), columns.get(row, meaning))
        for meaning, read in (
            ("licensed", parse_date(columns.get(row, "licensed"))),
            ("capacity", capacity),
            ("opens", opens_read),
            ("closes", closes_read),
            ("opened_year", opened_on),
        )
        if columns.get(row, meaning) and read is None
    ]
    values: dict[str, Any] = {
        "name_ja": _clip(name, 200),
        "name_kana": _clip(norm(columns.get(row, "kana")), 200),
        "name_en": _clip(norm(columns.get(row, "name_en")), 200),
        "type": facility_type(label),
        "type_label": _clip(label, 64),
        "address": _clip(address, 300),
        "latitude": lat,
        "longitude": lon,
        "station": _clip(near[0], 100) if near else "",
        "walk_minutes": min(near[1], 600) if near else None,
        "classes": read_ages[0] if read_ages else [],
        "min_age_months": read_ages[1]
        if read_ages and read_ages[1] is not None and read_ages[1] <= 84
        else None,
        "min_age_days": _days_if_read(columns.get(row, "ages"), read_ages),
        "capacity": capacity,
        "days": days or [],
        "opens": opens,
        "closes": closes,
        "extended_care": extended,
        "extended_until": until,
        "temporary_care": yes_no(columns.get(row, "temporary")),
        "url": _url(columns.get(row, "url")),
        "phone": _clip(norm(columns.get(row, "phone")), 40),
        "notes": _clip(notes, 2000),
        "operator_name": _clip(norm(columns.get(row, "operator")), 200),
        "licensed_on": parse_date(columns.get(row, "licensed")),
        "opened_on": opened_on,
    }
    try:
        data = FacilityIn.model_validate(values, strict=False)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        return f"not a valid facility ({problems})"
    return MappedFacility(entry, code, facility_id, data, unlocated_why=why, unreadable=unreadable)


def _days_if_read(text: str, read_ages: tuple[list[int], int | None] | None) -> int | None:
    days = min_age_days(text) if read_ages and 0 in read_ages[0] else None
    return days if days is not None and days <= 2600 else None


def _fraction(text: str) -> bool:
    return bool(re.fullmatch(r"0?\.\d+|0|1(\.0+)?", norm(text)))


def _load_csv(path: Path, municipality: str | None) -> LoadedFile:
    loaded = LoadedFile(Path(path))
    name = loaded.path.name
    rows = csv_rows(read_text(path), name)
    at = find_header(rows, _is_facility_header)
    if at is None:
        raise DataFileError(
            f"{name}: no header row with the facility list's columns (名称 or 保育園名, 住所, "
            "緯度, ...) among the first 30 rows"
        )
    columns = _Columns(rows[at])
    if "code" not in columns and municipality is None:
        raise DataFileError(
            f"{name} has no municipality code column (都道府県コード又は市区町村コード): give "
            "--municipality CODE (e.g. 131032 for Minato)"
        )
    seen: set[str] = set()
    for number, row in enumerate(rows[at + 1 :], start=at + 2):
        if blank(row):
            continue
        entry = f"{name}:{number}"
        mapped = _map_csv_row(columns, row, entry, municipality)
        if mapped is None:
            continue
        loaded.rows += 1
        if isinstance(mapped, str):
            loaded.rejected.append((entry, mapped))
            continue
        key = f"{mapped.municipality}/{mapped.facility_id}"
        if key in seen:
            loaded.rejected.append(
                (entry, f"facility id {mapped.facility_id} appears twice in this file")
            )
            continue
        seen.add(key)
        loaded.mapped.append(mapped)
        loaded.unreadable += [(entry, column, raw) for column, raw in mapped.unreadable]
    return loaded


# ---------------------------------------------------------------------------- GeoJSON


def _vacancy_date(text: str, today: date) -> date | None:
    """ "2/1現在" → the latest 1 February not after `today` (the month of entry given)."""
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})\s*現在", norm(text))
    if not match:
        return None
    month, day = int(match.group(1)), int(match.group(2))
    try:
        candidate = date(today.year, month, day)
        return candidate if candidate <= today else date(today.year - 1, month, day)
    except ValueError:
        return None


def _load_geojson(
    path: Path, municipality: str | None, today: date, entry_month: date | None
) -> LoadedFile:
    loaded = LoadedFile(Path(path))
    name = loaded.path.name
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise DataFileError(f"{name}: not a GeoJSON FeatureCollection (no features list)")
    if municipality is None:
        for feature in features:
            address = str(((feature or {}).get("properties") or {}).get("Add1") or "")
            municipality = next(
                (c for city, c in CITY_BY_ADDRESS.items() if city in address), None
            )
            if municipality:
                break
    if municipality is None:
        raise DataFileError(f"{name}: which municipality? give --municipality CODE")
    seen: set[str] = set()
    undated = 0
    for number, feature in enumerate(features, start=1):
        entry = f"{name}:feature {number}"
        loaded.rows += 1
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            loaded.rejected.append((entry, "not a GeoJSON feature with properties"))
            continue
        mapped = _map_feature(feature, entry, municipality, today, entry_month)
        if isinstance(mapped, MappedFacility) and mapped.undated_vacancy:
            undated += 1
        if isinstance(mapped, str):
            loaded.rejected.append((entry, mapped))
        elif mapped.facility_id in seen:
            loaded.rejected.append((entry, f"HID {mapped.facility_id} appears twice"))
        else:
            seen.add(mapped.facility_id)
            loaded.mapped.append(mapped)
    if undated:
        loaded.warnings.append(
            f"{name}: vacancies of {undated} facilities not imported: VacancyDate (like "
            '"2/1現在") has no year, so the month of entry is not known; pass --month YYYY-MM '
            "to import them for that month"
        )
    return loaded


def _text(value: Any) -> str:
    return "" if value is None else norm(str(value))


def _map_feature(
    feature: dict[str, Any], entry: str, municipality: str, today: date, entry_month: date | None
) -> MappedFacility | str:
    props = feature["properties"]
    name = _text(props.get("Name"))
    if not name:
        return "no facility name (Name)"
    facility_id = _text(props.get("HID")) or derived_facility_id(name)
    if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}", facility_id):
        return f"HID {facility_id!r} is not usable as an id"
    base = _text(props.get("Type"))
    kodomo = _text(props.get("Kodomo")) == "Y"
    owner = _text(props.get("Ownership"))
    if kodomo:
        kind = "kodomoen_kindergarten" if "幼稚園" in base else "kodomoen_daycare"
        label = f"{base}（認定こども園）"
    elif "認可保育" in base:
        kind = "licensed_public" if owner in {"公", "市"} else "licensed_private"
        label = f"{base}（{owner}）" if owner else base
    else:
        kind, label = facility_type(base), base
    geometry = feature.get("geometry") if isinstance(feature.get("geometry"), dict) else {}
    point = (geometry or {}).get("coordinates")
    if isinstance(point, list) and len(point) >= 2:
        lat, lon, why = _coordinates(point[1], point[0])
    else:
        lat, lon, why = _coordinates(props.get("Y"), props.get("X"))
    start, end = _text(props.get("AgeS")), _text(props.get("AgeE"))
    read_ages = ages(f"{start}~{end}") if start else None
    h24 = _text(props.get("H24")) == "Y"
    opens = parse_time(_text(props.get("Open"))) or ("00:00" if h24 else None)
    closes = parse_time(_text(props.get("Close"))) or ("24:00" if h24 else None)
    memo = _text(props.get("Memo"))
    extra = _text(props.get("Extra"))
    extended, until = extended_care(memo)
    if extra.isdigit():
        extended = True
    elif extra == "NA" and extended is None:
        extended = False
    capacity = parse_int(_text(props.get("Full")))
    values: dict[str, Any] = {
        "name_ja": _clip(name, 200),
        "type": kind,
        "type_label": _clip(label, 64),
        "address": _clip(_text(props.get("Add1")) + _text(props.get("Add2")), 300),
        "latitude": lat,
        "longitude": lon,
        "classes": read_ages[0] if read_ages else [],
        "min_age_months": read_ages[1] if read_ages else None,
        "min_age_days": _days_if_read(start, read_ages),
        "capacity": capacity if capacity is not None and capacity <= 10_000 else None,
        "opens": opens,
        "closes": closes,
        "extended_care": extended,
        "extended_until": until,
        "temporary_care": True if _text(props.get("Temp")) == "Y" else None,
        "url": _url(_text(props.get("url"))),
        "phone": _clip(_text(props.get("TEL")), 40),
        "notes": _clip(memo, 2000),
        "operator_name": _clip(_text(props.get("Owner")), 200),
    }
    try:
        data = FacilityIn.model_validate(values, strict=False)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        return f"not a valid facility ({problems})"
    mapped = MappedFacility(entry, municipality, facility_id, data, unlocated_why=why)
    if _text(props.get("Vacancy")) == "Y" and entry_month is None:
        mapped.undated_vacancy = True  # no year to the date: no month of entry to guess
    elif _text(props.get("Vacancy")) == "Y" and entry_month is not None:
        month = entry_month
        as_of = _vacancy_date(_text(props.get("VacancyDate")), month)
        mapped.vacancies = [
            VacancyCell(class_age=age, entry_month=month, level="some", places=None)
            for age in data.classes
        ]
        mapped.vacancies_as_of = as_of
    return mapped


# ---------------------------------------------------------------------------- importing


def load_file(
    path: Path,
    *,
    municipality: str | None = None,
    today: date | None = None,
    entry_month: date | None = None,
) -> LoadedFile:
    """Read and map one file (CSV or GeoJSON); DataFileError when it cannot be read at all."""
    today = today or datetime.now(TOKYO_ZONE).date()
    suffix = Path(path).suffix.lower()
    if suffix in {".geojson", ".json"}:
        return _load_geojson(Path(path), municipality, today, entry_month)
    return _load_csv(Path(path), municipality)


async def ensure_municipality(session: AsyncSession, code: str) -> bool:
    """Whether the municipality is known (cities of EXTRA_MUNICIPALITIES are added)."""
    if await session.get(Municipality, code) is not None:
        return True
    extra = EXTRA_MUNICIPALITIES.get(code)
    if extra is None:
        return False
    name_ja, name_en, kind, prefecture = extra
    if await session.get(Municipality, prefecture) is None:
        session.add(
            Municipality(code=prefecture, name_ja="北海道", name_en="Hokkaido", kind="prefecture")
        )
    session.add(
        Municipality(code=code, name_ja=name_ja, name_en=name_en, kind=kind, prefecture=prefecture)
    )
    await session.flush()
    return True


async def import_facilities(
    paths: Iterable[Path],
    session_factory: async_sessionmaker[AsyncSession],
    *,
    municipality: str | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    today: date | None = None,
    entry_month: date | None = None,
    source: str = SOURCE,
    force: bool = False,
) -> FacilityImportReport:
    """Read every file, then save each file's facilities in one transaction (rolled back on a
    dry run). An unreadable file (DataFileError) stops the import before anything is saved, and
    so does a file most of whose addresses name another municipality than the one its rows go
    to (a wrong `--municipality`) unless `force`; when fewer but many do, the report warns."""
    say = progress or (lambda _line: None)
    report = FacilityImportReport(dry_run=dry_run)
    loaded = [
        load_file(path, municipality=municipality, today=today, entry_month=entry_month)
        for path in paths
    ]
    async with session_factory() as session:
        names = {
            m.code: m.name_ja
            for m in (await session.exec(select(Municipality))).all()
            if m.kind not in ("prefecture", "nation")  # 東京都 is in every Tokyo address
        } | {code: extra[0] for code, extra in EXTRA_MUNICIPALITIES.items()}
    for file in loaded:
        for problem, refuse in address_mismatches(file, names):
            if refuse and not force:
                raise DataFileError(f"{problem} (--force imports it anyway)")
            file.warnings.append(problem)
    for number, file in enumerate(loaded, start=1):
        say(f"[{number}/{len(loaded)}] {file.path.name}: {file.rows} rows")
        report.rows += file.rows
        report.rejected += file.rejected
        report.warnings += file.warnings
        report.unreadable += file.unreadable
        saved_before = report.created + report.updated + report.unchanged
        async with session_factory() as session:
            await _save_file(session, file, report, source, say)
            if dry_run:
                await session.rollback()
            else:
                await session.commit()
        if file.rows and report.created + report.updated + report.unchanged == saved_before:
            report.all_skipped.append(file.path.name)
    return report


MISMATCH_WARN = 0.25
"""The share of a file's addresses naming another municipality above which the report warns;
above a half the import is refused (unless forced)."""


def address_mismatches(file: LoadedFile, names: dict[str, str]) -> list[tuple[str, bool]]:
    """(problem, refuse) for each municipality of the file whose rows' addresses mostly do not
    contain its name: "addresses name 港区, not 八王子市: is --municipality right?"."""
    by_code: dict[str, list[str]] = {}
    for mapped in file.mapped:
        if mapped.data.address:
            by_code.setdefault(mapped.municipality, []).append(mapped.data.address)
    problems: list[tuple[str, bool]] = []
    for code, addresses in sorted(by_code.items()):
        own = names.get(code)
        if not own:
            continue
        other = [a for a in addresses if own not in a]
        if len(other) <= MISMATCH_WARN * len(addresses):
            continue
        named: dict[str, int] = {}
        for address in other:
            found = [n for n in set(names.values()) if n and n != own and n in address]
            if found:
                best = max(found, key=len)
                named[best] = named.get(best, 0) + 1
        said = (
            f"name {max(named, key=lambda n: named[n])}, not {own}"
            if named
            else f"do not name {own}"
        )
        problems.append(
            (
                f"{file.path.name}: {len(other)} of {len(addresses)} addresses {said} "
                f"({code}): is --municipality right?",
                2 * len(other) > len(addresses),
            )
        )
    return problems


def overlay(row: Facility, read: FacilityIn) -> FacilityIn:
    """The stored facility with what the file filled in laid over it.

    A file carries only some fields (no English name, no places per class, no meals, often no
    notes or extended care) and no status: what it leaves empty or never carries keeps the
    value set through the API (a facility closed there stays closed, coordinates placed by
    address stay), so importing the same file again changes nothing."""
    filled = read.model_dump(mode="json", exclude_defaults=True)
    filled.pop("status", None)
    merged = {**row.body, **filled}
    if not read.has_coordinates():
        merged["latitude"], merged["longitude"] = (
            row.body.get("latitude"),
            row.body.get("longitude"),
        )
    return FacilityIn.model_validate(merged, strict=False)


async def _save_file(
    session: AsyncSession,
    file: LoadedFile,
    report: FacilityImportReport,
    source: str,
    say: Callable[[str], None],
) -> None:
    known: dict[str, bool] = {}
    existing: dict[str, dict[str, Facility]] = {}
    saved: list[tuple[MappedFacility, Facility]] = []
    new: list[Facility] = []
    for done, mapped in enumerate(file.mapped, start=1):
        code = mapped.municipality
        if code not in known:
            known[code] = await ensure_municipality(session, code)
            existing[code] = await facilities_by_id(session, code) if known[code] else {}
        if not known[code]:
            report.reject(mapped.entry, f"municipality {code} is not one this service knows")
            continue
        row = existing[code].get(mapped.facility_id)
        if row is None:
            # New facilities are written together below (one flush for all: fast on big files).
            row = new_facility(code, mapped.facility_id, mapped.data, source=source)
            session.add(row)
            new.append(row)
            report.created += 1
        else:
            data = overlay(row, mapped.data)
            if not mapped.data.has_coordinates() and data.has_coordinates():
                mapped.unlocated_why = None  # placed since (by address): the file keeps them
            row, outcome = await replace_facility(session, row, data, source=source)
            setattr(report, outcome, getattr(report, outcome) + 1)
        existing[code][mapped.facility_id] = row
        saved.append((mapped, row))
        if mapped.unlocated_why:
            report.unlocated.append((mapped.entry, mapped.data.name_ja, mapped.unlocated_why))
        if done % PROGRESS_EVERY == 0:
            say(f"  {file.path.name}: {done}/{len(file.mapped)} facilities")
    await session.flush()
    await add_first_versions(session, new)
    # Seats that opened go to `report.opened`: the "seat opened" notices start there.
    by_as_of: dict[date | None, list[tuple[Facility, list[VacancyCell]]]] = {}
    for mapped, row in saved:
        if mapped.vacancies:
            by_as_of.setdefault(mapped.vacancies_as_of, []).append((row, mapped.vacancies))
            report.vacancies += len(mapped.vacancies)
    for as_of, updates in by_as_of.items():
        report.opened += await set_many_vacancies(session, updates, as_of, source)


__all__ = [
    "DataFileError",
    "FacilityImportReport",
    "ages",
    "extended_care",
    "facility_type",
    "import_facilities",
    "load_file",
    "open_days",
    "station",
]
