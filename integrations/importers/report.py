"""What every import reports: counts, what was rejected and why, what a person should review."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Entry = TypeVar("Entry")
"""How an import names one input entry: a registry psid, a line number of a file..."""

T = TypeVar("T")


@dataclass
class ImportReport(Generic[Entry]):
    """Counts and needs-review lists of one import; each importer adds its own counts."""

    created: int = 0
    updated: int = 0
    rejected: list[tuple[Entry, str]] = field(default_factory=list)
    """(entry, why) of each input entry that was not saved."""
    review: list[tuple[Entry, str, list[str]]] = field(default_factory=list)
    """(entry, name, why) of each entry saved but needing a person's review."""
    warnings: list[str] = field(default_factory=list)
    unreadable: list[tuple[Entry, str, str]] = field(default_factory=list)
    """(entry, column, raw value) of each value that could not be read: the entry was saved
    with that field left as it was (or empty when new), never with a guess."""

    @property
    def needs_review(self) -> int:
        """Entries saved that a person should check."""
        return len(self.review)

    def reject(self, entry: Entry, reason: str) -> None:
        """Remember one entry that was not saved, and why."""
        self.rejected.append((entry, reason))


def capped(items: Sequence[T], limit: int, line: Callable[[T], str], more: str) -> list[str]:
    """A CLI line per item, at most `limit`, then "... and N more <more>"."""
    lines = [line(item) for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"  ... and {len(items) - limit} more {more}")
    return lines


# The reasons an import gives are English (the CLI and the API show them as they are); a page
# shows each as a code and its parameters in the reader's language. Each entry: the code, the
# pattern of the English reason (its named groups are the parameters), Japanese, English.
REASONS: list[tuple[str, str, str, str]] = [
    (
        "no_header",
        r"(?P<file>.+?): no header row with .*among the first 30 rows",
        "{file}: 見出しの行が見つかりません（最初の30行に、施設名・住所などの列名が並ぶ行が"
        "ありません）。オープンデータの形式のCSVか確かめてください",
        "",
    ),
    (
        "binary",
        r"(?P<file>.+?): not a text file \(binary content; an Excel book\?\)",
        "{file}: 文字のファイルではありません（Excelのブックかもしれません）。"
        "Excelで「CSV」形式で保存してから取り込んでください",
        "{file}: not a text file (binary content; an Excel book?). Save it as CSV from Excel",
    ),
    (
        "encoding",
        r"(?P<file>.+?): neither UTF-8 nor Shift-JIS text.*",
        "{file}: UTF-8 でも Shift_JIS でもない文字コードです",
        "{file}: neither UTF-8 nor Shift_JIS text",
    ),
    (
        "no_municipality_column",
        r"(?P<file>.+?) has no municipality code column.*",
        "{file}: 市区町村コードの列がありません",
        "{file}: no municipality code column",
    ),
    (
        "no_as_of",
        r"(?P<file>.+?): no as-of date above the header.*",
        "{file}: 見出しの上に時点（【令和7年9月1日時点】など）がありません。"
        "入所月を選んでください",
        "{file}: no as-of date above the header: choose the month of entry",
    ),
    ("no_name", r"no facility name \((?P<column>.+)\)", "施設名（{column}）がありません", ""),
    ("no_id", r"no facility id \((?P<column>.+)\)", "施設番号（{column}）がありません", ""),
    ("no_name_or_id", r"no facility name or id", "施設名も施設番号もありません", ""),
    ("no_code", r"no municipality code", "市区町村コードがありません", ""),
    (
        "bad_code",
        r"'(?P<code>.*)' is not a local government code",
        "{code} は地方公共団体コードではありません",
        "",
    ),
    (
        "other_municipality",
        r"the row is of (?P<code>\d+), not of --municipality (?P<own>\d+)",
        "ほかの自治体（{code}）の行です",
        "a row of another municipality ({code})",
    ),
    (
        "bad_id",
        r"facility id '(?P<id>.*)' is not usable.*",
        "施設番号「{id}」は使えません（英数字と _.:- のみ、64文字まで）",
        "",
    ),
    (
        "id_twice",
        r"facility id (?P<id>.+) appears twice in this file",
        "施設番号 {id} がファイル内に2回あります",
        "",
    ),
    (
        "unknown_municipality",
        r"municipality (?P<code>\d+) is not one this service knows",
        "市区町村 {code} はこのサービスに登録されていません",
        "",
    ),
    (
        "invalid",
        r"not a valid facility \((?P<why>.*)\)",
        "施設として正しくありません（{why}）",
        "",
    ),
    (
        "addresses_elsewhere",
        r"(?P<file>.+?): (?P<n>\d+) of (?P<total>\d+) addresses .+ \((?P<code>\d+)\): "
        r"is --municipality right\?(?P<refused> \(--force imports it anyway\))?",
        "{file}: 住所 {total} 件のうち {n} 件がこの自治体（{code}）のものではありません。"
        "別の自治体のファイルではありませんか",
        "{file}: {n} of {total} addresses are not of this municipality ({code}): "
        "is it another municipality's file?",
    ),
    (
        "bad_places",
        r"(?P<age>\d)歳児: not a number of places, -, ○/△/× or 有/無: (?P<value>[^;]*)",
        "{age}歳児: {value} は空きの数・-・○/△/×・有/無 のどれでもありません"
        "（この行は取り込みません）",
        "",
    ),
    (
        "unbelievable_places",
        r"(?P<age>\d)歳児: (?P<n>\d+) places is not believable",
        "{age}歳児: 空き {n} は多すぎます（この行は取り込みません）",
        "",
    ),
    (
        "unknown_facility",
        r"no facility (?P<id>\S+) in (?P<code>\d+)",
        "施設番号 {id} の施設がありません",
        "",
    ),
    (
        "unknown_name",
        r"no facility named (?P<name>.+) in (?P<code>\d+)",
        "「{name}」という施設がありません",
        "",
    ),
    (
        "ambiguous_name",
        r"(?P<n>\d+) facilities named (?P<name>.+) in (?P<code>\d+): add an id column",
        "「{name}」という施設が{n}つあります。施設番号の列を加えてください",
        "",
    ),
]
"""An empty English template keeps the English reason as it is."""


def reason_code(reason: str) -> tuple[str, dict[str, str]] | None:
    """The code and parameters of an import's reason, or None when it is not catalogued."""
    for code, pattern, _, _ in REASONS:
        match = re.fullmatch(pattern, reason, flags=re.DOTALL)
        if match:
            return code, match.groupdict()
    return None


def reason_words(reason: str, lang: str) -> str:
    """An import's reason in Japanese ("ja") or English; an unknown one as it is."""
    found = reason_code(reason)
    if found is None:
        parts = reason.split("; ")
        if len(parts) > 1 and all(reason_code(part) for part in parts):
            return "; ".join(reason_words(part, lang) for part in parts)
        return reason
    code, params = found
    ja, en = next((ja, en) for c, _, ja, en in REASONS if c == code)
    template = ja if lang == "ja" else en
    return template.format(**params) if template else reason
