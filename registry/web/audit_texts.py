"""The history of changes as a clerk reads it: each action code (`program.publish`) by its
label (制度を公開 / Program published), each target (`program 58`) by its name (制度 58) with a
link where it has a page, and the summary in the page's language.

`record_audit` keeps the summary in Japanese (`summary`) and in English
(`detail["summary_en"]`). Entries written before that have one summary: a program's joined
"ja / en" text is split; any other is shown on English pages as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from registry.models import ConsoleAudit

ACTION_LABELS: dict[str, tuple[str, str]] = {
    "user.sign_in": ("サインイン", "Signed in"),
    "user.sign_out": ("サインアウト", "Signed out"),
    "user.create": ("担当者を登録", "Console user added"),
    "user.disable": ("担当者を停止", "Console user disabled"),
    "user.password": ("パスワードを再設定", "Password reset"),
    "program.create": ("制度を作成", "Program created"),
    "program.update": ("制度を変更", "Program changed"),
    "program.publish": ("制度を公開", "Program published"),
    "program.archive": ("制度を保管", "Program archived"),
    "program.delete": ("制度を削除", "Program deleted"),
    "facility.import": ("施設一覧を取込", "Facilities imported"),
    "vacancy.import": ("空き状況を取込", "Vacancies imported"),
    "vacancy.update": ("空きを変更", "Places changed"),
    "tour.slot_create": ("見学枠を公開", "Tour slot published"),
    "tour.slot_cancel": ("見学枠を中止", "Tour slot cancelled"),
    "application.document": ("申込の書類を確認", "Application documents checked"),
    "application.correct": ("申込内容を訂正", "Application corrected"),
    "round.create": ("選考を作成", "Round created"),
    "round.update": ("選考を変更", "Round changed"),
    "round.allocate": ("選考を試行割当", "Round dry run"),
    "round.confirm": ("選考を確定", "Round confirmed"),
    "quality.create": ("声への対応を公開", "'You said, we did' published"),
    "quality.update": ("声への対応を変更", "'You said, we did' changed"),
    "quality.delete": ("声への対応を削除", "'You said, we did' removed"),
}
"""Every action `record_audit` is called with (a test greps the sources for them)."""

KIND_LABELS: dict[str, tuple[str, str]] = {
    "program": ("制度", "Programs"),
    "facility": ("施設", "Facilities"),
    "vacancy": ("空き", "Vacancies"),
    "tour": ("見学", "Tours"),
    "application": ("申込", "Applications"),
    "round": ("選考", "Rounds"),
    "quality": ("評価と改善", "Reviews"),
    "user": ("担当者・サインイン", "Users and sign-ins"),
}
"""The history's filter: an action's kind is the part before its dot."""

SIGN_INS = ("user.sign_in", "user.sign_out")
"""Hidden from the home page's latest changes and from the history unless asked for."""

SHOW_ALL = "all"
"""The history filter that shows every action, sign-ins included."""

_TARGETS: tuple[tuple[re.Pattern[str], tuple[str, str], str | None], ...] = (
    (re.compile(r"program (\d+)"), ("制度 {0}", "Program {0}"), "/console/programs/{0}"),
    (re.compile(r"facilities (.+)"), ("施設一覧「{0}」", "Facility list “{0}”"), None),
    (re.compile(r"vacancies (.+)"), ("空き状況「{0}」", "Vacancies “{0}”"), None),
    (re.compile(r"facility (.+)"), ("施設 {0}", "Facility {0}"), None),
    (re.compile(r"tour (\d+)"), ("見学枠 {0}", "Tour slot {0}"), "/console/daycare/tours"),
    (
        re.compile(r"application (\d+)"),
        ("申込 {0}", "Application {0}"),
        "/console/daycare/applications/{0}",
    ),
    (re.compile(r"round (\d+)"), ("選考 {0}", "Round {0}"), "/console/daycare/rounds/{0}"),
    (re.compile(r"quality entry (\d+)"), ("声への対応 {0}", "Entry {0}"), None),
)

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")


def action_label(action: str, t: Callable[[str, str], str]) -> str:
    """An action code as words: its own label, else its kind's ("施設の操作"), never the code
    alone unless its kind is unknown too."""
    if action in ACTION_LABELS:
        return t(*ACTION_LABELS[action])
    kind = action.split(".", 1)[0]
    if kind in KIND_LABELS:
        ja, en = KIND_LABELS[kind]
        return t(f"{ja}の操作", f"{en}: other change")
    return action


def program_ids(entries: Sequence[ConsoleAudit]) -> set[int]:
    """The programs the entries name (to link those that still exist)."""
    ids = set()
    for entry in entries:
        found = re.fullmatch(r"program (\d{1,9})", entry.target or "")
        if found:
            ids.add(int(found.group(1)))
    return ids


def target_of(
    target: str, t: Callable[[str, str], str], programs: Collection[int], query: str = ""
) -> tuple[str, str | None]:
    """(words, link or None) of an entry's target: 「制度 58」 → /console/programs/58 while it
    exists; an email address stays as it is."""
    for pattern, (ja, en), href in _TARGETS:
        found = pattern.fullmatch(target)
        if found is None:
            continue
        value = found.group(1)
        words = t(ja.format(value), en.format(value))
        if href is None or (href.startswith("/console/programs/") and int(value) not in programs):
            return words, None
        return words, href.format(value) + query
    return target, None


def summary_of(entry: ConsoleAudit, lang: str) -> str:
    """The entry's summary in the page's language (see the module's docstring)."""
    summary = entry.summary or ""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    english = str(detail.get("summary_en") or "")
    if not english and entry.action.startswith("program.") and " / " in summary:
        summary, english = summary.split(" / ", 1)
    if lang == "en":
        return english or summary
    if not english and summary and not _JAPANESE.search(summary):
        return ""  # written in English only (the admin command's): the label says it
    return summary


@dataclass(frozen=True)
class EntryView:
    """One line of the history as shown."""

    at: datetime
    who: str
    action: str
    label: str
    summary: str
    target: str
    target_words: str
    target_link: str | None


def entry_views(
    entries: Sequence[ConsoleAudit], lang: str, programs: Collection[int], query: str = ""
) -> list[EntryView]:
    """The entries as the history and the home page show them (`query`: `?m=` of an
    operator's links to another municipality's pages)."""

    def t(ja: str, en: str) -> str:
        return en if lang == "en" else ja

    views = []
    for entry in entries:
        words, link = target_of(entry.target or "", t, programs, query)
        views.append(
            EntryView(
                at=entry.at,
                who=entry.email or t("管理コマンド", "admin command"),
                action=entry.action,
                label=action_label(entry.action, t),
                summary=summary_of(entry, lang),
                target=entry.target or "",
                target_words=words,
                target_link=link,
            )
        )
    return views


def filter_options(t: Callable[[str, str], str]) -> list[tuple[str, str]]:
    """(value, label) of the history's filter: everything but sign-ins first."""
    return [
        ("", t("すべて（サインインを除く）", "All (without sign-ins)")),
        *((kind, t(*label)) for kind, label in KIND_LABELS.items()),
        (SHOW_ALL, t("すべて（サインインを含む）", "All (with sign-ins)")),
    ]


def hidden_for(action: str | None) -> tuple[str, ...]:
    """The actions the history leaves out for a filter: sign-ins unless asked for."""
    return () if action in {SHOW_ALL, "user"} or (action or "").startswith("user.") else SIGN_INS


__all__ = [
    "ACTION_LABELS",
    "KIND_LABELS",
    "SHOW_ALL",
    "SIGN_INS",
    "EntryView",
    "action_label",
    "entry_views",
    "filter_options",
    "hidden_for",
    "program_ids",
    "summary_of",
    "target_of",
]
