"""The console's program pages: list, search, the form with its live rule check, the "who
would be told" preview, publish, archive, and versions side by side.

Every change goes through the same domain functions as the REST API (`registry.programs`:
`create_checked`, `change_checked`, `publish_checked`, `archive`, `delete_checked`), with the
same check (`registry.api.check_program`: the rule compiled and the examples run in a rule
worker), announces the same event (`registry.api.program_changed`) and is audited.

The preview counts families with the notifier's machinery (`notifier.audience.count_audience`),
which the registry may not import: the composition root puts it under the `AUDIENCE` key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any

import yaml
from aiohttp import web
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from registry import programs as repo
from registry.api import check_program, program_changed
from registry.db import transaction
from registry.http import SESSIONS, TODAY, URL_POLICY, ApiError
from registry.models import Municipality, Program
from registry.schemas import NOTICE_TOPICS, ProgramIn, ValidationReport
from registry.urls import CONTEXT_KEY as URL_CONTEXT_KEY
from registry.urls import STRICT as STRICT_URLS
from registry.urls import UrlPolicy
from registry.users import record_audit
from registry.web.charts import Series, bar_chart
from registry.web.kit import (
    ConsoleSession,
    flash,
    language,
    read_form,
    redirect,
    render,
    require_editor,
    require_session,
    scope_issuer,
    translator,
)
from registry.web.rule_errors import error_text, errors_by_field, example_location, pydantic_text
from rules.cost import MAX_EXAMPLES
from rules.language import CHILD_FIELDS, HOUSEHOLD_FIELDS, RuleError

routes = web.RouteTableDef()

Counter = Callable[..., Awaitable[Any]]
AUDIENCE: web.AppKey[Counter] = web.AppKey("program_audience")
"""`await app[AUDIENCE](sessions, program_in, today, program_id=id)` → counts with the fields
of `notifier.audience.Audience` (set by the composition root)."""

PAGE_SIZE = 25
STATUSES = ("draft", "published", "archived")
SORTS = ("updated", "name", "status", "id")
TOPIC_LABELS: dict[str, tuple[str, str]] = {
    "allowance": ("手当・給付", "Allowances"),
    "medical": ("医療費助成", "Medical costs"),
    "health-checkup": ("健診", "Check-ups"),
    "vaccination": ("予防接種", "Vaccinations"),
    "pregnancy": ("妊娠", "Pregnancy"),
    "birth": ("出産", "Birth"),
    "daycare": ("保育", "Daycare"),
    "after-school": ("学童・放課後", "After school"),
    "single-parent": ("ひとり親", "Single parents"),
    "gift": ("ギフト", "Gifts"),
    "consultation": ("相談・訪問", "Advice & visits"),
    "classes": ("講座・イベント", "Classes & events"),
}
"""The notice topics a parent can switch off (the bot's 通知設定 says the same)."""

EXAMPLES_HELP = {
    "ja": """\
- date: 2026-11-26          # この日に判定します
  eligible: true            # ルールが出すべき答え（true = 対象）
  note: 1歳の子がいる家庭     # 例の説明（表に出ます）
  family:
    municipality: "132012"  # 市区町村コード（6桁）
    children:
      - birth_date: 2025-06-15
- date: 2026-11-26
  eligible: false
  note: 子どもがいない家庭
  family:
    municipality: "132012"
""",
    "en": """\
- date: 2026-11-26          # the day the family is judged on
  eligible: true            # what the rule must answer (true = eligible)
  note: a child of 1        # what the example is (shown in the table)
  family:
    municipality: "132012"  # the municipality's code (6 digits)
    children:
      - birth_date: 2025-06-15
- date: 2026-11-26
  eligible: false
  note: no children
  family:
    municipality: "132012"
""",
}
"""The examples' YAML as the form's help shows it, commented in the page's language."""

PUSH_LABELS: dict[str, tuple[str, str]] = {
    "proactive": ("お知らせする（プッシュ）", "Push to families who fit"),
    "on_request": (
        "お知らせしない（調べたときだけ表示）",
        "No push (shown only when a parent looks)",
    ),
}
YES_NO: dict[bool, tuple[str, str]] = {True: ("はい", "Yes"), False: ("いいえ", "No")}

FIELD_LABELS: dict[str, tuple[str, str]] = {
    "name_ja": ("名称（日本語）", "Name (Japanese)"),
    "name_en": ("名称（英語）", "Name (English)"),
    "summary_ja": ("概要（日本語）", "Summary (Japanese)"),
    "summary_en": ("概要（英語）", "Summary (English)"),
    "category": ("分類", "Categories"),
    "per_child": ("子ごとに判定", "Judged per child"),
    "eligibility": ("対象の条件（ルール）", "Eligibility rule"),
    "benefit": ("支援の内容", "Benefit"),
    "reference_url": ("案内ページ", "Official page"),
    "application_url": ("申請先", "Where to apply"),
    "deadline": ("申請期限", "Application deadline"),
    "deadline_days": ("出生後の申請期限（日数）", "Apply within days after birth"),
    "valid_from": ("有効期間（開始）", "Valid from"),
    "valid_to": ("有効期間（終了）", "Valid to"),
    "push": ("お知らせの方針", "Push policy"),
    "attribution": ("出典・クレジット", "Attribution"),
    "examples": ("例（テスト用の家庭）", "Examples (test families)"),
}


# --- reading the form -----------------------------------------------------------------------


def empty_form(issuer: str) -> dict[str, Any]:
    """The form of a new program: a rule to start from and one example to adapt."""
    return {
        "name_ja": "",
        "name_en": "",
        "summary_ja": "",
        "summary_en": "",
        "category": [],
        "category_other": "",
        "per_child": False,
        "eligibility": f'municipality == "{issuer}"',
        "benefit": "",
        "reference_url": "",
        "application_url": "",
        "deadline_kind": "none",
        "deadline": "",
        "deadline_days": "",
        "valid_from": "",
        "valid_to": "",
        "push": "proactive",
        "attribution": "",
        "examples": "",
    }


def form_of(data: ProgramIn) -> dict[str, Any]:
    """A stored program as the form shows it."""
    application = data.application
    kind = "none"
    if application.deadline is not None:
        kind = "date"
    elif application.deadline_days_after_birth is not None:
        kind = "days"
    examples = [_example(e.model_dump(exclude_defaults=True)) for e in data.examples]
    return {
        "name_ja": data.name.ja,
        "name_en": data.name.en or "",
        "summary_ja": data.summary.ja,
        "summary_en": data.summary.en or "",
        "category": [c for c in data.category if c in TOPIC_LABELS],
        "category_other": ", ".join(c for c in data.category if c not in TOPIC_LABELS),
        "per_child": data.per_child,
        "eligibility": data.eligibility,
        "benefit": data.benefit or "",
        "reference_url": data.reference_url or "",
        "application_url": application.url or "",
        "deadline_kind": kind,
        "deadline": application.deadline.isoformat() if application.deadline else "",
        "deadline_days": (
            str(application.deadline_days_after_birth)
            if application.deadline_days_after_birth is not None
            else ""
        ),
        "valid_from": data.valid_from.isoformat() if data.valid_from else "",
        "valid_to": data.valid_to.isoformat() if data.valid_to else "",
        "push": data.push,
        "attribution": data.attribution or "",
        "examples": dump_examples(examples),
    }


def _example(example: dict[str, Any]) -> dict[str, Any]:
    # The order a clerk reads an example in: the day, the expected answer, then the family.
    order = ("date", "eligible", "note", "family")
    return {k: example[k] for k in order if k in example}


def dump_examples(examples: list[dict[str, Any]]) -> str:
    """Examples as the YAML the form edits ("" for none)."""
    if not examples:
        return ""
    return yaml.safe_dump(examples, allow_unicode=True, sort_keys=False, default_flow_style=False)


def _text(source: Mapping[str, Any], name: str, limit: int = 20000) -> str:
    value = source.get(name, "")
    return str(value if value is not None else "")[:limit].strip()


def read_fields(source: Mapping[str, Any], categories: list[str]) -> dict[str, Any]:
    """The typed values of a posted form (or the check's JSON), kept as typed."""
    values: dict[str, Any] = {
        name: _text(source, name)
        for name in empty_form("000000")
        if name not in {"category", "per_child"}
    }
    values["eligibility"] = str(source.get("eligibility") or "")[:8000].strip()
    values["examples"] = str(source.get("examples") or "")[:200_000]
    values["category"] = [c for c in categories if c in TOPIC_LABELS]
    values["per_child"] = source.get("per_child") in {"on", "true", "1", True}
    if values["deadline_kind"] not in {"none", "date", "days"}:
        values["deadline_kind"] = "none"
    if values["push"] not in {"proactive", "on_request"}:
        values["push"] = "proactive"
    return values


def _municipality_strings(value: Any) -> Any:
    # YAML reads `municipality: 132012` as a number; a code is text.
    if isinstance(value, list):
        return [_municipality_strings(v) for v in value]
    if isinstance(value, dict):
        return {
            k: (str(v) if k == "municipality" and isinstance(v, int) else _municipality_strings(v))
            for k, v in value.items()
        }
    return value


def parse_examples(text: str, t: Callable[[str, str], str]) -> tuple[list[Any], str | None]:
    """The examples of the YAML (or JSON) text, or why they cannot be read."""
    if not text.strip():
        return [], None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = t(f"{mark.line + 1}行目", f"line {mark.line + 1}") if mark else ""
        return [], t(
            f"例を読めません（YAML の書き方の誤り {where}）。字下げと「-」を確かめてください。",
            f"The examples cannot be read (YAML error {where}): check the indentation and "
            "the '-' before each example.",
        )
    except ValueError as exc:  # a date YAML reads as one but no calendar has (2026-13-45)
        return [], t(
            f"例を読めません（ありえない日付があります：{exc}）。日付は 2026-04-01 の形で"
            "書いてください。",
            f"The examples cannot be read (a date that does not exist: {exc}).",
        )
    if loaded is None:
        return [], None
    if not isinstance(loaded, list):
        return [], t(
            "例は「- date: …」で始まる項目の並びで書いてください。",
            "Write the examples as a list of items, each starting with '- date: …'.",
        )
    return _municipality_strings(loaded), None


def _error_field(loc: tuple[Any, ...]) -> str:
    head = loc[0] if loc else ""
    if head in {"name", "summary"}:
        return f"{head}_{loc[1]}" if len(loc) > 1 and loc[1] in {"ja", "en"} else f"{head}_ja"
    if head == "application":
        sub = loc[1] if len(loc) > 1 else ""
        return {"url": "application_url", "deadline": "deadline"}.get(
            str(sub), "deadline_days" if sub == "deadline_days_after_birth" else "deadline"
        )
    if head in FIELD_LABELS:
        return str(head)
    return "valid_to" if not head else "general"


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def build_program(
    values: Mapping[str, Any], issuer: str, t: Callable[[str, str], str], policy: UrlPolicy
) -> tuple[ProgramIn | None, dict[str, str]]:
    """A ProgramIn from the form's values, or each field's error (nothing is lost: the values
    stay as typed)."""
    errors: dict[str, str] = {}
    examples, problem = parse_examples(values["examples"], t)
    if problem:
        errors["examples"] = problem
    categories = list(values["category"]) + [
        c.strip() for c in re.split(r"[,、，]", values["category_other"]) if c.strip()
    ]
    application: dict[str, Any] = {"url": values["application_url"] or None}
    if values["deadline_kind"] == "date":
        if not values["deadline"]:
            errors["deadline"] = t(
                "申請期限の日付を入れてください。", "Enter the deadline's date."
            )
        application["deadline"] = values["deadline"] or None
    elif values["deadline_kind"] == "days":
        days = values["deadline_days"]
        if not days.isdigit():
            errors["deadline_days"] = t(
                "日数を0以上の整数で入れてください。", "Enter a whole number of days (0 or more)."
            )
        else:
            application["deadline_days_after_birth"] = int(days)
    body: dict[str, Any] = {
        "issuer": issuer,
        "name": {"ja": values["name_ja"], "en": values["name_en"] or None},
        "summary": {"ja": values["summary_ja"], "en": values["summary_en"] or None},
        "category": list(dict.fromkeys(categories)),
        "eligibility": values["eligibility"],
        "per_child": values["per_child"],
        "benefit": values["benefit"] or None,
        "reference_url": values["reference_url"] or None,
        "application": application,
        "valid_from": values["valid_from"] or None,
        "valid_to": values["valid_to"] or None,
        "examples": examples,
        "attribution": values["attribution"] or None,
        "push": values["push"],
    }
    try:
        # Links for parents are checked by the server's URL policy, as the API checks them.
        data = ProgramIn.model_validate(body, context={URL_CONTEXT_KEY: policy})
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = _error_field(loc)
            message = str(error["msg"]).removeprefix("Value error, ")
            if field == "examples":
                message = pydantic_text(str(error["type"]), message, t)
                where = example_location(_location(loc), notes_of(examples), t("ja", "en"))
                message = f"{where}{t('：', ': ')}{message}"
            if field == "eligibility" and error["type"] == "string_too_short":
                message = t("条件を書いてください。", "Write the eligibility rule.")
            if field in {"name_ja", "summary_ja"} and error["type"] == "string_too_short":
                message = t("日本語は必須です。", "The Japanese text is required.")
            errors.setdefault(field, message)
        return None, errors
    if errors:
        return None, errors
    return data, {}


def _policy(request: web.Request) -> UrlPolicy:
    return request.app.get(URL_POLICY, STRICT_URLS)


def notes_of(raw: list[Any]) -> list[str | None]:
    """The notes of the examples as typed (to name an example the form refuses)."""
    return [
        str(item["note"]) if isinstance(item, dict) and item.get("note") else None for item in raw
    ]


def report_errors(
    report: ValidationReport, lang: str = "en", data: ProgramIn | None = None
) -> dict[str, str]:
    """The check's errors by form field in the page's language (the rule's with its
    suggestion; examples numbered from 1, as the table numbers them)."""
    return errors_by_field(report.errors, lang, [e.note for e in data.examples] if data else [])


async def checked(
    request: web.Request, data: ProgramIn
) -> tuple[ValidationReport | None, dict[str, str]]:
    """The API's check (`check_program`), its refusals as form errors."""
    lang = language(request)
    try:
        report = await check_program(request, data)
    except ApiError as exc:
        t = translator(lang)
        if exc.status == 503:
            return None, {
                "general": t(
                    "ルールの確認が混み合っています。数秒後にもう一度お試しください。",
                    "Every rule checker is busy: try again in a few seconds.",
                )
            }
        if exc.code == "too_many_examples":
            return None, {
                "examples": t(
                    f"例は{MAX_EXAMPLES}件までです（いまは{len(data.examples)}件）。",
                    exc.message,
                )
            }
        detail = exc.details[0] if exc.details else {}
        if exc.code == "rule_too_costly" and lang == "ja":
            return None, {"eligibility": error_text({**detail, "kind": "too_costly"}, lang)}
        text = exc.message + (f" — {detail['suggestion']}" if detail.get("suggestion") else "")
        return None, {"eligibility": text}
    return report, report_errors(report, lang, data)


# --- loading --------------------------------------------------------------------------------


async def _load(
    db: AsyncSession, request: web.Request, *, lock: bool = False
) -> tuple[Program, int]:
    """The program of the path if this user's municipality issued it (operators: any)."""
    session = require_session(request)
    program_id = int(request.match_info["id"])
    row = await repo.get_program(db, program_id, lock=lock) if program_id < 2**31 else None
    if row is None or (not session.is_operator and row.issuer != session.user.issuer):
        raise web.HTTPNotFound()
    return row, program_id


def _audit_name(row: Program) -> str:
    return row.name_ja[:80]


def _audit_name_en(row: Program) -> str:
    name = row.body.get("name") if isinstance(row.body, dict) else None
    english = name.get("en") if isinstance(name, dict) else None
    return str(english or row.name_ja)[:80]


async def _audit(
    db: AsyncSession, session: ConsoleSession, row: Program, action: str, ja: str, en: str
) -> None:
    """The history's entry: its summary in Japanese, and in English in `summary_en`."""
    await record_audit(
        db,
        session.user,
        action,
        issuer=row.issuer,
        target=f"program {row.id}",
        summary=f"「{_audit_name(row)}」{ja}（版{row.version}）",
        summary_en=f"“{_audit_name_en(row)}” {en} (version {row.version})",
        detail={"program_id": row.id, "version": row.version, "status": row.status},
    )


def _issuer_param(request: web.Request, issuer: str) -> str:
    """`?m=` for an operator's links about another municipality."""
    session = require_session(request)
    return f"?m={issuer}" if session.is_operator and issuer != session.user.issuer else ""


# --- the list -------------------------------------------------------------------------------


@routes.get("/console/programs")
async def program_list(request: web.Request) -> web.Response:
    """This municipality's programs: search, filter by status and category, sort, pages."""
    issuer = scope_issuer(request)
    q = request.query.get("q", "")[:200].strip()
    status = request.query.get("status", "all")
    status = status if status in STATUSES else "all"
    category = request.query.get("category", "")[:64]
    sort = request.query.get("sort", "updated")
    sort = sort if sort in SORTS else "updated"
    try:
        page = max(1, min(int(request.query.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    async with request.app[SESSIONS]() as db:
        municipality = await db.get(Municipality, issuer)
        rows, total = await repo.list_programs(
            db,
            visible_issuers=None,
            issuer=issuer,
            status=status,
            category=category or None,
            q=q or None,
            limit=1_000_000,
        )
        everything, _ = await repo.list_programs(
            db, visible_issuers=None, issuer=issuer, status="all", limit=1_000_000
        )
    keys: dict[str, Callable[[Program], Any]] = {
        "updated": lambda r: r.updated_at,
        "name": lambda r: r.name_ja,
        "status": lambda r: (STATUSES.index(r.status), r.name_ja),
        "id": lambda r: r.id or 0,
    }
    rows.sort(key=keys[sort], reverse=sort == "updated")
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    counts = {s: sum(1 for r in everything if r.status == s) for s in STATUSES}
    used = sorted({c for r in everything for c in r.categories} | set(NOTICE_TOPICS))
    return render(
        request,
        "programs_list.html",
        issuer=issuer,
        municipality=municipality,
        rows=shown,
        total=total,
        page=page,
        pages=pages,
        q=q,
        status_filter=status,
        category=category,
        sort=sort,
        counts=counts,
        categories=used,
        topics=TOPIC_LABELS,
        m=_issuer_param(request, issuer),
    )


# --- the form -------------------------------------------------------------------------------


def _form_page(
    request: web.Request,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    row: Program | None,
    issuer: str,
    report: ValidationReport | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "programs_form.html",
        status=status,
        values=values,
        errors=errors,
        row=row,
        issuer=issuer,
        report=report,
        topics=TOPIC_LABELS,
        labels=FIELD_LABELS,
        household=HOUSEHOLD_FIELDS,
        child_fields=CHILD_FIELDS,
        examples_help=EXAMPLES_HELP[language(request)],
        m=_issuer_param(request, issuer),
    )


@routes.get("/console/programs/new")
async def new_form(request: web.Request) -> web.Response:
    """The form of a new program."""
    require_editor(request)
    issuer = scope_issuer(request)
    return _form_page(request, values=empty_form(issuer), errors={}, row=None, issuer=issuer)


async def _posted(request: web.Request) -> dict[str, Any]:
    form = await read_form(request)
    return read_fields(form, [str(c) for c in form.getall("category", [])])


@routes.post("/console/programs/new")
async def create(request: web.Request) -> web.StreamResponse:
    """Save a new draft (its rule must compile; failing examples are shown, not refused)."""
    session = require_editor(request)
    issuer = scope_issuer(request)
    t = translator(language(request))
    values = await _posted(request)
    data, errors = build_program(values, issuer, t, _policy(request))
    report = None
    if data is not None:
        report, errors = await checked(request, data)
    if data is None or report is None or (report.errors and not report.examples):
        return _form_page(
            request,
            values=values,
            errors=errors,
            row=None,
            issuer=issuer,
            report=report,
            status=422,
        )
    async with transaction(request.app[SESSIONS]) as db:
        # The clerk chose the push policy in the form: an import never overrides it.
        row = await repo.create_checked(db, data, report, push_explicit=True)
        await _audit(
            db, session, row, "program.create", "を下書きとして作成", "created as a draft"
        )
    _saved(request, report, row.status)
    raise redirect(f"/console/programs/{row.id}{_issuer_param(request, row.issuer)}")


@routes.get(r"/console/programs/{id:\d{1,9}}/edit")
async def edit_form(request: web.Request) -> web.Response:
    """The form of a stored program."""
    require_editor(request)
    async with request.app[SESSIONS]() as db:
        row, _ = await _load(db, request)
    if row.status == "archived":
        raise web.HTTPConflict(
            text=translator(language(request))(
                "保管済みの制度は変更できません。", "An archived program cannot be changed."
            )
        )
    return _form_page(
        request, values=form_of(repo.program_in(row)), errors={}, row=row, issuer=row.issuer
    )


@routes.post(r"/console/programs/{id:\d{1,9}}/edit")
async def edit(request: web.Request) -> web.StreamResponse:
    """Save a change (a published program gets a new version and must pass its examples)."""
    session = require_editor(request)
    t = translator(language(request))
    values = await _posted(request)
    async with request.app[SESSIONS]() as db:
        row, _ = await _load(db, request)
    data, errors = build_program(values, row.issuer, t, _policy(request))
    report = None
    if data is not None:
        report, errors = await checked(request, data)
    if data is not None and report is not None:
        try:
            async with transaction(request.app[SESSIONS]) as db:
                # `row` (read before the check) stays as the form shows it if this is refused.
                current, _ = await _load(db, request, lock=True)
                before = current.version
                current = await repo.change_checked(
                    db,
                    current,
                    data,
                    report,
                    push_explicit=data.push != repo.program_in(current).push,
                )
                new = current.version != before
                await _audit(
                    db,
                    session,
                    current,
                    "program.update",
                    "を変更" + ("（新しい版）" if new else ""),
                    "changed" + (" (a new version)" if new else ""),
                )
        except repo.ProgramRefused as exc:
            if exc.code == "archived":
                raise web.HTTPConflict(text=exc.message) from None
            if exc.code == "examples_failed":
                errors["general"] = t(
                    "公開中の制度は、すべての例に合うときだけ変更できます。",
                    "A published program can be changed only when every example passes.",
                )
        else:
            if current.status == "published":
                program_changed(request, current.id or 0)
            _saved(request, report, current.status)
            raise redirect(
                f"/console/programs/{current.id}{_issuer_param(request, current.issuer)}"
            )
    return _form_page(
        request,
        values=values,
        errors=errors,
        row=row,
        issuer=row.issuer,
        report=report,
        status=422,
    )


def _saved(request: web.Request, report: ValidationReport, status: str) -> None:
    t = translator(language(request))
    if report.valid:
        if status == "draft":
            flash(request, t("下書きを保存しました。", "The draft is saved."))
        else:
            flash(request, t("保存しました（新しい版）。", "Saved (a new version)."))
    else:
        flash(
            request,
            t(
                "下書きを保存しました。合わない例があるため、まだ公開できません。",
                "The draft is saved; it cannot be published while an example fails.",
            ),
            "error",
        )


@routes.post("/console/programs/check")
async def check(request: web.Request) -> web.Response:
    """The form's live check (JSON): the rule compiled, the examples run, by the API's check."""
    require_editor(request)
    t = translator(language(request))
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return web.json_response({"error": "send the form's fields as a JSON object"}, status=400)
    issuer = scope_issuer(request)
    raw_categories = body.get("category")
    if not isinstance(raw_categories, list):
        raw_categories = []
    values = read_fields(body, [str(c) for c in raw_categories][:20])
    # The rule and examples are checked even before the names are written.
    values["name_ja"] = values["name_ja"] or "-"
    values["summary_ja"] = values["summary_ja"] or "-"
    data, errors = build_program(values, issuer, t, _policy(request))
    if data is None and "eligibility" not in errors:
        # Check the rule alone while other fields (e.g. examples) are still being written.
        alone = {**empty_form(issuer), "name_ja": "-", "summary_ja": "-"}
        alone.update(eligibility=values["eligibility"], per_child=values["per_child"])
        data, _ = build_program(alone, issuer, t, _policy(request))
    report = None
    if data is not None:
        report, check_errors = await checked(request, data)
        errors = {**check_errors, **errors}
    answer = {
        "rule_ok": "eligibility" not in errors and report is not None,
        "errors": errors,
        "examples": [
            {**r.model_dump(mode="json"), "note": data.examples[r.index].note if data else None}
            for r in (report.examples if report else [])
        ],
        "valid": bool(report and report.valid and not errors),
    }
    return web.json_response(answer)


# --- one program ------------------------------------------------------------------------------


@routes.get(r"/console/programs/{id:\d{1,9}}")
async def program_page(request: web.Request) -> web.Response:
    """One program: its fields, its state, what can be done with it."""
    async with request.app[SESSIONS]() as db:
        row, _ = await _load(db, request)
        versions = await repo.list_versions(db, row.id or 0)
        # Families told about it or who applied keep their history: no delete is offered.
        kept = row.status != "published" and await repo.has_family_history(db, row.id or 0)
    data = repo.program_in(row)
    return render(
        request,
        "programs_view.html",
        row=row,
        data=data,
        values=form_of(data),
        versions=versions,
        has_history=kept,
        topics=TOPIC_LABELS,
        labels=FIELD_LABELS,
        m=_issuer_param(request, row.issuer),
    )


@routes.post(r"/console/programs/{id:\d{1,9}}/publish")
async def publish(request: web.Request) -> web.StreamResponse:
    """Publish after running the examples (refused naming the failing one)."""
    session = require_editor(request)
    t = translator(language(request))
    async with request.app[SESSIONS]() as db:
        row, program_id = await _load(db, request)
    data, body = repo.program_in(row), dict(row.body)
    back = redirect(f"/console/programs/{program_id}{_issuer_param(request, row.issuer)}")
    report, errors = await checked(request, data)
    try:
        if report is None:
            raise repo.ProgramRefused(422, "check", "; ".join(errors.values()))
        async with transaction(request.app[SESSIONS]) as db:
            row, _ = await _load(db, request, lock=True)
            if row.status == "archived":
                raise repo.ProgramRefused(
                    409, "archived", t("保管済みの制度です。", "The program is archived.")
                )
            if row.body != body:
                raise repo.ProgramRefused(
                    409,
                    "changed",
                    t(
                        "確認の間に制度が変更されました。もう一度お試しください。",
                        "The program changed while it was checked: please try again.",
                    ),
                )
            row, newly = await repo.publish_checked(db, row, report)
            if newly:
                await _audit(db, session, row, "program.publish", "を公開", "published")
    except repo.ProgramRefused as exc:
        message = exc.message
        if exc.code in {"examples_failed", "invalid_rule"}:
            message = t("公開できません：", "Cannot publish: ") + failing_text(
                exc.details, data, t
            )
        flash(request, message, "error")
        raise back from None
    if newly:
        program_changed(request, program_id)
        flash(
            request,
            t(
                "公開しました。対象の家庭にお知らせします。",
                "Published: families who fit will be told.",
            ),
        )
    raise back


def failing_text(
    errors: list[dict[str, Any]], data: ProgramIn, t: Callable[[str, str], str]
) -> str:
    """The failing examples named as a clerk reads them (number from 1 and note), or the
    rule's errors, in the page's language."""
    notes = [e.note for e in data.examples]
    return t("／", "; ").join(error_text(e, t("ja", "en"), notes) for e in errors)


@routes.post(r"/console/programs/{id:\d{1,9}}/archive")
async def archive(request: web.Request) -> web.StreamResponse:
    """Archive: offered to nobody from now on."""
    session = require_editor(request)
    t = translator(language(request))
    async with transaction(request.app[SESSIONS]) as db:
        row, _ = await _load(db, request, lock=True)
        if row.status != "archived":
            row = await repo.archive(db, row)
            await _audit(db, session, row, "program.archive", "を保管（提供終了）", "archived")
    flash(request, t("保管しました。今後だれにも案内されません。", "Archived: offered to nobody."))
    raise redirect(f"/console/programs/{row.id}{_issuer_param(request, row.issuer)}")


@routes.post(r"/console/programs/{id:\d{1,9}}/delete")
async def delete(request: web.Request) -> web.StreamResponse:
    """Delete a draft (or an archived program no family has a history with)."""
    session = require_editor(request)
    t = translator(language(request))
    try:
        async with transaction(request.app[SESSIONS]) as db:
            row, program_id = await _load(db, request, lock=True)
            issuer = row.issuer
            await _audit(db, session, row, "program.delete", "を削除", "deleted")
            await repo.delete_checked(db, row)
    except repo.ProgramRefused as exc:
        flash(request, _delete_refusal(exc, t), "error")
        raise redirect(f"/console/programs/{program_id}{_issuer_param(request, issuer)}") from None
    flash(request, t("削除しました。", "Deleted."))
    raise redirect("/console/programs" + _issuer_param(request, issuer))


def _delete_refusal(exc: repo.ProgramRefused, t: Callable[[str, str], str]) -> str:
    """Why a program cannot be deleted, in the page's language."""
    if exc.code == "published":
        return t(
            "公開中の制度は削除できません。先に保管（提供終了）してください。",
            "A published program cannot be deleted: archive it first.",
        )
    if exc.code == "has_history":
        return t(
            "この制度は削除できません。お知らせを受け取った、または申請した家庭の履歴が"
            "残っているためです。保管（提供終了）したままにすれば、だれにも案内されません。",
            "This program cannot be deleted: families were told about it or applied for it, "
            "and that history is kept. Archived, it is offered to nobody.",
        )
    return exc.message


# --- who would be told ----------------------------------------------------------------------

AGE_LABELS: dict[str, tuple[str, str]] = {
    "none": ("子なし（妊娠中など）", "No child yet (e.g. expecting)"),
    "0": ("0歳", "Age 0"),
    "1": ("1歳", "Age 1"),
    "2": ("2歳", "Age 2"),
    "3-5": ("3〜5歳", "Ages 3-5"),
    "6-11": ("6〜11歳", "Ages 6-11"),
    "12-17": ("12〜17歳", "Ages 12-17"),
    "18+": ("18歳以上", "18 and over"),
}
CHANNEL_LABELS = {"line": ("LINE", "LINE"), "app": ("自治体アプリ", "Municipality app")}


@routes.get(r"/console/programs/{id:\d{1,9}}/preview")
async def preview(request: web.Request) -> web.Response:
    """How many families would be told now, by child age and by channel (never who)."""
    t = translator(language(request))
    async with request.app[SESSIONS]() as db:
        row, _ = await _load(db, request)
    data = repo.program_in(row)
    today: date = request.app[TODAY]()
    problem = None
    audience = None
    try:
        audience = await request.app[AUDIENCE](
            request.app[SESSIONS], data, today, program_id=row.id or 0
        )
    except RuleError as exc:
        problem = " ".join(error_text(d, language(request)) for d in exc.details[:3])
    ages: list[tuple[str, int]] = []
    channels: list[tuple[str, int]] = []
    chart_age = chart_channel = ""
    if audience is not None:
        ages = [(t(*AGE_LABELS[k]), v) for k, v in audience.by_age.items()]
        channels = [(t(*CHANNEL_LABELS[k]), v) for k, v in audience.by_channel.items()]
        age_title = (
            t("対象の子の年齢", "Age of the children who fit")
            if audience.per_child
            else t("末子の年齢（世帯ごと）", "Youngest child's age (per family)")
        )
        short = [t("子なし", "none") if k == "none" else t(f"{k}歳", k) for k in audience.by_age]
        chart_age = bar_chart(
            short,
            [Series(t("人数", "Count"), [v for _, v in ages])],
            title=age_title,
            description=", ".join(f"{label}: {v}" for label, v in ages),
        )
        chart_channel = bar_chart(
            [label for label, _ in channels],
            [Series(t("世帯", "Families"), [v for _, v in channels])],
            title=t("経路別の世帯数", "Families by channel"),
            description=", ".join(f"{label}: {v}" for label, v in channels),
            height=160,
        )
    return render(
        request,
        "programs_preview.html",
        row=row,
        data=data,
        today=today,
        audience=audience,
        problem=problem,
        ages=ages,
        channels=channels,
        chart_age=chart_age,
        chart_channel=chart_channel,
        m=_issuer_param(request, row.issuer),
    )


# --- versions side by side ------------------------------------------------------------------

DIFF_FIELDS = (
    "name_ja",
    "name_en",
    "summary_ja",
    "summary_en",
    "category",
    "per_child",
    "eligibility",
    "benefit",
    "reference_url",
    "application_url",
    "deadline",
    "deadline_days",
    "valid_from",
    "valid_to",
    "push",
    "attribution",
    "examples",
)
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def _diff_values(data: ProgramIn, t: Callable[[str, str], str]) -> dict[str, str]:
    """The fields as the page shows them: categories, push policy and yes/no by their labels."""
    values = form_of(data)
    values["category"] = t("、", ", ").join(
        t(*TOPIC_LABELS[c]) if c in TOPIC_LABELS else c for c in data.category
    )
    values["per_child"] = t(*YES_NO[data.per_child])
    values["push"] = t(*PUSH_LABELS.get(data.push, (data.push, data.push)))
    return {k: str(values[k]) for k in DIFF_FIELDS}


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) pieces: "=" kept, "-" removed, "+" added (word by word)."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("=", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("-", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("+", "".join(b[j1:j2])))
    return pieces


@routes.get(r"/console/programs/{id:\d{1,9}}/versions")
async def versions(request: web.Request) -> web.Response:
    """Two versions side by side, field by field, the changed ones marked."""
    t = translator(language(request))
    async with request.app[SESSIONS]() as db:
        row, _ = await _load(db, request)
        stored = await repo.list_versions(db, row.id or 0)
    numbers = [v.version for v in stored]

    def pick(name: str, default: int) -> int:
        try:
            value = int(request.query.get(name, ""))
        except ValueError:
            return default
        return value if value in numbers else default

    newest = numbers[-1] if numbers else row.version
    b = pick("b", newest)
    a = pick("a", max([n for n in numbers if n < b], default=b))
    by_number = {v.version: v for v in stored}
    rows: list[dict[str, Any]] = []
    if a in by_number and b in by_number:
        old = _diff_values(ProgramIn.model_validate(by_number[a].body), t)
        new = _diff_values(ProgramIn.model_validate(by_number[b].body), t)
        for name in DIFF_FIELDS:
            changed = old[name] != new[name]
            rows.append(
                {
                    "name": name,
                    "old": old[name],
                    "new": new[name],
                    "changed": changed,
                    "pieces": word_diff(old[name], new[name]) if changed else [],
                }
            )
    return render(
        request,
        "programs_versions.html",
        row=row,
        versions=stored,
        a=a,
        b=b,
        rows=rows,
        labels=FIELD_LABELS,
        m=_issuer_param(request, row.issuer),
    )
