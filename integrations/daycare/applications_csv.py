"""The CSV export of a round's applications: the columns, their Japanese headers, the values.

Municipalities import the export into their own systems or open it in Excel: the column order
is the round's (`IntakeRound.export_columns`), the default every column below in this order.
Times are Asia/Tokyo; flags are 1/0; a BOM makes Excel read the UTF-8.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from integrations.daycare.applications import documents_missing
from integrations.daycare.models import APPLICATION_STATUSES, MAX_WISHES, Application, Facility
from rules.points import CARE_REASONS, MAX_GUARDIANS

TOKYO = ZoneInfo("Asia/Tokyo")


def _column_catalog() -> dict[str, str]:
    """Every column the CSV export knows, in the default order, with its Japanese header."""
    columns = {
        "application_id": "申込番号",
        "status": "状況コード",
        "status_ja": "状況",
        "submitted_at": "申込日時",
        "updated_at": "更新日時",
        "channel": "申込経路",
        "external_ref": "外部参照番号",
        "child_birth_date": "生年月日",
        "class_age": "クラス年齢",
    }
    for n in range(1, MAX_GUARDIANS + 1):
        columns |= {
            f"guardian_{n}_relation": f"保護者{n}_続柄",
            f"guardian_{n}_reason": f"保護者{n}_事由コード",
            f"guardian_{n}_reason_ja": f"保護者{n}_事由",
            f"guardian_{n}_hours": f"保護者{n}_週就労時間",
            f"guardian_{n}_days": f"保護者{n}_週就労日数",
            f"guardian_{n}_on_leave": f"保護者{n}_育休中",
            f"guardian_{n}_returning": f"保護者{n}_育休復帰",
        }
    columns |= {
        "single_parent": "ひとり親",
        "public_assistance": "生活保護",
        "resident_tax_exempt": "住民税非課税",
        "child_disability": "障害児",
        "siblings_enrolled": "きょうだい在園施設",
        "siblings_applying": "きょうだい同時申込数",
        "sibling_mode": "きょうだい入所希望",
        "accepts_leave_extension": "育休延長許容",
        "transfer_from": "転園元施設",
        "graduating_small_scale": "小規模保育等卒園",
        "outside_municipality": "区市町村外",
        "documents_complete": "書類確認済",
        "documents_missing": "未確認書類",
        "points": "指数",
        "wish_count": "希望数",
    }
    for n in range(1, MAX_WISHES + 1):
        columns |= {f"wish_{n}": f"第{n}希望", f"wish_{n}_name": f"第{n}希望施設名"}
    return columns


CSV_COLUMNS: dict[str, str] = _column_catalog()
"""The export's columns (default order) and their Japanese headers (`?headers=ja`)."""


def column_problems(names: list[str]) -> list[tuple[int, str]]:
    """Unknown or repeated column names, as (index, reason)."""
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name not in CSV_COLUMNS:
            problems.append(
                (index, f"unknown column {name[:64]!r} (see the default order in the docs)")
            )
        elif name in seen:
            problems.append((index, "given twice"))
        seen.add(name)
    return problems


def _in_tokyo(value: datetime) -> datetime:
    return value.astimezone(TOKYO)


def _flag(value: Any) -> str:
    return "1" if value else "0"


def _cell(value: Any) -> Any:
    # Families type some of these strings (external refs, sibling facility ids): one that
    # starts like a formula would run in the office's Excel, so it is quoted as text (OWASP).
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 40 hours, 20 points: as staff write them (not 40.0)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_values(row: Application, facilities: dict[int, Facility]) -> dict[str, Any]:
    """Every column's value for one application."""
    facts = row.facts
    values: dict[str, Any] = {
        "application_id": row.id,
        "status": row.status,
        "status_ja": APPLICATION_STATUSES.get(row.status, (row.status, ""))[0],
        "submitted_at": _in_tokyo(row.submitted_at).strftime("%Y-%m-%d %H:%M"),
        "updated_at": _in_tokyo(row.updated_at).strftime("%Y-%m-%d %H:%M"),
        "channel": row.channel,
        "external_ref": row.external_ref,
        "child_birth_date": row.child_birth_date.isoformat(),
        "class_age": row.class_age,
    }
    guardians = facts.get("guardians") or []
    for n in range(1, MAX_GUARDIANS + 1):
        g = guardians[n - 1] if len(guardians) >= n else None
        if g is None:
            continue
        reason = g.get("reason", "")
        values |= {
            f"guardian_{n}_relation": g.get("relation", ""),
            f"guardian_{n}_reason": reason,
            f"guardian_{n}_reason_ja": CARE_REASONS.get(reason, (reason, ""))[0],
            f"guardian_{n}_hours": g.get("hours_per_week"),
            f"guardian_{n}_days": g.get("days_per_week"),
            f"guardian_{n}_on_leave": _flag(g.get("on_leave")),
            f"guardian_{n}_returning": _flag(g.get("returning_from_leave")),
        }
    for name in (
        "single_parent",
        "public_assistance",
        "resident_tax_exempt",
        "child_disability",
        "accepts_leave_extension",
        "graduating_small_scale",
        "outside_municipality",
    ):
        values[name] = _flag(facts.get(name))
    missing = documents_missing(row)
    values |= {
        "siblings_enrolled": " ".join(facts.get("siblings_enrolled") or []),
        "siblings_applying": facts.get("siblings_applying", 0),
        "sibling_mode": facts.get("sibling_mode", ""),
        "transfer_from": facts.get("transfer_from"),
        "documents_complete": _flag(not missing),
        "documents_missing": "、".join(d["ja"] for d in missing),
        "points": row.points,
        "wish_count": len(row.wishes),
    }
    for n, pk in enumerate(row.wishes, start=1):
        facility = facilities.get(pk)
        values[f"wish_{n}"] = facility.facility_id if facility else pk
        values[f"wish_{n}_name"] = facility.name_ja if facility else ""
    return values


def render_csv(
    rows: list[Application], facilities: dict[int, Facility], columns: list[str], ja: bool
) -> str:
    """The applications as CSV text with a BOM, `columns` in order (Japanese headers if `ja`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([CSV_COLUMNS[c] for c in columns] if ja else columns)
    for row in rows:
        values = csv_values(row, facilities)
        writer.writerow([_cell(values.get(c)) for c in columns])
    # A BOM so that Excel, which municipal offices open CSV with, reads UTF-8 Japanese.
    return "\ufeff" + out.getvalue()
