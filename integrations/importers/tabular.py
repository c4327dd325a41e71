"""Reading the CSV files municipalities publish: encodings, title rows, dates, times, cells.

Municipal open data comes as UTF-8 (with or without a BOM) or Shift-JIS (cp932), with CRLF or
LF line ends, sometimes with title rows (「【令和7年9月1日時点】」) above the header; Excel exports
write times as day fractions (0.3125 = 07:30) and dates as serial numbers (45536 = 2024-09-01).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path


class DataFileError(ValueError):
    """A file that cannot be read at all (one line for the user; nothing was saved)."""


def read_text(path: Path) -> str:
    """The file's text: UTF-8 (a BOM is dropped) or else Shift-JIS (cp932)."""
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataFileError(f"{name}: cannot read the file ({exc.strerror})") from exc
    return decode(raw, name)


def decode(raw: bytes, name: str) -> str:
    """Bytes of a published file as text (UTF-16 with a BOM, as Excel's "Unicode text" saves;
    UTF-8 with or without BOM, else cp932)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DataFileError(
                f"{name}: not valid UTF-16 text (byte {exc.start}: {exc.reason})"
            ) from exc
    if b"\x00" in raw[:4096]:
        raise DataFileError(f"{name}: not a text file (binary content; an Excel book?)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{name}: neither UTF-8 nor Shift-JIS text (byte {exc.start}: {exc.reason})"
        ) from exc


def csv_rows(text: str, name: str) -> list[list[str]]:
    """Every row of CSV text (CRLF or LF), cells stripped."""
    try:
        return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error as exc:
        raise DataFileError(f"{name}: not a readable CSV file ({exc})") from exc


def norm(text: str) -> str:
    """NFKC with surrounding spaces gone: full-width digits and letters become ASCII."""
    return unicodedata.normalize("NFKC", text).strip()


def find_header(
    rows: Sequence[Sequence[str]], is_header: Callable[[list[str]], bool], *, within: int = 30
) -> int | None:
    """The index of the first row (among the first `within`) that `is_header` accepts, its
    cells normalised (`norm`)."""
    for index, row in enumerate(rows[:within]):
        if is_header([norm(cell) for cell in row]):
            return index
    return None


def blank(row: Sequence[str]) -> bool:
    """A row with no content."""
    return not any(cell.strip() for cell in row)


# ---------------------------------------------------------------------------- dates and times

_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year bug folded in)
_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925, "R": 2018, "H": 1988, "S": 1925}
_ERA_DATE = re.compile(
    r"(令和|平成|昭和|R|H|S)\s*(\d{1,2}|元)\s*[年.]\s*(\d{1,2})\s*[月.]\s*(\d{1,2})"
)
_WESTERN_DATE = re.compile(r"(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})")


def excel_serial_date(value: float) -> date:
    """The date of an Excel serial day number (1900 system)."""
    return _EXCEL_EPOCH + timedelta(days=int(value))


EXCEL_SERIALS = (10_000, 80_000)
"""Excel serial day numbers read as dates: five digits, 1927-05-18 to 2119-01-10. A smaller
number is no date: a bare year "2025" would be 1905-07-17. (Not from 20000, 1954: Hachioji's
file dates a licence 18454, 1950-07-10.)"""


def parse_date(text: str) -> date | None:
    """A date written as ISO, 2025/9/1, 2025年9月1日, 令和7年9月1日 (元年 too), R7.9.1, or an
    Excel serial number (10000-80000, a time of day after the point ignored); None when it is
    none of them (a bare year too)."""
    value = norm(text)
    if not value:
        return None
    if re.fullmatch(r"\d{1,5}(\.\d+)?", value):
        number = float(value)
        if EXCEL_SERIALS[0] <= number < EXCEL_SERIALS[1]:
            return excel_serial_date(number)
        return None
    return find_date(value)


def find_date(text: str) -> date | None:
    """The first date written anywhere in the text (era or Western), or None."""
    value = norm(text)
    match = _ERA_DATE.search(value)
    try:
        if match:
            era, year, month, day = match.groups()
            number = 1 if year == "元" else int(year)
            return date(_ERAS[era] + number, int(month), int(day))
        match = _WESTERN_DATE.search(value)
        if match:
            return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None
    return None


_TIME = re.compile(r"(\d{1,2})\s*(?::|：|時(?!間))\s*(\d{1,2})?")


def parse_time(text: str) -> str | None:
    """A clock time as HH:MM from "7:30", "7時30分", "19時", an Excel day fraction (0.3125) or
    an Excel date and time (45536.3125); None when the text holds no time."""
    value = norm(text)
    if not value:
        return None
    if re.fullmatch(r"0?\.\d+|0|1(\.0+)?", value):
        minutes = round(float(value) * 24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    serial = re.fullmatch(r"\d{5}(\.\d+)", value)
    if serial and EXCEL_SERIALS[0] <= float(value) < EXCEL_SERIALS[1]:
        # An Excel date and time (45536.3125 = 2024-09-01 07:30): the time of day.
        minutes = round(float("0" + serial.group(1)) * 24 * 60)
        if minutes < 24 * 60:
            return f"{minutes // 60:02d}:{minutes % 60:02d}"
        return "24:00"
    times = find_times(value)
    return times[0] if times else None


def find_times(text: str) -> list[str]:
    """Every clock time written in the text, as HH:MM, in order."""
    found = []
    for match in _TIME.finditer(norm(text)):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if hour < 24 and minute < 60 or (hour == 24 and minute == 0):
            found.append(f"{hour:02d}:{minute:02d}")
    return found


def parse_int(text: str) -> int | None:
    """An integer cell ("90", "９０", "1,200", "90人"), or None."""
    value = norm(text).replace(",", "")
    match = re.fullmatch(r"(\d+)(?:\.0+)?\s*(?:人|名)?", value)
    return int(match.group(1)) if match else None


def parse_float(text: str) -> float | None:
    """A decimal number cell, or None."""
    value = norm(text)
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def year_in_name(path: Path) -> int | None:
    """A year (1990-2099) written in a file name: minato_min_points_2021.csv → 2021."""
    match = re.search(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)", Path(path).stem)
    return int(match.group(1)) if match else None
